"""Content-addressed keys of pipeline nodes.

The key of a node is the SHA-256 of the canonical JSON of its *components*:

- ``transform``: the transform class's qualified name ``<module>.<qualname>``,
- ``version``: the class's ``VERSION`` attribute if set, else a hash of its source code (and of the
  user-defined base classes between it and the framework's ``BaseTransform``),
- ``setup_kwargs``: the node's kwargs, top-level keys starting with ``_`` left out,
- ``input_keys``: the keys of its input nodes, in declared order.

Because an input's key is part of a node's key, a change anywhere upstream changes every key
downstream of it, and nothing else. Python's salted ``hash()`` is never used: keys are the same in
every process and on every machine.

>>> components = node_key_components(dict, "dict", {"test_size": 0.2, "_note": "ignored"}, [])
>>> components["setup_kwargs"]
{'test_size': 0.2}
>>> len(node_key(components))
64
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import hashlib
import inspect
import json
import logging
import weakref
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from runway_for_ml.pipeline import code_walk
from runway_for_ml.pipeline.code_libraries import distribution_version, distributions_by_package  # noqa: F401
from runway_for_ml.pipeline.code_walk import code_fingerprint, versioned_classes  # noqa: F401  (re-exported)

__all__ = [
    "canonical_json",
    "clear_cache",
    "code_fingerprint",
    "explain_change",
    "explain_extra",
    "fingerprint_extra",
    "mapping_changes",
    "node_key",
    "node_key_components",
    "transform_version",
]

log = logging.getLogger(__name__)

_CORE_COMPONENTS = frozenset({"transform", "version", "setup_kwargs", "input_keys"})

_version_cache: weakref.WeakKeyDictionary[type, str] = weakref.WeakKeyDictionary()


def canonical_json(value: Any) -> str:
    """Serialise ``value`` deterministically: sorted keys, no whitespace, ASCII only.

    Values JSON does not know are converted to a stable form (paths and enums to strings, sets to
    sorted lists, classes and functions to their qualified names).

    >>> canonical_json({"b": 1, "a": (1, 2)})
    '{"a":[1,2],"b":1}'
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_json_default)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return f"{type(obj).__qualname__}.{obj.name}"
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=canonical_json)
    if isinstance(obj, bytes):
        return obj.hex()
    if isinstance(obj, type) or inspect.isroutine(obj):
        return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {"__dataclass__": type(obj).__qualname__, **dataclasses.asdict(obj)}
    item = getattr(obj, "item", None)  # numpy / torch scalars
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    tolist = getattr(obj, "tolist", None)  # numpy arrays
    if callable(tolist):
        return tolist()
    text = repr(obj)
    if " at 0x" in text:
        # A default repr contains a memory address: the key would differ on every run.
        log.warning("setup_kwargs value %s has no stable representation; its node will never hit the cache", text)
    return {"__repr__": text}


def transform_version(cls: type) -> str:
    """Return the version of a transform class: ``str(cls.VERSION)`` if set, else a hash of its code.

    The hash is that of :func:`code_fingerprint`: the project code the class can reach (its source,
    its project base classes, the project functions, classes and constants it uses, transitively)
    and the versions of the libraries it uses. ``VERSION`` overrides all of it.

    >>> class Tokenize:
    ...     VERSION = 3
    >>> transform_version(Tokenize)
    '3'
    """
    explicit = getattr(cls, "VERSION", None)
    if explicit is not None:
        return str(explicit)
    try:
        return _version_cache[cls]
    except (KeyError, TypeError):
        pass
    version = hashlib.sha256(canonical_json(code_fingerprint(cls)).encode("ascii")).hexdigest()
    with contextlib.suppress(TypeError):
        _version_cache[cls] = version
    return version


def clear_cache() -> None:
    """Forget memoised code fingerprints, parsed modules and library versions.

    Keys are memoised per process (the code of a loaded class does not change under it). Call this
    in a long-lived process (a notebook) after reloading edited modules or upgrading a package.
    """
    _version_cache.clear()
    code_walk.clear_cache()


def mapping_changes(old: Mapping, new: Mapping) -> list[tuple[str, str]]:
    """``(name, "added" | "removed" | "changed")`` for each key whose value differs, sorted by name.

    >>> mapping_changes({"a": 1, "b": 2, "c": 3}, {"b": 2, "c": 4, "d": 5})
    [('a', 'removed'), ('c', 'changed'), ('d', 'added')]
    """
    changes = []
    for name in sorted(set(old) | set(new)):
        if name not in old:
            changes.append((name, "added"))
        elif name not in new:
            changes.append((name, "removed"))
        elif old[name] != new[name]:
            changes.append((name, "changed"))
    return changes


def node_key_components(transform_cls: type, transform_name: str, setup_kwargs: dict, input_keys: list[str]) -> dict:
    """Collect what a node's key is made of.

    ``transform_name`` is the name the config used (a registered name or a dotted path); the key uses
    the class's qualified name so that both spellings of one class share their cache entries.

    >>> node_key_components(dict, "dict", {"k": 1, "_tmp": 2}, ["ab12"])["input_keys"]
    ['ab12']
    """
    del transform_name  # the resolved class, not the spelling in the config, identifies the transform
    kwargs = {k: v for k, v in (setup_kwargs or {}).items() if not str(k).startswith("_")}
    # Round-trip through canonical JSON so the components (stored in meta.json) compare equal to
    # what a later run computes, e.g. tuples become lists.
    kwargs = json.loads(canonical_json(kwargs))
    components = {
        "transform": f"{transform_cls.__module__}.{transform_cls.__qualname__}",
        "version": transform_version(transform_cls),
        "setup_kwargs": kwargs,
        "input_keys": list(input_keys),
    }
    if getattr(transform_cls, "VERSION", None) is None:
        # Per-object digests, so that `runway dag` can name what changed (VERSION overrides them).
        code = code_fingerprint(transform_cls)
        components["code"] = {"objects": dict(code["objects"]), "libraries": dict(code["libraries"])}
    return components


def node_key(components: dict) -> str:
    """Hex SHA-256 of the canonical JSON of ``components``.

    >>> node_key({"a": 1}) == node_key({"a": 1})
    True
    """
    return hashlib.sha256(canonical_json(components).encode("ascii")).hexdigest()


def fingerprint_extra(transform_cls: type, setup_kwargs: dict) -> Any:
    """Extra key material a transform contributes: its classmethod ``fingerprint_extra(setup_kwargs)``.

    The hook returns anything JSON-like (best: a dict of named parts, such as file content hashes or
    a checkpoint's hash) or None (no extra part). The value is round-tripped through canonical JSON
    so that it compares equal to the copy stored in an entry's ``meta.json``.

    >>> class Load:
    ...     @classmethod
    ...     def fingerprint_extra(cls, setup_kwargs):
    ...         return {"vocab.txt": ("sha256", "ab12")}
    >>> fingerprint_extra(Load, {})
    {'vocab.txt': ['sha256', 'ab12']}
    """
    hook = getattr(transform_cls, "fingerprint_extra", None)
    if not callable(hook):
        return None
    value = hook(dict(setup_kwargs or {}))
    return None if value is None else json.loads(canonical_json(value))


def explain_extra(transform_cls: type | None, old: Any, new: Any) -> list[str]:
    """Reasons for a change of the ``extra`` component (None when a side has no extra part).

    A transform may explain its own extra material with a classmethod
    ``explain_fingerprint_extra(old_extra, new_extra) -> list[str]`` (e.g. ``["checkpoint of
    digits_V0 changed"]``). Otherwise, or when that returns nothing, dict extras name their changed
    top-level keys and any other value gives one generic line.

    >>> explain_extra(None, {"a.csv": 1, "b.csv": 2}, {"a.csv": 1, "b.csv": 3, "c.csv": 4})
    ["extra 'b.csv' changed", "extra 'c.csv' added"]
    """
    if _same_or_both_none(old, new):
        return []
    hook = getattr(transform_cls, "explain_fingerprint_extra", None) if transform_cls is not None else None
    if callable(hook):
        try:
            custom = hook(old, new)
        except Exception as exc:  # an explanation must never break planning
            log.warning(
                "%s.explain_fingerprint_extra failed (%s: %s); showing the changed keys instead",
                getattr(transform_cls, "__qualname__", transform_cls),
                type(exc).__name__,
                exc,
            )
            custom = None
        if isinstance(custom, str):
            custom = [custom]
        if custom:
            return [str(reason) for reason in custom]
    if isinstance(old, (dict, type(None))) and isinstance(new, (dict, type(None))):
        old, new = old or {}, new or {}
        reasons = []
        for key in sorted(set(old) | set(new), key=str):
            if key not in old:
                reasons.append(f"extra '{key}' added")
            elif key not in new:
                reasons.append(f"extra '{key}' removed")
            elif not _same(old[key], new[key]):
                reasons.append(f"extra '{key}' changed")
        if reasons:
            return reasons
    short = getattr(transform_cls, "__name__", "the transform")
    if old is None:
        return [f"extra key material of {short} added"]
    if new is None:
        return [f"extra key material of {short} removed"]
    return [f"extra key material of {short} changed"]


def _same_or_both_none(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return canonical_json(a) == canonical_json(b)


def explain_change(
    previous_meta: dict, components: dict, input_nodes: list[str], transform_cls: type | None = None
) -> list[str]:
    """Say in words why ``components`` differ from those of the newest entry of the same node.

    ``previous_meta`` is that entry's ``meta.json`` (its ``components`` are compared); ``input_nodes``
    names the node's inputs in the order of ``components["input_keys"]``; ``transform_cls`` (when
    given) may explain a change of its ``extra`` part (see :func:`explain_extra`). Returns an empty
    list when nothing differs.

    >>> old = {"components": {"transform": "m.Split", "version": "1", "setup_kwargs": {"test_size": 0.2},
    ...        "input_keys": ["k1"]}}
    >>> new = dict(old["components"], setup_kwargs={"test_size": 0.3})
    >>> explain_change(old, new, ["input:Load"])
    ['setup_kwargs.test_size: 0.2 -> 0.3']
    """
    previous = previous_meta.get("components") or {
        k: previous_meta.get(k) for k in ("transform", "version", "setup_kwargs", "input_keys")
    }
    reasons: list[str] = []
    old_transform, new_transform = previous.get("transform"), components.get("transform")
    if old_transform != new_transform:
        reasons.append(f"transform changed {old_transform} -> {new_transform}")
    elif previous.get("version") != components.get("version"):
        short = str(new_transform).rsplit(".", 1)[-1]
        old_v, new_v = str(previous.get("version")), str(components.get("version"))
        code_reasons = _diff_code(previous.get("code"), components.get("code"))
        if code_reasons and _looks_like_code_hash(old_v) and _looks_like_code_hash(new_v):
            reasons.extend(code_reasons)
        elif _looks_like_code_hash(old_v) and _looks_like_code_hash(new_v):
            reasons.append(f"code of {short} changed")
        else:
            reasons.append(f"version of {short} changed {_short_version(old_v)} -> {_short_version(new_v)}")
    reasons.extend(
        _diff_values("setup_kwargs", previous.get("setup_kwargs") or {}, components.get("setup_kwargs") or {})
    )
    reasons.extend(
        _diff_inputs(list(previous.get("input_keys") or []), list(components.get("input_keys") or []), input_nodes)
    )
    reasons.extend(explain_extra(transform_cls, previous.get("extra"), components.get("extra")))
    # Other parts a caller added to the components (e.g. the runner's dummy_rows).
    for name in sorted((set(previous) | set(components)) - _CORE_COMPONENTS - {"extra", "code"}, key=str):
        reasons.extend(_diff_values(name, previous.get(name, _ABSENT), components.get(name, _ABSENT)))
    return reasons


def _diff_code(old: Any, new: Any) -> list[str]:
    """Name the project objects and libraries whose digests or versions differ between two ``code`` parts.

    >>> _diff_code({"objects": {"m.clean": "aa", "m.T": "bb"}, "libraries": {"datasets": "3.0"}},
    ...            {"objects": {"m.clean": "cc", "m.T": "bb"}, "libraries": {"datasets": "4.0"}})
    ['code changed: m.clean', 'library changed: datasets 3.0 -> 4.0']
    """
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return []
    old_objects, new_objects = old.get("objects") or {}, new.get("objects") or {}
    reasons = [f"code {what}: {name}" for name, what in mapping_changes(old_objects, new_objects)]
    old_libs, new_libs = old.get("libraries") or {}, new.get("libraries") or {}
    for name, what in mapping_changes(old_libs, new_libs):
        if what == "added":
            reasons.append(f"library added: {name} {new_libs[name]}")
        elif what == "removed":
            reasons.append(f"library removed: {name} {old_libs[name]}")
        else:
            reasons.append(f"library changed: {name} {old_libs[name]} -> {new_libs[name]}")
    return reasons


def _looks_like_code_hash(version: str) -> bool:
    return len(version) == 64 and all(c in "0123456789abcdef" for c in version)


def _short_version(version: str) -> str:
    return f"code {version[:8]}" if _looks_like_code_hash(version) else repr(version)


_ABSENT = object()


def _diff_values(path: str, old: Any, new: Any) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new), key=str):
            out.extend(_diff_values(f"{path}.{key}", old.get(key, _ABSENT), new.get(key, _ABSENT)))
        return out
    if _same(old, new):
        return []
    return [f"{path}: {_show(old)} -> {_show(new)}"]


def _same(a: Any, b: Any) -> bool:
    return a is not _ABSENT and b is not _ABSENT and canonical_json(a) == canonical_json(b)


def _show(value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _diff_inputs(old: list[str], new: list[str], input_nodes: list[str]) -> list[str]:
    if old == new:
        return []
    if sorted(old) == sorted(new):
        return ["inputs reordered"]
    names = list(input_nodes) + [f"#{i}" for i in range(len(input_nodes), len(new))]
    if len(old) != len(new):
        reasons = [f"number of inputs changed {len(old)} -> {len(new)}"]
        reasons += [f"input '{names[i]}' changed" for i, key in enumerate(new) if key not in old]
        return reasons
    return [f"input '{names[i]}' changed" for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
