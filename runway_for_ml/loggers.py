"""Logger registry: ``csv``, ``tensorboard`` and ``wandb`` Lightning loggers chosen by ``meta.logger_enable``.

Every logger writes under one folder (an experiment version's ``train/logs/``)::

    logs/csv/metrics.csv, logs/csv/hparams.yaml
    logs/tensorboard/events.out.tfevents.*
    logs/wandb/offline-run-<time>-<run_id>/run-<run_id>.wandb

Weights & Biases runs offline unless ``meta.wandb.mode`` says otherwise, ``WANDB_MODE`` is set, or an
API key is configured (``WANDB_API_KEY``); it never asks for a login. The run id is stable per
experiment version (:func:`stable_run_id`) and runs are created with ``resume="allow"``, so a resumed
training continues the same W&B run.

>>> from pathlib import Path
>>> stable_run_id(Path("/proj/experiments/digits_V0")) == stable_run_id(Path("/proj/experiments/digits_V0"))
True
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from runway_for_ml.errors import check_choice, check_keys
from runway_for_ml.registry import Registry

__all__ = ["LOGGERS", "build_loggers", "register_logger", "stable_run_id", "wandb_mode"]

# name -> factory(save_dir, run_name, run_id, config, resume) -> a Lightning Logger
LoggerFactory = Callable[[Path, str, str, Mapping[str, Any], bool], Any]
LOGGERS: Registry[LoggerFactory] = Registry("logger", hint="available loggers: {names}")

_WANDB_KEYS = ("project", "entity", "mode", "tags", "group", "notes", "job_type")


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
    ['_ResumableCSVLogger']
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
    from pytorch_lightning.loggers import CSVLogger
    from pytorch_lightning.loggers.csv_logs import ExperimentWriter

    class _AppendingWriter(ExperimentWriter):
        # Lightning's writer deletes an existing metrics.csv; a resumed run appends to it instead.
        def _check_log_dir_exists(self) -> None:
            if self._fs.isfile(self.metrics_file_path):
                import csv

                with self._fs.open(self.metrics_file_path, "r", newline="") as fh:
                    self.metrics_keys = list(csv.DictReader(fh).fieldnames or [])

    class _ResumableCSVLogger(CSVLogger):
        @property
        def experiment(self) -> Any:
            if self._experiment is None and resume:
                self._fs.makedirs(self.root_dir, exist_ok=True)
                self._experiment = _AppendingWriter(log_dir=self.log_dir)
            return super().experiment

    return _ResumableCSVLogger(save_dir, name="", version="csv")


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
    check_keys(settings, _WANDB_KEYS, "meta.wandb")
    settings["mode"] = wandb_mode(config)
    settings.setdefault("project", meta.get("name") or run_name.rsplit("_V", 1)[0] or "runway")

    class _FinishingWandbLogger(WandbLogger):
        # Lightning leaves the W&B run open; finishing it flushes the run files and lets the next
        # Trainer in the same process (infer after train) start its own run.
        def finalize(self, status: str) -> None:
            super().finalize(status)
            if self._experiment is not None and hasattr(self._experiment, "finish"):
                self._experiment.finish(exit_code=0 if status == "success" else 1)
                self._experiment = None

    wandb_dir = save_dir  # wandb adds its own "wandb/" folder inside
    return _FinishingWandbLogger(
        name=run_name,
        id=run_id,
        save_dir=str(wandb_dir),
        resume="allow",
        **settings,
    )
