"""The data of a run: the pipeline with the project's cache folder, and the splits a stage reads.

``load_splits`` runs the data pipeline up to the node(s) feeding the executor and returns
``{split: dataset}`` plus each node's cache key (no torch, no Lightning: serving and preflight use it).

>>> splits, keys = load_splits(config, project_root, stage="train")  # doctest: +SKIP
>>> sorted(splits), keys  # doctest: +SKIP
(['test', 'train', 'validation'], {'input:LoadDigits': '3f2a…', 'process:Split': '…', 'output:Normalised': '…'})
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from runway_for_ml.config.loader import resolve_cache_dir
from runway_for_ml.errors import ConfigError, did_you_mean
from runway_for_ml.experiment.sections import data_source
from runway_for_ml.pipeline.runner import DataPipeline
from runway_for_ml.progress import Heartbeats

__all__ = ["load_splits", "pipeline_for"]


def pipeline_for(config: Any, project_root: Path | None) -> Any:
    """A :class:`DataPipeline` for ``config`` whose relative cache dir is resolved against the project."""
    cache_dir = resolve_cache_dir(config, project_root=project_root)
    return DataPipeline(config, cache_dir=cache_dir, progress=_print_progress)


_DATA_BEATS = Heartbeats("data")


def _print_progress(node: str, event: str, record: Any) -> None:
    # One line per node on stderr: visible in the terminal and in SLURM logs, out of stdout's way;
    # in a log, "still running" lines every RUNWAY_PROGRESS_INTERVAL seconds while a node runs.
    if event == "start":
        sys.stderr.write(f"[data] {node}: running ...\n")
        _DATA_BEATS.start(node)
    else:
        _DATA_BEATS.stop(node)
    if event == "hit":
        sys.stderr.write(f"[data] {node}: cached\n")
    elif event == "ran":
        seconds = getattr(record, "seconds", 0.0)
        sys.stderr.write(f"[data] {node}: done in {seconds:.1f}s\n")
    sys.stderr.flush()


def load_splits(
    config: Any, project_root: Path | None, *, stage: str = "train", only: tuple[str, ...] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Run the pipeline up to the stage's node(s); return ``({split: dataset}, {node: cache key})``.

    ``only`` restricts the returned splits (inference needs just the test split).
    """
    data = getattr(config, "data", config)
    sources = data_source(data, stage)
    pipeline = pipeline_for(config, project_root)
    nodes = sorted({ref["node"] for ref in sources.values()})
    keys = {plan.node: plan.key for plan in pipeline.plan(nodes)}
    started = time.perf_counter()
    try:
        outputs = pipeline.get_data(nodes)
    finally:  # a failed node sends no "done" event: end its heartbeat here
        _DATA_BEATS.stop_all()
    splits: dict[str, Any] = {}
    for split, ref in sources.items():
        value = outputs[ref["node"]]
        if split == "*":
            if not hasattr(value, "keys"):
                raise ConfigError(
                    f"{stage}.data_node '{ref['node']}' produced a {type(value).__name__}, not a DatasetDict with splits",
                    hint=f"use {stage}.splits: {{train: {{node: '{ref['node']}'}}, ...}} to map a single dataset to a split",
                )
            splits.update({str(k): value[k] for k in value})
        else:
            if ref["split"] is not None:
                if ref["split"] not in value:
                    raise ConfigError(
                        f"{stage}.splits.{split}: node '{ref['node']}' has no split '{ref['split']}'"
                        f"{did_you_mean(ref['split'], list(value))}",
                        hint=f"its splits: {', '.join(map(str, value))}",
                    )
                value = value[ref["split"]]
            splits[split] = value
    if only is not None:
        missing = [s for s in only if s not in splits]
        if missing:
            raise ConfigError(
                f"the data for {stage} has no split {missing[0]!r}{did_you_mean(missing[0], splits)}; splits: {', '.join(splits)}",
                hint="set test.split to one of them",
            )
        splits = {s: splits[s] for s in only}
    sys.stderr.write(
        f"[data] ready in {time.perf_counter() - started:.1f}s: "
        + ", ".join(f"{k}={len(v)}" for k, v in splits.items())
        + "\n"
    )
    return splits, keys
