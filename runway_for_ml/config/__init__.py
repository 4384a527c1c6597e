"""Config system: jsonnet files, ``--opts`` overrides, validation. See docs/config.md."""

# Sections registered by a capability (config.models.register_section): imported here so that every
# config load knows them.
from runway_for_ml.config import search_section as _search_section  # noqa: F401  (the search: section)
from runway_for_ml.config.loader import ResolvedConfig, evaluate_jsonnet, load_config, resolve_cache_dir
from runway_for_ml.config.models import SECTION_MODELS, register_section
from runway_for_ml.config.overrides import Override, apply_overrides, parse_override, parse_value
from runway_for_ml.config.schema import RunwayConfig, config_json_schema, typed_config, validate_config

__all__ = [
    "SECTION_MODELS",
    "Override",
    "ResolvedConfig",
    "RunwayConfig",
    "apply_overrides",
    "config_json_schema",
    "evaluate_jsonnet",
    "load_config",
    "parse_override",
    "parse_value",
    "register_section",
    "resolve_cache_dir",
    "typed_config",
    "validate_config",
]
