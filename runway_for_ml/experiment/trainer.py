"""The Lightning ``Trainer`` of a version: checkpoints, early stopping, loggers, progress bar, plugins.

One small builder per concern, each using Lightning's public API:

- two ``ModelCheckpoint`` callbacks: the user's top-k ("best") one from
  ``train.model_checkpoint_callback_paras``, and one that rewrites ``train/checkpoints/last.ckpt`` at
  every epoch end. (Lightning's own ``save_last=True`` writes ``last.ckpt`` only when a top-k
  checkpoint is written at the same step, so on a plateau a resume or SLURM requeue would lose every
  epoch after the last improvement.)
- the loggers of ``meta.logger_enable`` under ``train/logs/``;
- a progress bar showing the version number (``v_num: 3``) instead of the last characters of the
  first logger's folder name (``v_num: oard``); plain lines in a log when stderr is not a terminal.

>>> trainer = build_trainer(config, VersionDir(version_dir), resuming=False)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from runway_for_ml.experiment.ddp import ddp_strategy, rng_state_callback
from runway_for_ml.experiment.layout import LAST_CKPT, VersionDir
from runway_for_ml.experiment.process import quiet_lightning
from runway_for_ml.loggers import build_loggers, stable_run_id
from runway_for_ml.progress import PlainProgress, plain_progress_wanted

__all__ = [
    "build_callbacks",
    "build_loggers_for",
    "build_trainer",
    "extra_callbacks",
    "plain_progress_bar",
    "progress_bar",
    "scalar_metrics",
]


# Callbacks a caller adds to the trainers built while it runs (a search trial's pruning callback).
_EXTRA_CALLBACKS: contextvars.ContextVar[tuple[Any, ...]] = contextvars.ContextVar("runway_extra_callbacks", default=())


@contextlib.contextmanager
def extra_callbacks(callbacks: Sequence[Any]) -> Iterator[None]:
    """Add ``callbacks`` to every trainer :func:`build_trainer` makes inside the block (objects, not config)."""
    token = _EXTRA_CALLBACKS.set(tuple(callbacks))
    try:
        yield
    finally:
        _EXTRA_CALLBACKS.reset(token)


def build_callbacks(train_cfg: Mapping[str, Any], layout: VersionDir) -> list[Any]:
    """Best and last checkpoints (best first: it is ``trainer.checkpoint_callback``) and early stopping."""
    from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint

    class _LastCheckpoint(ModelCheckpoint):
        @property
        def state_key(self) -> str:  # unique next to the user's ModelCheckpoint, whatever its settings
            return "runway_last_checkpoint"

    paras = dict(train_cfg.get("model_checkpoint_callback_paras") or {})
    paras.setdefault("filename", "best-{epoch:02d}")
    paras.setdefault("save_top_k", 1)
    paras.pop("save_last", None)  # last.ckpt is always kept, by the second callback
    dirpath = str(layout.checkpoints_dir)
    callbacks: list[Any] = [
        ModelCheckpoint(dirpath=dirpath, save_last=False, **paras),
        _LastCheckpoint(
            dirpath=dirpath,
            filename=LAST_CKPT.removesuffix(ModelCheckpoint.FILE_EXTENSION),
            monitor=None,
            save_top_k=1,
            every_n_epochs=1,
            save_on_train_epoch_end=paras.get("save_on_train_epoch_end"),
            enable_version_counter=False,  # always the same file name, also after a resume
        ),
    ]
    early = train_cfg.get("early_stopping")
    if isinstance(early, dict) and early:
        callbacks.append(EarlyStopping(**early))
    elif early is True:
        callbacks.append(EarlyStopping(monitor=paras.get("monitor") or "val_loss", mode=paras.get("mode", "min")))
    return callbacks


def progress_bar(version_label: int | str, *, plain: bool | None = None) -> Any:
    """Lightning's default progress bar (rich when installed) showing ``v_num: <version_label>``.

    When stderr is not a terminal (SLURM, ``nohup``, CI, ``2> log``; ``plain=None`` decides from
    stderr), a :func:`plain_progress_bar` instead: a live bar writes nothing useful into a file.
    """

    if plain or (plain is None and plain_progress_wanted()):
        return plain_progress_bar(version_label)
    from pytorch_lightning.callbacks import RichProgressBar, TQDMProgressBar

    try:
        import rich  # noqa: F401 - Lightning picks the rich bar when rich is importable

        base: type = RichProgressBar
    except ImportError:  # pragma: no cover - rich is a dependency
        base = TQDMProgressBar

    class RunwayProgressBar(base):  # type: ignore[misc, valid-type]
        def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
            items = super().get_metrics(trainer, pl_module)
            if "v_num" in items:
                items["v_num"] = version_label
            return items

    return RunwayProgressBar()


def plain_progress_bar(version_label: int | str) -> Any:
    """A Lightning progress bar for logs: plain lines through :class:`runway_for_ml.progress.PlainProgress`.

    One line at each epoch's end (with the validation metrics) and, during an epoch, one at least
    every ``RUNWAY_PROGRESS_INTERVAL`` seconds (30)::

        [train] v3 epoch 2/10: 120/500 step (24%) | 3.21 step/s | elapsed 00:37 | ETA 01:58 | train_loss_step=0.41
        [train] v3 epoch 2/10 done: 500/500 step (100%) | ... | train_loss_epoch=0.38 val_loss=0.35 val_accuracy=0.91

    Prediction and test loops write the same kind of lines (``[predict]``, ``[test]``).
    """
    from pytorch_lightning.callbacks import ProgressBar

    class PlainProgressBar(ProgressBar):
        def __init__(self) -> None:
            super().__init__()
            self._enabled = True
            self._bar: PlainProgress | None = None

        def disable(self) -> None:  # Lightning disables the bar on ranks > 0
            self._enabled = False

        def enable(self) -> None:
            self._enabled = True

        @property
        def is_enabled(self) -> bool:
            return self._enabled

        def _metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
            items = self.get_metrics(trainer, pl_module)
            items.pop("v_num", None)
            return items

        def _start(self, label: str, total: Any, prefix: str) -> None:
            total = total if isinstance(total, int) or (isinstance(total, float) and total != float("inf")) else None
            self._bar = PlainProgress(label, total=total, unit="step", prefix=prefix, enabled=self._enabled)

        def _epoch_prefix(self, trainer: Any) -> str:
            max_epochs = trainer.max_epochs if trainer.max_epochs and trainer.max_epochs > 0 else None
            epoch = f"epoch {trainer.current_epoch + 1}" + (f"/{max_epochs}" if max_epochs else "")
            return f"v{version_label} {epoch}" if isinstance(version_label, int) else f"{version_label} {epoch}"

        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            self._start("train", self.total_train_batches, self._epoch_prefix(trainer))

        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            if self._bar is not None:
                self._bar.set(batch_idx + 1, **self._metrics(trainer, pl_module))

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            if self._bar is not None:  # after the epoch's validation: its metrics are in the line
                self._bar.prefix = f"{self._epoch_prefix(trainer)} done"
                self._bar.postfix = self._metrics(trainer, pl_module)
                self._bar.write_line()

        def on_validation_batch_end(
            self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
        ) -> None:
            # A long validation is still work in the epoch: keep the lines coming, with its own count.
            if self._bar is not None and not trainer.sanity_checking:
                total = self.total_val_batches
                done = f"{batch_idx + 1}/{int(total)}" if total != float("inf") else str(batch_idx + 1)
                self._bar.set(self._bar.count, validation=done)

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            if self._bar is not None:
                self._bar.postfix.pop("validation", None)

        def on_predict_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            self._start("predict", sum(trainer.num_predict_batches), "")

        def on_predict_batch_end(self, trainer: Any, pl_module: Any, *args: Any, **kwargs: Any) -> None:
            if self._bar is not None:
                self._bar.update(1)

        def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
            if self._bar is not None:
                self._bar.close()

        def on_test_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            self._start("test", sum(trainer.num_test_batches), "")

        def on_test_batch_end(self, trainer: Any, pl_module: Any, *args: Any, **kwargs: Any) -> None:
            if self._bar is not None:
                self._bar.update(1)

        def on_test_end(self, trainer: Any, pl_module: Any) -> None:
            if self._bar is not None:
                self._bar.close()

    return PlainProgressBar()


def build_loggers_for(config: Mapping[str, Any], layout: VersionDir, *, resume: bool) -> list[Any]:
    """The loggers of ``meta.logger_enable``, writing under ``train/logs/``, with a run id stable per version."""

    return build_loggers(
        # Without the key, CSV (docs/config.md): the report's curves come from it. [] means none.
        ["csv"] if (config.get("meta") or {}).get("logger_enable") is None else config["meta"]["logger_enable"],
        save_dir=layout.logs_dir,
        run_name=layout.name,
        run_id=stable_run_id(layout.path),
        config=config,
        resume=resume,
    )


def build_trainer(config: Mapping[str, Any], layout: VersionDir, *, resuming: bool, under_slurm: bool) -> Any:
    """The ``pl.Trainer`` for fitting ``layout``'s version with ``train.trainer_paras``."""
    import pytorch_lightning as pl

    train_cfg = dict(config.get("train") or {})
    trainer_kwargs = dict(train_cfg.get("trainer_paras") or {})
    trainer_kwargs.setdefault("default_root_dir", str(layout.train_dir))
    # Deterministic kernels cost little on CPU; "warn" never fails a run on ops without one.
    trainer_kwargs.setdefault("deterministic", "warn")
    extra = list(trainer_kwargs.pop("callbacks", []) or [])
    callbacks = build_callbacks(train_cfg, layout) + extra + list(_EXTRA_CALLBACKS.get())
    if trainer_kwargs.get("enable_progress_bar", True) and not any(_is_progress_bar(c) for c in extra):
        number = layout.name.rpartition("_V")[2]
        callbacks.append(progress_bar(int(number) if number.isdigit() else layout.name))
    loggers = build_loggers_for(config, layout, resume=resuming)
    plugins = list(trainer_kwargs.pop("plugins", []) or [])
    if under_slurm:
        from lightning_fabric.plugins.environments import SLURMEnvironment

        # submitit handles SIGUSR2/SIGTERM (checkpoint + requeue); Lightning must not requeue too.
        plugins.append(SLURMEnvironment(auto_requeue=False))

    # DDP: a rendezvous bounded by train.ddp_timeout_s that names the node that did not join (ddp.py).
    strategy = ddp_strategy(trainer_kwargs, train_cfg, layout.train_dir / "ddp")
    if strategy is not None:
        trainer_kwargs["strategy"] = strategy
    # RNG states travel in every checkpoint: a resumed (requeued) run continues the same random streams.
    callbacks.append(rng_state_callback())
    quiet_lightning()
    return pl.Trainer(
        logger=loggers if loggers else False, callbacks=callbacks, plugins=plugins or None, **trainer_kwargs
    )


def _is_progress_bar(callback: Any) -> bool:
    from pytorch_lightning.callbacks import ProgressBar

    return isinstance(callback, ProgressBar)


def scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """``{name: float}`` of the values that are numbers (tensors included); others are dropped."""
    out = {}
    for key, value in metrics.items():
        try:
            out[str(key)] = float(value.item() if hasattr(value, "item") else value)
        except (TypeError, ValueError):
            continue
    return out
