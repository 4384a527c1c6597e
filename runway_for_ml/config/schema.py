"""Validation of the framework's own config sections.

The framework owns the top-level section names, ``meta``, ``data_pipeline`` and the keys of each
pipeline node; an unknown key or a wrong type there is an error naming the key path, with a
did-you-mean. User sections (``setup_kwargs``, ``executor.init_kwargs``, ``executor.model_config``,
``trainer_paras``, ``user``) stay free-form. Sections owned by a later stage (``train``, ``slurm``, …)
are checked by that stage, before it does any work.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from runway_for_ml.errors import ConfigError, did_you_mean

__all__ = ["NODE_KEYS", "TOP_LEVEL", "validate_config"]

Types = tuple[type, ...]
_STR: Types = (str,)
_BOOL: Types = (bool,)
_INT: Types = (int,)
_DICT: Types = (dict,)
_LIST: Types = (list,)
_NONE: Types = (type(None),)

TOP_LEVEL: dict[str, Types] = {
    "meta": _DICT,
    "data_pipeline": _DICT,
    "executor": _DICT,
    "train": _DICT,
    "test": _DICT,
    "eval": _DICT,
    "slurm": _DICT,
    # Served commands of a trained version (runway_for_ml.serving checks it before serving).
    "serve": _DICT,
    # Free-form settings of the user's own code.
    "user": _DICT,
    "description": _STR,
}

META_KEYS: dict[str, Types] = {
    "name": _STR,
    "description": _STR,
    "seed": _INT + _NONE,
    "default_cache_dir": _STR,
    "use_dummy_data": _BOOL,
    "dummy_data_rows": _INT,
    "logger_enable": _LIST,
    "wandb": _DICT,
    "user_modules": _LIST,
    "launcher": _STR,
}

PIPELINE_KEYS: dict[str, Types] = {
    "name": _STR,
    "description": _STR,
    "regenerate": _BOOL,
    "transforms": _DICT,
}

NODE_KEYS: dict[str, Types] = {
    "transform_name": _STR,
    "setup_kwargs": _DICT + _NONE,
    "input_node": _STR + _LIST + _NONE,
    "regenerate": _BOOL,
    "cache": _BOOL,
    "inspect": _BOOL,
    "description": _STR,
}

_LAUNCHERS = ("local", "slurm")


def validate_config(data: Any, source: Path | str | None = None) -> None:
    """Check the framework's sections of a resolved config; raise ConfigError at the first problem."""
    where = f"{source}: " if source else ""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}the config must evaluate to an object, got {_type_name(data)}")
    _check_keys(data, TOP_LEVEL, "", where, hint="put settings of your own code under 'user: {...}'")
    meta = data.get("meta") or {}
    _check_keys(meta, META_KEYS, "meta", where)
    if "logger_enable" in meta and not all(isinstance(x, str) for x in meta["logger_enable"]):
        raise ConfigError(f"{where}meta.logger_enable: expected a list of logger names, got {meta['logger_enable']!r}")
    if "user_modules" in meta and not all(isinstance(x, str) for x in meta["user_modules"]):
        raise ConfigError(f"{where}meta.user_modules: expected a list of module names, got {meta['user_modules']!r}")
    if meta.get("launcher", "local") not in _LAUNCHERS:
        raise ConfigError(
            f"{where}meta.launcher: unknown launcher {meta['launcher']!r}{did_you_mean(meta['launcher'], _LAUNCHERS)}",
            hint=f"valid launchers: {', '.join(_LAUNCHERS)}",
        )
    pipeline = data.get("data_pipeline")
    if pipeline is None:
        return
    _check_keys(pipeline, PIPELINE_KEYS, "data_pipeline", where)
    for node, spec in (pipeline.get("transforms") or {}).items():
        path = f"data_pipeline.transforms.{node}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}{path}: a node must be an object with transform_name, got {_type_name(spec)}")
        _check_keys(spec, NODE_KEYS, path, where)
        if "transform_name" not in spec:
            raise ConfigError(
                f"{where}{path}: missing 'transform_name'", hint="name a registered transform or a dotted path"
            )
        inputs = spec.get("input_node")
        if isinstance(inputs, list) and not all(isinstance(x, str) for x in inputs):
            raise ConfigError(f"{where}{path}.input_node: expected node names, got {inputs!r}")


def _check_keys(section: Any, spec: dict[str, Types], path: str, where: str, hint: str | None = None) -> None:
    if not isinstance(section, dict):
        raise ConfigError(f"{where}{path}: expected an object, got {_type_name(section)}")
    for key, value in section.items():
        key_path = f"{path}.{key}" if path else key
        if key not in spec:
            suggestion = did_you_mean(key, spec)
            raise ConfigError(
                f"{where}{key_path}: unknown key{suggestion}",
                hint=(hint + "; " if hint and not suggestion else "") + f"valid keys here: {', '.join(sorted(spec))}",
            )
        expected = spec[key]
        # bool is an int in Python; a seed of `true` is still wrong.
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            raise ConfigError(
                f"{where}{key_path}: expected {_names(expected)}, got {_type_name(value)} {_short(value)}",
            )


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _names(types: Types) -> str:
    names = {
        str: "a string",
        bool: "true/false",
        int: "an integer",
        dict: "an object",
        list: "a list",
        type(None): "null",
    }
    return " or ".join(names.get(t, t.__name__) for t in types)


def _type_name(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
    }.get(type(value), "null" if value is None else type(value).__name__)
