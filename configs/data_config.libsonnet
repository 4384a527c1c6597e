// The data pipeline: a DAG of registered transforms, each node cached by content.
//   input:LoadDigits  -> process:Split -> output:Normalised
local meta = import 'meta_config.libsonnet';

{
  data_pipeline: {
    name: 'digits',
    transforms: {
      // scikit-learn's 8x8 handwritten digits: columns `pixels` (64 floats) and `label` (0-9).
      'input:LoadDigits': {
        transform_name: 'LoadSklearnDigits',
        setup_kwargs: {},
      },
      // train / validation / test, stratified and seeded.
      'process:Split': {
        input_node: 'input:LoadDigits',
        transform_name: 'SplitHFDataset',
        setup_kwargs: {
          test_size: 0.2,
          validation_size: 0.1,
          seed: meta.meta.seed,
          stratify_by_column: 'label',
        },
      },
      // A project transform (data_processing/data_transforms.py): standardise with train statistics.
      'output:Normalised': {
        input_node: 'process:Split',
        transform_name: 'StandardizeColumn',
        setup_kwargs: { column: 'pixels', fit_split: 'train' },
      },
    },
  },
}
