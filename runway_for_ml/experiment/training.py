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

import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runway_for_ml.config.loader import load_config
from runway_for_ml.errors import RunwayError
from runway_for_ml.experiment.chaining import record_consumed
from runway_for_ml.experiment.checks import check_config, prepare_executor_class
from runway_for_ml.experiment.ddp import (
    VERSION_DIR_ENV,
    ddp_worker_version_dir,
    exported_version_dir,
    global_rank,
    node_name,
)
from runway_for_ml.experiment.layout import LAST_CKPT, VersionDir, project_root_of
from runway_for_ml.experiment.manifest import now_iso, read_manifest, update_manifest
from runway_for_ml.experiment.names import (
    NamedExperiment,
    check_clone_parent,
    create_experiment_config,
    resolve_experiment,
    validate_name,
)
from runway_for_ml.experiment.signals import sigterm_as_interrupt, under_runway_slurm
from runway_for_ml.experiment.trainer import build_trainer, scalar_metrics
from runway_for_ml.experiment.versions import create_version

__all__ = [
    "LAST_CKPT",
    "VERSION_DIR_ENV",
    "ddp_worker_version_dir",
    "global_rank",
    "load_version_config",
    "prepare_training",
    "save_active_checkpoint",
    "train_in_version",
]

# The trainer fitting in this process (and its version folder), for save_active_checkpoint().
_ACTIVE: dict[str, Any] = {}


def load_version_config(version_dir: Path, opts: Sequence[str] = ()) -> Any:
    """The resolved config stored in ``<version>/train/config.json`` (see :meth:`VersionDir.read_config`)."""
    return VersionDir(version_dir).read_config(tuple(opts))


def prepare_training(
    exp_name: str,
    *,
    from_name: str | None = None,
    opts: Sequence[str] = (),
    project_root: Path,
    command_line: Sequence[str],
    status: str = "created",
    config: Any = None,
) -> tuple[NamedExperiment, Any, Path]:
    """Validate everything, then create the version folder; returns ``(experiment, config, version_dir)``.

    With ``from_name`` the experiment config is first cloned from that experiment (as
    ``runway-experiment NAME --from EXISTING``); an experiment that already exists is reused only if
    it was cloned from the same parent. ``config``: the experiment's config already loaded with the
    same ``opts`` (by the command's preflight), used instead of evaluating the file again.
    """

    if from_name is not None:
        validate_name(exp_name)
        target = NamedExperiment(exp_name, project_root)
        if target.config_path.exists():
            check_clone_parent(target, from_name)
        else:
            # Validate the clone-to-be (parent config + opts) before writing anything.
            if config is None:
                parent_exp = resolve_experiment(from_name, project_root)
                check_config(load_config(parent_exp.config_path, opts, project_root=project_root).data, project_root)
            create_experiment_config(project_root, exp_name, from_name=from_name)
    exp = resolve_experiment(exp_name, project_root)
    if not exp.config_path.is_file():
        raise RunwayError(
            f"experiment '{exp_name}' has no config {exp.config_path} (only old versions)",
            hint=f"recreate it with `runway-experiment {exp_name}`",
        )
    given = config is not None and config.path is not None and Path(config.path).resolve() == exp.config_path.resolve()
    if not given:
        config = load_config(exp.config_path, opts, project_root=project_root)
        check_config(config.data, project_root)
    version_dir = create_version(exp, config, command_line=list(command_line), status=status)
    return exp, config, version_dir


def save_active_checkpoint() -> Path | None:
    """Save ``last.ckpt`` of the trainer fitting in this process (for preemption); ``None`` when idle.

    Called from submitit's ``checkpoint()`` hook when SLURM signals the job; the requeued job then
    resumes from that file in the same version folder.
    """
    trainer = _ACTIVE.get("trainer")
    version_dir = _ACTIVE.get("version_dir")
    if trainer is None or version_dir is None:
        return None
    path = VersionDir(version_dir).last_ckpt
    if int(getattr(trainer, "world_size", 1)) > 1:
        # Only rank 0 gets the signal (submitit): trainer.save_checkpoint would wait in a barrier for ranks
        # that never call it. Write rank 0's state directly (DDP keeps every rank's weights identical).
        checkpoint = trainer._checkpoint_connector.dump_checkpoint(weights_only=False)
        trainer.strategy.checkpoint_io.save_checkpoint(checkpoint, str(path))
    else:
        trainer.save_checkpoint(str(path))
    update_manifest(version_dir, preempt_checkpoint_at=now_iso())
    return path


def _ddp_record(trainer: Any) -> dict[str, Any]:
    """``ddp``: world size, nodes and the rank -> node map, as gathered at the rendezvous (one process: empty)."""
    rank_nodes = getattr(trainer.strategy, "rank_nodes", None) or {}
    if int(trainer.world_size) <= 1 or not rank_nodes:
        return {}
    nodes = list(dict.fromkeys(rank_nodes[r] for r in sorted(rank_nodes)))
    return {
        "ddp": {
            "world_size": int(trainer.world_size),
            "num_nodes": len(nodes),
            "nodes": nodes,
            "rank_nodes": {str(r): rank_nodes[r] for r in sorted(rank_nodes)},
            "backend": getattr(trainer.strategy, "process_group_backend", None),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        }
    }


def _acquire_run_lock(version_dir: Path) -> Any:
    from filelock import FileLock, Timeout

    lock = FileLock(str(VersionDir(version_dir).run_lock_path))
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
        layout = VersionDir(version_dir)
        return _fit(layout, project_root_of(version_dir, manifest), resuming=layout.last_ckpt.is_file(), writer=False)
    lock = _acquire_run_lock(version_dir)
    try:
        return _train_locked(version_dir, manifest)
    finally:
        lock.release()


def _train_locked(version_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    project_root = project_root_of(version_dir, manifest)
    layout = VersionDir(version_dir)
    last = layout.last_ckpt
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
        with sigterm_as_interrupt():
            metrics = _fit(layout, project_root, resuming)
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


def _fit(layout: VersionDir, project_root: Path | None, resuming: bool, *, writer: bool = True) -> dict[str, Any]:
    """Build executor, loggers, callbacks and trainer; fit. ``writer=False`` (DDP ranks > 0) writes nothing."""
    import pytorch_lightning as pl
    from pytorch_lightning.utilities.model_helpers import is_overridden

    # torch and Lightning
    from runway_for_ml.executors.base import build_executor, wants_tokenizer
    from runway_for_ml.experiment.datamodule import build_datamodule

    config = layout.read_config()
    data = config.data
    cls = prepare_executor_class(data, project_root)
    seed = (data.get("meta") or {}).get("seed")
    datamodule, node_keys = build_datamodule(config, project_root, stage="train", tokenizer=wants_tokenizer(cls))
    splits = datamodule.splits
    if writer:
        update_manifest(layout.path, data_nodes=node_keys, splits={k: len(v) for k, v in splits.items()})
        record_consumed(layout.path, data, node_keys)  # lineage of chained experiments
    if seed is not None:
        # Seed again right before the weights are initialised, so data caching (hit or miss) cannot
        # change the initial weights.
        pl.seed_everything(int(seed), workers=True, verbose=False)
    executor = build_executor(data, splits, tokenizer=datamodule.tokenizer)
    datamodule.collate_fn = executor.collate_fn
    trainer = build_trainer(data, layout, resuming=resuming, under_slurm=under_runway_slurm())
    _ACTIVE.update(trainer=trainer, version_dir=layout.path)
    if resuming:  # every rank says so (Lightning's own "Restoring states" line comes from rank 0 only)
        print(
            f"[train] rank {global_rank()} on {node_name()}: resuming from {layout.last_ckpt.relative_to(layout.path)}",
            file=sys.stderr,
            flush=True,
        )
    # DDP ranks that Lightning starts by re-running this command line train in this folder (see module doc).
    with exported_version_dir(layout.path):
        # An executor that defines its own *_dataloader methods (written before the data module) keeps them.
        own_loaders = is_overridden("train_dataloader", executor, pl.LightningModule)
        trainer.fit(
            executor,
            datamodule=None if own_loaders else datamodule,
            ckpt_path=str(layout.last_ckpt) if resuming else None,
        )
    if trainer.interrupted:
        raise KeyboardInterrupt("training was interrupted")
    metrics = scalar_metrics(dict(trainer.callback_metrics))
    if not writer:
        return metrics
    checkpoint_cb = trainer.checkpoint_callback
    best = Path(checkpoint_cb.best_model_path) if checkpoint_cb is not None and checkpoint_cb.best_model_path else None
    if checkpoint_cb is not None and checkpoint_cb.best_model_score is not None:
        metrics["best_model_score"] = float(checkpoint_cb.best_model_score)
    last = layout.last_ckpt
    update_manifest(
        layout.path,
        final_metrics=metrics,
        epochs_completed=int(trainer.current_epoch),
        global_step=int(trainer.global_step),
        world_size=int(trainer.world_size),
        **_ddp_record(trainer),
        checkpoints={
            "best": str(best.relative_to(layout.path)) if best and best.is_file() else None,
            "last": str(last.relative_to(layout.path)) if last.is_file() else None,
        },
    )
    return metrics
