"""ClassificationExecutor reaches the demo's accuracy on digits (end-to-end training: slow)."""

from __future__ import annotations

import time

import pytest
import torch

from runway_for_ml.executors.prediction import predict_batches
from runway_for_ml.metrics import EvalRecorder, compute_metrics

pytestmark = pytest.mark.slow


def test_cnn_reaches_demo_accuracy_on_digits_quickly(digits, make_config, fit_executor, tmp_path):
    # CPU time rather than wall time: other processes on a shared machine must not make this flaky.
    start = time.process_time()
    executor, trainer = fit_executor(make_config("cnn"), digits, epochs=3, tmp_path=tmp_path)
    val_accuracy = float(trainer.callback_metrics["val_accuracy"])
    outputs = list(predict_batches(executor, trainer.datamodule.predict_dataloader("test")))  # the one loop
    elapsed = time.process_time() - start

    recorder = EvalRecorder()
    recorder.add_batches(outputs)
    assert len(recorder) == len(digits["test"])
    assert set(recorder.columns) >= {"index", "prediction", "target", "probabilities"}
    assert sum(recorder.rows[0]["probabilities"]) == pytest.approx(1.0, abs=1e-5)
    metrics = compute_metrics(recorder, [{"name": "accuracy"}])
    assert metrics["accuracy"] >= 0.95
    assert val_accuracy >= 0.9
    assert elapsed < 40, f"training + inference took {elapsed:.1f} s of CPU time"


def test_mlp_reaches_demo_accuracy(digits, make_config, fit_executor, tmp_path):
    executor, trainer = fit_executor(make_config("mlp"), digits, epochs=10, tmp_path=tmp_path)
    outputs = list(predict_batches(executor, trainer.datamodule.predict_dataloader("test")))  # the one loop
    prediction = torch.cat([o["prediction"] for o in outputs])
    target = torch.cat([o["target"] for o in outputs])
    assert (prediction == target).float().mean().item() >= 0.95
