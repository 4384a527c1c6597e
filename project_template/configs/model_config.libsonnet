// Model, training, inference and evaluation settings.
{
  executor: {
    // A project executor (executors/custom_executor.py); 'ClassificationExecutor' is the built-in one.
    ExecutorClass: 'DigitsExecutor',
    init_kwargs: {},
    model_config: {
      input_column: 'pixels',
      label_column: 'label',
      input_dim: 64,
      hidden_dims: [128, 64],
      num_classes: 10,
      dropout: 0.1,
    },
  },
  train: {
    // Pipeline output node whose DatasetDict has train / validation / test splits.
    data_node: 'output:Normalised',
    batch_size: 64,
    dataloader_workers: 0,
    // A model this small trains fastest on one CPU thread; null lets torch choose.
    torch_num_threads: 1,
    // Passed to pytorch_lightning.Trainer unchanged.
    trainer_paras: {
      max_epochs: 15,
      accelerator: 'cpu',
      devices: 1,
      log_every_n_steps: 5,
    },
    optimizer_config: {
      optimizer_name: 'AdamW',
      optimizer_params: { lr: 2e-3, weight_decay: 0.01 },
      scheduler: 'linear',
      scheduler_params: { num_warmup_steps: 10 },
    },
    // ModelCheckpoint into <version>/train/checkpoints/ (best and last are kept).
    model_checkpoint_callback_paras: { monitor: 'val_accuracy', mode: 'max' },
    // Stop when validation accuracy stops improving; null disables it.
    early_stopping: { monitor: 'val_accuracy', mode: 'max', patience: 5 },
  },
  test: {
    split: 'test',
    batch_size: 256,
    checkpoint: 'best',
  },
  eval: {
    metrics: [
      { name: 'accuracy' },
      { name: 'f1', kwargs: { average: 'macro' } },
      { name: 'confusion_matrix' },
    ],
    key_metric: 'accuracy',
  },
  // `runway serve digits` answers HTTP requests with this model (docs/serving.md). Inputs are raw
  // examples, as the loader produces them; the pipeline's standardisation is applied as at training.
  serve: {
    commands: {
      classify: {
        description: 'Which digit (0-9) is this 8x8 image?',
        inputs: {
          pixels: {
            type: 'vector',
            length: 64,
            min: 0,
            max: 16,
            optional: true,
            samplingMean: 4,
            samplingStd: 6,
            description: '8x8 pixel values row by row, 0 (blank) to 16 (ink)',
          },
          // An alternative to pixels: a grayscale image (bright ink on dark), resized to 8x8, 0-255 -> 0-16.
          image: { type: 'image', channels: 1, width: 8, height: 8, optional: true, column: 'pixels', scale: 16 },
        },
        outputs: {
          label: { type: 'category', oneOf: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], column: 'prediction' },
          probabilities: { type: 'vector', length: 10, description: 'one probability per digit' },
        },
      },
    },
  },
}
