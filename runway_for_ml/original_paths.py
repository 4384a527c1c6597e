"""The original runway_for_ml's import paths: where each one went, and a clear error for those that did not.

Code written for the original framework imports ``runway_for_ml.executors.base_executor``,
``runway_for_ml.utils.eval_recorder``, ``runway_for_ml.data_module.data_pipeline`` ... Paths with an
equivalent here are small modules that re-export it (``runway_for_ml/executors/base_executor.py``,
``runway_for_ml/utils/``, ``runway_for_ml/data_ops/`` ...). Paths without one are listed in
:data:`MOVED_MODULES` (a whole module) and :data:`MOVED_NAMES` (one name of a module that exists):
importing them raises an :class:`ImportError` that names the new home and links docs/migrating.md,
never a bare ``ModuleNotFoundError``.

Whole modules are answered by a meta path finder (:func:`install`, called by ``import runway_for_ml``)
rather than by files that raise on import, so that nothing on disk fails to import (the test suite
imports every module for its doctests).

>>> import runway_for_ml
>>> try:
...     import runway_for_ml.utils.config_system
... except ImportError as exc:
...     print(type(exc).__name__, "docs/migrating.md" in str(exc))
ImportError True
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

__all__ = ["DOCS", "MOVED_MODULES", "MOVED_NAMES", "install", "moved_error", "moved_name_error"]

DOCS = "docs/migrating.md#imports-and-code"

#: Original module path -> where its contents are now (no module of that path exists here).
MOVED_MODULES: dict[str, str] = {
    "runway_for_ml.configs": "config sections are plain dicts of the resolved config: "
    "runway_for_ml.load_config(path).data (DataPipelineConfig, ModelConfig, MetaConfig, ExecutorConfig "
    "are gone; an executor receives its sections as dicts)",
    "runway_for_ml.configs.configuration": "config sections are plain dicts of the resolved config: "
    "runway_for_ml.load_config(path).data",
    "runway_for_ml.utils.config_system": "the runway commands (runway-train, runway-infer, runway prepare ...) "
    "replace main.py; configs load with runway_for_ml.load_config, --opts are parsed as JSON, and user code "
    "(data_processing/, executors/, modeling/, metrics/, meta.user_modules) is imported automatically",
    "runway_for_ml.utils.cache_system": "the pipeline cache is runway_for_ml.pipeline.cache.CacheStore "
    "(content-addressed entries; `runway cache ls/gc`)",
    "runway_for_ml.utils.seed": "meta.seed seeds every run (Lightning's seed_everything, and one seed per data node)",
    "runway_for_ml.utils.dirs": "experiment folders are made by runway (runway_for_ml.experiment.VersionDir)",
    "runway_for_ml.utils.imports": "user modules are imported automatically "
    "(runway_for_ml.project.import_user_modules; meta.user_modules)",
    "runway_for_ml.utils.color_logging": "runway prints with rich; use Python's logging in your own code",
    "runway_for_ml.utils.metrics_log_callback": "metrics are logged by the loggers of meta.logger_enable "
    "(csv, tensorboard, wandb: runway_for_ml.loggers)",
    "runway_for_ml.utils.mixin_utils": "no equivalent: copy extend_instance into your project if you use it",
    "runway_for_ml.data_module.inspectors": "inspection is per node (inspect: true writes inspect.json; "
    "runway_for_ml.pipeline.inspect.inspect_data)",
}

#: (original module, name) -> where that name is now, for modules that exist here.
MOVED_NAMES: dict[tuple[str, str], str] = {
    ("runway_for_ml.experiment", "RunwayExperiment"): "runway_for_ml.Experiment is a trained version "
    "(Experiment.load('name'), .predict(), .checkpoint()); training and testing are the runway-train, "
    "runway-infer and runway-eval commands",
    ("runway_for_ml.experiment", "get_checkpoint_model_path"): "runway_for_ml.Experiment.load(...).checkpoint() "
    "('best', 'last' or a file)",
    ("runway_for_ml.experiment", "reset_wandb_runs"): "W&B runs are per version folder; nothing to reset",
    ("runway_for_ml.data_module.data_transforms", "RowWiseTransform"): "subclass "
    "runway_for_ml.BaseTransform (or HFDatasetTransform) and map rows in _call (datasets' Dataset.map)",
    ("runway_for_ml.data_module.data_transforms", "register_transform"): "transforms are classes: "
    "@runway_for_ml.register_transform_functor on a BaseTransform subclass",
    ("runway_for_ml.data_module.data_transforms", "tokenize_function"): "the HFDatasetTokenizeTransform "
    "transform tokenizes fields (runway_for_ml.pipeline.tokenize)",
    ("runway_for_ml.data_module.data_transforms", "GetEvaluationRecorder"): "evaluation is eval.metrics "
    "(registered metric functions, runway-eval); the recorder is runway_for_ml.EvalRecorder",
    ("runway_for_ml.data_module.data_transforms", "MergeAllEvalRecorderAndSave"): "evaluation is eval.metrics "
    "(registered metric functions, runway-eval); EvalRecorder.merge is runway_for_ml.EvalRecorder's",
    ("runway_for_ml.utils.global_variables", "Executor_Registry"): "runway_for_ml.executors.base.EXECUTORS "
    "(a Registry: EXECUTORS.get(name))",
    ("runway_for_ml.utils.global_variables", "DataTransform_Registry"): "runway_for_ml.pipeline.transform.TRANSFORMS "
    "(a Registry: TRANSFORMS.get(name))",
    ("runway_for_ml.utils.global_variables", "Model_Registry"): "no model registry: executor.model_config names "
    "a transformers class (ModelClass) or the executor builds its model",
    ("runway_for_ml.utils.global_variables", "FeatureLoader_Registry"): "feature loaders became input: "
    "transforms of the data pipeline (@runway_for_ml.register_transform_functor)",
    ("runway_for_ml.utils.global_variables", "register_model"): "no model registry: executor.model_config names "
    "a transformers class (ModelClass) or the executor builds its model",
    ("runway_for_ml.utils.global_variables", "register_to"): "each kind has its own decorator: "
    "register_transform_functor, register_executor, register_metric (from runway_for_ml)",
    ("runway_for_ml.utils.global_variables", "register_func_to_registry"): "each kind has its own decorator: "
    "register_transform_functor, register_executor, register_metric (from runway_for_ml)",
    ("runway_for_ml.utils.util", "batch_depad"): "no equivalent: copy the helper into your executor",
}


def _message(path: str, new_home: str) -> str:
    return f"{path} is not part of this runway_for_ml: {new_home}. See {DOCS}"


def moved_error(module: str) -> ImportError:
    """The error for importing an original module that has no equivalent here."""
    return ImportError(_message(module, MOVED_MODULES[module]), name=module)


def moved_name_error(module: str, name: str) -> ImportError | None:
    """The error for ``from module import name`` when the original had ``name`` there; None otherwise.

    >>> str(moved_name_error("runway_for_ml.experiment", "RunwayExperiment")).split(":")[0]
    'runway_for_ml.experiment.RunwayExperiment is not part of this runway_for_ml'
    >>> moved_name_error("runway_for_ml.experiment", "anything_else") is None
    True
    """
    new_home = MOVED_NAMES.get((module, name))
    if new_home is None:
        return None
    return ImportError(_message(f"{module}.{name}", new_home), name=module)


def module_getattr(module: str, name: str) -> Any:
    """Body of a compat module's ``__getattr__``: the moved-name error, or the usual AttributeError."""
    error = moved_name_error(module, name)
    if error is not None:
        raise error
    raise AttributeError(f"module {module!r} has no attribute {name!r}")


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Answers the import of a module in :data:`MOVED_MODULES` with the ImportError naming its new home."""

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None) -> None:
        if fullname in MOVED_MODULES:
            raise moved_error(fullname)
        return None


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once). It answers only the names of MOVED_MODULES."""
    if not any(isinstance(finder, _MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _MovedModuleFinder())
