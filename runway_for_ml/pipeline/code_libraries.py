"""Where a module comes from (project, framework, standard library, installed library) and library versions.

Code fingerprints read the source of *project* modules only; any other module a transform uses
enters its key as a version: the interpreter's ``major.minor`` for the standard library, the
framework's version for ``runway_for_ml``, the installed distribution's version for a library.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import re
import sys
import sysconfig

from runway_for_ml.version import __version__

# Classes whose source is *not* part of a transform's version: the framework's own base classes
# (their code changes with the framework version, which would invalidate every cache for nothing).
FRAMEWORK_BASE_MODULE = "runway_for_ml.pipeline.transform"
# Framework modules that cannot change a node's output: transform base classes (and the
# register decorator) and error classes.
FRAMEWORK_SILENT = frozenset({FRAMEWORK_BASE_MODULE, "runway_for_ml.errors"})
_STDLIB_NAMES = frozenset(getattr(sys, "stdlib_module_names", ())) | frozenset(sys.builtin_module_names)

_module_kinds: dict[str, str] = {}
_distribution_names: dict[str, str] = {}


def library_version(module_name: str, kind: str) -> tuple[str, str] | None:
    """``(distribution, version)`` that stands for non-project module ``module_name`` of ``kind``."""
    if kind == "stdlib":
        return "python", f"{sys.version_info.major}.{sys.version_info.minor}"
    if kind == "framework":
        return "runway_for_ml", __version__
    if kind == "library":
        dist = _distribution_name(module_name.partition(".")[0])
        return dist, distribution_version(dist)
    if kind == "missing":
        return module_name.partition(".")[0], "not installed"
    return None


def clear_cache() -> None:
    """Forget module kinds, distribution names and versions."""
    _module_kinds.clear()
    _distribution_names.clear()
    distributions_by_package.cache_clear()
    cache_clear = getattr(distribution_version, "cache_clear", None)
    if callable(cache_clear):
        cache_clear()


def is_library_class(klass: type) -> bool:
    """True for classes of the standard library and installed third-party packages (not runway_for_ml)."""
    module_name = klass.__module__ or ""
    if module_name == "builtins" or module_name.split(".")[0] in sys.builtin_module_names:
        return True
    if module_name.split(".")[0] == "runway_for_ml":
        return False
    path = getattr(sys.modules.get(module_name), "__file__", None)
    return bool(path) and _in_library_dir(path)


def _library_dirs() -> tuple[str, ...]:
    global _LIBRARY_DIRS
    if _LIBRARY_DIRS is None:
        paths = sysconfig.get_paths()
        dirs = {
            os.path.realpath(paths[name]) for name in ("stdlib", "platstdlib", "purelib", "platlib") if name in paths
        }
        _LIBRARY_DIRS = tuple(sorted(d + os.sep for d in dirs))
    return _LIBRARY_DIRS


_LIBRARY_DIRS: tuple[str, ...] | None = None


def _in_library_dir(path: str) -> bool:
    real = os.path.realpath(path)
    if f"{os.sep}site-packages{os.sep}" in real or f"{os.sep}dist-packages{os.sep}" in real:
        return True
    return real.startswith(_library_dirs())


def module_kind(module_name: str) -> str:
    """``project`` (source followed), ``framework``/``silent``, ``stdlib``, ``library`` or ``missing``."""
    kind = _module_kinds.get(module_name)
    if kind is not None:
        return kind
    top = module_name.partition(".")[0]
    if module_name in FRAMEWORK_SILENT:
        kind = "silent"
    elif top == "runway_for_ml":
        kind = "framework"
    elif top in _STDLIB_NAMES or top == "__future__":
        kind = "stdlib"
    else:
        kind = _kind_by_location(top)
    _module_kinds[module_name] = kind
    return kind


def _kind_by_location(top: str) -> str:
    module = sys.modules.get(top)
    locations: list[str] = []
    if module is not None:
        locations = [getattr(module, "__file__", None) or "", *list(getattr(module, "__path__", []) or [])]
    else:
        try:
            spec = importlib.util.find_spec(top)  # a top-level name: finds, does not import
        except Exception:
            spec = None
        if spec is None:
            return "missing"
        locations = [spec.origin or "", *list(spec.submodule_search_locations or [])]
    locations = [p for p in locations if p and p not in ("built-in", "frozen")]
    if not locations:
        return "library"  # built into the interpreter or an extension without a file: not project code
    return "library" if _in_library_dir(locations[0]) else "project"


def _distribution_name(top: str) -> str:
    """The installed distribution that provides top-level module ``top`` (``yaml`` -> ``PyYAML``)."""
    name = _distribution_names.get(top)
    if name is not None:
        return name
    import importlib.metadata  # ~0.1 s: only when a library is referenced

    try:
        name = importlib.metadata.distribution(top).metadata["Name"] or top
    except importlib.metadata.PackageNotFoundError:
        name = _distribution_beside(top)
        if name is None:
            # Scanning every installed distribution's file list is slow (~0.5 s): the last resort.
            name = (distributions_by_package().get(top) or [top])[0]
    _distribution_names[top] = name
    return name


def _distribution_beside(top: str) -> str | None:
    """Find the distribution of ``top`` among the ``*.dist-info`` folders next to it (a few ms).

    ``top_level.txt`` names a distribution's modules when present; otherwise its ``RECORD`` (the
    installed file list) is searched for ``top/`` or a ``top`` module file.
    """
    locations = []
    module = sys.modules.get(top)
    if module is not None:
        locations = [getattr(module, "__file__", None) or "", *list(getattr(module, "__path__", []) or [])]
    else:
        with contextlib.suppress(Exception):
            spec = importlib.util.find_spec(top)
            locations = [spec.origin or "", *list(spec.submodule_search_locations or [])] if spec else []
    location = next((p for p in locations if p and os.path.isabs(p)), None)
    if location is None:
        return None
    # <site>/top/__init__.py, <site>/top (a namespace package's path) or <site>/top.py
    site = os.path.dirname(location)
    if os.path.basename(location).startswith("__init__."):
        site = os.path.dirname(site)
    pattern = re.compile(rb"(?:^|\n)" + re.escape(top.encode()) + rb"(?:/|\.py,|\.[^/\n,]*\.(?:so|pyd),)")
    try:
        infos = sorted(e.path for e in os.scandir(site) if e.name.endswith(".dist-info") and e.is_dir())
    except OSError:
        return None
    for info in infos:
        try:
            with open(os.path.join(info, "top_level.txt"), encoding="utf-8") as fh:
                provides = top in fh.read().split()
        except OSError:
            try:
                with open(os.path.join(info, "RECORD"), "rb") as fh:
                    provides = pattern.search(fh.read()) is not None
            except OSError:
                provides = False
        if provides:
            return _metadata_name(info)
    return None


def _metadata_name(info: str) -> str:
    try:
        with open(os.path.join(info, "METADATA"), encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("Name:"):
                    return line.partition(":")[2].strip()
                if not line.strip():
                    break
    except OSError:
        pass
    return os.path.basename(info).partition("-")[0]


@functools.lru_cache(maxsize=1)
def distributions_by_package() -> dict[str, list[str]]:
    import importlib.metadata

    return dict(importlib.metadata.packages_distributions())


@functools.cache
def distribution_version(dist: str) -> str:
    """The installed version of distribution ``dist`` (module ``__version__`` as a fallback)."""
    import importlib.metadata

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        version = getattr(sys.modules.get(dist), "__version__", None)
        return str(version) if version is not None else "unknown"
