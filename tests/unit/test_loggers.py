"""Loggers: real CSV metrics, TensorBoard event files and W&B offline run files from a real training run."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest
import pytorch_lightning as pl

from runway_for_ml.errors import ConfigError
from runway_for_ml.executors import build_executor
from runway_for_ml.loggers import build_loggers, mlflow_tracking_uri, stable_run_id, wandb_mode


@pytest.fixture(autouse=True)
def _wandb_offline(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")


def _digits(rows: int = 300):
    import datasets
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(42).permutation(len(digits.target))[:rows]
    pixels, labels = (digits.data / 16.0)[order].tolist(), digits.target[order].tolist()
    cut = int(0.8 * rows)
    return {
        "train": datasets.Dataset.from_dict({"pixels": pixels[:cut], "label": labels[:cut]}),
        "validation": datasets.Dataset.from_dict({"pixels": pixels[cut:], "label": labels[cut:]}),
    }


CONFIG = {
    "meta": {"name": "digits", "seed": 0, "wandb": {"project": "runway-tests"}},
    "train": {"batch_size": 32, "optimizer_config": {"optimizer_params": {"lr": 3e-3}}},
    "executor": {"ExecutorClass": "ClassificationExecutor", "model_config": {"input_dim": 64, "num_classes": 10}},
}


def _fit(trainer, data, ckpt_path=None) -> None:
    from runway_for_ml.experiment.datamodule import RunwayDataModule

    executor = build_executor(CONFIG, data)
    datamodule = RunwayDataModule(CONFIG, data, collate_fn=executor.collate_fn)  # the run's data
    trainer.fit(executor, datamodule=datamodule, ckpt_path=ckpt_path)


def _train(version_dir, data, epochs: int, resume: bool = False, ckpt_path=None):
    run_id = stable_run_id(version_dir)
    loggers = build_loggers(
        ["csv", "tensorboard", "wandb"], version_dir / "train" / "logs", version_dir.name, run_id, CONFIG, resume=resume
    )
    trainer = pl.Trainer(
        max_epochs=epochs,
        logger=loggers,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=version_dir / "train",
        callbacks=[pl.callbacks.ModelCheckpoint(dirpath=version_dir / "train" / "checkpoints", save_last=True)],
    )
    _fit(trainer, data, ckpt_path=ckpt_path)
    return run_id, trainer


def test_training_writes_csv_tensorboard_and_wandb_offline_files(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    version_dir = tmp_path / "experiments" / "digits_V0"
    data = _digits()
    run_id, _ = _train(version_dir, data, epochs=2)
    logs = version_dir / "train" / "logs"

    with (logs / "csv" / "metrics.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    val_acc = [float(r["val_accuracy"]) for r in rows if r.get("val_accuracy")]
    assert len(val_acc) == 2 and all(0.0 <= v <= 1.0 for v in val_acc)
    assert any(r.get("train_loss_step") for r in rows)
    assert (logs / "csv" / "hparams.yaml").read_text().count("ClassificationExecutor") >= 1

    events = list((logs / "tensorboard").glob("events.out.tfevents.*"))
    assert events
    accumulator = EventAccumulator(str(logs / "tensorboard"))
    accumulator.Reload()
    tags = accumulator.Tags()["scalars"]
    assert {"val_accuracy", "val_loss", "train_loss_step"} <= set(tags)
    assert len(accumulator.Scalars("val_accuracy")) == 2

    import wandb

    assert wandb.run is None  # the logger finished its run when training ended
    runs = list((logs / "wandb").glob(f"offline-run-*-{run_id}"))
    assert len(runs) == 1
    assert (runs[0] / f"run-{run_id}.wandb").stat().st_size > 0

    # Resume the same version: the same W&B run id, CSV rows appended, not replaced.
    _train(version_dir, data, epochs=3, resume=True, ckpt_path=version_dir / "train" / "checkpoints" / "last.ckpt")
    assert stable_run_id(version_dir) == run_id
    runs = sorted((logs / "wandb").glob("offline-run-*"))
    # wandb names a folder offline-run-<time>-<id>, adding "-1" when a resume starts within the same second.
    assert runs and all(f"-{run_id}" in r.name for r in runs)
    assert all((r / f"run-{run_id}.wandb").is_file() for r in runs)
    with (logs / "csv" / "metrics.csv").open(newline="") as fh:
        val_acc = [r["val_accuracy"] for r in csv.DictReader(fh) if r.get("val_accuracy")]
    assert len(val_acc) == 3
    accumulator = EventAccumulator(str(logs / "tensorboard"))
    accumulator.Reload()
    assert [e.step for e in accumulator.Scalars("val_accuracy")][-1] > 0
    assert len(list((logs / "tensorboard").glob("events.out.tfevents.*"))) == 2


def test_stable_run_id_depends_on_version_folder(tmp_path):
    a = stable_run_id(tmp_path / "experiments" / "digits_V0")
    assert a == stable_run_id(tmp_path / "experiments" / "digits_V0")
    assert a == stable_run_id(tmp_path / "experiments" / ".." / "experiments" / "digits_V0")
    assert a != stable_run_id(tmp_path / "experiments" / "digits_V1")
    assert len(a) == 12 and a.isalnum()


def test_unknown_logger_and_wandb_keys(tmp_path):
    with pytest.raises(
        ConfigError, match=r"meta.logger_enable: unknown logger 'tensorbord'.*did you mean 'tensorboard'"
    ):
        build_loggers(["csv", "tensorbord"], tmp_path, "x_V0", "abc", {})
    assert not any(tmp_path.iterdir())
    with pytest.raises(ConfigError, match=r"meta.wandb.projct.*did you mean 'project'"):
        build_loggers(["wandb"], tmp_path, "x_V0", "abc", {"meta": {"wandb": {"projct": "p"}}})
    assert build_loggers([], tmp_path, "x_V0", "abc", {}) == []
    assert len(build_loggers(["csv", "csv"], tmp_path, "x_V0", "abc", {})) == 1


def test_wandb_mode_rules(monkeypatch):
    monkeypatch.delenv("WANDB_MODE")
    assert wandb_mode({}) == "offline"  # no key: never asks for a login
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_mode({}) == "online"
    assert wandb_mode({"meta": {"wandb": {"mode": "disabled"}}}) == "disabled"
    monkeypatch.setenv("WANDB_MODE", "dryrun")
    assert wandb_mode({}) == "offline"
    with pytest.raises(ConfigError, match=r"'ofline'.*did you mean 'offline'"):
        wandb_mode({"meta": {"wandb": {"mode": "ofline"}}})
    assert os.environ["WANDB_MODE"] == "dryrun"


def test_mlflow_logger_writes_a_run_that_mlflows_client_reads_back(tmp_path):
    """Default store: SQLite in the project's mlruns/ (MLflow 3 refuses its old file store by default)."""
    from mlflow.tracking import MlflowClient

    project = tmp_path / "proj"
    (project / "configs").mkdir(parents=True)
    (project / ".runway").touch()
    version_dir = project / "experiments" / "digits_V0"
    data = _digits()
    run_id = stable_run_id(version_dir)
    loggers = build_loggers(["mlflow"], version_dir / "train" / "logs", "digits_V0", run_id, CONFIG)
    assert mlflow_tracking_uri(CONFIG, version_dir) == f"sqlite:///{project.resolve() / 'mlruns' / 'mlflow.db'}"
    trainer = pl.Trainer(
        max_epochs=2, logger=loggers, log_every_n_steps=1, enable_progress_bar=False, enable_checkpointing=False
    )
    _fit(trainer, data)

    client = MlflowClient(tracking_uri=mlflow_tracking_uri(CONFIG, version_dir))
    experiment = client.get_experiment_by_name("digits")  # meta.name
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "digits_V0" and run.info.status == "FINISHED"
    assert run.data.tags["runway.run_id"] == run_id
    # The executor's hyperparameters, the run's config among them, flattened by MLflow with "/".
    assert run.data.params["config/executor/ExecutorClass"] == "ClassificationExecutor"
    assert run.data.params["config/train/optimizer_config/optimizer_params/lr"] == "0.003"
    assert run.data.params["model_config/num_classes"] == "10"
    history = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert [h.step for h in history] == sorted(h.step for h in history) and len(history) == 2
    assert all(0.0 <= h.value <= 1.0 for h in history)

    # A resumed version continues its MLflow run.
    again = build_loggers(["mlflow"], version_dir / "train" / "logs", "digits_V0", run_id, CONFIG, resume=True)
    assert again[0].run_id == run.info.run_id
    # Another tracking URI comes from meta.mlflow.tracking_uri; unknown keys are refused.
    uri = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    assert mlflow_tracking_uri({"meta": {"mlflow": {"tracking_uri": uri}}}, version_dir) == uri
    with pytest.raises(ConfigError, match=r"meta.mlflow.tracking_url.*did you mean 'tracking_uri'"):
        build_loggers(["mlflow"], tmp_path / "logs", "x_V0", "abc", {"meta": {"mlflow": {"tracking_url": uri}}})
