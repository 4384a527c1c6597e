"""Experiments: versioned folders, manifests, and the train / infer / eval / report orchestration.

Light to import: names resolve lazily, and the modules that need torch (``training``, ``inference``,
``report``) import it inside their functions.

>>> from runway_for_ml.experiment import Experiment, VersionDir, read_manifest  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runway_for_ml.lazy import lazy_exports
from runway_for_ml.original_paths import module_getattr

_EXPORTS = {
    "Experiment": "runway_for_ml.experiment.experiment",
    "NamedExperiment": "runway_for_ml.experiment.names",
    "VersionDir": "runway_for_ml.experiment.layout",
    "create_version": "runway_for_ml.experiment.versions",
    "read_manifest": "runway_for_ml.experiment.manifest",
    "resolve_experiment": "runway_for_ml.experiment.names",
    "update_manifest": "runway_for_ml.experiment.manifest",
}

__all__ = [
    "Experiment",
    "NamedExperiment",
    "VersionDir",
    "create_version",
    "read_manifest",
    "resolve_experiment",
    "update_manifest",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from runway_for_ml.experiment.experiment import Experiment
    from runway_for_ml.experiment.layout import VersionDir
    from runway_for_ml.experiment.manifest import read_manifest, update_manifest
    from runway_for_ml.experiment.names import NamedExperiment, resolve_experiment
    from runway_for_ml.experiment.versions import create_version

# The original's runway_for_ml.experiment.RunwayExperiment ...: an ImportError naming the new home.
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, missing=module_getattr)
