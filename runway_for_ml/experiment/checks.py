"""Validate before work: the project's code imported and every registered name resolved.

``check_config`` is the "validate before work" step of train / infer / eval: it imports the project's
user modules and resolves every registered name (executor, metrics, loggers) so that a typo fails in
seconds, before a version folder is created or a job queued.

>>> check_config(config, project_root)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runway_for_ml.errors import ConfigError, RunwayError, did_you_mean
from runway_for_ml.experiment.process import apply_thread_settings
from runway_for_ml.experiment.sections import data_source, validate_sections
from runway_for_ml.loggers import LOGGERS
from runway_for_ml.metrics import normalize_metric_specs
from runway_for_ml.project import import_user_modules

__all__ = ["check_config", "import_project_code", "prepare_executor_class"]


def import_project_code(config: Mapping[str, Any], project_root: Path | None) -> None:
    """Import the project's user packages and ``meta.user_modules`` (their ``@register_*`` run)."""
    import_user_modules(project_root, (config.get("meta") or {}).get("user_modules") or ())


def prepare_executor_class(data: Mapping[str, Any], project_root: Path | None) -> type:
    """Set up this process for running the experiment, and return its executor class.

    Imports the project's code, applies the thread settings, seeds everything with ``meta.seed`` (when
    given) and looks up ``executor.ExecutorClass``: what training and prediction both do before building data.
    """
    # torch and Lightning: imported only by the functions that run a model
    import pytorch_lightning as pl

    from runway_for_ml.executors.base import get_executor_class

    import_project_code(data, project_root)
    apply_thread_settings(data)
    seed = (data.get("meta") or {}).get("seed")
    if seed is not None:
        pl.seed_everything(int(seed), workers=True, verbose=False)
    return get_executor_class(str((data.get("executor") or {}).get("ExecutorClass")))


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
        from runway_for_ml.executors import get_executor_class  # torch and Lightning

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
        normalize_metric_specs((config.get("eval") or {}).get("metrics"))


def _check_loggers(config: Mapping[str, Any]) -> None:
    names = (config.get("meta") or {}).get("logger_enable") or []
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
