"""ClassificationExecutor trains on digits to the demo's accuracy, reproducibly, and predicts per-sample dicts."""

from __future__ import annotations

import time

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from runway_for_ml.errors import ConfigError
from runway_for_ml.executors import ClassificationExecutor, build_executor
from runway_for_ml.metrics import EvalRecorder, compute_metrics


def _fit(config: dict, data: dict, epochs: int, tmp_path, **trainer_kwargs) -> tuple[pl.LightningModule, pl.Trainer]:
    pl.seed_everything(config["meta"]["seed"], verbose=False)
    executor = build_executor(config, data)
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
    trainer.fit(executor)
    return executor, trainer


def test_cnn_reaches_demo_accuracy_on_digits_quickly(digits, make_config, tmp_path):
    # CPU time rather than wall time: other processes on a shared machine must not make this flaky.
    start = time.process_time()
    executor, trainer = _fit(make_config("cnn"), digits, epochs=3, tmp_path=tmp_path)
    val_accuracy = float(trainer.callback_metrics["val_accuracy"])
    outputs = trainer.predict(executor, dataloaders=executor.predict_dataloader("test"))
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


@pytest.mark.slow
def test_mlp_reaches_demo_accuracy(digits, make_config, tmp_path):
    executor, trainer = _fit(make_config("mlp"), digits, epochs=10, tmp_path=tmp_path)
    outputs = trainer.predict(executor, dataloaders=executor.predict_dataloader("test"))
    prediction = torch.cat([o["prediction"] for o in outputs])
    target = torch.cat([o["target"] for o in outputs])
    assert (prediction == target).float().mean().item() >= 0.95


def test_same_seed_gives_identical_weights_and_other_seed_does_not(digits, make_config, tmp_path):
    small = {split: ds.select(range(128)) for split, ds in digits.items()}
    a, _ = _fit(make_config("mlp", seed=7), small, epochs=2, tmp_path=tmp_path)
    b, _ = _fit(make_config("mlp", seed=7), small, epochs=2, tmp_path=tmp_path)
    c, _ = _fit(make_config("mlp", seed=8), small, epochs=2, tmp_path=tmp_path)
    for (name, wa), wb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(wa, wb), name
    assert not torch.equal(a.net[0].weight, c.net[0].weight)


def test_resume_from_epoch_checkpoint_matches_uninterrupted_run(digits, make_config, tmp_path):
    small = {split: ds.select(range(96)) for split, ds in digits.items()}
    config = make_config("mlp", seed=3)
    full, _ = _fit(config, small, epochs=3, tmp_path=tmp_path / "full")

    class StopAfterTwoEpochs(pl.Callback):  # an interruption after epoch 2 of the same 3-epoch run
        def on_train_epoch_end(self, trainer, pl_module):
            if trainer.current_epoch == 1:
                trainer.should_stop = True

    _, trainer = _fit(config, small, epochs=3, tmp_path=tmp_path / "part", callbacks=[StopAfterTwoEpochs()])
    assert trainer.current_epoch == 2
    ckpt = tmp_path / "part.ckpt"
    trainer.save_checkpoint(ckpt)
    # A fresh process would re-seed with some other state; the executor re-seeds every step anyway.
    torch.manual_seed(12345)
    resumed = build_executor(config, small)
    pl.Trainer(
        max_epochs=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        deterministic=True,
        default_root_dir=tmp_path / "resumed",
    ).fit(resumed, ckpt_path=ckpt)
    for (name, w_full), w_resumed in zip(full.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(w_full, w_resumed), name


def test_predict_without_labels_and_bad_columns():
    executor = ClassificationExecutor(
        {"meta": {"seed": 0}}, model_config={"input_dim": 4, "num_classes": 3, "hidden_dims": []}
    )
    out = executor.predict_step({"pixels": torch.zeros(5, 4)}, 0)
    assert set(out) == {"prediction", "probabilities"}
    assert out["probabilities"].shape == (5, 3)
    with pytest.raises(ConfigError, match=r"no column 'label'.*did you mean 'labels'"):
        executor.training_step({"pixels": torch.zeros(2, 4), "labels": torch.zeros(2)}, 0)


def test_model_config_errors():
    with pytest.raises(ConfigError, match=r"executor.model_config.model: unknown model 'cnm'.*did you mean 'cnn'"):
        ClassificationExecutor({}, model_config={"model": "cnm"})
    with pytest.raises(ConfigError, match=r"executor.model_config.hiden_dims.*did you mean 'hidden_dims'"):
        ClassificationExecutor({}, model_config={"hiden_dims": [3]})
    with pytest.raises(ConfigError, match="not an even square"):
        ClassificationExecutor({}, model_config={"model": "cnn", "input_dim": 10})


def test_cnn_input_shape():
    executor = ClassificationExecutor({}, model_config={"model": "cnn", "input_dim": 64, "num_classes": 10})
    assert executor(torch.from_numpy(np.zeros((3, 64), dtype=np.float32))).shape == (3, 10)
