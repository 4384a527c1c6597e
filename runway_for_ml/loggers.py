"""Logger registry: ``csv``, ``tensorboard``, ``wandb`` and ``mlflow`` Lightning loggers chosen by ``meta.logger_enable``.

Every file logger writes under one folder (an experiment version's ``train/logs/``)::

    logs/csv/metrics.csv, logs/csv/hparams.yaml
    logs/tensorboard/events.out.tfevents.*
    logs/wandb/offline-run-<time>-<run_id>/run-<run_id>.wandb

MLflow writes to its tracking store: ``meta.mlflow.tracking_uri``, else ``<project>/mlruns/mlflow.db``.

Weights & Biases runs offline unless ``meta.wandb.mode`` says otherwise, ``WANDB_MODE`` is set, or an
API key is configured (``WANDB_API_KEY``); it never asks for a login. The run id is stable per
experiment version (:func:`stable_run_id`) and runs are created with ``resume="allow"``, so a resumed
training continues the same W&B run.

>>> from pathlib import Path
>>> stable_run_id(Path("/proj/experiments/digits_V0")) == stable_run_id(Path("/proj/experiments/digits_V0"))
True
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runway_for_ml.errors import ConfigError, check_choice, check_keys
from runway_for_ml.project import find_project_root
from runway_for_ml.registry import Registry

__all__ = ["LOGGERS", "build_loggers", "mlflow_tracking_uri", "register_logger", "stable_run_id", "wandb_mode"]

# name -> factory(save_dir, run_name, run_id, config, resume) -> a Lightning Logger
LoggerFactory = Callable[[Path, str, str, Mapping[str, Any], bool], Any]
LOGGERS: Registry[LoggerFactory] = Registry("logger", hint="available loggers: {names}")

WANDB_KEYS = ("project", "entity", "mode", "tags", "group", "notes", "job_type")


def register_logger(factory: LoggerFactory | None = None, *, name: str | None = None) -> Any:
    """Register a logger factory ``(save_dir, run_name, run_id, config, resume) -> Logger``."""
    return LOGGERS.register(factory, name=name) if factory is not None else LOGGERS.register(name=name)


def stable_run_id(exp_version_dir: str | os.PathLike[str]) -> str:
    """A 12-character id that depends only on the experiment version folder (its absolute path).

    The same folder always gives the same id, so a resumed run reuses its W&B run.
    """
    identity = Path(exp_version_dir).expanduser().resolve().as_posix()
    return hashlib.sha256(identity.encode()).hexdigest()[:12]


def wandb_mode(config: Mapping[str, Any]) -> str:
    """``online`` / ``offline`` / ``disabled``: ``meta.wandb.mode``, else ``WANDB_MODE``, else online only with a key."""
    meta = config.get("meta") or {}
    mode = (meta.get("wandb") or {}).get("mode") or os.environ.get("WANDB_MODE")
    if mode:
        mode = "offline" if mode == "dryrun" else str(mode)
        check_choice(mode, ("online", "offline", "disabled"), "meta.wandb.mode / WANDB_MODE", what="W&B mode")
        return mode
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


def build_loggers(
    names: Sequence[str] | None,
    save_dir: str | os.PathLike[str],
    run_name: str,
    run_id: str,
    config: Mapping[str, Any],
    resume: bool = False,
) -> list[Any]:
    """Build the loggers named in ``names`` (``meta.logger_enable``), all writing under ``save_dir``.

    >>> import tempfile
    >>> [type(lg).__name__ for lg in build_loggers(["csv"], tempfile.mkdtemp(), "digits_V0", "abc", {})]
    ['RunwayCSVLogger']
    """
    save_dir = Path(save_dir)
    loggers = []
    seen: set[str] = set()
    for name in names or ():
        if name in seen:
            continue
        seen.add(name)
        LOGGERS.check(name, where="meta.logger_enable")
        save_dir.mkdir(parents=True, exist_ok=True)
        loggers.append(LOGGERS.get(name)(save_dir, run_name, run_id, config, resume))
    return loggers


# --------------------------------------------------------------------- built-ins


@register_logger(name="csv")
def _csv_logger(save_dir: Path, run_name: str, run_id: str, config: Mapping[str, Any], resume: bool) -> Any:
    return _csv_logger_class()(save_dir, resume=resume)


@functools.cache
def _csv_logger_class() -> type:
    """Lightning's ``CSVLogger`` writing ``csv/metrics.csv`` and ``csv/hparams.yaml`` under ``save_dir``.

    The one difference: Lightning deletes an existing ``metrics.csv`` when a logger opens its folder;
    a resumed run (``resume=True``) appends to it instead (under the header it already has, widened
    when new metrics appear), so a version keeps one file across resumes.
    """
    import csv

    from pytorch_lightning.loggers import CSVLogger
    from pytorch_lightning.loggers.csv_logs import ExperimentWriter
    from pytorch_lightning.loggers.logger import rank_zero_experiment

    class _Writer(ExperimentWriter):
        def __init__(self, log_dir: str, *, resume: bool) -> None:
            self.resume = resume  # read by _check_log_dir_exists, which the base __init__ calls
            super().__init__(log_dir)

        def _check_log_dir_exists(self) -> None:
            path = Path(self.metrics_file_path)
            if not path.is_file():
                return
            if not self.resume:
                path.unlink()  # a new run in a used folder starts a new file, as Lightning's does
                return
            with path.open(newline="", encoding="utf-8") as fh:
                self.metrics_keys = sorted(csv.DictReader(fh).fieldnames or [])

    class RunwayCSVLogger(CSVLogger):
        def __init__(self, save_dir: Path, *, resume: bool = False) -> None:
            super().__init__(save_dir, name="", version="csv")
            self._resume = resume

        @property
        @rank_zero_experiment
        def experiment(self) -> ExperimentWriter:
            if self._experiment is None:
                self._fs.makedirs(self.root_dir, exist_ok=True)
                self._experiment = _Writer(self.log_dir, resume=self._resume)
            return self._experiment

        @property
        def metrics_file(self) -> Path:
            return Path(self.log_dir) / ExperimentWriter.NAME_METRICS_FILE

    return RunwayCSVLogger


@register_logger(name="tensorboard")
def _tensorboard_logger(save_dir: Path, run_name: str, run_id: str, config: Mapping[str, Any], resume: bool) -> Any:
    from pytorch_lightning.loggers import TensorBoardLogger

    # A resumed run adds a new event file to the same folder; TensorBoard reads them as one run.
    return TensorBoardLogger(save_dir, name="", version="tensorboard", default_hp_metric=False)


@register_logger(name="wandb")
def _wandb_logger(save_dir: Path, run_name: str, run_id: str, config: Mapping[str, Any], resume: bool) -> Any:
    from pytorch_lightning.loggers import WandbLogger

    meta = config.get("meta") or {}
    settings = dict(meta.get("wandb") or {})
    check_keys(settings, WANDB_KEYS, "meta.wandb")
    settings["mode"] = wandb_mode(config)
    settings.setdefault("project", meta.get("name") or run_name.rsplit("_V", 1)[0] or "runway")

    class _FinishingWandbLogger(WandbLogger):
        # Lightning leaves the W&B run open; finishing it flushes the run files and lets the next
        # run in the same process (a resumed fit, another version) start cleanly.
        def finalize(self, status: str) -> None:
            super().finalize(status)
            import wandb

            if wandb.run is not None and wandb.run.id == self.version:  # this logger's run, not another
                wandb.finish(exit_code=0 if status == "success" else 1)

    wandb_dir = save_dir  # wandb adds its own "wandb/" folder inside
    return _FinishingWandbLogger(
        name=run_name,
        id=run_id,
        save_dir=str(wandb_dir),
        resume="allow",
        **settings,
    )


_MLFLOW_KEYS = ("tracking_uri", "experiment_name", "tags", "artifact_location")


def mlflow_tracking_uri(config: Mapping[str, Any], save_dir: str | os.PathLike[str]) -> str:
    """``meta.mlflow.tracking_uri``, else an SQLite store in the project's ``mlruns/`` folder.

    MLflow 3 refuses its old file store (``./mlruns``) unless ``MLFLOW_ALLOW_FILE_STORE=true``, so the
    default is ``sqlite:///<project>/mlruns/mlflow.db`` (artifacts next to it in ``mlruns/artifacts``);
    ``mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db`` in the project shows the runs.

    >>> mlflow_tracking_uri({"meta": {"mlflow": {"tracking_uri": "http://mlflow:5000"}}}, "/tmp")
    'http://mlflow:5000'
    """
    settings = ((config.get("meta") or {}).get("mlflow")) or {}
    if settings.get("tracking_uri"):
        return str(settings["tracking_uri"])
    return f"sqlite:///{_mlruns_dir(save_dir).as_posix()}/mlflow.db"


def _mlruns_dir(save_dir: str | os.PathLike[str]) -> Path:
    """``<project>/mlruns`` for a version's ``train/logs`` folder (``save_dir/mlruns`` outside a project)."""

    root = find_project_root(save_dir)
    return (root if root is not None else Path(save_dir).resolve()) / "mlruns"


@register_logger(name="mlflow")
def _mlflow_logger(save_dir: Path, run_name: str, run_id: str, config: Mapping[str, Any], resume: bool) -> Any:
    meta = config.get("meta") or {}
    settings = dict(meta.get("mlflow") or {})
    check_keys(settings, _MLFLOW_KEYS, "meta.mlflow")
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        raise ConfigError(
            "meta.logger_enable: 'mlflow' needs the mlflow package",
            hint="pip install 'runway_for_ml[mlflow]' (or remove 'mlflow' from meta.logger_enable)",
        )
    from pytorch_lightning.loggers import MLFlowLogger

    uri = mlflow_tracking_uri(config, save_dir)
    artifact_location = settings.get("artifact_location")
    if uri.startswith("sqlite:///") and not settings.get("tracking_uri"):
        mlruns = _mlruns_dir(save_dir)
        mlruns.mkdir(parents=True, exist_ok=True)
        artifact_location = artifact_location or (mlruns / "artifacts").as_uri()
    experiment_name = str(settings.get("experiment_name") or meta.get("name") or run_name.rsplit("_V", 1)[0])
    tags = {**dict(settings.get("tags") or {}), "runway.version": run_name, "runway.run_id": run_id}
    return MLFlowLogger(
        experiment_name=experiment_name,
        run_name=run_name,
        tracking_uri=uri,
        tags=tags,
        artifact_location=artifact_location,
        # A resumed version continues its MLflow run (found by the stable runway run id).
        run_id=_existing_mlflow_run(uri, experiment_name, run_id) if resume else None,
    )


def _existing_mlflow_run(uri: str, experiment_name: str, run_id: str) -> str | None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return None
    runs = client.search_runs([experiment.experiment_id], filter_string=f"tags.`runway.run_id` = '{run_id}'")
    return runs[0].info.run_id if runs else None
