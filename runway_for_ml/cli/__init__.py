"""Command-line front end. See :mod:`runway_for_ml.cli.main`."""
