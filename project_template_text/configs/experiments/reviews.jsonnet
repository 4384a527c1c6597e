// A small BERT built from a config (random weights) classifies Amazon food reviews as great / other.
// Its WordPiece tokenizer is trained on the training reviews by the pipeline's TrainTokenizer node.
//   runway dag reviews                 LoadReviews -> Split -> TrainTokenizer -> Tokenize, cache status
//   runway-run reviews                 train, infer on the test split, evaluate (a few minutes on CPU)
//   python -c "from transformers import AutoModelForSequenceClassification as M; \
//              M.from_pretrained('experiments/reviews_V0/train/hf_model')"
local meta = import '../meta_config.libsonnet';
local data = import '../data_config.libsonnet';
local model = import '../model_config.libsonnet';

meta + data.reviews(max_length=128) + model.bert_from_config(epochs=4) + {
  // Override anything here, e.g.:
  // train+: { batch_size: 16 },
}
