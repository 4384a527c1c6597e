"""Evaluating a jsonnet file to Python data (``_jsonnet``, the C extension of the ``jsonnet`` package).

Shared by :mod:`~.loader` (a project's configs) and :mod:`~.migrate` (an original framework's configs);
jsonnet's own ``file:line:col`` errors become :class:`~runway_for_ml.errors.ConfigError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from runway_for_ml.errors import ConfigError

__all__ = ["evaluate_jsonnet"]


def evaluate_jsonnet(path: Path, ext_vars: Mapping[str, str] | None = None, search_dirs: Iterable[Path] = ()) -> Any:
    """Evaluate a jsonnet file to Python data; jsonnet's own file:line:col errors become ConfigError."""
    import _jsonnet  # the C extension of the `jsonnet` package; light, but only needed here

    variables = dict(os.environ)
    variables.update(ext_vars or {})
    dirs = [str(d) for d in search_dirs if Path(d).is_dir()]
    try:
        text = _jsonnet.evaluate_file(str(path), jpathdir=dirs, ext_vars=variables)
    except RuntimeError as exc:
        message = str(exc).strip()
        raise ConfigError(f"{path}: jsonnet could not evaluate the config:\n{message}", hint=_hint(message)) from exc
    return json.loads(text)


def _hint(message: str) -> str | None:
    if "undefined external variable" in message.lower():
        return "set it in the environment or pass --ext-var NAME=VALUE"
    if "couldn't open import" in message or "could not open import" in message.lower():
        return "imports resolve relative to the file and to the project's configs/ folder"
    return "the location above is jsonnet's file:line:column"
