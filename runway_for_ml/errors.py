"""User-facing errors.

Every problem a user can fix (a bad config, an unknown name, a missing experiment) is raised as a
:class:`RunwayError`. The CLI prints its message on one line group, exits with code 2 and shows the
traceback only with ``--debug``. Code that wraps a lower-level exception always uses
``raise RunwayError(...) from exc`` so the cause survives for ``--debug``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["ConfigError", "RunwayError", "TransformError", "did_you_mean"]


class RunwayError(Exception):
    """An error the user can act on: exit code 2, no traceback unless ``--debug``.

    Args:
        message: what went wrong, naming the file / node / key involved.
        hint: optional suggestion for the fix, printed on its own line.
    """

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ConfigError(RunwayError):
    """A problem in a config file or an ``--opts`` override."""


class TransformError(RunwayError):
    """A data transform raised while running a pipeline node."""


def did_you_mean(name: str, candidates: Iterable[str], n: int = 3) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest candidates, or ``""`` when none is close.

    >>> did_you_mean("procss:Split", ["process:Split", "input:Load"])
    " (did you mean 'process:Split'?)"
    """
    names = [str(c) for c in candidates]
    close = difflib.get_close_matches(str(name), names, n=n, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in names}
        close = [lowered[c] for c in difflib.get_close_matches(str(name).lower(), list(lowered), n=n, cutoff=0.6)]
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"
