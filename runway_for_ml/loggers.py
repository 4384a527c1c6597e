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

import functools
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
    """A CSV logger built on Lightning's public ``Logger`` interface, writing Lightning's CSV format.

    ``csv/metrics.csv`` (one row per logging call, one column per metric, sorted, ``step`` included) and
    ``csv/hparams.yaml``. Unlike Lightning's ``CSVLogger``, which deletes an existing ``metrics.csv``,
    a resumed run (``resume=True``) appends to it, so a version keeps one file across resumes.
    """
    import csv

    from pytorch_lightning.core.saving import save_hparams_to_yaml
    from pytorch_lightning.loggers import Logger
    from pytorch_lightning.utilities import rank_zero_only

    class RunwayCSVLogger(Logger):
        def __init__(self, save_dir: Path, *, resume: bool = False) -> None:
            super().__init__()
            self._save_dir = Path(save_dir)
            self._rows: list[dict[str, Any]] = []
            self._keys: list[str] = []
            path = self.metrics_file
            if path.is_file():
                if resume:
                    with path.open(newline="", encoding="utf-8") as fh:
                        self._keys = list(csv.DictReader(fh).fieldnames or [])
                else:
                    path.unlink()  # a new run in a used folder starts a new file, as Lightning's does

        @property
        def name(self) -> str:
            return ""

        @property
        def version(self) -> str:
            return "csv"

        @property
        def root_dir(self) -> str:
            return str(self._save_dir)

        @property
        def save_dir(self) -> str:
            return str(self._save_dir)

        @property
        def log_dir(self) -> str:
            return str(self._save_dir / "csv")

        @property
        def metrics_file(self) -> Path:
            return Path(self.log_dir) / "metrics.csv"

        @rank_zero_only
        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            params = vars(params) if hasattr(params, "__dict__") and not isinstance(params, Mapping) else params
            Path(self.log_dir).mkdir(parents=True, exist_ok=True)
            save_hparams_to_yaml(str(Path(self.log_dir) / "hparams.yaml"), dict(params or {}))

        @rank_zero_only
        def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
            row = {k: (v.item() if hasattr(v, "item") else v) for k, v in metrics.items()}
            row["step"] = len(self._rows) if step is None else step
            self._rows.append(row)

        @rank_zero_only
        def save(self) -> None:
            if not self._rows:
                return
            path = self.metrics_file
            path.parent.mkdir(parents=True, exist_ok=True)
            new_keys = set().union(*self._rows) - set(self._keys)
            exists = path.is_file()
            if new_keys:
                self._keys = sorted({*self._keys, *new_keys})
            if new_keys and exists:  # a new column: rewrite the file under the wider header
                with path.open(newline="", encoding="utf-8") as fh:
                    old = list(csv.DictReader(fh))
                self._rows, exists = old + self._rows, False
            with path.open("a" if exists else "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=self._keys)
                if not exists:
                    writer.writeheader()
                writer.writerows(self._rows)
            self._rows = []

        @rank_zero_only
        def finalize(self, status: str) -> None:
            self.save()

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
    check_keys(settings, _WANDB_KEYS, "meta.wandb")
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
