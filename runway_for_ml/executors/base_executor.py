"""The original ``runway_for_ml.executors.base_executor`` path: :class:`BaseExecutor` and ``register_executor``.

An executor written for the original framework still has to be ported: here ``BaseExecutor.__init__``
receives ``(config, data, model_config, **init_kwargs)`` instead of ``data_pipeline_config``, ``mode``,
``train_config`` ... (see docs/migrating.md, "Executors"). New code imports from ``runway_for_ml``.

>>> from runway_for_ml.executors.base_executor import BaseExecutor
>>> from runway_for_ml.executors.base import BaseExecutor as Same
>>> BaseExecutor is Same
True
"""

from runway_for_ml.executors.base import BaseExecutor, register_executor

__all__ = ["BaseExecutor", "register_executor"]
