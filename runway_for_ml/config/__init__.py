"""Config system: jsonnet files, ``--opts`` overrides, validation. See docs/config.md."""

from runway_for_ml.config.loader import ResolvedConfig, evaluate_jsonnet, load_config
from runway_for_ml.config.overrides import Override, apply_overrides, parse_override, parse_value
from runway_for_ml.config.schema import validate_config

__all__ = [
    "Override",
    "ResolvedConfig",
    "apply_overrides",
    "evaluate_jsonnet",
    "load_config",
    "parse_override",
    "parse_value",
    "validate_config",
]
