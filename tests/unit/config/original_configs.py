"""Configs shaped like the original runway_for_ml's examples (written for these tests, not copied).

- ``PAIRS``: its MRPC example (meta libsonnet, a project executor and transforms, AdamW, checkpoint name).
- ``HUB``: its beans / GEM example (LoadHFDataset with dataset_path + dataset_name, tokenizing, a split).
- ``PIPELINE_TEST``: its test data-pipeline config (WANDB entity/project, metrics_history, use_versioning).
- ``PRE_DAG``: its ``configs/exp_configs`` experiment (the first, per-split list format of the pipeline).
"""

from __future__ import annotations

from pathlib import Path

META = """
local seed = 7;
{
  default_meta: {
    DATA_FOLDER: '',
    EXPERIMENT_FOLDER: './experiments/',
    TENSORBOARD_FOLDER: './tensorboards/',
    WANDB: { CACHE_DIR: 'cache/wandb/', USER_NAME: 'Your Username', PROJECT_NAME: 'Your Project name' },
    logger_enable: ['tensorboard'],
    platform_type: 'pytorch',
    ignore_pretrained_weights: [],
    seed: seed,
    default_cache_dir: 'cache/',
    cuda: 0,
    gpu_device: 0,
  },
}
"""

PAIRS_DATA = """
{
  pairs_pipeline: {
    name: 'PairsPipeline',
    regenerate: false,
    do_inspect: true,
    transforms: {
      'input:LoadPairs': { transform_name: 'LoadParaphrasePairs', setup_kwargs: {} },
      'output:TokenizePairs': { input_node: 'input:LoadPairs', transform_name: 'TokenizeParaphrasePairs',
                                regenerate: false, cache: true },
    },
  },
}
"""

PAIRS = """
local meta = import 'meta.libsonnet';
local data = import 'pairs_data.libsonnet';
{
  experiment_name: 'pairs-trial',
  test_suffix: 'v1',
  meta: meta.default_meta,
  data_pipeline: data.pairs_pipeline,
  executor: {
    ExecutorClass: 'PairClassifierExecutor',
    init_kwargs: { use_data_node: 'output:TokenizePairs' },
    model_config: { bert_model_version: 'bert-base-uncased' },
  },
  train: {
    batch_size: 8,
    trainer_paras: { max_epochs: 5, log_every_n_steps: 30, check_val_every_n_epoch: 1 },
    model_checkpoint_callback_paras: { monitor: 'val_loss', save_top_k: -1 },
    optimizer_config: { optimizer_name: 'AdamW', optimizer_params: { lr: 0.0001 } },
    trainer_fit_paras: { ckpt_path: 'last.ckpt' },
  },
  test: { checkpoint_name: 'epoch=4-step=1220.ckpt', trainer_paras: {}, batch_size: 64 },
  eval: { eval_op_name: 'Your eval op name' },
}
"""

HUB = """
local meta = import 'meta.libsonnet';
local t5_tokenizer = { version_name: 't5-small', class_name: 'T5TokenizerFast',
                       tokenize_kwargs: { batched: true, load_from_cache_file: false, padding: 'max_length', truncation: true } };
{
  experiment_name: 'dialog-t5',
  test_suffix: 'beam',
  meta: meta.default_meta,
  data_pipeline: {
    DataPipelineLib: 'data_modules',
    DataPipelineClass: 'DataPipeline',
    name: 'DialogPipeline',
    regenerate: false,
    do_inspect: true,
    inspector_config: { log_dir: 'tests/' },
    transforms: {
      'input:LoadDialogs': { transform_name: 'LoadHFDataset',
                             setup_kwargs: { dataset_path: 'GEM', dataset_name: 'schema_guided_dialog' } },
      'process:Split': { input_node: 'input:LoadDialogs', transform_name: 'SplitHFDatasetToTrainTestValidation',
                         setup_kwargs: { test_size: 0.2, valid_size: 0.2,
                                         train_test_split_kwargs: { shuffle: false, stratify_by_column: 'label' } } },
      'process:Noop': { input_node: 'process:Split', transform_name: 'DummyTransform', setup_kwargs: {} },
      'output:Tokenize': { input_node: 'process:Noop', transform_name: 'HFDatasetTokenizeTransform',
                           setup_kwargs: { rename_col_dict: { target_input_ids: 'labels' }, tokenizer_config: t5_tokenizer,
                                           tokenize_fields_list: ['target', '_linearized'] },
                           regenerate: false, cache: true, inspect: true },
    },
  },
  executor: { ExecutorClass: 'Seq2SeqExecutor', init_kwargs: { use_data_node: 'output:Tokenize' } },
  train: {
    batch_size: 16,
    trainer_paras: { max_epochs: 2, accumulate_grad_batches: 4, val_check_interval: 50 },
    optimizer_config: { optimizer_name: 'Adafactor',
                        optimizer_params: { lr: 0.001, relative_step: false, scale_parameter: false },
                        scheduler: 'step', scheduler_params: { num_warmup_steps: 100 } },
  },
  test: { checkpoint_name: 'last.ckpt', batch_size: 32 },
}
"""

PIPELINE_TEST_META = """
{
  default_meta: {
    DATA_FOLDER: '/home/someone/data',
    EXPERIMENT_FOLDER: './experiments/',
    TENSORBOARD_FOLDER: './tensorboards/',
    WANDB: { CACHE_DIR: 'tests/cache/wandb/', entity: 'someone', project: 'beans', tags: [] },
    logger_enable: ['tensorboard', 'metrics_history'],
    platform_type: 'pytorch',
    seed: 2022,
    default_cache_dir: 'tests/cache/',
    use_versioning: false,
  },
}
"""

PIPELINE_TEST = """
local meta = import 'test_meta.libsonnet';
{
  experiment_name: 'test-beans',
  test_suffix: 'v1',
  meta: meta.default_meta,
  data_pipeline: {
    name: 'BeansPipeline',
    regenerate: false,
    do_inspect: true,
    transforms: {
      'input:LoadBeans': { transform_name: 'LoadHFDataset', setup_kwargs: { dataset_name: 'beans' },
                           regenerate: false, cache: true },
      'output:Jitter': { input_node: 'input:LoadBeans', transform_name: 'BeansJitter', regenerate: false,
                         cache: true, setup_kwargs: { brightness: 0.5, hue: 0.2 } },
    },
  },
  model_config: { bert_model_version: 'bert-base-uncased', modules: [] },
  executor: { ExecutorClass: 'ClassificationExecutor', init_kwargs: {} },
  train: {
    batch_size: 8,
    trainer_paras: { max_epochs: 5 },
    model_checkpoint_callback_paras: { monitor: 'val_loss', save_top_k: -1 },
    optimizer_config: { optimizer_name: 'Adam', optimizer_params: { lr: 0.0001 } },
  },
  test: { checkpoint_name: 'last.ckpt', trainer_paras: {}, batch_size: 64 },
}
"""

PRE_DAG_META = """
{
  meta_config: {
    DATA_FOLDER: '',
    EXPERIMENT_FOLDER: './experiments/',
    TENSORBOARD_FOLDER: './tensorboards/',
    WANDB: { CACHE_DIR: './wandb_cache/', USER_NAME: 'YOUR WANDB USER NAME HERE', PROJECT_NAME: 'YOUR WANDB PROJECT NAME HERE' },
    platform_type: 'pytorch',
    ignore_pretrained_weights: [],
    seed: 2022,
    default_cache_dir: './local_cache/',
    cuda: 0,
    gpu_device: 0,
  },
}
"""

PRE_DAG_DATA = """
local loader = { name: 'LoadLeafImages', kwargs: {}, cache_data: true, use_cache: true };
local loader_args = { batch_size: 4, shuffle: false, sampler: null };
local eval_steps = [{ name: 'CopyFields', use_features: ['image', 'labels'], out_features: ['image', 'labels'], kwargs: {} }];
local leaves = {
  name: 'LeavesPipeline',
  regenerate: false,
  dataloader_args: { train: loader_args { shuffle: true }, test: loader_args, valid: loader_args },
  in_features: [{ feature_names: ['image', 'labels'], feature_loader: loader, splits: ['train', 'test', 'valid'], use_cache: true }],
  transforms: {
    train: [{ name: 'ColorJitterTransform', use_features: ['image'], out_features: ['jittered'], batched: 0, kwargs: {} }],
    test: eval_steps,
    valid: eval_steps,
  },
  dataloaders_use_features: { train: ['jittered', 'labels'], test: ['image', 'labels'], valid: ['image', 'labels'] },
};
{ leaves: leaves, next_leaves: leaves { name: 'NextLeavesPipeline' } }
"""

PRE_DAG = """
local meta = import '../meta_config.libsonnet';
local data = import '../data_config.libsonnet';
{
  meta_config: meta.meta_config,
  data_pipeline: data.leaves,
  next_data_pipeline: data.next_leaves,
  model_config: {},
  training: {},
  validation: {},
  testing: {},
}
"""


def write_original(folder: Path, which: str) -> Path:
    """Write one original-shaped experiment (with the libsonnet files it imports) under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if which == "pairs":
        (folder / "meta.libsonnet").write_text(META)
        (folder / "pairs_data.libsonnet").write_text(PAIRS_DATA)
        path = folder / "pairs_config.jsonnet"
        path.write_text(PAIRS)
    elif which == "hub":
        (folder / "meta.libsonnet").write_text(META)
        path = folder / "hub_config.jsonnet"
        path.write_text(HUB)
    elif which == "pipeline_test":
        (folder / "test_meta.libsonnet").write_text(PIPELINE_TEST_META)
        path = folder / "test_dp_config.jsonnet"
        path.write_text(PIPELINE_TEST)
    elif which == "pre_dag":
        (folder / "meta_config.libsonnet").write_text(PRE_DAG_META)
        (folder / "data_config.libsonnet").write_text(PRE_DAG_DATA)
        (folder / "exp_configs").mkdir(exist_ok=True)
        path = folder / "exp_configs" / "example_experiment_config.jsonnet"
        path.write_text(PRE_DAG)
    else:
        raise ValueError(which)
    return path
