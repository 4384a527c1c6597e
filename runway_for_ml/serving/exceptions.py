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

import traceback as _traceback
from typing import Any

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
]


class ServingError(Exception):
    """Base class: an error answered as ``{"error": message}`` with HTTP status ``code``."""

    code: int = 500
    message: str = "An unknown error has occurred"

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)

    def to_response(self, debug: bool = False) -> dict[str, Any]:
        """The JSON body: ``{"error": ...}`` plus ``"traceback"`` (a list of lines) in debug mode."""
        body: dict[str, Any] = {"error": self.message}
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
