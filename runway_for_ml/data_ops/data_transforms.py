"""``runway_for_ml.data_ops.data_transforms``: the same names as ``runway_for_ml.data_module.data_transforms``.

>>> from runway_for_ml.data_ops.data_transforms import HFDatasetTransform, register_transform_functor
"""

from typing import Any

from runway_for_ml.data_module import data_transforms as _original
from runway_for_ml.data_module.data_transforms import *  # noqa: F403 - the original module's names
from runway_for_ml.data_module.data_transforms import __all__ as __all__


def __getattr__(name: str) -> Any:
    return getattr(_original, name)
