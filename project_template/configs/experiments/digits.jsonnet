// The example experiment: an MLP on scikit-learn's digits.
//   runway-run digits                      train, infer on the test split, evaluate
//   runway-experiment mine --from digits   clone it, then edit configs/experiments/mine.jsonnet
local meta = import '../meta_config.libsonnet';
local data = import '../data_config.libsonnet';
local model = import '../model_config.libsonnet';

meta + data + model + {
  // Override anything here, e.g.:
  // train+: { batch_size: 32 },
}
