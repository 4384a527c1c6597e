"""User-facing errors.

Every problem a user can fix (a bad config, an unknown name, a missing experiment) is raised as a
:class:`RunwayError`. The CLI prints its message on one line group, exits with code 2 and shows the
traceback only with ``--debug``. Code that wraps a lower-level exception always uses
``raise RunwayError(...) from exc`` so the cause survives for ``--debug``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["ConfigError", "RunwayError", "TransformError", "check_choice", "check_keys", "did_you_mean"]


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


def check_keys(
    given: Iterable[str],
    valid: Iterable[str],
    path: str = "",
    *,
    hint: str | None = None,
    where: str = "",
    error: type[RunwayError] = ConfigError,
) -> None:
    """Raise ``error`` for the first key of ``given`` that is not in ``valid``.

    The one place that writes "unknown key, did you mean, valid keys". ``path`` is the key path of
    the section holding the keys (``""`` at the top level), ``where`` a prefix such as the config
    file (``"configs/x.jsonnet: "``), ``hint`` an extra suggestion printed before the valid keys.

    >>> check_keys({"batch_size": 32}, ["batch_size", "seed"], "train")
    >>> check_keys({"batchsize": 32}, ["batch_size", "seed"], "train")
    Traceback (most recent call last):
    ...
    runway_for_ml.errors.ConfigError: train.batchsize: unknown key (did you mean 'batch_size'?)
      hint: valid keys here: batch_size, seed
    """
    allowed = [str(v) for v in valid]
    for key in given:
        if key in allowed:
            continue
        key_path = f"{path}.{key}" if path else str(key)
        suggestion = did_you_mean(key, allowed)
        listing = f"valid keys here: {', '.join(sorted(allowed))}"
        raise error(f"{where}{key_path}: unknown key{suggestion}", hint=f"{hint}; {listing}" if hint else listing)


def check_choice(
    value: str,
    valid: Iterable[str],
    path: str,
    *,
    what: str = "value",
    hint: str | None = None,
    where: str = "",
    error: type[RunwayError] = ConfigError,
) -> None:
    """Raise ``error`` when ``value`` (found at key ``path``) is not one of ``valid``.

    >>> check_choice("slurm", ["local", "slurm"], "meta.launcher", what="launcher")
    >>> check_choice("slrum", ["local", "slurm"], "meta.launcher", what="launcher")
    Traceback (most recent call last):
    ...
    runway_for_ml.errors.ConfigError: meta.launcher: unknown launcher 'slrum' (did you mean 'slurm'?)
      hint: valid launchers: local, slurm
    """
    allowed = [str(v) for v in valid]
    if value in allowed:
        return
    listing = f"valid {what}s: {', '.join(allowed)}"
    raise error(
        f"{where}{path}: unknown {what} {value!r}{did_you_mean(str(value), allowed)}",
        hint=f"{hint}; {listing}" if hint else listing,
    )
