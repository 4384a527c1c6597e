"""``runway serve VERSION``: serve a trained experiment over HTTP (Runway Model SDK protocol).

>>> main(["serve", "digits_V0"])                          # doctest: +SKIP
Serving digits_V0 on http://127.0.0.1:9000  (UI: http://127.0.0.1:9000/ui, Ctrl-C to stop)
>>> main(["serve", "digits", "--openapi", "openapi.json"])  # writes the spec and exits  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from runway_for_ml.atomic import write_text_atomic
from runway_for_ml.config import load_config
from runway_for_ml.config.models import ServeSection
from runway_for_ml.errors import RunwayError
from runway_for_ml.experiment.names import require_project_root, resolve_experiment, split_version_name
from runway_for_ml.serving.experiment_model import (
    build_experiment_model,
    load_experiment,
    model_from_spec,
    parse_serve_section,
    serve_spec_of,
)
from runway_for_ml.serving.openapi import build_openapi
from runway_for_ml.serving.server import ServerConfig, bind_socket, serve


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "version", help="a version (digits_V0), an experiment (its latest completed version), or a version folder"
    )
    parser.add_argument("--checkpoint", default="best", help="best (default), last, or a .ckpt path")
    add_server_arguments(parser)
    parser.add_argument(
        "--openapi", type=Path, default=None, metavar="FILE", help="write the OpenAPI spec to FILE and exit"
    )


def add_server_arguments(parser: argparse.ArgumentParser, *, port: bool = True) -> None:
    """Flags shared by ``runway serve`` and ``runway bench``; unset, a flag takes the ``serve:`` section's value.

    The defaults shown are :class:`~runway_for_ml.config.models.ServeSection`'s (the section's owner).
    """

    default = {name: field.default for name, field in ServeSection.model_fields.items()}
    if port:
        parser.add_argument("--host", default=None, help="address to bind (default 127.0.0.1; 0.0.0.0 exposes it)")
        parser.add_argument(
            "--port", type=int, default=None, help=f"port (default: serve.port, {default['port']}; 0 picks a free one)"
        )
        parser.add_argument(
            "--api-key-env", default=None, metavar="VAR", help="require the API key held in env var VAR"
        )
        parser.add_argument("--cors-origins", default="", help="comma-separated origins allowed by CORS ('*' for any)")
        parser.add_argument(
            "--max-body-mb", type=float, default=10.0, help="request body limit in MB (default 10; 413 above)"
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=None,
            help=f"per-request timeout in seconds (default: serve.request_timeout_s, {default['request_timeout_s']}; 504)",
        )
        parser.add_argument(
            "--log-level",
            default="warning",
            choices=["critical", "error", "warning", "info", "debug"],
            help="log level of the HTTP server, uvicorn (default: warning)",
        )
    parser.add_argument(
        "--max-batch-size",
        type=int,
        default=None,
        help=f"requests per model call (default: serve.max_batch_size, {default['max_batch_size']})",
    )
    parser.add_argument(
        "--batch-timeout-ms",
        type=float,
        default=None,
        help=f"wait for a fuller batch (default: serve.batch_timeout_ms, {default['batch_timeout_ms']} ms)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help=f"model calls running at once (default: serve.workers, {default['workers']})",
    )
    parser.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda, cuda:1 ...")


def server_config(args: argparse.Namespace, section: Any = None) -> Any:
    """A :class:`ServerConfig`: the flags given override the ``serve:`` section object (its defaults when absent)."""

    api_key = None
    if getattr(args, "api_key_env", None):
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            raise RunwayError(
                f"--api-key-env {args.api_key_env}: that environment variable is not set or empty",
                hint=f"export {args.api_key_env}=<a long random key> before serving",
            )
    for flag in ("max_batch_size", "workers"):
        value = getattr(args, flag, None)
        if value is not None and int(value) < 1:
            raise RunwayError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    return ServerConfig.from_section(
        section if section is not None else ServeSection(),
        host=getattr(args, "host", None) or "127.0.0.1",
        port=getattr(args, "port", None),
        debug=bool(getattr(args, "debug", False)),
        max_batch_size=getattr(args, "max_batch_size", None),
        batch_timeout_ms=getattr(args, "batch_timeout_ms", None),
        workers=getattr(args, "workers", None),
        max_body_bytes=int(float(getattr(args, "max_body_mb", 10.0)) * 1024 * 1024),
        request_timeout_s=getattr(args, "timeout", None),
        api_key=api_key,
        cors_origins=[o.strip() for o in (getattr(args, "cors_origins", "") or "").split(",") if o.strip()],
        log_level=getattr(args, "log_level", "warning"),
    )


def run(args: argparse.Namespace) -> int:

    if args.openapi is not None:
        return _write_openapi(args)
    exp = load_experiment(args.version)
    model = build_experiment_model(exp, checkpoint=args.checkpoint, device=args.device)
    config = server_config(args, serve_spec_of(exp).section)
    sock = bind_socket(config.host, config.port)  # a port in use fails here, with exit code 2
    serve(model, config, sock=sock)
    return 0


def _write_openapi(args: argparse.Namespace) -> int:
    """The spec needs only the ``serve:`` section: an experiment without trained versions works too."""

    model = openapi_model(args.version, checkpoint=args.checkpoint)
    spec = build_openapi(model, api_key=bool(getattr(args, "api_key_env", None)))
    text = json.dumps(spec, indent=2, sort_keys=False) + "\n"
    if str(args.openapi) == "-":
        sys.stdout.write(text)
        return 0

    write_text_atomic(args.openapi, text)
    sys.stderr.write(f"OpenAPI spec written to {args.openapi}\n")
    return 0


def openapi_model(ref: str, checkpoint: str = "best") -> Any:
    """A model with the commands of ``ref`` (a version, or an experiment name read from its config file)."""

    root = require_project_root()
    name, number = split_version_name(ref)
    if number is None and "/" not in ref:
        named = resolve_experiment(name, root)
        if named.config_path.is_file():
            config = load_config(named.config_path, project_root=root)
            if config.data.get("serve") is None:
                raise RunwayError(f"{named.config_path}: no serve: section", hint="see docs/serving.md")
            return model_from_spec(
                name, parse_serve_section(config.section("serve"), f"{named.config_path}: "), checkpoint
            )

    exp = load_experiment(ref)
    return model_from_spec(exp.version_name, serve_spec_of(exp), checkpoint)
