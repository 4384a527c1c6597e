"""Named registries of user-extensible classes and functions.

One :class:`Registry` per kind (transforms, executors, metrics, loggers). Entries are registered by
decorator under their ``__name__`` (or an explicit name); a duplicate name is refused, naming both
modules; with a ``base`` class, anything else is refused too. Lookups accept a registered name or a
dotted import path ``pkg.module.Name``. An unknown name is reported in one place,
:meth:`Registry.unknown`: did-you-mean, and the registry's hint on how to make the name known.

>>> class Transform: ...
>>> TRANSFORMS = Registry("transform", base=Transform)
>>> @TRANSFORMS.register
... class Tokenize(Transform): ...
>>> TRANSFORMS.get("Tokenize") is Tokenize
True
>>> TRANSFORMS.get("Tokenise", where="data_pipeline.transforms.process:T.transform_name")
Traceback (most recent call last):
...
runway_for_ml.errors.ConfigError: data_pipeline.transforms.process:T.transform_name: unknown transform 'Tokenise' (did you mean 'Tokenize'?)
  hint: user code is imported from the project's data_processing/, executors/, modeling/ and metrics/ packages and from meta.user_modules; make sure the module defining it is imported there, or give a dotted path such as 'my_pkg.my_module.Tokenise'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

from runway_for_ml.errors import ConfigError, RunwayError, did_you_mean

__all__ = ["Registry", "import_dotted"]

T = TypeVar("T")

_USER_MODULE_HINT = (
    "user code is imported from the project's data_processing/, executors/, modeling/ and metrics/ "
    "packages and from meta.user_modules; make sure the module defining it is imported there, "
    "or give a dotted path such as 'my_pkg.my_module.{name}'"
)


class Registry(Generic[T]):
    """A name -> object mapping for one kind of thing (e.g. ``"transform"``).

    Args:
        kind: what an entry is, in messages (``"transform"``, ``"metric"``).
        base: when given, only subclasses of it can be registered or looked up.
        hint: the hint of an unknown-name error; ``{name}`` and ``{names}`` (the registered names)
            are filled in. Default: how user modules are imported.
    """

    def __init__(self, kind: str, base: type | None = None, hint: str | None = None) -> None:
        self.kind = kind
        self.base = base
        self.hint = hint or _USER_MODULE_HINT
        self._entries: dict[str, T] = {}
        # name -> dotted path, imported on first get(): built-ins that live in a higher layer.
        self._lazy: dict[str, str] = {}

    @overload
    def register(self, obj: T) -> T: ...
    @overload
    def register(self, obj: None = None, *, name: str | None = None) -> Callable[[T], T]: ...

    def register(self, obj: T | None = None, *, name: str | None = None) -> Any:
        """Register ``obj`` under ``name`` (default: its ``__name__``). Usable bare or with ``name=``."""

        def _do(target: T) -> T:
            key = name or getattr(target, "__name__", None)
            if self.base is not None and not _is_subclass(target, self.base):
                raise RunwayError(
                    f"cannot register {target!r} as a {self.kind}: it must be a subclass of {self.base.__name__}",
                    hint=f"subclass {self.base.__module__}.{self.base.__qualname__}",
                )
            if not key:
                raise RunwayError(f"cannot register {target!r} as a {self.kind}: it has no __name__; pass name=")
            existing = self._entries.get(key)
            if existing is not None and not _same_definition(existing, target):
                raise RunwayError(
                    f"{self.kind} name '{key}' is registered twice: in {_origin(existing)} and in {_origin(target)}",
                    hint="rename one of them, or register it with name='...'",
                )
            self._entries[key] = target
            self._lazy.pop(key, None)
            return target

        return _do(obj) if obj is not None else _do

    def get(self, name: str, *, where: str | None = None) -> T:
        """Return the entry called ``name``, or import it when ``name`` is a dotted path.

        ``where`` (the config key that named it) prefixes the error of an unknown name.
        """
        if name in self._entries:
            return self._entries[name]
        if name in self._lazy:
            found = import_dotted(self._lazy[name], what=self.kind)
        elif "." in name:
            found = import_dotted(name, what=self.kind)
        else:
            raise self.unknown(name, where=where)
        if self.base is not None and not _is_subclass(found, self.base):
            raise (ConfigError if where else RunwayError)(
                f"{where + ': ' if where else ''}{self.kind} '{name}' is {found!r}, not a {self.base.__name__} subclass",
                hint=f"point it to a subclass of {self.base.__module__}.{self.base.__qualname__}",
            )
        return found

    def check(self, name: str, *, where: str | None = None) -> None:
        """Raise :meth:`unknown` when ``name`` is neither registered nor a dotted path (nothing is imported)."""
        if name not in self and "." not in name:
            raise self.unknown(name, where=where)

    def unknown(self, name: str, *, where: str | None = None) -> RunwayError:
        """The error for an unknown ``name`` (the one place it is written): did-you-mean and the hint.

        A ``ConfigError`` when ``where`` names the config key that holds the name.
        """
        names = self.names()
        prefix = f"{where}: " if where else ""
        return (ConfigError if where else RunwayError)(
            f"{prefix}unknown {self.kind} '{name}'{did_you_mean(name, names)}",
            hint=self.hint.replace("{name}", name).replace("{names}", ", ".join(names)),
        )

    def register_lazy(self, name: str, dotted_path: str) -> None:
        """Make ``name`` resolve to ``dotted_path``, imported on first :meth:`get`.

        For built-ins defined in a higher layer (``PredictWithExperiment`` lives in ``experiment/``),
        so that the lower layer can name them without importing them.
        """
        if name not in self._entries:
            self._lazy[name] = dotted_path

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def names(self) -> list[str]:
        return sorted({*self._entries, *self._lazy})


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


def _is_subclass(obj: Any, base: type) -> bool:
    return isinstance(obj, type) and issubclass(obj, base)


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
