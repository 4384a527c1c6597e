"""Named registries of user-extensible classes and functions.

One :class:`Registry` per kind (transforms, executors, metrics, loggers). Entries are registered by
decorator under their ``__name__`` (or an explicit name); a duplicate name is refused, naming both
modules. Lookups accept a registered name or a dotted import path ``pkg.module.Name``; an unknown name
answers with did-you-mean and a hint on how user modules are imported.

>>> TRANSFORMS = Registry("transform")
>>> @TRANSFORMS.register
... class Tokenize: ...
>>> TRANSFORMS.get("Tokenize") is Tokenize
True
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

from runway_for_ml.errors import RunwayError, did_you_mean

__all__ = ["Registry", "import_dotted"]

T = TypeVar("T")

_USER_MODULE_HINT = (
    "user code is imported from the project's data_processing/, executors/, modeling/ and metrics/ "
    "packages and from meta.user_modules; make sure the module defining it is imported there, "
    "or give a dotted path such as 'my_pkg.my_module.{name}'"
)


class Registry(Generic[T]):
    """A name -> object mapping for one kind of thing (e.g. ``"transform"``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    @overload
    def register(self, obj: T) -> T: ...
    @overload
    def register(self, obj: None = None, *, name: str | None = None) -> Callable[[T], T]: ...

    def register(self, obj: T | None = None, *, name: str | None = None) -> Any:
        """Register ``obj`` under ``name`` (default: its ``__name__``). Usable bare or with ``name=``."""

        def _do(target: T) -> T:
            key = name or getattr(target, "__name__", None)
            if not key:
                raise RunwayError(f"cannot register {target!r} as a {self.kind}: it has no __name__; pass name=")
            existing = self._entries.get(key)
            if existing is not None and not _same_definition(existing, target):
                raise RunwayError(
                    f"{self.kind} name '{key}' is registered twice: in {_origin(existing)} and in {_origin(target)}",
                    hint="rename one of them, or register it with name='...'",
                )
            self._entries[key] = target
            return target

        return _do(obj) if obj is not None else _do

    def get(self, name: str) -> T:
        """Return the entry called ``name``, or import it when ``name`` is a dotted path."""
        if name in self._entries:
            return self._entries[name]
        if "." in name:
            return import_dotted(name, what=self.kind)
        raise RunwayError(
            f"unknown {self.kind} '{name}'{did_you_mean(name, self._entries)}",
            hint=_USER_MODULE_HINT.format(name=name),
        )

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def names(self) -> list[str]:
        return sorted(self._entries)


def import_dotted(path: str, what: str = "object") -> Any:
    """Import ``pkg.module.Name`` and return ``Name``; errors name the path and the failing part."""
    module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise RunwayError(
            f"cannot import {what} '{path}': module '{exc.name}' not found",
            hint="check the dotted path and that the package is importable from the project directory",
        ) from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        names = [n for n in dir(module) if not n.startswith("_")]
        raise RunwayError(
            f"cannot import {what} '{path}': module '{module_name}' has no '{attr}'{did_you_mean(attr, names)}"
        ) from exc


def _origin(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', getattr(obj, '__name__', '?'))}"


def _same_definition(a: Any, b: Any) -> bool:
    # Re-importing the same module (e.g. a project module loaded under two package names by a test,
    # or re-executed in a notebook) re-registers the same definition; that is not a clash.
    return _origin(a) == _origin(b) or (
        getattr(a, "__qualname__", None) == getattr(b, "__qualname__", None)
        and getattr(getattr(a, "__code__", None), "co_filename", 1)
        == getattr(getattr(b, "__code__", None), "co_filename", 2)
    )
