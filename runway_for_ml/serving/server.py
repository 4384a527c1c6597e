"""The HTTP server: a small ASGI application on uvicorn.

Routes (all answers are JSON unless said otherwise):

=====================  ======  ==========================================================
``/`` and ``/meta``    GET     options, commands with typed inputs/outputs, timings
``/healthcheck``       GET     ``{"status": "STARTING" | "RUNNING" | "FAILED"}`` (no API key needed)
``/setup``             GET     option descriptors; POST re-runs setup with new options
``/<command>``         GET     the command's descriptor; POST runs it (inputs -> outputs)
``/metrics``           GET     Prometheus text
``/openapi.json``      GET     OpenAPI 3.1, from the same descriptors as ``/meta``
``/ui``                GET     an HTML page that builds a form per command from ``/meta``
=====================  ======  ==========================================================

Bodies are read as JSON whatever their Content-Type, ``Content-Encoding: gzip`` is accepted, the
(decompressed) size is limited (413), each request has a timeout (504), and every error is a JSON
``{"error": ...}`` with the right status, after which the server keeps serving. ``POST /<command>``
goes through a :class:`~runway_for_ml.serving.batching.Batcher` so concurrent requests share one model
call. SIGTERM / SIGINT stop accepting connections, let in-flight requests finish, then exit.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import socket
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from runway_for_ml.errors import RunwayError
from runway_for_ml.serving.batching import Batcher
from runway_for_ml.serving.exceptions import (
    MalformedRequestError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    RequestTimeoutError,
    ServingError,
    UnauthorizedError,
    UnknownCommandError,
    exception_text,
    shown,
)
from runway_for_ml.serving.metrics import ServerMetrics
from runway_for_ml.serving.openapi import build_openapi
from runway_for_ml.serving.transport import (
    ServerConfig,
    bind_socket,
    graceful_server_class,
    gunzip,
)

if TYPE_CHECKING:  # annotations only: the model runs the server (RunwayModel.run), not the reverse
    from runway_for_ml.serving.model import RunwayModel

__all__ = ["ServerConfig", "ServingApp", "bind_socket", "serve"]


class _Response(Exception):
    """Internal: a finished response travelling up from a handler."""

    def __init__(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.status, self.body, self.content_type = status, body, content_type


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), allow_nan=False).encode("utf-8")


class ServingApp:
    """The ASGI application serving one :class:`RunwayModel`."""

    def __init__(
        self,
        model: RunwayModel,
        config: ServerConfig | None = None,
        *,
        model_options: Mapping[str, Any] | None = None,
        on_setup_failed: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.model = model
        self.config = config or ServerConfig()
        self.model_options = dict(model_options or {})
        self.metrics = ServerMetrics()
        self.batchers: dict[str, Batcher] = {}
        self.on_setup_failed = on_setup_failed
        self._ui: bytes | None = None
        self._openapi: bytes | None = None
        self._setup_task: asyncio.Future | None = None

    # ------------------------------------------------------------------ lifespan
    async def startup(self) -> None:
        for name, command in self.model.commands.items():
            batcher = Batcher(
                lambda batch, command=command: self.model.run_batch(command, batch),
                max_batch_size=self.config.max_batch_size if command.batched else 1,
                batch_timeout_ms=self.config.batch_timeout_ms if command.batched else 0,
                workers=self.config.workers,
                on_batch=lambda size, _s, name=name: self.metrics.observe_batch(name, size),
                name=name,
            )
            batcher.start()
            self.batchers[name] = batcher
        # Setup runs in a thread: the server answers /healthcheck (STARTING) while the model loads.
        loop = asyncio.get_running_loop()
        self._setup_task = loop.run_in_executor(None, self._initial_setup)

    def _initial_setup(self) -> None:
        try:
            self.model.run_setup(self.model_options)
            self.metrics.ready = 1
        except BaseException as exc:  # reported, and the server decides whether to exit
            self.model.status, self.model.setup_error = "FAILED", exc
            sys.stderr.write(f"[serve] setup failed: {exc}\n")
            if self.config.debug:
                traceback.print_exc()
            if self.on_setup_failed is not None:
                self.on_setup_failed(exc)

    async def shutdown(self) -> None:
        for batcher in self.batchers.values():
            await batcher.stop()

    # ------------------------------------------------------------------ ASGI
    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:  # reported to uvicorn, which exits
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: dict, receive: Callable, send: Callable) -> None:
        started = time.perf_counter()
        method = scope["method"]
        path = scope["path"].rstrip("/") or "/"
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        route = self._route_name(path)
        extra_headers: list[tuple[bytes, bytes]] = self._cors_headers(headers)
        try:
            if method == "OPTIONS" and self.config.cors_origins:
                raise _Response(204, b"", "text/plain")
            # /healthcheck (readiness probes) and the static /ui page (it asks for the key) need none.
            if self.config.api_key and route not in ("healthcheck", "ui"):
                self._check_api_key(headers)
            result = await self._dispatch(method, path, route, headers, receive)
            status, body, content_type = 200, result, "application/json"
            if isinstance(result, _Response):
                status, body, content_type = result.status, result.body, result.content_type
        except _Response as response:
            status, body, content_type = response.status, response.body, response.content_type
        except ServingError as exc:
            status, body, content_type = exc.code, _json(exc.to_response(self.config.debug)), "application/json"
            if isinstance(exc, MethodNotAllowedError):
                extra_headers.append((b"allow", ", ".join(exc.allow).encode()))
        except Exception as exc:  # a bug in a handler is a 500, never a dropped connection
            wrapped = ServingError(exception_text(exc))
            wrapped.__cause__ = exc
            status, body, content_type = 500, _json(wrapped.to_response(self.config.debug)), "application/json"
        response_headers = [
            (b"content-type", content_type.encode()),
            (b"content-length", str(len(body)).encode()),
            *extra_headers,
        ]
        if status == 401:
            response_headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})
        self.metrics.observe_request(route, method, status, time.perf_counter() - started)

    # ------------------------------------------------------------------ routing
    def _route_name(self, path: str) -> str:
        name = path.lstrip("/")
        if name in ("", "meta", "healthcheck", "setup", "metrics", "openapi.json", "ui"):
            return name or "meta"
        return name if name in self.model.commands else "other"

    async def _dispatch(self, method: str, path: str, route: str, headers: dict[str, str], receive: Callable) -> Any:
        name = path.lstrip("/")
        allowed = "POST" if name in self.model.commands or name == "setup" else None
        if route == "other":
            if method == "POST":
                raise UnknownCommandError(name, list(self.model.commands))
            raise NotFoundError(f"Not found: {path}")
        if method not in ("GET", "HEAD") and not (method == "POST" and allowed):
            verbs = ("GET", "HEAD", "POST") if allowed else ("GET", "HEAD")
            raise MethodNotAllowedError(f"Method {method} is not allowed on {path}; use {', '.join(verbs)}", verbs)
        if method in ("GET", "HEAD"):
            return self._get(route)
        body = await self._read_json(headers, receive)
        if name == "setup":
            return await self._post_setup(body)
        return await self._post_command(name, body)

    def _get(self, route: str) -> Any:
        if route == "meta":
            return _json(self.model.manifest())
        if route == "healthcheck":
            return _json({"status": self.model.status})
        if route == "setup":
            return _json([t.to_dict() for t in self.model.options.values()])
        if route == "metrics":
            return _Response(200, self.metrics.render().encode(), "text/plain; version=0.0.4; charset=utf-8")
        if route == "openapi.json":
            if self._openapi is None:
                self._openapi = _json(build_openapi(self.model, api_key=bool(self.config.api_key)))
            return self._openapi
        if route == "ui":
            if self._ui is None:
                from importlib.resources import files

                self._ui = files("runway_for_ml.serving").joinpath("ui.html").read_bytes()
            return _Response(200, self._ui, "text/html; charset=utf-8")
        return _json(self.model.commands[route].to_dict())

    async def _post_setup(self, body: Any) -> Any:
        if not isinstance(body, Mapping):
            raise MalformedRequestError("POST /setup expects a JSON object of options")
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.model.run_setup, body)
        return _json({"status": self.model.status, "options": _jsonable_options(self.model)})

    async def _post_command(self, name: str, body: Any) -> Any:
        self.model.check_ready()
        command = self.model.commands[name]
        inputs = command.decode(body)
        future = self.batchers[name].submit_nowait(inputs)
        # A timer on the future itself, not asyncio.wait_for: no extra task per request.
        timer = asyncio.get_running_loop().call_later(self.config.request_timeout_s, _expire, future)
        try:
            result = await future
        except asyncio.CancelledError as exc:
            if future.cancelled() and not timer.cancelled():
                raise RequestTimeoutError(
                    f"Command {name} did not finish within {self.config.request_timeout_s:g}s"
                ) from exc
            raise
        finally:
            timer.cancel()
        return _json(result)

    # ------------------------------------------------------------------ requests
    async def _read_json(self, headers: dict[str, str], receive: Callable) -> Any:
        limit = self.config.max_body_bytes
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise PayloadTooLargeError(f"Request body of {length} bytes is over the limit of {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise MalformedRequestError("client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(f"Request body is over the limit of {limit} bytes")
            chunks.append(chunk)
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        encoding = headers.get("content-encoding", "").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            raw = gunzip(raw, limit)
        elif encoding not in ("", "identity"):
            raise MalformedRequestError(f"Unsupported Content-Encoding {shown(encoding)}; send identity or gzip")
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except UnicodeDecodeError as exc:
            raise MalformedRequestError("The request body is not valid JSON: it is not UTF-8 text") from exc
        except json.JSONDecodeError as exc:
            raise MalformedRequestError(f"The request body is not valid JSON: {exc}") from exc

    def _check_api_key(self, headers: dict[str, str]) -> None:
        assert self.config.api_key is not None
        given = headers.get("x-api-key")
        auth = headers.get("authorization", "")
        if given is None and auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        if given is None or not hmac.compare_digest(given.encode(), self.config.api_key.encode()):
            raise UnauthorizedError()

    def _cors_headers(self, headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
        origins = self.config.cors_origins
        origin = headers.get("origin")
        if not origins or origin is None:
            return []
        if "*" in origins:
            allowed = "*"
        elif origin in origins:
            allowed = origin
        else:
            return []
        return [
            (b"access-control-allow-origin", allowed.encode()),
            (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
            (b"access-control-allow-headers", b"content-type, content-encoding, authorization, x-api-key"),
            (b"vary", b"origin"),
        ]


def _expire(future: asyncio.Future) -> None:
    # Cancelling marks the request as given up: the batcher skips it if it has not run yet.
    if not future.done():
        future.cancel()


def _jsonable_options(model: RunwayModel) -> dict[str, Any]:
    return {name: model.options[name].serialize(value) for name, value in model.current_options.items()}


def serve(
    model: RunwayModel,
    config: ServerConfig | None = None,
    *,
    model_options: Mapping[str, Any] | None = None,
    sock: socket.socket | None = None,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve ``model`` until SIGINT / SIGTERM; in-flight requests finish first.

    Prints ``Serving <name> on http://HOST:PORT`` (the real port when ``port`` is 0) once listening.
    A setup that fails at start stops the server with a :class:`RunwayError` when
    ``config.exit_on_setup_failure``.
    """
    import uvicorn

    config = config or ServerConfig()
    sock = sock or bind_socket(config.host, config.port)
    failure: list[BaseException] = []
    server: uvicorn.Server | None = None

    def setup_failed(exc: BaseException) -> None:
        if config.exit_on_setup_failure and server is not None:
            failure.append(exc)
            server.should_exit = True

    app = ServingApp(model, config, model_options=model_options, on_setup_failed=setup_failed)
    uv_config = uvicorn.Config(
        app,
        log_level=config.log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=config.graceful_timeout_s,
        server_header=False,
        date_header=False,
    )
    server = graceful_server_class()(uv_config)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    message = f"Serving {model.name} on http://{shown}:{port}  (UI: http://{shown}:{port}/ui, Ctrl-C to stop)"
    (announce or (lambda text: print(text, flush=True)))(message)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if server.stopped_by:
        sys.stderr.write(f"[serve] {model.name}: stopped ({server.stopped_by})\n")
    if failure:
        exc = failure[0]
        raise RunwayError(f"{model.name}: setup failed: {exc}", hint=getattr(exc, "hint", None)) from exc
