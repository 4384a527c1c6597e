"""Errors of the serving protocol: each has an HTTP ``code``, a ``message`` and ``to_response()``.

They mirror the Runway Model SDK's exception classes, so a model file ported from the SDK catches the
same names. They are not :class:`runway_for_ml.errors.RunwayError` (a CLI error, exit code 2): these
travel over HTTP as JSON.

>>> MissingInputError("pixels").to_response()
{'error': 'Missing input: pixels'}
>>> InvalidArgumentError("pixels", "expected 64 numbers, got 3").code
400
"""

from __future__ import annotations

import json
import re
import traceback as _traceback
from typing import Any

from runway_for_ml.errors import did_you_mean

__all__ = [
    "InferenceError",
    "InvalidArgumentError",
    "MalformedRequestError",
    "MethodNotAllowedError",
    "MissingInputError",
    "MissingOptionError",
    "NotFoundError",
    "NotReadyError",
    "PayloadTooLargeError",
    "RequestTimeoutError",
    "ServingError",
    "SetupError",
    "UnauthorizedError",
    "UnknownCommandError",
    "UnknownInputError",
    "exception_text",
    "shown",
]

# ``<_io.BytesIO object at 0x7f...>``, ``<function f at 0x...>``: Python reprs never reach a client.
_OBJECT_REPR = re.compile(r"<[^<>]*? at 0x[0-9a-fA-F]+>")


def shown(value: Any, limit: int = 60) -> str:
    """A client's value as it appears in an error message: JSON text (never a Python repr), shortened.

    >>> shown("cow"), shown([1, None, True]), shown({"a": 1})
    ('"cow"', '[1, null, true]', '{"a": 1}')
    """
    try:
        text = json.dumps(value, ensure_ascii=False, default=lambda v: type(v).__name__)
    except (TypeError, ValueError):
        text = type(value).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _clean(message: str) -> str:
    """The message without Python object reprs (a library's text can carry one: PIL, json, ...)."""
    return _OBJECT_REPR.sub("the data", str(message))


class ServingError(Exception):
    """Base class: an error answered as ``{"error": message}`` with HTTP status ``code``."""

    code: int = 500
    message: str = "An unknown error has occurred"

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = _clean(message)
        super().__init__(self.message)

    def to_response(self, debug: bool = False) -> dict[str, Any]:
        """The JSON body: ``{"error": ...}`` plus ``"traceback"`` (a list of lines) in debug mode."""
        body: dict[str, Any] = {"error": _clean(self.message)}
        if debug:
            cause = self.__cause__ or self
            lines = _traceback.format_exception(type(cause), cause, cause.__traceback__)
            body["traceback"] = "".join(lines).splitlines()
        return body


class MissingOptionError(ServingError):
    """A setup option without a default was not given."""

    code = 400

    def __init__(self, name: str) -> None:
        super().__init__(f"Missing option: {name}")


class MissingInputError(ServingError):
    """A command input without a default was not given."""

    code = 400

    def __init__(self, name: str) -> None:
        super().__init__(f"Missing input: {name}")


class UnknownInputError(ServingError):
    """A key of the request body (or of ``POST /setup``) that is not an input (option) of the command.

    >>> UnknownInputError("pixel", ["image", "pixels"]).message
    "unknown input 'pixel' (did you mean 'pixels'?); inputs: image, pixels"
    """

    code = 400

    def __init__(self, name: str, known: list[str], what: str = "input") -> None:
        self.name = name
        listing = f"{what}s: {', '.join(sorted(known))}" if known else f"it takes no {what}s"
        super().__init__(f"unknown {what} '{name}'{did_you_mean(name, known)}; {listing}")


class InvalidArgumentError(ServingError):
    """An input or option has the wrong type, range, length or encoding."""

    code = 400

    def __init__(self, name: str, reason: str = "") -> None:
        self.name = name
        super().__init__(f"Invalid argument: {name}" + (f": {reason}" if reason else ""))


class MalformedRequestError(ServingError):
    """The body is not JSON (or not a JSON object), or its gzip encoding is broken."""

    code = 400


class UnauthorizedError(ServingError):
    """No or a wrong API key."""

    code = 401
    message = "Unauthorized: send the API key as 'X-API-Key: KEY' or 'Authorization: Bearer KEY'"


class NotFoundError(ServingError):
    """No such route."""

    code = 404


class UnknownCommandError(NotFoundError):
    """``POST /<name>`` for a command the model does not have."""

    def __init__(self, name: str, known: list[str] | None = None) -> None:
        listing = f"; commands: {', '.join(known)}" if known else ""
        super().__init__(f"Unknown command: {name}{listing}")


class MethodNotAllowedError(ServingError):
    """A known route called with the wrong HTTP method; ``allow`` lists the right ones (the Allow header)."""

    code = 405

    def __init__(self, message: str | None = None, allow: tuple[str, ...] = ("GET",)) -> None:
        super().__init__(message)
        self.allow = allow


class PayloadTooLargeError(ServingError):
    """The (decompressed) body is over the server's limit."""

    code = 413


class InferenceError(ServingError):
    """The command function raised."""

    code = 500
    message = "An error occurred during inference"


class SetupError(ServingError):
    """The setup function raised."""

    code = 500
    message = "An error occurred during setup"


class NotReadyError(ServingError):
    """The model is still being set up (see ``GET /healthcheck``)."""

    code = 503
    message = "The model is starting; retry when GET /healthcheck says RUNNING"


class RequestTimeoutError(ServingError):
    """The request did not finish within the server's per-request timeout."""

    code = 504


def exception_text(exc: BaseException) -> str:
    """``Type: message`` of a model's exception for an error body (a KeyError's key as JSON, not its repr).

    >>> exception_text(KeyError("pixels")), exception_text(RuntimeError("kaput"))
    ('KeyError: "pixels"', 'RuntimeError: kaput')
    """
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        return f"KeyError: {shown(exc.args[0])}"
    return f"{type(exc).__name__}: {exc}"
