"""``runway_for_ml.data_ops``: an older name of ``runway_for_ml.data_module`` used by the original's examples."""
