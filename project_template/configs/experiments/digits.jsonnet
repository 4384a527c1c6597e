// The example experiment: an MLP on scikit-learn's digits.
//   runway-run digits                      train, infer on the test split, evaluate
//   runway-experiment mine --from digits   clone it, then edit configs/experiments/mine.jsonnet
//   runway search digits                   hyperparameter search (the search section below; docs/search.md)
local meta = import '../meta_config.libsonnet';
local data = import '../data_config.libsonnet';
local model = import '../model_config.libsonnet';

meta + data + model + {
  // Override anything here, e.g.:
  // train+: { batch_size: 32 },

  // `runway search digits`: an Optuna study; every trial is a version digits_V<n>.
  search: {
    metric: 'val_accuracy',  // logged by the executor each validation epoch
    direction: 'maximize',
    trials: 20,
    sampler: 'tpe',  // tpe | random | grid | cmaes
    pruner: 'median',  // median | hyperband | none
    space: {
      'train.optimizer_config.optimizer_params.lr': { type: 'float', low: 1e-4, high: 1e-1, log: true },
      'train.batch_size': { type: 'categorical', choices: [32, 64, 128] },
      'executor.model_config.dropout': { type: 'float', low: 0.0, high: 0.5 },
    },
  },
}
