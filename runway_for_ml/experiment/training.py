"""Training an experiment version with Lightning: ``runway-train`` and ``--resume``.

:func:`prepare_training` validates the config and creates the version folder (nothing is trained yet:
this is the part that also runs at SLURM submit time); :func:`train_in_version` trains in an existing
version folder from its ``train/config.json``, resuming from ``checkpoints/last.ckpt`` when there is
one, and keeps the manifest's status truthful (``running`` -> ``completed`` / ``failed`` /
``interrupted``).

Multi-process training (DDP) writes from global rank 0 only: rank 0 exports ``RUNWAY_VERSION_DIR``
before ``trainer.fit`` so that the ranks Lightning starts by re-running the command line (local
``strategy=ddp``) train in the same folder; under SLURM every task is started by ``srun`` with the
same ``--in-version`` and gets its rank from ``SLURM_PROCID``. Ranks > 0 never take the run lock,
create folders or write the manifest.

>>> exp, config, version_dir = prepare_training("digits", opts=["train.batch_size=32"], command_line=[...])  # doctest: +SKIP
>>> train_in_version(version_dir)["val_accuracy"]  # doctest: +SKIP
0.97
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from runway_for_ml.errors import RunwayError
from runway_for_ml.experiment.experiment import (
    Experiment,
    create_experiment_config,
    create_version,
    read_lineage,
    resolve_experiment,
)
from runway_for_ml.experiment.manifest import now_iso, read_manifest, update_manifest

__all__ = [
    "LAST_CKPT",
    "VERSION_DIR_ENV",
    "checkpoint_paths",
    "ddp_worker_version_dir",
    "global_rank",
    "load_version_config",
    "prepare_training",
    "save_active_checkpoint",
    "train_in_version",
]

LAST_CKPT = "last.ckpt"
# Set by rank 0 while it fits; inherited by the DDP ranks Lightning launches by re-running the command.
VERSION_DIR_ENV = "RUNWAY_VERSION_DIR"
# Rank variables of Lightning's subprocess launcher / torchrun (RANK, LOCAL_RANK, NODE_RANK) and of srun.
_RANK_VARIABLES = ("RANK", "SLURM_PROCID", "NODE_RANK", "LOCAL_RANK")
# The trainer fitting in this process (and its version folder), for save_active_checkpoint().
_ACTIVE: dict[str, Any] = {}


def global_rank() -> int:
    """This process's rank in a multi-process training, from the environment (0 when not distributed).

    Any non-zero rank variable (``RANK``, ``SLURM_PROCID``, ``NODE_RANK``, ``LOCAL_RANK``) makes this a
    worker: only the process where all of them are 0 (or unset) writes manifests and reports.

    >>> os.environ["LOCAL_RANK"] = "1"; global_rank()  # doctest: +SKIP
    1
    """
    for name in _RANK_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 0


def ddp_worker_version_dir() -> Path | None:
    """The version folder a DDP worker (rank > 0) started by re-running the command must train in.

    ``None`` in rank 0 and outside distributed training: the command then runs normally. Commands
    (``runway-train``, ``runway-run``) check this first, before creating anything.
    """
    value = os.environ.get(VERSION_DIR_ENV)
    if not value or global_rank() == 0:
        return None
    return Path(value)


def load_version_config(version_dir: Path, opts: Sequence[str] = ()) -> Any:
    """The resolved config stored in ``<version>/train/config.json`` (validated again, ``opts`` applied)."""
    from runway_for_ml.config import ResolvedConfig

    path = Path(version_dir) / "train" / "config.json"
    if not path.is_file():
        raise RunwayError(
            f"{version_dir} has no train/config.json; it is not a runway experiment version",
            hint="version folders are made by runway-train; see `runway ls`",
        )
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunwayError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    return ResolvedConfig.from_dict(data, list(opts), path=path)


def prepare_training(
    exp_name: str,
    *,
    from_name: str | None = None,
    opts: Sequence[str] = (),
    project_root: Path,
    command_line: Sequence[str],
    status: str = "created",
) -> tuple[Experiment, Any, Path]:
    """Validate everything, then create the version folder; returns ``(experiment, config, version_dir)``.

    With ``from_name`` the experiment config is first cloned from that experiment (as
    ``runway-experiment NAME --from EXISTING``); an experiment that already exists is reused only if
    it was cloned from the same parent.
    """
    from runway_for_ml.config import load_config
    from runway_for_ml.experiment.runtime import check_config

    if from_name is not None:
        from runway_for_ml.experiment.experiment import validate_name

        validate_name(exp_name)
        target = Experiment(exp_name, project_root)
        if target.config_path.exists():
            parent = (read_lineage(target.config_path) or {}).get("parent")
            if parent != from_name:
                raise RunwayError(
                    f"experiment '{exp_name}' already exists"
                    + (f" (cloned from '{parent}')" if parent else "")
                    + f"; refusing to replace it with a clone of '{from_name}'",
                    hint=f"drop --from to train the existing config: runway-train {exp_name}",
                )
        else:
            # Validate the clone-to-be (parent config + opts) before writing anything.
            parent_exp = resolve_experiment(from_name, project_root)
            check_config(load_config(parent_exp.config_path, opts, project_root=project_root).data, project_root)
            create_experiment_config(project_root, exp_name, from_name=from_name)
    exp = resolve_experiment(exp_name, project_root)
    if not exp.config_path.is_file():
        raise RunwayError(
            f"experiment '{exp_name}' has no config {exp.config_path} (only old versions)",
            hint=f"recreate it with `runway-experiment {exp_name}`",
        )
    config = load_config(exp.config_path, opts, project_root=project_root)
    check_config(config.data, project_root)
    version_dir = create_version(exp, config, command_line=list(command_line), status=status)
    return exp, config, version_dir


def checkpoint_paths(version_dir: Path) -> dict[str, Path | None]:
    """``{"best": path | None, "last": path | None}`` of a version's ``train/checkpoints``."""
    ckpt_dir = Path(version_dir) / "train" / "checkpoints"
    last = ckpt_dir / LAST_CKPT
    manifest = read_manifest(version_dir)
    best_rel = (manifest.get("checkpoints") or {}).get("best")
    best = Path(version_dir) / best_rel if best_rel else None
    if best is None or not best.is_file():
        # Killed before the manifest was finalised: the newest non-last checkpoint is the best kept.
        others = sorted((p for p in ckpt_dir.glob("*.ckpt") if p.name != LAST_CKPT), key=lambda p: p.stat().st_mtime)
        best = others[-1] if others else None
    return {"best": best, "last": last if last.is_file() else None}


def save_active_checkpoint() -> Path | None:
    """Save ``last.ckpt`` of the trainer fitting in this process (for preemption); ``None`` when idle.

    Called from submitit's ``checkpoint()`` hook when SLURM signals the job; the requeued job then
    resumes from that file in the same version folder.
    """
    trainer = _ACTIVE.get("trainer")
    version_dir = _ACTIVE.get("version_dir")
    if trainer is None or version_dir is None:
        return None
    path = Path(version_dir) / "train" / "checkpoints" / LAST_CKPT
    trainer.save_checkpoint(str(path))
    update_manifest(version_dir, preempt_checkpoint_at=now_iso())
    return path


def _under_runway_slurm() -> bool:
    return os.environ.get("RUNWAY_LAUNCHER") == "slurm"


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Outside SLURM, SIGTERM (e.g. `kill`) ends the run as ``interrupted`` instead of vanishing."""
    if _under_runway_slurm() or threading.current_thread() is not threading.main_thread():
        # Under SLURM, submitit owns the signals (checkpoint + requeue); do not compete with it.
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@functools.cache
def _checkpoint_class() -> type:
    """Lightning's ``ModelCheckpoint`` that refreshes ``last.ckpt`` at every save point, improved or not.

    Lightning (2.x) writes ``last.ckpt`` only when a top-k checkpoint was written at the same step, so
    once the monitored metric stops improving (a plateau, or a resumed run whose restored best score
    is hard to beat) ``last.ckpt`` stays at the last improving epoch, and a later --resume or SLURM
    requeue silently loses every epoch after it.
    """
    from pytorch_lightning.callbacks import ModelCheckpoint
    from pytorch_lightning.trainer.states import TrainerFn

    class RunwayModelCheckpoint(ModelCheckpoint):
        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            super().on_train_epoch_end(trainer, pl_module)
            if self._should_save_on_train_epoch_end(trainer):
                self._refresh_last(trainer)

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            super().on_validation_end(trainer, pl_module)
            if not self._should_save_on_train_epoch_end(trainer):
                self._refresh_last(trainer)

        def _refresh_last(self, trainer: Any) -> None:
            if (
                not self.save_last
                or trainer.fast_dev_run
                or trainer.sanity_checking
                or trainer.state.fn != TrainerFn.FITTING
                or self._last_global_step_saved == trainer.global_step  # saved (top-k and last) at this step
            ):
                return
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    return RunwayModelCheckpoint


def _build_callbacks(train_cfg: dict[str, Any], ckpt_dir: Path) -> list[Any]:
    from pytorch_lightning.callbacks import EarlyStopping

    paras = dict(train_cfg.get("model_checkpoint_callback_paras") or {})
    paras.setdefault("filename", "best-{epoch:02d}")
    paras.setdefault("save_top_k", 1)
    # `last.ckpt` is what --resume and preemption continue from; always keep it, always current.
    paras["save_last"] = True
    callbacks: list[Any] = [_checkpoint_class()(dirpath=str(ckpt_dir), **paras)]
    early = train_cfg.get("early_stopping")
    if isinstance(early, dict) and early:
        callbacks.append(EarlyStopping(**early))
    elif early is True:
        callbacks.append(EarlyStopping(monitor=paras.get("monitor") or "val_loss", mode=paras.get("mode", "min")))
    return callbacks


def _build_loggers(config: dict[str, Any], version_dir: Path, resume: bool) -> list[Any]:
    names = (config.get("meta") or {}).get("logger_enable") or []
    save_dir = version_dir / "train" / "logs"
    from runway_for_ml.loggers import build_loggers, stable_run_id

    return build_loggers(
        names,
        save_dir=save_dir,
        run_name=version_dir.name,
        run_id=stable_run_id(version_dir),
        config=config,
        resume=resume,
    )


def _scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        try:
            out[str(key)] = float(value.item() if hasattr(value, "item") else value)
        except (TypeError, ValueError):
            continue
    return out


def _acquire_run_lock(version_dir: Path) -> Any:
    from filelock import FileLock, Timeout

    lock = FileLock(str(version_dir / "train" / ".train.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout as exc:
        pid = read_manifest(version_dir).get("pid")
        raise RunwayError(
            f"{version_dir.name} is being trained by another process" + (f" (pid {pid})" if pid else ""),
            hint="wait for it to finish, or stop it before resuming",
        ) from exc
    return lock


def train_in_version(version_dir: Path) -> dict[str, Any]:
    """Train in an existing version folder; resume from ``checkpoints/last.ckpt`` if present.

    Returns the final (scalar) metrics of the run. A version already ``completed`` is left alone.
    In a DDP worker (rank > 0) this only joins the fit: no lock, no manifest, metrics of this rank.
    """
    version_dir = Path(version_dir).resolve()
    manifest = read_manifest(version_dir)
    if manifest.get("status") == "completed":
        if global_rank() == 0:
            print(f"{version_dir.name} is already completed; nothing to do (start a new version with runway-train).")
        return dict(manifest.get("final_metrics") or {})
    if global_rank() > 0:
        return _fit(
            version_dir, _project_root(version_dir, manifest), resuming=_last(version_dir).is_file(), writer=False
        )
    lock = _acquire_run_lock(version_dir)
    try:
        return _train_locked(version_dir, manifest)
    finally:
        lock.release()


def _project_root(version_dir: Path, manifest: dict[str, Any]) -> Path | None:
    from runway_for_ml.project import find_project_root

    stored = manifest.get("project_root")
    return Path(stored) if stored and Path(stored).is_dir() else find_project_root(version_dir)


def _last(version_dir: Path) -> Path:
    return version_dir / "train" / "checkpoints" / LAST_CKPT


def _train_locked(version_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    project_root = _project_root(version_dir, manifest)
    last = _last(version_dir)
    resuming = last.is_file()
    started = time.time()
    update_manifest(
        version_dir,
        status="running",
        started_at=manifest.get("started_at") or now_iso(),
        last_started_at=now_iso(),
        pid=os.getpid(),
        resumed_from=(str(last.relative_to(version_dir)) if resuming else None),
        resume_count=int(manifest.get("resume_count") or 0) + (1 if resuming else 0),
        command_line_last=sys.argv,
        error=None,
    )
    status, error = "failed", None
    try:
        with _sigterm_as_interrupt():
            metrics = _fit(version_dir, project_root, resuming)
        status = "completed"
        return metrics
    except (KeyboardInterrupt, SystemExit) as exc:
        # Lightning turns Ctrl-C / SIGTERM during fit into SystemExit; both mean "stopped, resumable".
        status, error = "interrupted", f"{type(exc).__name__}: {exc}".rstrip(": ")
        raise
    except BaseException as exc:
        status = "failed"
        error = f"{type(exc).__name__}: {exc}"
        update_manifest(version_dir, traceback="".join(traceback.format_exception(exc))[-8000:])
        raise
    finally:
        _ACTIVE.clear()
        fields: dict[str, Any] = {"status": status, "ended_at": now_iso(), "error": error}
        fields["train_seconds"] = round(time.time() - started + float(manifest.get("train_seconds") or 0.0), 3)
        update_manifest(version_dir, **fields)


def _fit(version_dir: Path, project_root: Path | None, resuming: bool, *, writer: bool = True) -> dict[str, Any]:
    """Build executor, loggers, callbacks and trainer; fit. ``writer=False`` (DDP ranks > 0) writes nothing."""
    import pytorch_lightning as pl

    from runway_for_ml.executors import build_executor
    from runway_for_ml.experiment.runtime import (
        apply_thread_settings,
        import_project_code,
        load_splits,
        quiet_lightning,
    )

    config = load_version_config(version_dir)
    data = config.data
    import_project_code(data, project_root)
    apply_thread_settings(data)
    seed = (data.get("meta") or {}).get("seed")
    if seed is not None:
        pl.seed_everything(int(seed), workers=True, verbose=False)
    splits, node_keys = load_splits(config, project_root, stage="train")
    if writer:
        update_manifest(version_dir, data_nodes=node_keys, splits={k: len(v) for k, v in splits.items()})
    if seed is not None:
        # Seed again right before the weights are initialised, so data caching (hit or miss) cannot
        # change the initial weights.
        pl.seed_everything(int(seed), workers=True, verbose=False)
    executor = build_executor(data, splits)

    train_cfg = dict(data.get("train") or {})
    ckpt_dir = version_dir / "train" / "checkpoints"
    trainer_kwargs = dict(train_cfg.get("trainer_paras") or {})
    trainer_kwargs.setdefault("default_root_dir", str(version_dir / "train"))
    # Deterministic kernels cost little on CPU; "warn" never fails a run on ops without one.
    trainer_kwargs.setdefault("deterministic", "warn")
    callbacks = _build_callbacks(train_cfg, ckpt_dir) + list(trainer_kwargs.pop("callbacks", []) or [])
    loggers = _build_loggers(data, version_dir, resume=resuming)
    plugins = list(trainer_kwargs.pop("plugins", []) or [])
    if _under_runway_slurm():
        from lightning_fabric.plugins.environments import SLURMEnvironment

        # submitit handles SIGUSR2/SIGTERM (checkpoint + requeue); Lightning must not requeue too.
        plugins.append(SLURMEnvironment(auto_requeue=False))
    quiet_lightning()
    trainer = pl.Trainer(
        logger=loggers if loggers else False,
        callbacks=callbacks,
        plugins=plugins or None,
        **trainer_kwargs,
    )
    _ACTIVE.update(trainer=trainer, version_dir=version_dir)
    last = ckpt_dir / LAST_CKPT
    previous_env = os.environ.get(VERSION_DIR_ENV)
    # DDP ranks that Lightning starts by re-running this command line train in this folder (see module doc).
    os.environ[VERSION_DIR_ENV] = str(version_dir)
    try:
        trainer.fit(executor, ckpt_path=str(last) if resuming else None)
    finally:
        if previous_env is None:
            os.environ.pop(VERSION_DIR_ENV, None)
        else:
            os.environ[VERSION_DIR_ENV] = previous_env
    if trainer.interrupted:
        raise KeyboardInterrupt("training was interrupted")
    if not writer:
        return _scalar_metrics(dict(trainer.callback_metrics))
    checkpoint_cb = trainer.checkpoint_callback
    best = Path(checkpoint_cb.best_model_path) if checkpoint_cb is not None and checkpoint_cb.best_model_path else None
    metrics = _scalar_metrics(dict(trainer.callback_metrics))
    if checkpoint_cb is not None and checkpoint_cb.best_model_score is not None:
        metrics["best_model_score"] = float(checkpoint_cb.best_model_score)
    update_manifest(
        version_dir,
        final_metrics=metrics,
        epochs_completed=int(trainer.current_epoch),
        global_step=int(trainer.global_step),
        world_size=int(trainer.world_size),
        checkpoints={
            "best": str(best.relative_to(version_dir)) if best and best.is_file() else None,
            "last": str(last.relative_to(version_dir)) if last.is_file() else None,
        },
    )
    return metrics
