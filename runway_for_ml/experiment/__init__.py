"""Experiments: versioned folders, manifests, and the train / infer / eval / report orchestration.

Light to import: the modules that need torch (``training``, ``inference``, ``report``) import it inside
their functions.

>>> from runway_for_ml.experiment import Experiment, VersionDir, read_manifest  # doctest: +SKIP
"""

from runway_for_ml.experiment.experiment import Experiment
from runway_for_ml.experiment.layout import VersionDir
from runway_for_ml.experiment.manifest import read_manifest, update_manifest
from runway_for_ml.experiment.names import NamedExperiment, resolve_experiment
from runway_for_ml.experiment.versions import create_version

__all__ = [
    "Experiment",
    "NamedExperiment",
    "VersionDir",
    "create_version",
    "read_manifest",
    "resolve_experiment",
    "update_manifest",
]
