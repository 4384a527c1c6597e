"""How ``runway serve`` listens: :class:`ServerConfig`, the listening socket, uvicorn's graceful server, gzip bodies.

The ASGI application itself is ``serving.server.ServingApp``.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from runway_for_ml.config.models import ServeSection
from runway_for_ml.errors import RunwayError
from runway_for_ml.serving.exceptions import MalformedRequestError, PayloadTooLargeError

DEFAULT_MAX_BODY = 10 * 1024 * 1024
# The serve: section owns the defaults of the keys it has (config/models.py, docs/config-reference.md).
_SERVE = {name: field.default for name, field in ServeSection.model_fields.items()}


@dataclass
class ServerConfig:
    """How the server listens and batches; the defaults are the cautious ones.

    ``port``, ``max_batch_size``, ``batch_timeout_ms``, ``workers`` and ``request_timeout_s`` default to
    the ``serve:`` section's defaults (:class:`~runway_for_ml.config.models.ServeSection`);
    :meth:`from_section` takes a section's values.

    ``api_key``: when set, every route but ``/healthcheck`` needs ``X-API-Key: KEY`` or
    ``Authorization: Bearer KEY`` (401 otherwise). ``cors_origins``: origins allowed to call from a
    browser (``["*"]`` for any); empty: no CORS headers.
    """

    host: str = "127.0.0.1"
    port: int = _SERVE["port"]
    debug: bool = False
    max_batch_size: int = _SERVE["max_batch_size"]
    batch_timeout_ms: float = _SERVE["batch_timeout_ms"]
    workers: int = _SERVE["workers"]
    max_body_bytes: int = DEFAULT_MAX_BODY
    request_timeout_s: float = _SERVE["request_timeout_s"]
    api_key: str | None = None
    cors_origins: list[str] = field(default_factory=list)
    log_level: str = "warning"
    graceful_timeout_s: float = 30.0
    # Exit (with an error) when the first setup fails, instead of serving FAILED.
    exit_on_setup_failure: bool = True

    @classmethod
    def from_section(cls, section: ServeSection, **overrides: Any) -> ServerConfig:
        """The section's server keys, then ``overrides`` (the CLI flags given; ``None`` values are ignored)."""
        values: dict[str, Any] = {key: getattr(section, key) for key in SERVER_KEYS}
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)


#: The ``serve:`` keys that configure the server (the others describe the commands).
SERVER_KEYS = ("port", "max_batch_size", "batch_timeout_ms", "workers", "request_timeout_s")


def gunzip(raw: bytes, limit: int) -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise MalformedRequestError(f"The gzip request body cannot be decompressed: {exc}") from exc
    if len(out) > limit or decompressor.unconsumed_tail:
        raise PayloadTooLargeError(f"The decompressed request body is over the limit of {limit} bytes")
    return out


def graceful_server_class() -> type:
    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn's server, but a SIGINT / SIGTERM ends ``run()`` normally once in-flight requests finished.

        (uvicorn re-raises the signal after its graceful shutdown, which a CLI would report as a crash.)
        """

        stopped_by: str | None = None

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self._on_signal) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

        def _on_signal(self, sig: int, frame: Any) -> None:
            self.stopped_by = signal.Signals(sig).name
            self.handle_exit(sig, frame)

    return GracefulServer


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind a listening socket; a port in use is a :class:`RunwayError` (exit code 2)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise RunwayError(
                f"port {port} on {host} is already in use",
                hint=f"stop what is serving there, or choose another port: --port {port + 1} (or --port 0 for any free one)",
            ) from exc
        raise RunwayError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
