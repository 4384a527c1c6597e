"""runway_for_ml: cached data pipelines, versioned experiments, loggers and SLURM for ML research.

What a project imports::

    from runway_for_ml import BaseTransform, HFDatasetTransform, register_transform_functor, DataPipeline
    from runway_for_ml import BaseExecutor, register_executor, register_metric
    from runway_for_ml import Experiment          # a trained version: config, checkpoints, model, predict

Names resolve lazily so that ``import runway_for_ml`` (and ``runway --help``) does not load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runway_for_ml import original_paths as _original_paths
from runway_for_ml.lazy import lazy_exports
from runway_for_ml.version import __version__

# The original framework's module paths without an equivalent raise an ImportError naming the new home.
_original_paths.install()

_EXPORTS = {
    "BaseTransform": "runway_for_ml.pipeline.transform",
    "HFDatasetTransform": "runway_for_ml.pipeline.transform",
    "register_transform_functor": "runway_for_ml.pipeline.transform",
    "DataPipeline": "runway_for_ml.pipeline.runner",
    "BaseExecutor": "runway_for_ml.executors.base",
    "register_executor": "runway_for_ml.executors.base",
    "register_metric": "runway_for_ml.metrics.registry",
    "EvalRecorder": "runway_for_ml.metrics.recorder",
    "Experiment": "runway_for_ml.experiment.experiment",
    "VersionDir": "runway_for_ml.experiment.layout",
    "load_config": "runway_for_ml.config.loader",
    "ResolvedConfig": "runway_for_ml.config.loader",
    "RunwayError": "runway_for_ml.errors",
}

__all__ = [
    "BaseExecutor",
    "BaseTransform",
    "DataPipeline",
    "EvalRecorder",
    "Experiment",
    "HFDatasetTransform",
    "ResolvedConfig",
    "RunwayError",
    "VersionDir",
    "__version__",
    "load_config",
    "register_executor",
    "register_metric",
    "register_transform_functor",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from runway_for_ml.config.loader import ResolvedConfig, load_config
    from runway_for_ml.errors import RunwayError
    from runway_for_ml.executors.base import BaseExecutor, register_executor
    from runway_for_ml.experiment.experiment import Experiment
    from runway_for_ml.experiment.layout import VersionDir
    from runway_for_ml.metrics.recorder import EvalRecorder
    from runway_for_ml.metrics.registry import register_metric
    from runway_for_ml.pipeline.runner import DataPipeline
    from runway_for_ml.pipeline.transform import BaseTransform, HFDatasetTransform, register_transform_functor

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, also=__all__)
