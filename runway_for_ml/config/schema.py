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

from runway_for_ml.errors import ConfigError, check_choice, check_keys

__all__ = ["NODE_KEYS", "SECTIONS", "TOP_LEVEL", "check_section", "validate_config"]

Types = tuple[type, ...]
_STR: Types = (str,)
_BOOL: Types = (bool,)
_INT: Types = (int,)
_DICT: Types = (dict,)
_LIST: Types = (list,)
_NONE: Types = (type(None),)

#: The one table of the framework's config sections: section path -> key -> accepted types.
#: ``""`` is the top level and ``data_pipeline.transforms.*`` each pipeline node. The config loader
#: checks ``""``, ``meta``, ``data_pipeline`` and the nodes; the experiment stage checks ``executor``,
#: ``train``, ``test`` and ``eval`` (:mod:`runway_for_ml.experiment.sections`) before it does any work.
SECTIONS: dict[str, dict[str, Types]] = {
    "": {
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
    },
    "meta": {
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
    },
    "data_pipeline": {
        "name": _STR,
        "description": _STR,
        "regenerate": _BOOL,
        "transforms": _DICT,
    },
    "data_pipeline.transforms.*": {
        "transform_name": _STR,
        "setup_kwargs": _DICT + _NONE,
        "input_node": _STR + _LIST + _NONE,
        "regenerate": _BOOL,
        "cache": _BOOL,
        "inspect": _BOOL,
        "description": _STR,
    },
    "executor": {"ExecutorClass": _STR, "init_kwargs": _DICT + _NONE, "model_config": _DICT + _NONE},
    "train": {
        "data_node": _STR,
        "splits": _DICT,
        "batch_size": _INT,
        "dataloader_workers": _INT,
        "torch_num_threads": _INT + _NONE,
        "trainer_paras": _DICT,
        "optimizer_config": _DICT,
        "model_checkpoint_callback_paras": _DICT + _NONE,
        "early_stopping": _DICT + _BOOL + _NONE,
        # LoRA adapters (executors/lora.py); use_lora + lora_config is the original runway's form.
        "lora": _DICT + _BOOL + _NONE,
        "use_lora": _BOOL,
        "lora_config": _DICT + _NONE,
    },
    "test": {
        "data_node": _STR,
        "splits": _DICT,
        "split": _STR,
        "batch_size": _INT,
        "checkpoint": _STR,
        # model.generate arguments of the text-generating executors; merge LoRA adapters for inference.
        "generation_kwargs": _DICT + _NONE,
        "merge_lora": _BOOL,
    },
    "eval": {"metrics": _LIST, "key_metric": _STR + _NONE},
}
# Names kept for code that reads a single section's spec.
TOP_LEVEL = SECTIONS[""]
META_KEYS = SECTIONS["meta"]
PIPELINE_KEYS = SECTIONS["data_pipeline"]
NODE_KEYS = SECTIONS["data_pipeline.transforms.*"]

_LAUNCHERS = ("local", "slurm")


def validate_config(data: Any, source: Path | str | None = None) -> None:
    """Check the framework's sections of a resolved config; raise ConfigError at the first problem."""
    where = f"{source}: " if source else ""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}the config must evaluate to an object, got {_type_name(data)}")
    from runway_for_ml.config.migrate import original_config_hint  # migrate imports this module

    migrate_hint = original_config_hint(data, source)
    check_section(data, "", where=where, hint=migrate_hint or "put settings of your own code under 'user: {...}'")
    meta = data.get("meta") or {}
    check_section(meta, "meta", where=where, hint=migrate_hint)
    if "logger_enable" in meta and not all(isinstance(x, str) for x in meta["logger_enable"]):
        raise ConfigError(f"{where}meta.logger_enable: expected a list of logger names, got {meta['logger_enable']!r}")
    if "user_modules" in meta and not all(isinstance(x, str) for x in meta["user_modules"]):
        raise ConfigError(f"{where}meta.user_modules: expected a list of module names, got {meta['user_modules']!r}")
    check_choice(meta.get("launcher", "local"), _LAUNCHERS, "meta.launcher", what="launcher", where=where)
    pipeline = data.get("data_pipeline")
    if pipeline is None:
        return
    check_section(pipeline, "data_pipeline", where=where)
    for node, spec in (pipeline.get("transforms") or {}).items():
        path = f"data_pipeline.transforms.{node}"
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}{path}: a node must be an object with transform_name, got {_type_name(spec)}")
        check_section(spec, "data_pipeline.transforms.*", path=path, where=where)
        if "transform_name" not in spec:
            raise ConfigError(
                f"{where}{path}: missing 'transform_name'", hint="name a registered transform or a dotted path"
            )
        inputs = spec.get("input_node")
        if isinstance(inputs, list) and not all(isinstance(x, str) for x in inputs):
            raise ConfigError(f"{where}{path}.input_node: expected node names, got {inputs!r}")


def check_section(
    section: Any, name: str, *, path: str | None = None, where: str = "", hint: str | None = None
) -> None:
    """Check the keys and value types of one section against ``SECTIONS[name]``.

    ``path`` is the section's key path in messages (default: ``name``), ``where`` a prefix such as
    the config file.

    >>> check_section({"batch_size": 32, "data_node": "output:X"}, "train")
    >>> check_section({"batch_size": True}, "train")
    Traceback (most recent call last):
    ...
    runway_for_ml.errors.ConfigError: train.batch_size: expected an integer, got a boolean true
    """
    spec = SECTIONS[name]
    path = name if path is None else path
    if not isinstance(section, dict):
        raise ConfigError(f"{where}{path or 'the config'}: expected an object, got {_type_name(section)}")
    check_keys(section, spec, path, where=where, hint=hint)
    for key, value in section.items():
        expected = spec[key]
        # bool is an int in Python; a seed of `true` is still wrong.
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            key_path = f"{path}.{key}" if path else key
            raise ConfigError(
                f"{where}{key_path}: expected {_names(expected)}, got {_type_name(value)} {_short(value)}"
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
