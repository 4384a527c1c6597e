"""Import paths of the original runway_for_ml, so that a project's transforms import unchanged.

``from runway_for_ml.data_module.data_transforms import HFDatasetTransform, register_transform_functor``
works as it did; new code imports from ``runway_for_ml`` (see docs/migrating.md).
"""
