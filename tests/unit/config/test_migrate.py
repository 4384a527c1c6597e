"""runway migrate: original-runway configs rewritten into this project's format, key by key."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runway_for_ml.config import load_config
from runway_for_ml.config.migrate import migrate_config, migrate_file, render_config, render_report
from runway_for_ml.errors import ConfigError

RUNWAY = str(Path(sys.executable).with_name("runway"))

# A config in the original framework's shape (written for these tests).
META = """
{
  meta: {
    DATA_FOLDER: '',
    EXPERIMENT_FOLDER: './experiments/',
    TENSORBOARD_FOLDER: './tensorboards/',
    WANDB: { CACHE_DIR: 'cache/wandb/', USER_NAME: 'me', PROJECT_NAME: 'YOUR WANDB PROJECT NAME HERE', tags: ['t5'] },
    logger_enable: ['csv'],
    platform_type: 'pytorch',
    seed: 11,
    default_cache_dir: 'cache/',
    cuda: 0,
  },
}
"""
OLD = """
local m = import 'old_meta.libsonnet';
local tok = { class_name: 'AutoTokenizer', version_name: 'tokenizers/t5', tokenize_kwargs: { padding: 'max_length', truncation: true, batched: true, load_from_cache_file: false } };
m + {
  experiment_name: 'qa_t5',
  test_suffix: 'beam',
  tokenizer_config: tok,
  model_config: { ModelClass: 'T5ForConditionalGeneration', ModelVersion: 't5-small', pretrained: 1 },
  data_pipeline: {
    DataPipelineLib: 'data_modules',
    DataPipelineClass: 'DataPipeline',
    name: 'qa',
    do_inspect: true,
    out_ops: ['output:Tokenize'],
    transforms: {
      'input:Load': { transform_name: 'LoadHFDataset', setup_kwargs: { dataset_name: 'data/qa.csv', fields: ['q'] } },
      'process:Split': { input_node: 'input:Load', transform_name: 'SplitHFDatasetToTrainTestValidation',
                         setup_kwargs: { test_size: 0.1, valid_size: 0.1, train_test_split_kwargs: { seed: 3 } } },
      'output:Tokenize': { input_node: 'process:Split', transform_name: 'HFDatasetTokenizeTransform', inspect: true,
                           setup_kwargs: { tokenizer_config: tok, tokenize_fields_list: ['q', 'a'],
                                           rename_col_dict: { q_input_ids: 'input_ids', a_input_ids: 'labels' } } },
    },
  },
  executor: { ExecutorClass: 'ClassificationExecutor', init_kwargs: { use_fp16: false, my_option: 3 } },
  train: {
    batch_size: 8,
    epochs: 3,
    trainer_paras: { accelerator: 'cpu' },
    model_checkpoint_callback_paras: { dirpath: 'x', save_last: true },
    use_lora: false,
    lora_config: { r: 8 },
    additional: { gradient_accumulation_steps: 4, warmup_steps: 100, gradient_clipping: 0 },
  },
  test: { batch_size: 16, checkpoint_name: 'model_step_100.ckpt', evaluation_name: 'x' },
  eval: { eval_op_name: 'ComputeExactMatch' },
  my_project_key: { a: 1 },
}
"""


@pytest.fixture
def old_config(tmp_path) -> Path:
    (tmp_path / "old_meta.libsonnet").write_text(META)
    path = tmp_path / "exp_config.jsonnet"
    path.write_text(OLD)
    return path


def _steps(migration):
    return {(s.action, s.old): s for s in migration.steps}


def test_every_original_key_lands_somewhere_or_is_dropped_with_a_reason(old_config):
    m = migrate_file(old_config)
    new = m.config
    assert m.experiment_name == "qa_t5"
    assert new["meta"] == {
        "wandb": {"entity": "me", "tags": ["t5"]},
        "logger_enable": ["csv"],
        "seed": 11,
        "default_cache_dir": "cache/",
    }
    mc = new["executor"]["model_config"]
    assert mc["model_version"] == "t5-small" and mc["ModelClass"] == "T5ForConditionalGeneration"
    assert mc["tokenizer_config"]["tokenize_kwargs"] == {"padding": "max_length", "truncation": True}
    assert new["executor"]["init_kwargs"] == {"my_option": 3}
    assert new["train"]["data_node"] == "output:Tokenize"  # from the single out_ops entry
    assert new["train"]["trainer_paras"] == {"accelerator": "cpu", "max_epochs": 3, "accumulate_grad_batches": 4}
    # The original's constant schedule after 100 warmup steps, one step ahead: 99 here (see test_migrate_original).
    assert new["train"]["optimizer_config"] == {"scheduler": "constant", "scheduler_params": {"num_warmup_steps": 99}}
    assert new["train"]["model_checkpoint_callback_paras"] == {"save_last": True}
    assert "lora" not in new["train"] and "use_lora" not in new["train"]
    assert new["test"] == {"batch_size": 16, "checkpoint": "model_step_100.ckpt"}
    assert "eval" not in new
    assert new["user"] == {"my_project_key": {"a": 1}}
    nodes = new["data_pipeline"]["transforms"]
    assert nodes["input:Load"]["setup_kwargs"] == {"dataset_path": "data/qa.csv"}
    assert nodes["process:Split"] == {
        "input_node": "input:Load",
        "transform_name": "runway_for_ml.data_module.data_transforms.SplitHFDatasetToTrainTestValidation",
        "setup_kwargs": {"test_size": 0.1, "valid_size": 0.1, "train_test_split_kwargs": {"seed": 3}},
    }
    assert nodes["output:Tokenize"]["inspect"] is True
    assert set(new["data_pipeline"]) == {"name", "transforms"}

    steps = _steps(m)
    for key in (
        "experiment_name",
        "test_suffix",
        "meta.EXPERIMENT_FOLDER",
        "meta.cuda",
        "data_pipeline.do_inspect",
        "eval.eval_op_name",
    ):
        assert ("dropped", key) in steps and steps[("dropped", key)].why, key
    assert "runway-train qa_t5" in steps[("dropped", "experiment_name")].why
    assert "runway-infer <version> beam" in steps[("dropped", "test_suffix")].why
    assert steps[("renamed", "meta.WANDB.USER_NAME")].new == "meta.wandb.entity"
    assert "placeholder" in steps[("dropped", "meta.WANDB.PROJECT_NAME")].why
    assert steps[("moved", "tokenizer_config")].new == "executor.model_config.tokenizer_config"
    assert ("todo", "eval.metrics") in steps


def test_lora_on_becomes_train_lora_with_short_names():
    m = migrate_config(
        {
            "train": {
                "data_node": "output:X",
                "use_lora": True,
                "lora_config": {
                    "enc": {
                        "r": 4,
                        "lora_alpha": 8,
                        "lora_dropout": 0.1,
                        "target_modules": [],
                        "suffices_to_lora": ["q", "v"],
                        "bias": "none",
                    }
                },
            }
        }
    )
    assert m.config["train"]["lora"] == {
        "r": 4,
        "alpha": 8,
        "dropout": 0.1,
        "target_modules": ["q", "v"],
        "bias": "none",
    }
    flat = migrate_config({"train": {"use_lora": True, "lora_config": {"r": 2, "task_type": "SEQ_CLS"}}})
    assert flat.config["train"]["lora"] == {"r": 2}
    assert ("dropped", "train.lora_config.task_type") in _steps(flat)


def test_a_config_already_in_this_format_is_left_alone():
    config = {
        "meta": {"seed": 1},
        "train": {"data_node": "output:X", "batch_size": 4, "val_batch_size": 4},
        "eval": {"metrics": [{"name": "accuracy"}]},
    }
    m = migrate_config(config)
    assert m.config == config and not m.changed
    assert render_report(m).startswith("nothing to migrate")


def test_new_section_values_win_over_moved_top_level_ones():
    m = migrate_config({"executor": {"model_config": {"model_version": "a"}}, "model_config": {"ModelVersion": "b"}})
    assert m.config["executor"]["model_config"]["model_version"] == "a"
    assert "already set" in _steps(m)[("dropped", "model_config.ModelVersion")].why


def test_rendered_config_loads_with_runways_loader_and_says_what_changed(old_config, tmp_path):
    m = migrate_file(old_config)
    out = tmp_path / "new.jsonnet"
    out.write_text(render_config(m, old_config))
    text = out.read_text()
    assert text.startswith("// Migrated by `runway migrate` from ")
    assert '//   meta.EXPERIMENT_FOLDER = "./experiments/": experiments always live in' in text
    loaded = load_config(out)
    assert loaded.data == m.config


def test_bad_input_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        migrate_file(tmp_path / "nope.jsonnet")
    (tmp_path / "list.jsonnet").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must evaluate to an object"):
        migrate_file(tmp_path / "list.jsonnet")


def _runway(*args, cwd):
    return subprocess.run([RUNWAY, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env={**os.environ})


def test_cli_writes_the_new_file_prints_the_report_and_never_overwrites(old_config, tmp_path):
    out = tmp_path / "configs" / "experiments" / "qa_t5.jsonnet"
    proc = _runway("migrate", str(old_config), "-o", str(out), cwd=tmp_path)
    # eval.eval_op_name named an evaluation op: the metrics are left to name, so the exit status is 1.
    assert proc.returncode == 1, proc.stderr
    assert "dropped   meta.EXPERIMENT_FOLDER: experiments always live in" in proc.stdout
    assert "renamed   test.checkpoint_name -> test.checkpoint" in proc.stdout
    assert "todo      still to fix before it runs" in proc.stdout and "eval.metrics: add the metrics" in proc.stdout
    assert f"wrote {out}" in proc.stdout
    assert load_config(out).data == migrate_file(old_config).config
    before = out.read_text()

    again = _runway("migrate", str(old_config), "-o", str(out), cwd=tmp_path)
    assert again.returncode == 2 and "exists" in again.stderr and "--force" in again.stderr
    assert out.read_text() == before
    assert [p.name for p in out.parent.iterdir()] == ["qa_t5.jsonnet"]  # no temporary files left

    printed = _runway("migrate", str(old_config), "-o", str(tmp_path / "qa_t5.jsonnet"), cwd=tmp_path)
    assert printed.returncode == 1 and (tmp_path / "qa_t5.jsonnet").read_text() == before
    to_stdout = _runway("migrate", str(old_config), cwd=tmp_path)
    assert to_stdout.returncode == 1 and to_stdout.stdout.startswith("// Migrated by `runway migrate`")
    printed = to_stdout
    assert "dropped   experiment_name" in printed.stderr

    missing = _runway("migrate", "nope.jsonnet", cwd=tmp_path)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr and "nope.jsonnet" in missing.stderr


def test_loading_an_original_config_points_to_runway_migrate(old_config):
    with pytest.raises(ConfigError) as info:
        load_config(old_config)
    assert f"runway migrate {old_config}" in str(info.value.hint)
    with pytest.raises(ConfigError) as plain:
        load_config_text = old_config.with_name("mine.jsonnet")
        load_config_text.write_text("{ trian: {} }")
        load_config(load_config_text)
    assert "runway migrate" not in str(plain.value.hint)
