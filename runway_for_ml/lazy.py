"""One lazy-import helper for the packages whose names resolve on first use (PEP 562).

``import runway_for_ml`` (and ``runway --help``) must not load torch, so a package ``__init__`` names
the module each public name lives in and imports it only when the name is first read::

    _EXPORTS = {"Experiment": "runway_for_ml.experiment.experiment", ...}
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

>>> getattr_, dir_ = lazy_exports("pkg", {"dumps": "json"}, cache=False)
>>> getattr_("dumps").__name__
'dumps'
>>> getattr_("nope")
Traceback (most recent call last):
...
AttributeError: module 'pkg' has no attribute 'nope'
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    module: str,
    exports: Mapping[str, str],
    *,
    also: Iterable[str] = (),
    missing: Callable[[str, str], Any] | None = None,
    cache: bool = True,
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``module``: ``exports`` maps a name to the module defining it.

    A name is imported on first use and then cached in the module's globals (later reads cost
    nothing; ``cache=False`` reads it from its module each time, so that patching it there shows). ``also``: names defined in the module itself, listed by ``dir()``. ``missing(module,
    name)`` answers an unknown name (default: the usual ``AttributeError``), e.g. the error naming the
    new home of a name of the original framework.
    """

    def __getattr__(name: str) -> Any:
        source = exports.get(name)
        if source is None:
            if missing is not None:
                return missing(module, name)
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source), name)
        if cache:
            setattr(sys.modules[module], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted({*exports, *also})

    return __getattr__, __dir__
