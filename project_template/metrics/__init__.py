"""Project metrics; runway imports every module here so their @register_metric runs."""
