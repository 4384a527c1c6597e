"""The whole sequence of ``runway-run`` in one version folder: train -> infer -> evaluate -> report.

>>> result = run_in_version(version_dir, ["runway", "run", "digits"])  # doctest: +SKIP
>>> result["metrics"]["accuracy"], result["report"].name  # doctest: +SKIP
(0.97, 'report.html')
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from runway_for_ml.experiment.layout import VersionDir
from runway_for_ml.experiment.report import build_report

__all__ = ["infer_and_report", "run_in_version"]


def run_in_version(
    version_dir: Path, command: list[str] | None = None, *, checkpoint: str | None = None
) -> dict[str, Any]:
    """Train (or resume), infer on ``test.split``, evaluate and write the report, in one version folder.

    ``checkpoint`` (``best`` / ``last``) overrides the config's ``test.checkpoint``. An inference run
    that already saved its predictions is only evaluated again; one that died half-way (a requeued
    SLURM job) is started over. Returns ``{"version_dir", "train_metrics", "infer_dir", "metrics", "report"}``.
    """
    from runway_for_ml.experiment.training import train_in_version

    train_metrics = train_in_version(VersionDir(version_dir).path)
    return {"train_metrics": train_metrics, **infer_and_report(version_dir, command, checkpoint=checkpoint)}


def infer_and_report(
    version_dir: Path, command: list[str] | None = None, *, checkpoint: str | None = None
) -> dict[str, Any]:
    """The part of :func:`run_in_version` after training: infer on ``test.split``, evaluate, write the report.

    Returns ``{"version_dir", "infer_dir", "metrics", "report"}`` (``runway search`` calls it for the
    trials that were not pruned).
    """
    from runway_for_ml.experiment.inference import evaluate_infer_dir, infer_in_dir, prepare_inference
    from runway_for_ml.metrics.recorder import PREDICTIONS_JSONL

    layout = VersionDir(version_dir)
    test = layout.config_dict().get("test") or {}
    suffix = str(test.get("split") or "test")
    infer_dir = layout.infer_dir(suffix)
    if (infer_dir / PREDICTIONS_JSONL).is_file():
        metrics = evaluate_infer_dir(infer_dir)
    else:
        if infer_dir.exists():  # a previous attempt died mid-inference (e.g. a requeued job)
            shutil.rmtree(infer_dir)
        infer_dir = prepare_inference(
            layout.path, suffix, checkpoint=checkpoint or test.get("checkpoint"), command_line=command or []
        )
        metrics = infer_in_dir(infer_dir)
    return {
        "version_dir": layout.path,
        "infer_dir": infer_dir,
        "metrics": metrics,
        "report": build_report(layout.path),
    }
