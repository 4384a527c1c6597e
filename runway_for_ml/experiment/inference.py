"""Inference and evaluation of a trained version: ``runway-infer`` and ``runway-eval``.

:func:`prepare_inference` validates and creates ``<version>/infer-<suffix>/`` (resolved
``config.json`` and ``manifest.json`` naming the checkpoint and split); :func:`infer_in_dir` runs the
model on the split, saves the per-sample predictions through an :class:`EvalRecorder` and, unless told
not to, evaluates; :func:`evaluate_infer_dir` recomputes the metrics from the saved predictions
without the model.

>>> infer_dir = prepare_inference(version_dir, "test", checkpoint="best", command_line=[...])  # doctest: +SKIP
>>> infer_in_dir(infer_dir)["accuracy"]  # doctest: +SKIP
0.97
>>> evaluate_infer_dir(infer_dir, opts=['eval.metrics=[{"name": "f1"}]'])  # doctest: +SKIP
{'f1': 0.97}
"""

from __future__ import annotations

import json
import shutil
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runway_for_ml.errors import ConfigError, RunwayError
from runway_for_ml.experiment.experiment import validate_name
from runway_for_ml.experiment.manifest import (
    capture_environment,
    now_iso,
    read_manifest,
    update_manifest,
    write_json_atomic,
)
from runway_for_ml.experiment.training import checkpoint_paths, load_version_config

__all__ = ["evaluate_infer_dir", "infer_in_dir", "infer_run_name", "prepare_inference", "resolve_checkpoint"]

CHECKPOINT_CHOICES = ("best", "last")


def infer_run_name(infer_dir: Path) -> str:
    """``digits_V0/infer-test``: what ``runway-eval`` takes."""
    return f"{infer_dir.parent.name}/{infer_dir.name}"


def resolve_checkpoint(version_dir: Path, choice: str | None) -> Path:
    """The checkpoint file for ``best`` (default), ``last`` or a path; a clear error when there is none."""
    choice = choice or "best"
    if choice not in CHECKPOINT_CHOICES:
        path = Path(choice).expanduser()
        if not path.is_file():
            raise RunwayError(
                f"checkpoint file not found: {choice}",
                hint="use --checkpoint best, --checkpoint last, or the path of an existing .ckpt file",
            )
        return path.resolve()
    paths = checkpoint_paths(version_dir)
    found = paths[choice] or (paths["last"] if choice == "best" else None)
    if found is None:
        status = read_manifest(version_dir).get("status", "unknown")
        raise RunwayError(
            f"{version_dir.name} has no {choice} checkpoint in train/checkpoints/ (training status: {status})",
            hint=f"train it (or resume it with `runway-train {version_dir.name.rsplit('_V', 1)[0]} --resume`), "
            "or pick another version with --version",
        )
    return found


def prepare_inference(
    version_dir: Path,
    suffix: str,
    *,
    checkpoint: str | None = None,
    config_file: Path | None = None,
    opts: Sequence[str] = (),
    evaluate: bool = True,
    command_line: Sequence[str] = (),
) -> Path:
    """Validate and create ``<version>/infer-<suffix>/`` with its resolved config and manifest.

    The config is the version's training config (or ``config_file``) with ``opts`` applied; the
    checkpoint is resolved now so that a missing one fails before any work.
    """
    from runway_for_ml.config import load_config
    from runway_for_ml.experiment.runtime import check_config

    validate_name(suffix, what="inference suffix")
    version_dir = Path(version_dir).resolve()
    infer_dir = version_dir / f"infer-{suffix}"
    if infer_dir.exists():
        raise RunwayError(
            f"inference run {infer_run_name(infer_dir)} already exists",
            hint="choose another suffix, or re-evaluate it with `runway-eval " + infer_run_name(infer_dir) + "`",
        )
    ckpt = resolve_checkpoint(version_dir, checkpoint or None)
    project_root = _project_root(version_dir)
    if config_file is not None:
        config = load_config(config_file, opts, project_root=project_root)
    else:
        config = load_version_config(version_dir, opts)
    check_config(config.data, project_root, stages=("infer", "eval") if evaluate else ("infer",))
    split = str((config.data.get("test") or {}).get("split") or "test")
    # Assemble in a temp folder and rename: a failed validation or write never leaves a half run.
    staging = version_dir / f".infer-{suffix}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        write_json_atomic(staging / "config.json", config.data)
        update_manifest(
            staging,
            run_name=infer_run_name(infer_dir),
            version=version_dir.name,
            config_file=str(config.path) if config.path else None,
            command_line=list(command_line),
            overrides=[{"path": o.path, "value": o.value, "previous": o.previous} for o in config.overrides],
            checkpoint=str(ckpt),
            checkpoint_choice=checkpoint or "best",
            split=split,
            evaluate=evaluate,
            created_at=now_iso(),
            status="created",
            environment=capture_environment(project_root),
        )
        staging.rename(infer_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return infer_dir


def _project_root(version_dir: Path) -> Path | None:
    from runway_for_ml.project import find_project_root

    stored = read_manifest(version_dir).get("project_root")
    return Path(stored) if stored and Path(stored).is_dir() else find_project_root(version_dir)


def infer_in_dir(infer_dir: Path) -> dict[str, Any]:
    """Run inference for an existing ``infer-*`` folder; returns the metrics (``{}`` with no evaluation)."""
    infer_dir = Path(infer_dir).resolve()
    manifest = read_manifest(infer_dir)
    started = time.time()
    update_manifest(infer_dir, status="running", started_at=now_iso())
    status = "failed"
    try:
        metrics = _predict_and_evaluate(infer_dir, manifest)
        status = "completed"
        return metrics
    except (KeyboardInterrupt, SystemExit):
        status = "interrupted"
        raise
    except BaseException as exc:
        update_manifest(
            infer_dir, error=f"{type(exc).__name__}: {exc}", traceback="".join(traceback.format_exception(exc))[-8000:]
        )
        raise
    finally:
        update_manifest(infer_dir, status=status, ended_at=now_iso(), infer_seconds=round(time.time() - started, 3))


def _predict_and_evaluate(infer_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    import pytorch_lightning as pl
    import torch

    from runway_for_ml.config import ResolvedConfig
    from runway_for_ml.executors import build_executor
    from runway_for_ml.experiment.runtime import (
        apply_thread_settings,
        import_project_code,
        load_splits,
        quiet_lightning,
    )
    from runway_for_ml.metrics import EvalRecorder

    version_dir = infer_dir.parent
    project_root = _project_root(version_dir)
    data = json.loads((infer_dir / "config.json").read_text(encoding="utf-8"))
    config = ResolvedConfig.from_dict(data, path=infer_dir / "config.json")
    import_project_code(data, project_root)
    apply_thread_settings(data)
    seed = (data.get("meta") or {}).get("seed")
    if seed is not None:
        pl.seed_everything(int(seed), workers=True, verbose=False)
    split = manifest.get("split") or "test"
    splits, node_keys = load_splits(config, project_root, stage="test", only=(split,))
    update_manifest(infer_dir, data_nodes=node_keys, rows=len(splits[split]))
    executor = build_executor(data, splits)
    paras = dict((data.get("train") or {}).get("trainer_paras") or {})
    # One device: predictions must come back in dataset order, in this process.
    quiet_lightning()
    trainer = pl.Trainer(
        accelerator=paras.get("accelerator", "auto"),
        devices=1,
        precision=paras.get("precision", "32-true"),
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        default_root_dir=str(infer_dir),
    )
    dataloader = executor.predict_dataloader(split) if _takes_split(executor) else executor.predict_dataloader()
    # Only the weights are needed; loading them directly avoids Lightning restoring (and warning about)
    # the training callbacks' state.
    checkpoint = torch.load(manifest["checkpoint"], map_location="cpu", weights_only=False)
    executor.load_state_dict(checkpoint["state_dict"])
    batches = trainer.predict(executor, dataloaders=dataloader)
    recorder = EvalRecorder(stats=_dataset_stats(splits[split], data))
    recorder.add_batches(batches or [])
    recorder.save(infer_dir)
    sys.stderr.write(f"[infer] {len(recorder)} predictions saved to {infer_dir}\n")
    if not manifest.get("evaluate", True):
        return {}
    return evaluate_infer_dir(infer_dir)


def _takes_split(executor: Any) -> bool:
    import inspect

    try:
        return "split" in inspect.signature(executor.predict_dataloader).parameters
    except (TypeError, ValueError):
        return False


def _dataset_stats(dataset: Any, config: dict[str, Any]) -> dict[str, Any]:
    """Dataset-level facts kept with the predictions: row count and the label names when known."""
    stats: dict[str, Any] = {"rows": len(dataset)}
    label_column = ((config.get("executor") or {}).get("model_config") or {}).get("label_column", "label")
    feature = getattr(dataset, "features", {}).get(label_column) if hasattr(dataset, "features") else None
    names = getattr(feature, "names", None)
    if names:
        stats["class_names"] = list(names)
    return stats


def evaluate_infer_dir(infer_dir: Path, opts: Sequence[str] = ()) -> dict[str, Any]:
    """(Re)compute ``eval.metrics`` from the saved predictions of ``infer_dir``; writes ``metrics.json``.

    ``opts`` override the stored config for this evaluation (e.g. another metric list); they are
    recorded in the manifest. The model is not loaded.
    """
    from runway_for_ml.config import ResolvedConfig
    from runway_for_ml.metrics import EvalRecorder, evaluate, normalize_metric_specs

    infer_dir = Path(infer_dir).resolve()
    config_path = infer_dir / "config.json"
    if not (infer_dir / "predictions.jsonl").is_file():
        raise RunwayError(
            f"{infer_run_name(infer_dir)} has no saved predictions (predictions.jsonl)",
            hint="the inference run did not finish; run runway-infer again with a new suffix",
        )
    data = json.loads(config_path.read_text(encoding="utf-8"))
    config = ResolvedConfig.from_dict(data, list(opts), path=config_path)
    from runway_for_ml.experiment.runtime import import_project_code

    import_project_code(config.data, _project_root(infer_dir.parent))
    specs = (config.data.get("eval") or {}).get("metrics")
    if not specs:
        raise ConfigError(
            "eval.metrics is empty: nothing to evaluate",
            hint='add metrics, e.g. --opts eval.metrics=\'[{"name":"accuracy"}]\'',
        )
    normalize_metric_specs(specs)
    recorder = EvalRecorder.load(infer_dir)
    metrics = evaluate(recorder, specs, out_dir=infer_dir)
    update_manifest(
        infer_dir,
        evaluated_at=now_iso(),
        eval_overrides=[{"path": o.path, "value": o.value} for o in config.overrides],
        eval_metrics=specs,
        key_metric=(config.data.get("eval") or {}).get("key_metric"),
    )
    return metrics
