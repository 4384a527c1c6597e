"""``runway bench VERSION``: load time, HTTP latency and throughput, per-batch time, peak memory.

The server runs in its own process (``runway serve``), the load comes from this one: latency
p50/p95/p99 and requests/s at each concurrency (default 1, 8, 32) after a warm-up. Then the model is
loaded here to time one model call per batch size; on a GPU its peak memory (allocated / reserved)
is measured per run, after a reset and with synchronisation. A table on screen, and ``bench.json``.

>>> main(["bench", "digits_V0", "--requests", "500"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from runway_for_ml.atomic import write_text_atomic
from runway_for_ml.cli.output import rich_console
from runway_for_ml.cli.serve_cmd import add_server_arguments
from runway_for_ml.errors import RunwayError, did_you_mean
from runway_for_ml.progress import PlainProgress
from runway_for_ml.serving import bench
from runway_for_ml.serving.experiment_model import build_experiment_model, load_experiment


def _ints(text: str) -> list[int]:
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "version", help="a version (digits_V0), an experiment (its latest completed version), or a version folder"
    )
    parser.add_argument("--checkpoint", default="best", help="best (default), last, or a .ckpt path")
    parser.add_argument(
        "--command", dest="bench_command", default=None, help="the command to load (default: the first one)"
    )
    parser.add_argument("--concurrency", type=_ints, default=[1, 8, 32], help="concurrency levels (default: 1,8,32)")
    parser.add_argument(
        "--requests",
        type=int,
        default=400,
        help="requests per level (default: 400); a level sends at least 20 x its concurrency, and says so",
    )
    parser.add_argument("--warmup", type=int, default=50, help="warm-up requests before each level (default: 50)")
    parser.add_argument(
        "--batch-sizes", type=_ints, default=[1, 8, 32], help="in-process batch sizes (default: 1,8,32)"
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=None, help="where to write bench.json (default: <version>/bench.json)"
    )
    add_server_arguments(parser, port=False)


def _serve_argv(version_path: Path, args: argparse.Namespace) -> list[str]:
    """``runway serve`` of the version on any free port, with the bench's server options."""
    argv = [
        sys.executable,
        "-m",
        "runway_for_ml.cli.main",
        "serve",
        str(version_path),
        "--port",
        "0",
        "--checkpoint",
        args.checkpoint,
        "--device",
        args.device,
    ]
    for flag in ("max_batch_size", "batch_timeout_ms", "workers"):
        if getattr(args, flag) is not None:
            argv += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
    return argv


def run(args: argparse.Namespace) -> int:

    exp = load_experiment(args.version)
    model = build_experiment_model(exp, checkpoint=args.checkpoint, device=args.device)
    name = args.bench_command or next(iter(model.commands))
    if name not in model.commands:
        raise RunwayError(
            f"--command {name!r}: {exp.version_name} has no such command{did_you_mean(name, model.commands)}",
            hint=f"commands: {', '.join(model.commands)}",
        )
    output = args.output or exp.path / "bench.json"

    argv = _serve_argv(exp.path, args)
    sys.stderr.write(f"[bench] starting the server: runway serve {exp.version_name}\n")
    started = time.time()
    proc, url = bench.start_server_process(argv, cwd=exp.project_root)
    try:
        bench.wait_ready(url)
        load_seconds = time.time() - started
        with urllib.request.urlopen(url + "/meta", timeout=10) as response:
            meta = json.loads(response.read())
        descriptor = next(c for c in meta["commands"] if c["name"] == name)
        bodies = [json.dumps(x).encode() for x in bench.example_inputs(descriptor, 64)]
        sys.stderr.write(f"[bench] HTTP load on /{name} at concurrency {args.concurrency}\n")
        for level in args.concurrency:
            if args.requests < 20 * level:
                sys.stderr.write(
                    f"[bench] concurrency {level}: sending {20 * level} requests, not --requests {args.requests} "
                    "(at least 20 per caller, for a stable p99)\n"
                )
        levels = bench.run_levels(
            url,
            f"/{name}",
            bodies,
            args.concurrency,
            requests_per_level=args.requests,
            warmup=args.warmup,
            progress=PlainProgress("bench", unit="req"),  # plain lines when stderr is not a terminal
        )
        rss = bench.peak_rss_mb(proc.pid)
    finally:
        bench.stop_process(proc)

    sys.stderr.write("[bench] in-process model calls\n")
    batches = _in_process(model, name, args.checkpoint, [json.loads(b) for b in bodies], args.batch_sizes)
    report = {
        "version": exp.version_name,
        "command": name,
        "checkpoint": str(exp.checkpoint(args.checkpoint)),
        "device": model.info.get("device"),
        "load_seconds": round(load_seconds, 3),
        "server_peak_rss_mb": rss,
        "http": levels,
        "in_process": batches,
        "server": {k: getattr(args, k) for k in ("max_batch_size", "batch_timeout_ms", "workers")},
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_text_atomic(output, json.dumps(report, indent=2) + "\n")
    _print(report, output)
    return 0


def _in_process(
    model: Any, name: str, checkpoint: str, inputs: list[dict[str, Any]], sizes: list[int]
) -> list[dict[str, Any]]:
    import torch

    model.run_setup({"checkpoint": checkpoint})
    command = model.commands[name]
    decoded = [command.decode(x) for x in inputs]
    cuda = str(model.info.get("device", "cpu")).startswith("cuda")
    rows = []
    for size in sizes:
        batch = [decoded[i % len(decoded)] for i in range(size)]
        for _ in range(3):
            model.run_batch(command, batch)
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        times = []
        repeats = max(5, min(200, 2000 // size))
        for _ in range(repeats):
            t0 = time.perf_counter()
            model.run_batch(command, batch)
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        row: dict[str, Any] = {
            "batch_size": size,
            "ms_per_batch": round(statistics.median(times) * 1000, 3),
            "ms_per_example": round(statistics.median(times) * 1000 / size, 4),
        }
        if cuda:
            row["gpu_peak_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
            row["gpu_peak_reserved_mb"] = round(torch.cuda.max_memory_reserved() / 2**20, 1)
        rows.append(row)
    return rows


def _print(report: dict[str, Any], output: Path) -> None:
    from rich.table import Table

    console = rich_console()
    console.print(
        f"[bold]{report['version']}[/bold] /{report['command']} on {report['device']}: "
        f"load {report['load_seconds']:.2f} s, server peak RSS {report['server_peak_rss_mb']} MB"
    )
    http = Table(title="HTTP (server in its own process)")
    for col in ("concurrency", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms"):
        http.add_column(col, justify="right")
    for row in report["http"]:
        http.add_row(*(str(row[k]) for k in ("concurrency", "requests", "errors", "rps", "p50_ms", "p95_ms", "p99_ms")))
    console.print(http)
    batch = Table(title="in-process model call")
    columns = ["batch_size", "ms_per_batch", "ms_per_example"]
    if any("gpu_peak_allocated_mb" in r for r in report["in_process"]):
        columns += ["gpu_peak_allocated_mb", "gpu_peak_reserved_mb"]
    for col in columns:
        batch.add_column(col.replace("_", " "), justify="right")
    for row in report["in_process"]:
        batch.add_row(*(str(row.get(k, "")) for k in columns))
    console.print(batch)
    console.print(f"written: {output}")
