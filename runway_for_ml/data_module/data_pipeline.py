"""The original ``runway_for_ml.data_module.data_pipeline`` path: :class:`DataPipeline`.

Here it is built with ``DataPipeline.from_config(config_file_or_dict)`` (the original took
``DataPipeline(data_pipeline_config, global_config=...)``); ``get_data([node])`` and
``apply_transforms()`` keep their names (see docs/pipeline.md).

>>> from runway_for_ml.data_module.data_pipeline import DataPipeline
>>> from runway_for_ml.pipeline.runner import DataPipeline as Same
>>> DataPipeline is Same
True
"""

from runway_for_ml.pipeline.runner import DataPipeline

__all__ = ["DataPipeline"]
