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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runway_for_ml.atomic import write_json_atomic
from runway_for_ml.config.loader import ResolvedConfig, load_config
from runway_for_ml.errors import ConfigError, RunwayError
from runway_for_ml.experiment.chaining import record_consumed
from runway_for_ml.experiment.checks import check_config, import_project_code
from runway_for_ml.experiment.data import load_splits
from runway_for_ml.experiment.layout import CHECKPOINT_CHOICES, CONFIG_NAME, INFER_PREFIX, VersionDir, project_root_of
from runway_for_ml.experiment.manifest import capture_environment, now_iso, read_manifest, update_manifest
from runway_for_ml.experiment.names import validate_name
from runway_for_ml.experiment.prediction import load_for_prediction, predict_rows
from runway_for_ml.metrics import EvalRecorder, normalize_metric_specs
from runway_for_ml.metrics.evaluate import METRICS_JSON, compute_metrics, save_metric_pictures, save_metrics
from runway_for_ml.metrics.recorder import PREDICTIONS_JSONL

__all__ = [
    "CHECKPOINT_CHOICES",
    "evaluate_infer_dir",
    "infer_config",
    "infer_in_dir",
    "infer_run_name",
    "prepare_inference",
    "resolve_checkpoint",
]


def infer_run_name(infer_dir: Path) -> str:
    """``digits_V0/infer-test``: what ``runway-eval`` takes."""
    return f"{infer_dir.parent.name}/{infer_dir.name}"


def infer_config(infer_dir: Path, opts: Sequence[str] = ()) -> Any:
    """The resolved config of an inference run (``infer-<suffix>/config.json``), ``opts`` applied."""

    path = Path(infer_dir) / CONFIG_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RunwayError(
            f"{path.parent} has no {CONFIG_NAME}; it is not an inference run",
            hint="inference runs are made by runway-infer; see `runway ls`",
        ) from exc
    except json.JSONDecodeError as exc:
        raise RunwayError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    return ResolvedConfig.from_dict(data, list(opts), path=path)


def resolve_checkpoint(version_dir: Path, choice: str | None) -> Path:
    """The checkpoint file for ``best`` (default), ``last`` or a path (see :meth:`VersionDir.checkpoint`)."""
    return VersionDir(version_dir).checkpoint(choice)


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
    validate_name(suffix, what="inference suffix")
    layout = VersionDir(Path(version_dir).resolve())
    version_dir = layout.path
    infer_dir = layout.infer_dir(suffix)
    if infer_dir.exists():
        raise RunwayError(
            f"inference run {infer_run_name(infer_dir)} already exists",
            hint="choose another suffix, or re-evaluate it with `runway-eval " + infer_run_name(infer_dir) + "`",
        )
    ckpt = layout.checkpoint(checkpoint or None)
    project_root = layout.project_root
    if config_file is not None:
        config = load_config(config_file, opts, project_root=project_root)
    else:
        config = layout.read_config(opts)
    check_config(config.data, project_root, stages=("infer", "eval") if evaluate else ("infer",))
    split = str((config.data.get("test") or {}).get("split") or "test")
    # Assemble in a temp folder and rename: a failed validation or write never leaves a half run.
    staging = version_dir / f".{INFER_PREFIX}{suffix}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        write_json_atomic(staging / CONFIG_NAME, config.data)
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
    project_root = project_root_of(infer_dir.parent)
    config = infer_config(infer_dir)
    data = config.data
    import_project_code(data, project_root)
    split = manifest.get("split") or "test"
    splits, node_keys = load_splits(config, project_root, stage="test", only=(split,))
    update_manifest(infer_dir, data_nodes=node_keys, rows=len(splits[split]))
    record_consumed(infer_dir, data, node_keys)  # lineage of chained experiments
    model = load_for_prediction(config, project_root, manifest["checkpoint"], splits=splits)
    recorder = predict_rows(model, split, stats=_dataset_stats(splits[split], data))
    recorder.save(infer_dir)
    sys.stderr.write(f"[infer] {len(recorder)} predictions saved to {infer_dir}\n")
    if not manifest.get("evaluate", True):
        return {}
    return evaluate_infer_dir(infer_dir)


def _dataset_stats(dataset: Any, config: dict[str, Any]) -> dict[str, Any]:
    """Dataset-level facts kept with the predictions: row count and the label names when known."""
    stats: dict[str, Any] = {"rows": len(dataset)}
    label_column = ((config.get("executor") or {}).get("model_config") or {}).get("label_column", "label")
    feature = getattr(dataset, "features", {}).get(label_column) if hasattr(dataset, "features") else None
    names = getattr(feature, "names", None)
    if names:
        stats["class_names"] = list(names)
    return stats


def evaluate_infer_dir(infer_dir: Path, opts: Sequence[str] = (), *, replace: bool = False) -> dict[str, Any]:
    """(Re)compute ``eval.metrics`` from the saved predictions of ``infer_dir``; writes ``metrics.json``.

    ``opts`` override the stored config for this evaluation (e.g. another metric list); they are
    recorded in the manifest. The model is not loaded. Earlier results are kept: the new values are
    merged into ``metrics.json`` (a key computed again is replaced) and every confusion-matrix
    picture of the merged metrics is drawn again. ``replace=True`` keeps only this evaluation's
    metrics (and removes the pictures of the dropped ones). Returns the metrics now in ``metrics.json``.
    """
    infer_dir = Path(infer_dir).resolve()
    if not (infer_dir / PREDICTIONS_JSONL).is_file():
        raise RunwayError(
            f"{infer_run_name(infer_dir)} has no saved predictions (predictions.jsonl)",
            hint="the inference run did not finish; run runway-infer again with a new suffix",
        )
    config = infer_config(infer_dir, opts)
    import_project_code(config.data, project_root_of(infer_dir.parent))
    specs = (config.data.get("eval") or {}).get("metrics")
    if not specs:
        raise ConfigError(
            "eval.metrics is empty: nothing to evaluate",
            hint='add metrics, e.g. --opts \'eval.metrics=[{"name":"accuracy"}]\'',
        )
    specs = normalize_metric_specs(specs)
    recorder = EvalRecorder.load(infer_dir)
    computed = compute_metrics(recorder, specs)
    manifest = read_manifest(infer_dir)
    earlier = {} if replace else _saved_metrics(infer_dir / METRICS_JSON)
    earlier_specs = [] if replace else list(manifest.get("eval_metrics") or [])
    keys = {spec["key"] for spec in specs}
    merged_specs = [s for s in earlier_specs if isinstance(s, Mapping) and s.get("key") not in keys] + specs
    metrics = {**earlier, **computed}
    save_metrics(infer_dir, metrics)
    save_metric_pictures(infer_dir, metrics, merged_specs, recorder.stats.get("class_names"))
    for spec in manifest.get("eval_metrics") or []:  # pictures of metrics this evaluation dropped (replace)
        key = spec.get("key") if isinstance(spec, Mapping) else None
        if key and key not in metrics:
            (infer_dir / f"{key}.png").unlink(missing_ok=True)
    overrides = [{"path": o.path, "value": o.value} for o in config.overrides]
    evaluated_at = now_iso()
    history = list(manifest.get("evaluations") or [])
    history.append({"at": evaluated_at, "overrides": overrides, "keys": sorted(computed), "replace": replace})
    update_manifest(
        infer_dir,
        evaluated_at=evaluated_at,
        eval_overrides=overrides,
        eval_metrics=merged_specs,
        evaluations=history,
        key_metric=(config.data.get("eval") or {}).get("key_metric") or manifest.get("key_metric"),
    )
    return metrics


def _saved_metrics(path: Path) -> dict[str, Any]:
    """The metrics of an earlier evaluation (``{}`` when there is none or it cannot be read)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return dict(data) if isinstance(data, dict) else {}
