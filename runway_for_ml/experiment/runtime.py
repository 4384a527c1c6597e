"""What every experiment run needs before it starts: user code imported, names checked, data loaded.

``check_config`` is the "validate before work" step of train / infer / eval: it imports the project's
user modules and resolves every registered name (executor, metrics, loggers) so that a typo fails in
seconds, before a version folder is created or a job queued. ``load_splits`` runs the data pipeline
up to the node(s) feeding the executor and returns ``{split: dataset}`` plus each node's cache key.

>>> check_config(config, project_root)  # doctest: +SKIP
>>> splits, keys = load_splits(config, project_root, stage="train")  # doctest: +SKIP
>>> sorted(splits), keys  # doctest: +SKIP
(['test', 'train', 'validation'], {'input:LoadDigits': '3f2a…', 'process:Split': '…', 'output:Normalised': '…'})
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runway_for_ml.errors import ConfigError, RunwayError, did_you_mean
from runway_for_ml.experiment.sections import data_source, validate_sections
from runway_for_ml.progress import Heartbeats

__all__ = [
    "apply_thread_settings",
    "check_config",
    "import_project_code",
    "load_splits",
    "pipeline_for",
    "quiet_lightning",
]


def apply_thread_settings(config: Mapping[str, Any]) -> None:
    """Apply ``train.torch_num_threads`` (small models on busy CPUs run fastest with 1 thread)."""
    threads = (config.get("train") or {}).get("torch_num_threads")
    if threads:
        import torch

        torch.set_num_threads(int(threads))


# Lightning messages that do not apply to runs started by runway: the srun hint (runway's SLURM jobs
# are launched by submitit, which sets up the tasks itself), an advertisement, and a deprecation inside
# Lightning's own code. Everything else Lightning says is kept.
_NOISE_WARNINGS = (
    r"The `srun` command is available on your system",
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
)
_NOISE_INFO = ("💡 Tip:", "Loading `train_dataloader` to estimate number of stepping batches")


class _DropNoise:
    def filter(self, record: Any) -> bool:
        return not str(record.getMessage()).startswith(_NOISE_INFO)


def quiet_lightning() -> None:
    """Silence Lightning's hints that do not apply to runway runs (idempotent)."""
    import logging
    import warnings

    for pattern in _NOISE_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in ("pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNoise) for f in logger.filters):
            logger.addFilter(_DropNoise())


def import_project_code(config: Mapping[str, Any], project_root: Path | None) -> None:
    """Import the project's user packages and ``meta.user_modules`` (their ``@register_*`` run)."""
    from runway_for_ml.project import import_user_modules

    import_user_modules(project_root, (config.get("meta") or {}).get("user_modules") or ())


def check_config(
    config: Mapping[str, Any],
    project_root: Path | None,
    *,
    stages: tuple[str, ...] = ("train", "eval"),
    import_code: bool = True,
) -> None:
    """Validate the experiment sections and resolve every registered name the stages will use.

    ``import_code=False`` skips importing the project's code, for a caller that already imported it for
    the same ``meta.user_modules`` (a sweep checking its points).
    """
    validate_sections(config)
    if import_code:
        import_project_code(config, project_root)
    if "train" in stages or "infer" in stages:
        from runway_for_ml.executors import get_executor_class

        name = (config.get("executor") or {}).get("ExecutorClass")
        if not name:
            raise ConfigError(
                "executor.ExecutorClass is missing",
                hint="name a registered executor, e.g. 'ClassificationExecutor', or your own @register_executor class",
            )
        try:
            executor_class = get_executor_class(str(name))
        except RunwayError as exc:
            raise ConfigError(f"executor.ExecutorClass: {exc.message}", hint=exc.hint) from exc
        # An executor may check its own settings (model_config, LoRA, generation) before any work.
        if callable(getattr(executor_class, "validate_config", None)):
            executor_class.validate_config(config)
        _check_data_nodes(config)
    if "train" in stages:
        _check_loggers(config)
    if "eval" in stages:
        from runway_for_ml.metrics import normalize_metric_specs

        normalize_metric_specs((config.get("eval") or {}).get("metrics"))


def _check_loggers(config: Mapping[str, Any]) -> None:
    names = (config.get("meta") or {}).get("logger_enable") or []
    from runway_for_ml.loggers import LOGGERS

    for name in names:
        LOGGERS.check(name, where="meta.logger_enable")


def _check_data_nodes(config: Mapping[str, Any]) -> None:
    transforms = (config.get("data_pipeline") or {}).get("transforms") or {}
    for stage in ("train", "test"):
        if stage == "test" and not config.get("test"):
            continue
        for split, ref in data_source(config, stage).items():
            node = ref["node"]
            if node not in transforms:
                where = f"{stage}.data_node" if split == "*" else f"{stage}.splits.{split}"
                raise ConfigError(
                    f"{where}: '{node}' is not a node of data_pipeline.transforms{did_you_mean(node, transforms)}",
                    hint=f"nodes: {', '.join(transforms) or 'none'}",
                )


def pipeline_for(config: Any, project_root: Path | None) -> Any:
    """A :class:`DataPipeline` for ``config`` whose relative cache dir is resolved against the project."""
    from runway_for_ml.config import resolve_cache_dir
    from runway_for_ml.pipeline.runner import DataPipeline

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
