"""A served model: ``setup`` options, ``command`` functions, and ``run`` to serve them over HTTP.

The Runway Model SDK's three functions, so that an SDK model file runs here by changing its imports::

    import runway_for_ml.serving as runway
    from runway_for_ml.serving.data_types import category, vector

    @runway.setup(options={"size": category(choices=["small", "big"], default="small")})
    def setup(opts):
        return load_my_model(opts["size"])

    @runway.command("classify", inputs={"pixels": vector(length=64)}, outputs={"label": category(choices=[0, 1])})
    def classify(model, inputs):
        return {"label": model(inputs["pixels"])}

    if __name__ == "__main__":
        runway.run(host="127.0.0.1", port=9000)

A command may also take a whole batch (``batched=True``): it receives a list of input dicts and
returns a list of output dicts; the server's dynamic batching then hands it several requests at once.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runway_for_ml.errors import RunwayError
from runway_for_ml.serving.data_types import BaseType
from runway_for_ml.serving.exceptions import (
    InferenceError,
    InvalidArgumentError,
    MissingInputError,
    MissingOptionError,
    NotReadyError,
    ServingError,
    SetupError,
    UnknownInputError,
    exception_text,
)
from runway_for_ml.serving.server import ServerConfig, serve
from runway_for_ml.serving.type_base import json_kind

__all__ = ["Command", "RunwayModel"]

# Route names the server owns; a command may not take them.
RESERVED_ROUTES = frozenset({"", "meta", "healthcheck", "setup", "metrics", "openapi.json", "ui", "docs"})


def _typed(mapping: Mapping[str, BaseType] | None, what: str) -> dict[str, BaseType]:
    out: dict[str, BaseType] = {}
    for name, data_type in (mapping or {}).items():
        if not isinstance(data_type, BaseType):
            raise TypeError(f"{what} {name!r} must be a data type from runway_for_ml.serving.data_types")
        out[str(name)] = data_type.named(str(name))
    return out


@dataclass
class Command:
    """One command: its function, typed inputs and outputs, and whether it takes whole batches."""

    name: str
    fn: Callable[..., Any]
    inputs: dict[str, BaseType]
    outputs: dict[str, BaseType]
    description: str | None = None
    batched: bool = False
    # Set by a command that needs more than the per-input checks (e.g. "pixels or image").
    check: Callable[[dict[str, Any]], None] | None = field(default=None, repr=False)
    # Groups of optional inputs of which exactly one must be sent (declared in the OpenAPI schema).
    alternatives: list[list[str]] = field(default_factory=list)
    # Real requests to try the command with: ``{"inputs": {...}, "label": <the answer in the data>}``.
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The command's descriptor, as in ``/meta`` and ``GET /<command>``.

        ``alternatives`` (inputs of which one is sent) and ``examples`` appear when there are any.
        """
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "inputs": [t.to_dict() for t in self.inputs.values()],
            "outputs": [t.to_dict() for t in self.outputs.values()],
        }
        if self.alternatives:
            out["alternatives"] = [list(group) for group in self.alternatives]
        if self.examples:
            out["examples"] = [dict(example) for example in self.examples]
        return out

    def set_examples(self, examples: Any) -> None:
        """Check and keep ``examples``: request bodies, or ``{"inputs": body, "label": ...}`` objects.

        Each must decode as a request would; a bad one is a ``ValueError`` naming it.
        """
        kept: list[dict[str, Any]] = []
        for i, example in enumerate(examples or []):
            if isinstance(example, Mapping) and isinstance(example.get("inputs"), Mapping):
                entry = {"inputs": dict(example["inputs"])}
                if example.get("label") is not None:
                    entry["label"] = example["label"]
            elif isinstance(example, Mapping):
                entry = {"inputs": dict(example)}
            else:
                raise ValueError(f"example {i} of command '{self.name}' must be an object of inputs")
            try:
                self.decode(entry["inputs"])
            except ServingError as exc:
                raise ValueError(f"example {i} of command '{self.name}': {exc.message}") from exc
            kept.append(entry)
        self.examples = kept

    def decode(self, body: Any) -> dict[str, Any]:
        """JSON body -> decoded inputs; 400-class errors name the input (an unknown one too)."""
        if not isinstance(body, Mapping):
            raise InvalidArgumentError("body", f"expected a JSON object of inputs, got {json_kind(body)}")
        for name in body:
            if name not in self.inputs:
                raise UnknownInputError(str(name), list(self.inputs))
        values: dict[str, Any] = {}
        for name, data_type in self.inputs.items():
            if name in body and body[name] is not None:
                values[name] = data_type.deserialize(body[name])
            elif data_type.default is not None:
                values[name] = data_type.deserialize(data_type.default)
            elif data_type.required:
                raise MissingInputError(name)
        if self.check is not None:
            self.check(values)
        return values

    def encode(self, result: Any) -> dict[str, Any]:
        """Outputs of the function -> JSON; a missing or unencodable output is an inference error."""
        if not isinstance(result, Mapping):
            if len(self.outputs) == 1:
                result = {next(iter(self.outputs)): result}
            else:
                raise InferenceError(f"command '{self.name}' returned {type(result).__name__}, not a dict of outputs")
        out: dict[str, Any] = {}
        for name, data_type in self.outputs.items():
            if name not in result:
                raise InferenceError(f"command '{self.name}' returned no output '{name}'")
            try:
                out[name] = data_type.serialize(result[name])
            except Exception as exc:  # any encoding failure is the model's, answered as 500
                raise InferenceError(
                    f"command '{self.name}': cannot encode output '{name}': {exception_text(exc)}"
                ) from exc
        return out


class RunwayModel:
    """Options, setup function, commands, and the state of a served model.

    ``setup`` and ``command`` are decorators; ``run`` serves the model (see
    :func:`runway_for_ml.serving.server.serve`).
    """

    def __init__(self, name: str = "model", description: str | None = None) -> None:
        self.name = name
        self.description = description
        self.options: dict[str, BaseType] = {}
        self.setup_fn: Callable[..., Any] | None = None
        self.commands: dict[str, Command] = {}
        self.model: Any = None
        self.status = "STARTING"
        self.setup_error: BaseException | None = None
        self.current_options: dict[str, Any] = {}
        self.started_at = time.time()
        self.last_command_at: float | None = None
        self._setup_lock = threading.Lock()
        # Extra fields for /meta (e.g. the experiment version served).
        self.info: dict[str, Any] = {}

    # ------------------------------------------------------------------ decorators
    def setup(self, decorated_fn: Callable[..., Any] | None = None, *, options: Mapping[str, BaseType] | None = None):
        """Register the setup function: ``@setup`` or ``@setup(options={...})``; it returns the model."""

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            if self.setup_fn is not None:
                raise ValueError("a model has one setup function; @setup was used twice")
            self.options = _typed(options, "option")
            self.setup_fn = fn
            return fn

        return register(decorated_fn) if decorated_fn is not None else register

    def command(
        self,
        name: str,
        inputs: Mapping[str, BaseType] | None = None,
        outputs: Mapping[str, BaseType] | None = None,
        description: str | None = None,
        batched: bool = False,
        examples: list[Any] | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a command served at ``POST /<name>``: ``fn(model, inputs) -> outputs``.

        ``examples``: request bodies (or ``{"inputs": body, "label": answer}``) that ``/meta`` lists and
        the ``/ui`` fills its form with.
        """
        if name in RESERVED_ROUTES or "/" in name or not name:
            raise ValueError(f"{name!r} cannot be a command name (reserved or not a single path segment)")
        if name in self.commands:
            raise ValueError(f"command {name!r} is defined twice")
        if not outputs:
            raise ValueError(f"command {name!r} needs outputs")

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            command = Command(
                name, fn, _typed(inputs, "input"), _typed(outputs, "output"), description or fn.__doc__, batched
            )
            command.set_examples(examples)
            self.commands[name] = command
            return fn

        return register

    # ------------------------------------------------------------------ state
    def manifest(self) -> dict[str, Any]:
        """``GET /meta``: options, commands and the model's timings, as the SDK reports them."""
        now = time.time()
        meta = {
            "name": self.name,
            "description": self.description,
            "options": [t.to_dict() for t in self.options.values()],
            "commands": [c.to_dict() for c in self.commands.values()],
            "status": self.status,
            "millisRunning": int((now - self.started_at) * 1000),
            "millisSinceLastCommand": None
            if self.last_command_at is None
            else int((now - self.last_command_at) * 1000),
            "GPU": _gpu_available(),
        }
        meta.update(self.info)
        return meta

    def decode_options(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """Check setup options; a missing option without a default is 400."""
        given = dict(given or {})
        for name in given:
            if name not in self.options:
                raise UnknownInputError(str(name), list(self.options), what="option")
        values: dict[str, Any] = {}
        for name, data_type in self.options.items():
            if given.get(name) is not None:
                values[name] = data_type.deserialize(given[name])
            elif data_type.default is not None:
                values[name] = data_type.deserialize(data_type.default)
            elif data_type.required:
                raise MissingOptionError(name)
        return values

    def run_setup(self, options: Mapping[str, Any] | None = None) -> None:
        """Run the setup function with ``options`` (checked); status becomes RUNNING, or FAILED."""
        values = self.decode_options(options)
        with self._setup_lock:
            self.status = "STARTING"
            try:
                if self.setup_fn is None:
                    model = None
                elif _takes_argument(self.setup_fn):
                    model = self.setup_fn(values)
                else:
                    model = self.setup_fn()
            except ServingError:
                self.status = "FAILED"
                raise
            except Exception as exc:
                self.status = "FAILED"
                self.setup_error = exc
                raise SetupError(f"setup failed: {exception_text(exc)}") from exc
            self.model, self.current_options, self.setup_error = model, values, None
            self.status = "RUNNING"

    def check_ready(self) -> None:
        if self.status == "FAILED":
            error = self.setup_error
            if isinstance(error, ServingError):
                raise SetupError(
                    error.message if error.message.startswith("setup failed") else f"setup failed: {error.message}"
                )
            raise SetupError(f"setup failed: {exception_text(error)}" if error else "setup failed")
        if self.status != "RUNNING":
            raise NotReadyError()

    def run_batch(self, command: Command, batch: list[dict[str, Any]]) -> list[Any]:
        """Run ``command`` on decoded inputs; one encoded output dict (or a ServingError) per input."""
        self.last_command_at = time.time()
        if command.batched:
            try:
                results = command.fn(self.model, batch)
            except ServingError:
                raise
            except Exception as exc:
                raise InferenceError(exception_text(exc)) from exc
            if not isinstance(results, list) or len(results) != len(batch):
                raise InferenceError(f"command '{command.name}' must return a list of {len(batch)} output dicts")
        else:
            results = []
            for inputs in batch:
                try:
                    results.append(command.fn(self.model, inputs))
                except ServingError as exc:
                    results.append(exc)
                except Exception as exc:  # one failed request must not fail the others
                    error = InferenceError(exception_text(exc))
                    error.__cause__ = exc
                    results.append(error)
        out: list[Any] = []
        for result in results:
            if isinstance(result, Exception):
                out.append(result)
                continue
            try:
                out.append(command.encode(result))
            except ServingError as exc:
                out.append(exc)
        return out

    # ------------------------------------------------------------------ serving
    def run(
        self,
        host: str = "127.0.0.1",
        port: int = 9000,
        model_options: Mapping[str, Any] | None = None,
        debug: bool = False,
        meta: bool = False,
        **server_options: Any,
    ) -> None:
        """Set up the model and serve it; the SDK's environment variables override the arguments.

        ``RW_HOST``, ``RW_PORT``, ``RW_MODEL_OPTIONS`` (JSON), ``RW_DEBUG`` (1/true) and ``RW_META``
        (1/true: print the ``/meta`` manifest as JSON and exit, without serving). Other keyword
        arguments go to :class:`runway_for_ml.serving.server.ServerConfig` (``max_batch_size``, ...).
        """
        host = os.environ.get("RW_HOST", host)
        raw_port = os.environ.get("RW_PORT", port)
        try:
            port = int(raw_port)
        except (TypeError, ValueError):
            sys.stderr.write(f"error: RW_PORT must be a port number (0 picks a free one), got {raw_port}\n")
            raise SystemExit(2) from None
        if os.environ.get("RW_MODEL_OPTIONS"):
            model_options = json.loads(os.environ["RW_MODEL_OPTIONS"])
        debug = _env_flag("RW_DEBUG", debug)
        if _env_flag("RW_META", meta):
            print(json.dumps(self.manifest(), indent=2))
            return
        try:
            serve(self, ServerConfig(host=host, port=port, debug=debug, **server_options), model_options=model_options)
        except RunwayError as exc:
            if debug:
                raise
            # A model file run as a script: one clear message and exit code 2, as the runway CLI does.
            sys.stderr.write(f"error: {exc}\n")
            raise SystemExit(2) from exc


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return bool(default)
    return value.strip().lower() in ("1", "true", "yes", "on")


def _takes_argument(fn: Callable[..., Any]) -> bool:
    try:
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return True
    return len(params) >= 1


def _gpu_available() -> bool:
    torch = sys.modules.get("torch")  # never import torch just to answer /meta
    return bool(torch is not None and torch.cuda.is_available())
