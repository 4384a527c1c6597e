// Stacking: a second model trained on the embeddings of the first one. Train `digits` first.
//   runway-run digits                 the first model
//   runway-run digits_stacked         its data pipeline calls digits' latest completed version
//   runway dag digits_stacked         the predict node: cached, or stale with the reason
//                                     ("checkpoint of digits_V0 changed", "experiment digits now resolves to digits_V1")
local meta = import '../meta_config.libsonnet';
local data = import '../data_config.libsonnet';
local model = import '../model_config.libsonnet';

// The first model's penultimate layer is its last hidden layer.
local first_hidden = model.executor.model_config.hidden_dims;

meta + data + model + {
  data_pipeline+: {
    name: 'digits_stacked',
    transforms+: {
      // Adds an `embedding` column (digits' penultimate layer) to every split, with the trained model.
      'output:DigitsEmbeddings': {
        input_node: 'output:Normalised',
        transform_name: 'PredictWithExperiment',
        setup_kwargs: {
          experiment: 'digits',  // or a version such as 'digits_V0'
          checkpoint: 'best',
          outputs: ['embedding'],
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
      input_dim: first_hidden[std.length(first_hidden) - 1],
      hidden_dims: [32],
      num_classes: 10,
      dropout: 0.1,
    },
  },
  train+: { data_node: 'output:DigitsEmbeddings' },
}
