"""``--opts key.path=value`` overrides.

Grammar: ``KEY.PATH=VALUE``, split at the first ``=``. Path parts are separated by ``.``; node names
such as ``process:Split`` are ordinary parts, and a part that is an integer indexes a list. The value
is parsed as JSON (numbers, ``true``/``false``/``null``, lists, objects); the Python spellings
``True``/``False``/``None`` are accepted; a list or object may also be written in jsonnet's syntax
(``[{name: "f1"}]``), read as data only; anything else is kept as a string. Nothing is ever
evaluated as code: ``max``, ``3/4`` and ``__import__('os')`` stay strings.

>>> parse_override("train.batch_size=64")
(['train', 'batch_size'], 64)
>>> parse_override("test_suffix=ep=4;beam=4")
(['test_suffix'], 'ep=4;beam=4')

An integer part one past the end of a list appends to it, also in the middle of a path:

>>> data = {"eval": {"metrics": [{"name": "accuracy"}]}}
>>> _ = apply_overrides(data, ["eval.metrics.1.name=f1"])
>>> data["eval"]["metrics"]
[{'name': 'accuracy'}, {'name': 'f1'}]
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from runway_for_ml.errors import ConfigError

__all__ = ["Override", "apply_override", "apply_overrides", "parse_override", "parse_value"]

_PY_LITERALS = {"True": True, "False": False, "None": None}
_MISSING = object()


@dataclass(frozen=True)
class Override:
    """One applied override: where, what, what was there before, and where it came from."""

    path: str
    value: Any
    previous: Any = None
    existed: bool = True
    source: str = "opts"

    def describe(self) -> str:
        before = json.dumps(self.previous) if self.existed else "<unset>"
        return f"{self.path}: {before} -> {json.dumps(self.value)} ({self.source})"


def parse_value(text: str) -> Any:
    """Parse an override value: JSON first, then Python's True/False/None, then a jsonnet literal, else the string.

    A list or object may be written as in the config files (jsonnet: unquoted keys, single quotes,
    trailing commas): ``[{name: "f1"}]`` is the same as ``[{"name": "f1"}]``. It is evaluated by jsonnet
    with imports refused and no external variables, so it can only be data.

    >>> parse_value('[{name: "f1", kwargs: {average: "macro"}},]')
    [{'kwargs': {'average': 'macro'}, 'name': 'f1'}]
    >>> parse_value("[max]")
    '[max]'
    """
    if text in _PY_LITERALS:
        return _PY_LITERALS[text]
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    if text.lstrip()[:1] in ("[", "{"):
        literal = _jsonnet_literal(text)
        if literal is not _MISSING:
            return literal
    return text


def _jsonnet_literal(text: str) -> Any:
    """``text`` evaluated as a jsonnet expression with imports refused; ``_MISSING`` when it is not one."""
    import _jsonnet  # the C extension of the `jsonnet` package (light)

    def refuse_imports(_base: str, rel: str) -> tuple[str, bytes]:
        raise RuntimeError(f"imports are not allowed in --opts values ({rel})")

    try:
        return json.loads(_jsonnet.evaluate_snippet("--opts value", text, import_callback=refuse_imports))
    except (RuntimeError, ValueError):
        return _MISSING


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split ``a.b.c=value`` into its path parts and parsed value."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(
            f"malformed --opts item {item!r}: expected KEY.PATH=VALUE",
            hint='for example --opts train.batch_size=64 \'eval.metrics=[{"name":"f1"}]\'',
        )
    parts = key.strip().split(".")
    if any(not p for p in parts):
        raise ConfigError(f"malformed --opts item {item!r}: empty part in key path {key!r}", hint="use a.b.c=value")
    return parts, parse_value(raw)


def apply_override(data: dict, parts: list[str], value: Any, *, source: str = "opts") -> Override:
    """Set ``value`` at ``parts`` inside ``data`` (in place), creating missing intermediate dicts."""
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        node = _child(node, part, parts[: depth + 1], create=True)
    last = parts[-1]
    path = ".".join(parts)
    if isinstance(node, list):
        index = _index(node, last, path, allow_append=True)
        previous = node[index] if index < len(node) else _MISSING
        if index == len(node):
            node.append(value)
        else:
            node[index] = value
    elif isinstance(node, dict):
        previous = node.get(last, _MISSING)
        node[last] = copy.deepcopy(value)
    else:
        raise ConfigError(
            f"--opts {path}: cannot set '{last}' inside {'.'.join(parts[:-1])}, which is a {type(node).__name__}, not an object"
        )
    existed = previous is not _MISSING
    return Override(path, value, previous if existed else None, existed, source)


def apply_overrides(data: dict, items: list[str] | tuple[str, ...], *, source: str = "opts") -> list[Override]:
    """Parse and apply every ``KEY.PATH=VALUE`` item in order; returns what was applied."""
    applied = []
    for item in items:
        parts, value = parse_override(item)
        applied.append(apply_override(data, parts, value, source=source))
    return applied


def _child(node: Any, part: str, parts: list[str], *, create: bool) -> Any:
    path = ".".join(parts)
    if isinstance(node, dict):
        if part not in node or node[part] is None:
            node[part] = {}
        return node[part]
    if isinstance(node, list):
        # One past the end appends a new object, so `eval.metrics.3.name=f1` on a 3-item list adds a step.
        index = _index(node, part, path, allow_append=create)
        if index == len(node):
            node.append({})
        elif node[index] is None:
            node[index] = {}
        return node[index]
    raise ConfigError(f"--opts {path}: cannot descend into a {type(node).__name__}")


def _index(node: list, part: str, path: str, *, allow_append: bool) -> int:
    try:
        index = int(part)
    except ValueError:
        raise ConfigError(f"--opts {path}: '{part}' indexes a list, so it must be an integer") from None
    size = len(node)
    if index < 0:
        index += size
    if not 0 <= index < size + (1 if allow_append else 0):
        last = f"{size}" if allow_append else f"{size - 1}"
        raise ConfigError(
            f"--opts {path}: index {part} is out of range for a list of {size} items",
            hint=f"valid indexes: -{size} to {last}" + (f" ({size} appends an item)" if allow_append else ""),
        )
    return index
