"""Project data transforms; runway imports every module here so their @register_transform_functor runs."""
