"""Experiments: versioned folders, manifests, and the train / infer / eval / report orchestration.

Light to import: the modules that need torch (``training``, ``inference``, ``report``) import it inside
their functions.

>>> from runway_for_ml.experiment import resolve_experiment, read_manifest  # doctest: +SKIP
"""

from runway_for_ml.experiment.experiment import Experiment, create_version, resolve_experiment
from runway_for_ml.experiment.manifest import read_manifest, update_manifest

__all__ = ["Experiment", "create_version", "read_manifest", "resolve_experiment", "update_manifest"]
