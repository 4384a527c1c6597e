"""Check an experiment config completely before the first folder or file of a run is created.

``runway-train``, ``runway-run`` and ``runway-infer`` call :func:`check_run_config` before they make a
version folder (or an ``infer-<suffix>/`` folder), so a typo fails in seconds and leaves nothing
behind: no failed ``<exp>_V<n>/`` that later shows in ``runway ls`` or becomes "latest".

What is checked, each error naming the key path and suggesting the fix:

- the experiment sections and every registered name the run will use (executor, data nodes, loggers,
  metrics: :func:`~runway_for_ml.experiment.checks.check_config`);
- the data pipeline graph: every ``transform_name``, ``input_node`` and ``setup_kwargs`` argument
  (bound to the transform's ``setup`` signature), and cycles;
- the optimizer and schedule (``train.optimizer_config``): names, arguments and values, when the
  executor uses the framework's ``configure_optimizers``;
- ``meta.wandb`` keys and mode;
- every framework key's type and range (batch sizes, workers, epochs, steps, the ``slurm`` numbers,
  ...), from the typed sections of :mod:`runway_for_ml.config.models` (a ``--sweep`` point's copy is
  checked again here);
- ``test.checkpoint`` (``best``, ``last`` or an existing file) and ``test.split`` against the splits
  the data provides, where they can be known without running the pipeline (``test.splits`` keys,
  the splits a trained version recorded, or a cached pipeline output).

Nothing here runs a data transform, builds a model or writes a file; only the project's modules are
imported (their ``@register_*`` decorators run), as every command does.

>>> check_run_config(config.data, project_root, "train")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from runway_for_ml import loggers
from runway_for_ml.config.schema import typed_config
from runway_for_ml.errors import ConfigError, RunwayError, check_keys, did_you_mean
from runway_for_ml.experiment.layout import LOCKS_DIR
from runway_for_ml.experiment.sections import data_source

__all__ = [
    "COMMANDS",
    "check_run_config",
    "removed_on_user_error",
]

# The commands whose config is checked here, and the stages of check_config each one uses.
COMMANDS: dict[str, tuple[str, ...]] = {
    "train": ("train", "eval"),
    "run": ("train", "infer", "eval"),
    "infer": ("infer", "eval"),
}
CHECKPOINT_CHOICES = ("best", "last")


def check_run_config(
    config: Any,
    project_root: Path | None,
    command: str,
    *,
    evaluate: bool = True,
    checkpoint: str | None = None,
    known_splits: list[str] | None = None,
) -> None:
    """Check everything ``command`` (``train`` / ``run`` / ``infer``) will need from ``config``.

    ``evaluate=False`` (``runway-infer --no-eval``) skips the metrics. ``checkpoint`` is the
    ``--checkpoint`` given on the command line (it replaces ``test.checkpoint``). ``known_splits`` are
    the split names the test data is known to have (``runway-infer``: those the trained version
    recorded); without them they are looked up where that costs nothing. ``config`` is a
    :class:`~runway_for_ml.config.ResolvedConfig` or a config dict (a ``--sweep`` point's copy).
    """
    from runway_for_ml.experiment.checks import check_config

    if command not in COMMANDS:
        raise ValueError(f"command must be one of {', '.join(COMMANDS)}, got {command!r}")
    typed = typed_config(config)  # types and ranges of every framework key
    config = getattr(config, "data", config)
    stages = COMMANDS[command]
    if not evaluate:
        stages = tuple(s for s in stages if s != "eval")
    check_config(config, project_root, stages=stages)
    _check_pipeline(config)
    _check_wandb(config)
    if "train" in stages:
        _check_optimizer(config)
    if command == "run":
        _check_checkpoint_choice(checkpoint or typed.test.checkpoint)
    if command in ("run", "infer"):
        _check_test_split(config, project_root, known_splits)


# ----------------------------------------------------------------------------- pipeline, loggers, optimizer


def _check_pipeline(config: Mapping[str, Any]) -> None:
    """Build the pipeline graph: transform names, inputs, setup_kwargs and cycles (nothing runs)."""
    if config.get("data_pipeline") is None:
        return
    from runway_for_ml.pipeline.graph import PipelineGraph

    PipelineGraph.from_config(config.get("data_pipeline"))


def _check_wandb(config: Mapping[str, Any]) -> None:
    meta = config.get("meta") or {}
    settings = meta.get("wandb")
    if settings is None:
        return

    if not isinstance(settings, Mapping):
        raise ConfigError(f"meta.wandb: expected an object, found {settings!r}")
    # loggers.py owns the list of W&B settings it passes on; checked here before any folder exists.
    check_keys(settings, loggers.WANDB_KEYS, "meta.wandb")
    loggers.wandb_mode(config)


def _uses_framework_optimizer(config: Mapping[str, Any]) -> bool:
    from runway_for_ml.executors import BaseExecutor, get_executor_class

    name = (config.get("executor") or {}).get("ExecutorClass")
    cls = get_executor_class(str(name))
    return getattr(cls, "configure_optimizers", None) is BaseExecutor.configure_optimizers


def _check_optimizer(config: Mapping[str, Any]) -> None:
    """Build the configured optimizer and schedule on one dummy parameter: names, arguments, values."""
    optimizer_config = (config.get("train") or {}).get("optimizer_config")
    if optimizer_config is None or not _uses_framework_optimizer(config):
        return  # an executor with its own configure_optimizers reads its settings itself
    import torch

    from runway_for_ml.executors.optim import build_optimizer, build_scheduler

    parameter = torch.nn.Parameter(torch.zeros(1))
    try:
        optimizer = build_optimizer([parameter], optimizer_config)
    except RuntimeError:
        return  # device-dependent options (fused=True, ...) can only be checked where training runs
    max_steps = typed_config(config).train.trainer_paras.max_steps
    # The real number of steps is known only once the data is loaded; any positive stand-in checks
    # the schedule's name and parameters.
    steps = max_steps if max_steps > 0 else 1000
    build_scheduler(optimizer, optimizer_config, total_steps=steps)


# ----------------------------------------------------------------------------- checkpoint and split


def _check_checkpoint_choice(choice: Any) -> None:
    if choice is None or choice in CHECKPOINT_CHOICES:
        return
    if isinstance(choice, str) and Path(choice).expanduser().is_file():
        return
    raise ConfigError(
        f"test.checkpoint: {choice!r} is not best, last or an existing checkpoint file"
        f"{did_you_mean(str(choice), CHECKPOINT_CHOICES)}",
        hint="set test.checkpoint to best or last (or the path of a .ckpt file), e.g. --opts test.checkpoint=best",
    )


def _check_test_split(config: Mapping[str, Any], project_root: Path | None, known: list[str] | None) -> None:
    split = (config.get("test") or {}).get("split") or "test"
    names = known if known is not None else _knowable_splits(config, project_root)
    if names is None or split in names:
        return
    raise ConfigError(
        f"test.split: the test data has no split {split!r}{did_you_mean(str(split), names)}",
        hint=f"its splits: {', '.join(names) or '(none)'}; e.g. --opts test.split={names[0] if names else 'test'}",
    )


def _knowable_splits(config: Mapping[str, Any], project_root: Path | None) -> list[str] | None:
    """Split names of the test data when known without running a transform, else ``None``."""

    sources = data_source(config, "test")
    if "*" not in sources:
        return sorted(sources)  # test.splits: {name: node or {node, split}}
    node = sources["*"]["node"]
    try:
        from runway_for_ml.experiment.data import pipeline_for

        pipeline = pipeline_for(config, project_root)
        plan = {p.node: p for p in pipeline.plan([node])}.get(node)
        if plan is None or plan.status != "cached":
            return None
        described = pipeline.store.read_meta(plan.key) or {}
    except RunwayError:
        raise
    except Exception:  # the cache is only a shortcut here; the run itself reports real problems
        return None
    splits = described.get("splits")
    return sorted(splits) if isinstance(splits, Mapping) else None


# ----------------------------------------------------------------------------- what can only fail later


@contextlib.contextmanager
def removed_on_user_error(folder: Path, produced: str) -> Iterator[None]:
    """Remove ``folder`` when a :class:`RunwayError` ends the work before it produced ``produced``.

    For the problems only the data can reveal (a split missing from a pipeline output that was not
    cached yet, ...): the new version or inference folder would otherwise stay behind, be listed by
    ``runway ls``, be taken as "latest", and make the corrected command under the same name refused.
    A folder with results (``produced`` exists, relative to ``folder``) is kept, and so is everything
    after an error in the user's own code (its traceback is in the manifest).

    >>> with removed_on_user_error(infer_dir, produced="predictions.jsonl"):  # doctest: +SKIP
    ...     infer_in_dir(infer_dir)
    """
    try:
        yield
    except RunwayError:
        folder = Path(folder)
        if folder.is_dir() and not (folder / produced).exists():
            shutil.rmtree(folder, ignore_errors=True)
            _remove_lock_files(folder)
        raise


def _remove_lock_files(folder: Path) -> None:
    """The folder's lock files (``experiments/.locks/<version>[.<sub>].*.lock``, see ``layout.lock_file``)."""

    patterns = [
        (folder.parent / LOCKS_DIR, f"{folder.name}.*.lock"),  # a version folder
        (folder.parent.parent / LOCKS_DIR, f"{folder.parent.name}.{folder.name}.*.lock"),  # an infer folder
    ]
    for locks, pattern in patterns:
        if locks.is_dir():
            for path in locks.glob(pattern):
                path.unlink(missing_ok=True)
