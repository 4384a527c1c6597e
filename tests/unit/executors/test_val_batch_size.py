"""train.val_batch_size (issue 16): the validation loader's own batch size, one default in the typed config."""

from __future__ import annotations

import pytest

from runway_for_ml.errors import ConfigError
from runway_for_ml.executors import BaseExecutor

ROWS = [{"x": [float(i), 1.0], "y": 2.0 * i} for i in range(10)]
DATA = {"train": ROWS, "validation": ROWS[:6], "test": ROWS[:7]}


def _executor(train: dict, test: dict | None = None) -> BaseExecutor:
    config = {"meta": {"seed": 0}, "train": train, "executor": {}}
    if test is not None:
        config["test"] = test
    return BaseExecutor(config, DATA)


def test_each_loader_reads_its_own_batch_size() -> None:
    executor = _executor({"batch_size": 4, "val_batch_size": 3}, {"batch_size": 5})
    assert executor.train_dataloader().batch_size == 4
    assert executor.val_dataloader().batch_size == 3
    assert executor.test_dataloader().batch_size == 5
    assert executor.predict_dataloader().batch_size == 5


def test_validation_and_test_default_to_the_training_batch_size() -> None:
    executor = _executor({"batch_size": 4})
    assert executor.val_dataloader().batch_size == 4
    assert executor.test_dataloader().batch_size == 4
    # No batch size anywhere: the one default of the typed config (train.batch_size = 32).
    bare = _executor({})
    assert bare.typed_config.train.batch_size == 32
    assert bare.val_dataloader().batch_size == bare.predict_dataloader().batch_size == 32


def test_a_bad_val_batch_size_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"train.val_batch_size: expected an integer >= 1 or null, found 0"):
        _executor({"batch_size": 4, "val_batch_size": 0}).val_dataloader()
