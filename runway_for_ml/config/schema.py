"""Validation of a resolved config against the typed sections of :mod:`runway_for_ml.config.models`.

:func:`validate_config` builds the typed config (:class:`RunwayConfig`, one attribute per section) or
raises a :class:`~runway_for_ml.errors.ConfigError` naming the key path: an unknown key gets a
did-you-mean and the list of valid keys (``errors.check_keys``), a wrong type or value the expected
type and range, read from the section's JSON Schema (the same text as ``docs/config-reference.md``).
``user`` and the pass-through sub-sections (``setup_kwargs``, ``executor.init_kwargs``,
``executor.model_config``, ``train.trainer_paras``, ...) stay free-form.

>>> validate_config({"train": {"data_node": "output:X", "batch_size": 64}}).train.val_batch_size
64
>>> validate_config({"train": {"batch_size": 0}})
Traceback (most recent call last):
...
runway_for_ml.errors.ConfigError: train.batch_size: expected an integer >= 1, found 0
  hint: fix it in the config or with --opts train.batch_size=...
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, create_model, model_validator

from runway_for_ml.config.migrate import original_config_hint
from runway_for_ml.config.models import SECTION_MODELS, SECTIONS, NodeSection
from runway_for_ml.errors import ConfigError, check_keys, did_you_mean

__all__ = [
    "SECTIONS",
    "RunwayConfig",
    "check_section",
    "config_json_schema",
    "root_model",
    "typed_config",
    "validate_config",
]

_USER_HINT = "put settings of your own code under 'user: {...}'"
_MISSING = object()


class RunwayConfig(BaseModel):
    """The typed config: one attribute per section (``cfg.train.batch_size``), defaults filled in."""

    model_config = {"extra": "forbid", "strict": True}

    @model_validator(mode="after")
    def _cross_section_defaults(self) -> RunwayConfig:
        train, test = getattr(self, "train", None), getattr(self, "test", None)
        if train is not None and getattr(train, "val_batch_size", 0) is None:
            train.val_batch_size = train.batch_size
        if train is not None and test is not None and getattr(test, "batch_size", 0) is None:
            test.batch_size = train.batch_size
        return self


def root_model() -> type[RunwayConfig]:
    """The model of the whole config, built from :data:`~runway_for_ml.config.models.SECTION_MODELS`."""
    return _root_model(tuple(SECTION_MODELS.items()))


@lru_cache(maxsize=8)
def _root_model(sections: tuple[tuple[str, type[BaseModel]], ...]) -> type[RunwayConfig]:
    fields: dict[str, Any] = {}
    for name, model in sections:
        doc = (model.__doc__ or "").strip().split("\n")[0] or None
        if all(not field.is_required() for field in model.model_fields.values()):
            fields[name] = (model, Field(default_factory=model, description=doc))
        else:  # a section with required keys is absent (None) unless the config has it
            fields[name] = (model | None, Field(None, description=doc))
    fields["user"] = (dict[str, Any], Field({}, description="free-form settings of your own code"))
    fields["description"] = (str | None, Field(None, description="free text describing the config"))
    fields["schema_"] = (
        str | None,
        Field(None, alias="$schema", description="the JSON Schema a .json config follows, for editors (ignored)"),
    )
    return create_model("RunwayConfig", __base__=RunwayConfig, **fields)


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of the whole config (``runway config --schema``)."""
    schema = root_model().model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "runway_for_ml config"
    return schema


# ----------------------------------------------------------------------------- validation


def validate_config(data: Any, source: Path | str | None = None) -> RunwayConfig:
    """The typed config of a resolved config dict; a ConfigError naming the key path at the first problem."""
    where = f"{source}: " if source else ""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}the config must evaluate to an object, got {_type_name(data)}")
    migrate_hint = original_config_hint(data, source)
    hints = {"": migrate_hint or _USER_HINT, "meta": migrate_hint}
    model = root_model()
    _check_unknown_keys(data, model, "", where, hints)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, data, "", where) from None


def typed_config(data: Any) -> RunwayConfig:
    """:func:`validate_config` of a config that may be a :class:`ResolvedConfig` or a plain dict."""
    typed = getattr(data, "typed", None)
    if isinstance(typed, RunwayConfig):
        return typed
    return validate_config(getattr(data, "data", data))


def check_section(
    section: Any, name: str, *, path: str | None = None, where: str = "", hint: str | None = None
) -> BaseModel:
    """Validate one section (``"train"``, ``"meta"``, ``"data_pipeline.transforms.*"``, ...) and return its model.

    >>> check_section({"batch_size": 32, "data_node": "output:X"}, "train").batch_size
    32
    >>> check_section({"batch_size": True}, "train")
    Traceback (most recent call last):
    ...
    runway_for_ml.errors.ConfigError: train.batch_size: expected an integer >= 1, found true
      hint: fix it in the config or with --opts train.batch_size=...
    """
    model = NodeSection if name == "data_pipeline.transforms.*" else SECTION_MODELS[name]
    path = name if path is None else path
    if not isinstance(section, dict):
        raise ConfigError(f"{where}{path}: expected an object, got {_type_name(section)}")
    _check_unknown_keys(section, model, path, where, {path: hint})
    try:
        return model.model_validate(section)
    except ValidationError as exc:
        raise _config_error(exc, section, path, where, model) from None


def _check_unknown_keys(data: Any, model: type[BaseModel], path: str, where: str, hints: Mapping[str, Any]) -> None:
    """Unknown keys of every closed (``extra="forbid"``) section, with did-you-mean, before types are checked."""
    if not isinstance(data, dict):
        return
    fields = {field.alias or name: field for name, field in model.model_fields.items()}
    if model.model_config.get("extra") == "forbid":
        check_keys(data, fields, path, where=where, hint=hints.get(path))
    for key, field in fields.items():
        value = data.get(key)
        if not isinstance(value, dict):
            continue
        child = f"{path}.{key}" if path else key
        for kind, sub in _models_in(field.annotation):
            if kind == "one":
                _check_unknown_keys(value, sub, child, where, hints)
            else:
                for name, item in value.items():
                    _check_unknown_keys(item, sub, f"{child}.{name}", where, hints)


def _models_in(annotation: Any) -> list[tuple[str, type[BaseModel]]]:
    """The models a field holds: ``("one", M)`` for ``M`` / ``M | None``, ``("each", M)`` for ``dict[str, M]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [("one", annotation)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    if origin is dict:
        value = typing.get_args(annotation)[1]
        return [("each", m) for kind, m in _models_in(value) if kind == "one"]
    return []


def _config_error(
    exc: ValidationError, data: Any, path: str, where: str, model: type[BaseModel] | None = None
) -> ConfigError:
    """The first problem of ``exc`` as runway's one-line message: key path, expected type/range, value found."""
    # The deepest problem is the most precise one: for a union (``str | list[str]``) each member
    # reports the same value; the member that got furthest into it names the element at fault.
    located = [(error, *_data_path(data, error["loc"])) for error in exc.errors(include_url=False)]
    error, parts, value = max(located, key=lambda item: len(item[1]))
    key_path = _join(path, parts)
    schema = (model or root_model()).model_json_schema(by_alias=True)
    if error["type"] == "missing":
        node = _schema_at(schema, [*parts, error["loc"][-1]])
        doc = node.get("description") if node else None
        return ConfigError(f"{where}{key_path or 'the config'}: missing '{error['loc'][-1]}'", hint=doc)
    node = _schema_at(schema, parts)
    if node is not None and ("enum" in node or "const" in node) and isinstance(value, str):
        choices = [str(c) for c in node.get("enum", [node.get("const")])]
        return ConfigError(
            f"{where}{key_path}: unknown value {value!r}{did_you_mean(value, choices)}",
            hint=f"valid values: {', '.join(choices)}",
        )
    expected = describe(node, schema) if node is not None else error["msg"].lower()
    return ConfigError(
        f"{where}{key_path}: expected {expected}, found {_short(value)}",
        hint=f"fix it in the config or with --opts {_join(path, [p for p in parts if not isinstance(p, int)])}=...",
    )


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[list[Any], Any]:
    """The part of pydantic's ``loc`` that is a path in ``data`` (union member tags dropped) and the value there."""
    parts: list[Any] = []
    node = data
    for item in loc:
        in_dict = isinstance(node, dict) and item in node
        if in_dict or (isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node)):
            node = node[item]
            parts.append(item)
    return parts, node


def _join(path: str, parts: list[Any]) -> str:
    out = path
    for part in parts:
        out = f"{out}[{part}]" if isinstance(part, int) else (f"{out}.{part}" if out else str(part))
    return out


# ----------------------------------------------------------------------------- schema text


def resolve_ref(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = root["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _schema_at(root: dict[str, Any], parts: list[Any]) -> dict[str, Any] | None:
    """The JSON Schema of the value at ``parts`` (keys and list indices) of a config."""
    node: dict[str, Any] | None = root
    for part in parts:
        node = _step(resolve_ref(node, root), part, root) if node is not None else None
    return node


def _step(node: dict[str, Any], part: Any, root: dict[str, Any]) -> dict[str, Any] | None:
    if isinstance(part, str) and part in node.get("properties", {}):
        return node["properties"][part]
    if isinstance(part, int) and isinstance(node.get("items"), dict):
        return node["items"]
    if isinstance(part, str) and isinstance(node.get("additionalProperties"), dict):
        return node["additionalProperties"]
    for member in node.get("anyOf", []):
        found = _step(resolve_ref(member, root), part, root)
        if found is not None:
            return found
    return None


def describe(node: dict[str, Any] | None, root: dict[str, Any]) -> str:
    """Words for what a schema accepts: ``an integer >= 1 or null``, ``a number between 0 and 1``, ..."""
    if not node:
        return "anything"
    if "x-expected" in node:
        return node["x-expected"]
    node = resolve_ref(node, root)
    if "anyOf" in node:
        members = [resolve_ref(m, root) for m in node["anyOf"]]
        numbers = {_bounds(m) for m in members if m.get("type") == "number"}
        # An integer with the same range as a number adds nothing ("a number >= 0" covers both).
        kept = [m for m in members if not (m.get("type") == "integer" and _bounds(m) in numbers)]
        words: list[str] = []
        for member in kept:
            text = describe(member, root)
            if text not in words:
                words.append(text)
        return " or ".join(words)
    if "enum" in node or "const" in node:
        return "one of " + ", ".join(json.dumps(c) for c in node.get("enum", [node.get("const")]))
    kind = node.get("type")
    base = {
        "integer": "an integer",
        "number": "a number",
        "string": "a string",
        "boolean": "true/false",
        "object": "an object",
        "array": "a list",
        "null": "null",
    }.get(kind, "anything")
    low, high, exclusive = _bounds(node)
    if low is not None and high is not None:
        return f"{base} between {_num(low)} and {_num(high)}"
    if low is not None:
        return f"{base} {'>' if exclusive else '>='} {_num(low)}"
    if high is not None:
        return f"{base} <= {_num(high)}"
    if kind == "string" and node.get("minLength"):
        return "a non-empty string"
    items = resolve_ref(node.get("items") or {}, root).get("type")
    if kind == "array" and items in _PLURALS:
        return f"a list of {_PLURALS[items]}"
    return base


_PLURALS = {"string": "strings", "integer": "integers", "number": "numbers", "object": "objects"}


def _bounds(node: dict[str, Any]) -> tuple[Any, Any, bool]:
    if "exclusiveMinimum" in node:
        return node["exclusiveMinimum"], node.get("maximum"), True
    return node.get("minimum"), node.get("maximum"), False


def _num(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _type_name(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
    }.get(type(value), "null" if value is None else type(value).__name__)
