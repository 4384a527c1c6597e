"""Project executors; runway imports every module here so their @register_executor runs."""
