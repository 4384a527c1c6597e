"""Unit checks of the ranges the preflight enforces (from the typed config) and its checkpoint rules (no torch)."""

from __future__ import annotations

import pytest

from runway_for_ml.config.schema import validate_config
from runway_for_ml.errors import ConfigError
from runway_for_ml.experiment.preflight import _check_checkpoint_choice


@pytest.mark.parametrize(
    "config",
    [
        {"train": {"batch_size": 1, "dataloader_workers": 0, "torch_num_threads": None}},
        {"train": {"trainer_paras": {"max_epochs": -1, "max_steps": -1, "limit_val_batches": 0.5}}},
        {"train": {"trainer_paras": {"limit_train_batches": 10, "gradient_clip_val": 1.5}}},
        {"slurm": {"time_min": 30, "mem_gb": "500MB", "gpus_per_node": 0}},
        {"train": {"trainer_paras": {"devices": "auto", "precision": "16-mixed"}}},  # not checked here
    ],
)
def test_valid_numbers_pass(config):
    validate_config(config)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"train": {"batch_size": True}}, "train.batch_size: expected an integer >= 1, found true"),
        ({"test": {"batch_size": 0}}, "test.batch_size: expected an integer >= 1 or null, found 0"),
        ({"train": {"torch_num_threads": 0}}, "train.torch_num_threads: expected an integer >= 1 or null"),
        ({"train": {"trainer_paras": {"limit_val_batches": 1.5}}}, "limit_val_batches: expected a fraction"),
        ({"train": {"trainer_paras": {"accumulate_grad_batches": 0}}}, "accumulate_grad_batches"),
        ({"train": {"early_stopping": {"patience": -1}}}, "train.early_stopping.patience"),
        ({"slurm": {"time_min": -5}}, "slurm.time_min: expected an integer >= 1, found -5"),
        ({"slurm": {"mem_gb": 0}}, "slurm.mem_gb: expected a positive number of GB"),
        ({"meta": {"dummy_data_rows": 0}}, "meta.dummy_data_rows"),
    ],
)
def test_bad_numbers_name_the_key_path(config, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_config(config)


def test_checkpoint_choice(tmp_path):
    _check_checkpoint_choice("best")
    _check_checkpoint_choice(None)
    ckpt = tmp_path / "x.ckpt"
    ckpt.write_bytes(b"")
    _check_checkpoint_choice(str(ckpt))
    with pytest.raises(ConfigError, match="did you mean 'last'"):
        _check_checkpoint_choice("lastt")
