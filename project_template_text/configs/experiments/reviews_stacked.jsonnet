// Chaining: a small classifier trained on the sentence vectors of the trained `reviews` model
// (features from an encoder for a second model). Train `reviews` first.
//   runway-run reviews                   the encoder (BERT from a config)
//   runway-run reviews_stacked           its pipeline adds reviews' embeddings as a column
//   runway dag reviews_stacked           the predict node: cached, or stale ("checkpoint of reviews_V0 changed")
//   runway embed reviews_V0 --color-by prediction   the vectors in 2-D: hover a point to read its review
// To chain the fine-tuned MiniLM instead, use data.minilm() (its tokenizer) and experiment: 'reviews_lora'
// (input_dim 384).
local meta = import '../meta_config.libsonnet';
local data = import '../data_config.libsonnet';
local model = import '../model_config.libsonnet';

// The consumed experiment's data pipeline and encoder size (same tokenized columns, same vectors).
local encoder = model.bert_from_config();

meta + data.reviews(max_length=128) + {
  data_pipeline+: {
    name: 'reviews_stacked',
    transforms+: {
      // Adds `embedding` (mean of reviews' last hidden states over the real tokens) to every split.
      'output:ReviewEmbeddings': {
        input_node: 'output:Tokenize',
        transform_name: 'PredictWithExperiment',
        setup_kwargs: {
          experiment: 'reviews',  // its latest completed version; or pin one: 'reviews_V0'
          checkpoint: 'best',
          outputs: ['embedding'],
          batch_size: 128,
        },
      },
    },
  },
  executor: {
    ExecutorClass: 'ClassificationExecutor',
    init_kwargs: {},
    model_config: {
      input_column: 'embedding',
      label_column: 'label',
      input_dim: encoder.executor.model_config.config_kwargs.hidden_size,
      hidden_dims: [64],
      num_classes: 2,
      dropout: 0.1,
    },
  },
  train: {
    data_node: 'output:ReviewEmbeddings',
    batch_size: 64,
    dataloader_workers: 0,
    torch_num_threads: 1,
    trainer_paras: { max_epochs: 20, accelerator: 'cpu', devices: 1, log_every_n_steps: 10 },
    optimizer_config: {
      optimizer_name: 'AdamW',
      optimizer_params: { lr: 2e-3, weight_decay: 0.01 },
      scheduler: 'linear',
      scheduler_params: { num_warmup_steps: 10 },
    },
    model_checkpoint_callback_paras: { monitor: 'val_accuracy', mode: 'max' },
    early_stopping: { monitor: 'val_accuracy', mode: 'max', patience: 5 },
  },
  test: { split: 'test', batch_size: 256, checkpoint: 'best' },
  eval: {
    metrics: [{ name: 'accuracy' }, { name: 'f1', kwargs: { average: 'macro' } }, { name: 'confusion_matrix' }],
    key_metric: 'accuracy',
  },
}
