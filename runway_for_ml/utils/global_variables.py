"""The original ``runway_for_ml.utils.global_variables`` path.

``register_executor`` works as before. The original's dict registries (``Executor_Registry``,
``DataTransform_Registry`` ...) and ``register_to`` raise an ImportError naming their new home.

>>> from runway_for_ml.utils.global_variables import register_executor
>>> from runway_for_ml.utils.global_variables import Executor_Registry
Traceback (most recent call last):
...
ImportError: runway_for_ml.utils.global_variables.Executor_Registry is not part of this runway_for_ml: ...
"""

from typing import Any

from runway_for_ml.executors.base import register_executor
from runway_for_ml.original_paths import module_getattr

__all__ = ["register_executor"]


def __getattr__(name: str) -> Any:
    return module_getattr(__name__, name)
