"""The data pipeline: transforms, the DAG, cache keys, the cache store and the runner.

Light names (transforms and their registry) import eagerly; ``DataPipeline`` and ``PipelineGraph``
load networkx and are resolved on first use so ``import runway_for_ml`` stays fast.

>>> from runway_for_ml.pipeline import DataPipeline  # doctest: +SKIP
>>> outputs = DataPipeline.from_config("configs/experiments/digits.jsonnet").apply_transforms()  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runway_for_ml.lazy import lazy_exports

# Importing these modules registers the built-in transforms (general ones, tokenize, tokenizer training).
from runway_for_ml.pipeline import builtin_transforms, tokenize, tokenizer_training  # noqa: F401
from runway_for_ml.pipeline.transform import TRANSFORMS, BaseTransform, HFDatasetTransform, register_transform_functor

_LAZY = {
    "DataPipeline": "runway_for_ml.pipeline.runner",
    "NodePlan": "runway_for_ml.pipeline.runner",
    "PipelineGraph": "runway_for_ml.pipeline.graph",
    "render_dag": "runway_for_ml.pipeline.render",
}

__all__ = [  # noqa: RUF022
    "TRANSFORMS",
    "BaseTransform",
    "HFDatasetTransform",
    "register_transform_functor",
    "DataPipeline",
    "NodePlan",
    "PipelineGraph",
    "render_dag",
]

if TYPE_CHECKING:  # pragma: no cover
    from runway_for_ml.pipeline.graph import PipelineGraph
    from runway_for_ml.pipeline.render import render_dag
    from runway_for_ml.pipeline.runner import DataPipeline, NodePlan

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, also=__all__)
