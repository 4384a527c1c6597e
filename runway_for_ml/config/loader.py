"""Load a ``.jsonnet`` config into a validated :class:`ResolvedConfig`.

Imports resolve relative to the importing file, then from the project's ``configs/`` folder. Every
environment variable is available as ``std.extVar('NAME')``; ``ext_vars`` adds or replaces some.
Precedence: the config file < explicit CLI flags (``cli_overrides``) < ``--opts``.

>>> cfg = load_config("configs/experiments/digits.jsonnet", opts=["train.batch_size=64"])
>>> cfg.data["train"]["batch_size"]
64
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runway_for_ml.config.jsonnet import evaluate_jsonnet
from runway_for_ml.config.models import DEFAULT_CACHE_DIR
from runway_for_ml.config.overrides import Override, apply_override, apply_overrides, parse_value
from runway_for_ml.config.schema import RunwayConfig, validate_config
from runway_for_ml.errors import ConfigError
from runway_for_ml.project import find_project_root, similar_files

_MISSING_HINT = "give a path to a .jsonnet file, or an experiment name inside a runway project (see `runway ls`)"

__all__ = ["ResolvedConfig", "evaluate_jsonnet", "load_config", "lookup_path", "resolve_cache_dir"]


def lookup_path(data: Any, dotted: str, default: Any = None) -> Any:
    """The value at a dotted key path (``"train.batch_size"``; integer parts index lists), else ``default``.

    >>> lookup_path({"eval": {"metrics": [{"name": "f1"}]}}, "eval.metrics.0.name")
    'f1'
    """
    node: Any = data
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return default
    return node


@dataclass
class ResolvedConfig:
    """A config after jsonnet evaluation, overrides and validation.

    Attributes:
        data: the plain resolved dict, as written (what user code, checkpoints and ``config.json`` hold).
        path: the file it came from (None when built from a dict).
        overrides: every override applied, in order (CLI flags first, then ``--opts``).
        typed: the typed config (:class:`~runway_for_ml.config.schema.RunwayConfig`): one object per
            section with every default filled in, e.g. ``cfg.typed.train.val_batch_size``.
    """

    data: dict[str, Any]
    path: Path | None = None
    overrides: list[Override] = field(default_factory=list)
    _typed: RunwayConfig | None = field(default=None, repr=False, compare=False)

    @property
    def typed(self) -> RunwayConfig:
        """The typed config, built once (by the loader, or on first use for a config built from a dict)."""
        if self._typed is None:
            self._typed = validate_config(self.data, self.path)
        return self._typed

    def section(self, name: str) -> Any:
        """The typed model of one section: ``cfg.section("train").batch_size``."""
        return getattr(self.typed, name)

    def resolved_data(self) -> dict[str, Any]:
        """Every framework key with its value or default (JSON-ready): what ``config.resolved.json`` holds."""
        return self.typed.model_dump(mode="json", by_alias=True)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], opts: Iterable[str] = (), *, path: Path | None = None
    ) -> ResolvedConfig:
        """Validate a dict (deep-copied) as a config, applying ``opts`` overrides first."""
        resolved = copy.deepcopy(dict(data))
        overrides = apply_overrides(resolved, list(opts))
        return cls(resolved, path, overrides, validate_config(resolved, path))

    @property
    def meta(self) -> dict[str, Any]:
        return self.data.get("meta") or {}

    def get(self, dotted: str, default: Any = None) -> Any:
        """``cfg.get("train.batch_size", 32)``: a nested value by dotted path."""
        return lookup_path(self.data, dotted, default)

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.data, indent=indent, sort_keys=False, default=str)

    def overridden_paths(self) -> dict[str, Override]:
        return {o.path: o for o in self.overrides}


def load_config(
    path: str | Path,
    opts: Iterable[str] = (),
    ext_vars: Mapping[str, str] | None = None,
    *,
    cli_overrides: Mapping[str, Any] | None = None,
    project_root: Path | None = None,
) -> ResolvedConfig:
    """Evaluate ``path``, apply explicit CLI flags then ``--opts``, validate, and return the result."""
    config_path = Path(path)
    if not config_path.is_file():
        raise ConfigError(f"config file not found: {config_path}{similar_files(config_path)}", hint=_MISSING_HINT)
    search_dirs = [config_path.parent]
    root = project_root or _project_root_of(config_path)
    if root is not None:
        search_dirs.append(root / "configs")
    data = evaluate_jsonnet(config_path, ext_vars, search_dirs)
    if not isinstance(data, dict):
        raise ConfigError(f"{config_path}: the config must evaluate to an object, got {type(data).__name__}")
    overrides = [
        apply_override(data, key.split("."), value if not isinstance(value, str) else parse_value(value), source="cli")
        for key, value in (cli_overrides or {}).items()
    ]
    try:
        overrides += apply_overrides(data, list(opts))
    except ConfigError as exc:
        raise ConfigError(f"{config_path}: {exc.message}", hint=exc.hint) from exc
    return ResolvedConfig(data, config_path, overrides, validate_config(data, config_path))


def resolve_cache_dir(
    config: Any = None, *, project_root: str | Path | None = None, cache_dir: str | Path | None = None
) -> Path:
    """The pipeline cache folder: the one place it is decided.

    ``cache_dir`` (a ``--cache-dir`` flag) wins over ``meta.default_cache_dir`` of ``config`` (a
    :class:`ResolvedConfig` or a config dict; default ``local_cache``). A relative folder is relative to
    ``project_root``, else to the project of the config's file (for a dict: the one around the working
    directory), else to the working directory.
    """
    if cache_dir is None and config is not None:
        meta = (getattr(config, "data", config) or {}).get("meta") or {}
        cache_dir = meta.get("default_cache_dir")
    path = Path(cache_dir or DEFAULT_CACHE_DIR).expanduser()
    if path.is_absolute():
        return path
    source = getattr(config, "path", None)
    root = project_root or find_project_root(Path(source).resolve().parent if source else None)
    return (Path(root or Path.cwd()) / path).absolute()


def _project_root_of(config_path: Path) -> Path | None:
    return find_project_root(config_path.resolve().parent)
