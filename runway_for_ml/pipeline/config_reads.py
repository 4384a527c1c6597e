"""What a transform reads from ``self.global_config``: recorded key paths with their values, writes refused.

The runner hands each transform a read-only *view* of the resolved config. Every value the transform
reads through it (``self.global_config.train.batch_size``, ``cfg["train"]["batch_size"]``,
``cfg.train.get("lr", 0.1)``, ``"x" in cfg.train``) is recorded as a dotted key path with its value;
reading a whole section (iterating it, ``dict(cfg.train)``, ``json.dumps``, ``==``) records the whole
section. The recorded reads become part of the node's identity (see ``pipeline.runner``): changing a
value the node read re-runs it, changing one it did not read does not.

Writing (``cfg.train.batch_size = 16``, ``cfg["x"] = 1``, ``update``, ``pop``, ``del``) raises
:class:`ConfigWriteError` (exit code 2) naming the node and the key.

>>> reads = ConfigReads({"train": {"batch_size": 8, "lr": 0.1}, "meta": {"seed": 1}}, "process:Tok")
>>> cfg = reads.view()
>>> cfg.train.batch_size, cfg["train"].get("epochs", 3)
(8, 3)
>>> reads.values
{'train.batch_size': 8, 'train.epochs': {'__absent__': True}}
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from runway_for_ml.errors import RunwayError
from runway_for_ml.pipeline.fingerprint import canonical_json

__all__ = ["ABSENT", "ConfigReads", "ConfigView", "ConfigWriteError", "current_values", "describe_read_changes"]

#: The recorded value of a key that was looked up but is not in the config.
ABSENT: dict = {"__absent__": True}
ROOT = "global_config"


class ConfigWriteError(RunwayError):
    """A transform tried to change ``global_config``."""


class ConfigReads:
    """The reads of one node's transform: ``values`` maps a dotted key path to the value read."""

    def __init__(self, config: Mapping[str, Any], node: str) -> None:
        self.config = config
        self.node = node
        self.values: dict[str, Any] = {}

    def view(self) -> ConfigView:
        return ConfigView(self.config, (), self)

    def record(self, parts: tuple[str, ...], value: Any) -> None:
        path = ".".join(parts)
        if path not in self.values:
            self.values[path] = ABSENT if value is _MISSING else json.loads(canonical_json(value))

    def refuse(self, parts: tuple[str, ...], action: str) -> None:
        where = ".".join((ROOT, *parts))
        raise ConfigWriteError(
            f"node '{self.node}' tried to {action} {where}: global_config is read-only inside a transform",
            hint="pass the value through the node's setup_kwargs, or keep it on self (e.g. self.batch_size = ...)",
        )


_MISSING = object()


class ConfigView(dict):
    """A read-only, read-recording view of a config mapping (attribute and item access, nested).

    It is a ``dict`` (``isinstance(cfg, dict)`` holds) whose items are the config's; nested mappings
    come back as views, lists as read-only lists.
    """

    __slots__ = ("_parts", "_reads")

    def __init__(self, data: Mapping[str, Any], parts: tuple[str, ...], reads: ConfigReads | None) -> None:
        dict.__init__(self, data)
        object.__setattr__(self, "_parts", parts)
        object.__setattr__(self, "_reads", reads)

    # -- reads of one key
    def _child(self, key: Any) -> Any:
        parts = (*self._parts, str(key))
        if not dict.__contains__(self, key):
            self._record(parts, _MISSING)
            raise KeyError(key)
        value = dict.__getitem__(self, key)
        if isinstance(value, Mapping):
            return ConfigView(value, parts, self._reads)  # recorded when its leaves are read
        self._record(parts, value)
        return _read_only(value, parts, self._reads)

    def _record(self, parts: tuple[str, ...], value: Any) -> None:
        if self._reads is not None:
            self._reads.record(parts, value)

    def _whole(self) -> dict:
        """Record this whole section as read; return a plain deep copy of it."""
        plain = json.loads(canonical_json(_raw(self)))
        self._record(self._parts, plain)
        return plain

    def __getitem__(self, key: Any) -> Any:
        return self._child(key)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._child(name)
        except KeyError:
            where = ".".join((ROOT, *self._parts))
            raise AttributeError(f"{where} has no key {name!r}") from None

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return self._child(key)
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        present = dict.__contains__(self, key)
        parts = (*self._parts, str(key))
        self._record(parts, dict.__getitem__(self, key) if present else _MISSING)
        return present

    # -- reads of the whole section
    def __iter__(self) -> Iterator[Any]:
        return iter(self._whole())

    def __len__(self) -> int:
        return len(self._whole())

    def keys(self) -> Any:
        return self._whole().keys()

    def values(self) -> Any:
        return [self._child(k) for k in self._whole()]

    def items(self) -> Any:
        return [(k, self._child(k)) for k in self._whole()]

    def copy(self) -> dict:
        return self._whole()

    def __eq__(self, other: object) -> bool:
        return self._whole() == (dict(other) if isinstance(other, Mapping) else other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._whole())

    def __or__(self, other: Any) -> dict:
        return {**self._whole(), **dict(other)}

    # Pickling (datasets hashes a .map function's closure, which may hold the transform) is not a read:
    # the copy is an untracked read-only view. Reads in worker processes are therefore not recorded.
    def __reduce__(self) -> Any:
        return (_untracked_view, (_raw(self), self._parts))

    def __copy__(self) -> ConfigView:
        return ConfigView(_raw(self), self._parts, self._reads)

    def __deepcopy__(self, memo: dict) -> ConfigView:
        return ConfigView(json.loads(canonical_json(_raw(self))), self._parts, self._reads)

    # -- writes
    def _refuse(self, key: Any, action: str) -> Any:
        reads = self._reads or ConfigReads({}, "?")
        reads.refuse((*self._parts, str(key)) if key is not None else self._parts, action)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._refuse(key, "set")

    def __setattr__(self, name: str, value: Any) -> None:
        self._refuse(name, "set")

    def __delitem__(self, key: Any) -> None:
        self._refuse(key, "delete")

    def __delattr__(self, name: str) -> None:
        self._refuse(name, "delete")

    def __ior__(self, other: Any) -> Any:
        self._refuse(None, "update")

    def update(self, *args: Any, **kwargs: Any) -> None:
        keys = list(dict(*args, **kwargs)) or [None]
        self._refuse(keys[0], "update")

    def pop(self, key: Any, *default: Any) -> Any:
        self._refuse(key, "pop")

    def popitem(self) -> Any:
        self._refuse(None, "pop an item of")

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._refuse(key, "setdefault")

    def clear(self) -> None:
        self._refuse(None, "clear")


def _raw(view: dict) -> dict:
    """The view's items as a plain dict, without recording a read."""
    return dict(dict.items(view))


def _untracked_view(data: dict, parts: tuple[str, ...]) -> ConfigView:
    return ConfigView(data, parts, None)


class _ReadOnlyList(list):
    """A list read from the config: changing it raises ConfigWriteError."""

    __slots__ = ("_parts", "_reads")

    def _refuse(self, *_args: Any, **_kwargs: Any) -> Any:
        (self._reads or ConfigReads({}, "?")).refuse(self._parts, "change the list")

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse

    def __reduce__(self) -> Any:
        return (list, (list(self),))

    def __deepcopy__(self, memo: dict) -> list:
        return json.loads(canonical_json(list(self)))


def _read_only(value: Any, parts: tuple[str, ...], reads: ConfigReads | None) -> Any:
    """A value read from the config, already recorded: lists (and what they hold) cannot be changed."""
    if isinstance(value, list):
        out = _ReadOnlyList(_read_only(v, parts, reads) for v in value)
        object.__setattr__(out, "_parts", parts)
        object.__setattr__(out, "_reads", reads)
        return out
    if isinstance(value, Mapping):
        return ConfigView(value, parts, None)  # inside a recorded list: already recorded whole
    return value


# ------------------------------------------------------------------ comparing reads with a config
def lookup(config: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` of ``config`` (keys may themselves contain dots), or ``ABSENT``.

    >>> lookup({"train": {"a.b": 1}}, "train.a.b"), lookup({}, "x")
    (1, {'__absent__': True})
    """
    if path == "":
        return json.loads(canonical_json(config))
    node: Any = config
    rest = path
    while rest:
        if not isinstance(node, Mapping):
            return ABSENT
        # The longest key that the rest of the path starts with (a key may contain dots).
        match = None
        for key in node:
            text = str(key)
            if (rest == text or rest.startswith(text + ".")) and (match is None or len(text) > len(str(match))):
                match = key
        if match is None:
            return ABSENT
        node = node[match]
        rest = rest[len(str(match)) + 1 :]
    return json.loads(canonical_json(node))


def current_values(config: Mapping[str, Any], paths: Any) -> dict[str, Any]:
    """``{path: value now}`` for the recorded ``paths``."""
    return {path: lookup(config, path) for path in sorted(paths)}


def describe_read_changes(old: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """``global_config.train.batch_size changed: 8 -> 16`` for each recorded read whose value differs now."""
    reasons = []
    for path, before in sorted(old.items()):
        now = lookup(config, path)
        if canonical_json(now) != canonical_json(before):
            where = ".".join(p for p in (ROOT, path) if p)
            reasons.append(f"{where} changed: {_show(before)} -> {_show(now)}")
    return reasons


def _show(value: Any) -> str:
    if value == ABSENT:
        return "(absent)"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
