"""Shared fixtures for executor tests: the scikit-learn digits in 80/10/10 splits."""

from __future__ import annotations

import numpy as np
import pytest


def digits_splits(seed: int = 42) -> dict:
    import datasets
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


def digits_config(model: str = "cnn", seed: int = 42, lr: float = 3e-3, **train: object) -> dict:
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
def digits() -> dict:
    return digits_splits()


@pytest.fixture
def make_config():
    """Factory of digits configs: ``make_config(model="mlp", seed=0, max_epochs=...)``."""
    return digits_config
