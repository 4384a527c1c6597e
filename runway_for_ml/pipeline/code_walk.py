"""Which project code a transform class reaches: the ``code`` part of its cache key.

The walker starts from the transform class (and its project base classes) and resolves each name
its code loads (see ``code_source``): a definition of the same module, an import (followed into
project modules; a library only adds its version, see ``code_libraries``), a builtin (ignored),
or any other module global (star imports, globals made at run time) looked up on the live module.
"""

from __future__ import annotations

import builtins
import contextlib
import inspect
import sys
import types
import weakref
from typing import Any

from runway_for_ml.pipeline import code_libraries
from runway_for_ml.pipeline.code_libraries import FRAMEWORK_BASE_MODULE, FRAMEWORK_SILENT, is_library_class
from runway_for_ml.pipeline.code_source import (
    Def,
    ModuleTable,
    Target,
    class_source,
    def_from_source,
    log,
    module_file,
    module_table,
    module_tables,
    source_digest,
)

_BUILTIN_NAMES = frozenset(dir(builtins))
_ABSENT = object()

_code_cache: weakref.WeakKeyDictionary[type, dict] = weakref.WeakKeyDictionary()


def code_fingerprint(cls: type) -> dict:
    """What a transform's code is made of: ``{"objects": {name: digest}, "libraries": {dist: version}}``.

    ``objects`` maps each piece of *project* code the class can reach to a digest of its normalised
    syntax tree (comments, formatting and docstrings do not count): the class and its project base
    classes, then every module-level function, class and constant its code names, followed through
    imports into other project modules, transitively. Code of installed packages and the standard
    library is not read: it enters ``libraries`` as its distribution's version (``"python"`` is the
    interpreter's ``major.minor``, ``"runway_for_ml"`` the framework's version; the framework's
    transform base classes and error classes are left out). Memoised per class for the process;
    :func:`clear_cache` forgets it.

    >>> class Shout:
    ...     def _call(self, data):
    ...         return data.upper()
    >>> sorted(code_fingerprint(Shout)["objects"])
    ['runway_for_ml.pipeline.code_walk.Shout']
    """
    try:
        return _code_cache[cls]
    except (KeyError, TypeError):
        pass
    walker = _CodeWalker()
    try:
        for klass in versioned_classes(cls):
            walker.add_class(klass)
    except Exception as exc:  # pathological code (e.g. RecursionError); the class's own source still counts
        log.warning(
            "cannot follow the code of %s (%s: %s); only its own source is part of its cache key — "
            "set a VERSION class attribute to manage the key by hand",
            cls.__qualname__,
            type(exc).__name__,
            exc,
        )
        walker = _CodeWalker()
        walker.objects[f"{cls.__module__}.{cls.__qualname__}"] = source_digest(class_source(cls))
    result = {"objects": dict(sorted(walker.objects.items())), "libraries": dict(sorted(walker.libraries.items()))}
    with contextlib.suppress(TypeError):  # classes that refuse weak references are not cached
        _code_cache[cls] = result
    return result


def clear_cache() -> None:
    """Forget memoised code fingerprints, parsed modules, module kinds and library versions."""
    _code_cache.clear()
    module_tables.clear()
    code_libraries.clear_cache()


def versioned_classes(cls: type) -> list[type]:
    """``cls`` and the bases whose code belongs to the user's transform (not framework, stdlib, libraries)."""
    classes = []
    for klass in cls.__mro__:
        if klass is object or klass.__module__ == FRAMEWORK_BASE_MODULE:
            continue
        if klass is not cls and is_library_class(klass):
            continue
        classes.append(klass)
    return classes


class _CodeWalker:
    """Follow a transform's code from its classes through the project; collect digests and libraries."""

    def __init__(self) -> None:
        self.objects: dict[str, str] = {}
        self.libraries: dict[str, str] = {}
        self._seen: set[tuple[str, ...]] = set()

    def add_class(self, klass: type) -> None:
        module_name, qualname = klass.__module__, klass.__qualname__
        table = module_table(module_name) if "<locals>" not in qualname else None
        top = qualname.partition(".")[0]
        if table is not None and top in table.defs:
            self._add_def(table, top, root=True)
            return
        # A class made inside a function, or whose module file cannot be parsed: its own source.
        key = f"{module_name}.{qualname}"
        if ("def", key) in self._seen:
            return
        self._seen.add(("def", key))
        definition = def_from_source(klass)
        if definition is None:
            self.objects[key] = source_digest(class_source(klass))  # warns that edits will not be noticed
            return
        self.objects[key] = definition.digest
        self._follow(module_table(module_name), module_name, definition)

    def _add_def(self, table: ModuleTable, name: str, *, root: bool = False) -> None:
        key = f"{table.name}.{name}"
        if ("def", key) in self._seen:
            return
        self._seen.add(("def", key))
        kind = code_libraries.module_kind(table.name)
        if not root and kind != "project":
            self._library(table.name, kind)
            return
        definition = table.defs[name]
        self.objects[key] = definition.digest
        self._follow(table, table.name, definition)

    def _follow(self, table: ModuleTable | None, module_name: str, definition: Def) -> None:
        refs, local_imports = definition.references()
        for chain in sorted(refs):
            self._resolve(table, module_name, local_imports, chain)

    def _resolve(
        self, table: ModuleTable | None, module_name: str, local_imports: dict[str, Target], chain: tuple[str, ...]
    ) -> None:
        name, rest = chain[0], chain[1:]
        if name in local_imports:
            self._target(local_imports[name], rest)
        elif table is not None and name in table.defs:
            self._add_def(table, name)
        elif table is not None and name in table.imports:
            self._target(table.imports[name], rest)
        elif name in _BUILTIN_NAMES:
            return
        else:  # star imports, globals created at run time, classes made in functions
            module = sys.modules.get(module_name)
            value = vars(module).get(name, _ABSENT) if module is not None else _ABSENT
            if value is not _ABSENT:
                self._object(value, rest)

    def _target(self, target: Target, rest: tuple[str, ...]) -> None:
        module_name, attribute = target
        if attribute is None:
            self._module(module_name, rest)
        else:
            self._from(module_name, attribute, rest)

    def _module(self, module_name: str, rest: tuple[str, ...]) -> None:
        kind = code_libraries.module_kind(module_name)
        if kind != "project":
            self._library(module_name, kind)
        elif rest:
            self._from(module_name, rest[0], rest[1:])
        elif ("module", module_name) not in self._seen:
            # The module itself is used as a value: all of its definitions count.
            self._seen.add(("module", module_name))
            table = module_table(module_name)
            for name in sorted(table.defs) if table is not None else ():
                self._add_def(table, name)

    def _from(self, module_name: str, attribute: str, rest: tuple[str, ...]) -> None:
        if ("from", module_name, attribute) in self._seen:
            return
        self._seen.add(("from", module_name, attribute))
        kind = code_libraries.module_kind(module_name)
        if kind == "framework":
            # `from runway_for_ml import BaseTransform`: judge by where the object is defined.
            value = getattr(sys.modules.get(module_name), attribute, _ABSENT)
            defined_in = getattr(value, "__module__", None)
            if isinstance(defined_in, str) and defined_in in FRAMEWORK_SILENT:
                return
        if kind != "project":
            self._library(module_name, kind)
            return
        table = module_table(module_name)
        if table is not None and attribute in table.defs:
            self._add_def(table, attribute)
        elif table is not None and attribute in table.imports:
            self._target(table.imports[attribute], rest)  # re-exported from another module
        elif module_file(f"{module_name}.{attribute}") is not None:
            self._module(f"{module_name}.{attribute}", rest)
        else:
            value = getattr(sys.modules.get(module_name), attribute, _ABSENT)
            if value is not _ABSENT:
                self._object(value, rest)

    def _object(self, value: Any, rest: tuple[str, ...]) -> None:
        if isinstance(value, types.ModuleType):
            self._module(value.__name__, rest)
            return
        module_name = getattr(value, "__module__", None)
        qualname = getattr(value, "__qualname__", None)
        if not (isinstance(module_name, str) and isinstance(qualname, str)):
            return  # a plain value made at run time: nothing to read
        if not (inspect.isclass(value) or inspect.isroutine(value)):
            return
        if isinstance(value, type) and "<locals>" in qualname and code_libraries.module_kind(module_name) == "project":
            self.add_class(value)
        else:
            self._from(module_name, qualname.partition(".")[0], ())

    def _library(self, module_name: str, kind: str) -> None:
        entry = code_libraries.library_version(module_name, kind)
        if entry is not None:
            self.libraries[entry[0]] = entry[1]
