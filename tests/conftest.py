"""Suite-wide settings and shared fixtures.

Settings: no network, W&B offline, quiet third-party progress output.

Fixtures (use them instead of copying helpers into test files):

- ``new_project(root, prepare=False)``: a project made by ``runway init`` (data prepared on request).
- ``bare_project``: ``tmp_path`` as the smallest project: a ``.runway`` marker and ``configs/experiments/``.
- ``digits``: scikit-learn's digits as ``datasets.Dataset`` s in 80/10/10 splits (session-wide).
- ``make_config``: a factory of digits configs for ``ClassificationExecutor``.
- ``fit_executor``: train an executor from a config on a dict of splits with a quiet Lightning Trainer.
- ``template_opts(max_rows=400)``: ``--opts`` that shrink the template's digits experiment for end-to-end tests.

Heavy libraries are imported inside the fixtures, so collecting the suite stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# Set before any test imports wandb / datasets / transformers.
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _new_project(root: Path, *, prepare: bool = False) -> Path:
    from runway_for_ml.cli.main import main

    assert main(["init", str(root)]) == 0
    if prepare:
        previous = Path.cwd()
        os.chdir(root)
        try:
            assert main(["prepare", "digits"]) == 0
        finally:
            os.chdir(previous)
    return root


@pytest.fixture(scope="session")
def new_project() -> Callable[..., Path]:
    """``new_project(root, prepare=False)``: ``runway init root`` (then ``runway prepare digits``)."""
    return _new_project


@pytest.fixture
def bare_project(tmp_path: Path) -> Path:
    """``tmp_path`` as the smallest runway project: a ``.runway`` marker and ``configs/experiments/``."""
    (tmp_path / ".runway").touch()
    (tmp_path / "configs" / "experiments").mkdir(parents=True)
    return tmp_path


def _digits_splits(seed: int = 42) -> dict[str, Any]:
    import datasets
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.target))
    pixels = (digits.data / 16.0).tolist()
    labels = digits.target.tolist()
    n = len(order)
    cuts = {
        "train": order[: int(0.8 * n)],
        "validation": order[int(0.8 * n) : int(0.9 * n)],
        "test": order[int(0.9 * n) :],
    }
    return {
        split: datasets.Dataset.from_dict({"pixels": [pixels[i] for i in idx], "label": [labels[i] for i in idx]})
        for split, idx in cuts.items()
    }


def _digits_config(model: str = "cnn", seed: int = 42, lr: float = 3e-3, **train: object) -> dict[str, Any]:
    return {
        "meta": {"name": "digits", "seed": seed},
        "train": {
            "batch_size": 32,
            "optimizer_config": {
                "optimizer_name": "AdamW",
                "optimizer_params": {"lr": lr},
                "scheduler": "linear",
                "scheduler_params": {"num_warmup_steps": 5},
            },
            **train,
        },
        "executor": {
            "ExecutorClass": "ClassificationExecutor",
            "model_config": {"model": model, "input_dim": 64, "hidden_dims": [128], "num_classes": 10, "dropout": 0.1},
        },
    }


@pytest.fixture(scope="session")
def digits() -> dict[str, Any]:
    """The scikit-learn digits (``pixels`` in [0, 1], ``label``) in seeded 80/10/10 splits."""
    return _digits_splits()


@pytest.fixture
def make_config() -> Callable[..., dict[str, Any]]:
    """Factory of digits configs: ``make_config(model="mlp", seed=0, lr=3e-3, **train_keys)``."""
    return _digits_config


def _fit_executor(config: dict, data: dict, epochs: int, tmp_path: Path, **trainer_kwargs: Any) -> tuple[Any, Any]:
    import pytorch_lightning as pl

    from runway_for_ml.executors import build_executor
    from runway_for_ml.experiment.datamodule import RunwayDataModule

    pl.seed_everything(config["meta"]["seed"], verbose=False)
    executor = build_executor(config, data)
    datamodule = RunwayDataModule(config, data, collate_fn=executor.collate_fn)  # trainer.datamodule
    trainer = pl.Trainer(
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        deterministic=True,
        default_root_dir=tmp_path,
        **trainer_kwargs,
    )
    trainer.fit(executor, datamodule=datamodule)
    return executor, trainer


@pytest.fixture
def fit_executor() -> Callable[..., tuple[Any, Any]]:
    """``fit_executor(config, data, epochs, tmp_path, **trainer_kwargs) -> (executor, trainer)``."""
    return _fit_executor


def _template_opts(max_rows: int = 400) -> list[str]:
    return [
        f"data_pipeline.transforms.input:LoadDigits.setup_kwargs.max_rows={max_rows}",
        "train.trainer_paras.max_epochs=2",
        "train.trainer_paras.enable_progress_bar=false",
        "train.trainer_paras.enable_model_summary=false",
        "train.early_stopping=null",
        'meta.logger_enable=["csv"]',
    ]


@pytest.fixture(scope="session")
def template_opts() -> Callable[..., list[str]]:
    """``template_opts(max_rows=400)``: ``--opts`` for the template's digits experiment, small and fast but real.

    Fewer rows, 2 epochs, no early stopping, no progress bar or model summary, CSV logs only.
    """
    return _template_opts
