"""Serving benchmark (issue 8), measured side by side in one run.

Same model (the digits template trained tiny), same preprocessing and inputs, same machine, load from
this process (the servers run in their own processes, one at a time), concurrency 32:

#1  ``runway serve`` (dynamic batching, max batch 32, 2 ms) vs LitServe serving the same model with the
    same batching: req/s >= LitServe's, p99 no worse.
#2  ``runway serve`` vs a single-threaded Flask server like the original Runway Model SDK's: req/s >= 2x.

All three servers answer through the same code (``answer_batch``: decode -> per-example preprocessing ->
``serve_step``), so the comparison is the server, not the model. Answers are cross-checked.

Run:  .venv/bin/python benchmarks/bench_serving.py [--requests 3000] [--concurrency 32]
Exits non-zero when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")

import litserve as ls

from runway_for_ml.serving.bench import example_inputs, http_load, start_server_process, stop_process

MAX_BATCH, BATCH_TIMEOUT_MS = 32, 2.0
TINY = [
    "data_pipeline.transforms.input:LoadDigits.setup_kwargs.max_rows=600",
    "train.trainer_paras.max_epochs=2",
    "train.trainer_paras.enable_progress_bar=false",
    "train.trainer_paras.enable_model_summary=false",
    "train.early_stopping=null",
    'meta.logger_enable=["csv"]',
]


# ----------------------------------------------------------------------------- baseline servers


def _served(project: Path):
    """The model as every server here uses it: executor + fitted preprocessing + the classify command."""
    from runway_for_ml import Experiment
    from runway_for_ml.serving.experiment_model import ServedExperiment, serve_spec_of

    exp = Experiment.load("digits_V0", project_root=project)
    served = ServedExperiment(exp, "best", "cpu")
    served.preprocess.build()
    return served, serve_spec_of(exp).commands["classify"]


def _command(spec):
    from runway_for_ml.serving.model import RunwayModel

    model = RunwayModel("baseline")
    model.command("classify", inputs=spec.inputs, outputs=spec.outputs, batched=True)(lambda m, b: b)
    command = model.commands["classify"]
    command.check = spec.check_alternatives
    return command


class DigitsAPI(ls.LitAPI):
    """LitServe's four-method contract around the same served model (module level: LitServe pickles it)."""

    def __init__(self, project: str, **kwargs):
        super().__init__(**kwargs)
        self.project = project

    def setup(self, device):
        self.served, self.spec = _served(Path(self.project))
        self.command = _command(self.spec)

    def decode_request(self, request):
        return self.command.decode(request)

    def batch(self, inputs):
        return list(inputs)

    def predict(self, batch):
        from runway_for_ml.serving.experiment_model import answer_batch

        answers = answer_batch(self.served.executor, self.served.preprocess, self.spec, batch)
        return [self.command.encode(answer) for answer in answers]

    def unbatch(self, output):
        return output

    def encode_response(self, output):
        return output


def serve_litserve(project: Path, port: int) -> None:
    api = DigitsAPI(str(project), max_batch_size=MAX_BATCH, batch_timeout=BATCH_TIMEOUT_MS / 1000, api_path="/classify")
    server = ls.LitServer(api, accelerator="cpu", devices=1, workers_per_device=1, timeout=60)
    print(f"Serving litserve on http://127.0.0.1:{port}", flush=True)
    server.run(host="127.0.0.1", port=port, log_level="warning", generate_client_file=False)


def serve_flask(project: Path, port: int) -> None:
    from flask import Flask, jsonify, request

    from runway_for_ml.serving.experiment_model import answer_batch

    served, spec = _served(project)
    command = _command(spec)
    app = Flask("sdk-like")

    @app.post("/classify")
    def classify():
        inputs = command.decode(request.get_json(force=True))
        return jsonify(command.encode(answer_batch(served.executor, served.preprocess, spec, [inputs])[0]))

    @app.get("/health")
    def health():
        return "ok"

    print(f"Serving flask on http://127.0.0.1:{port}", flush=True)
    app.run(host="127.0.0.1", port=port, threaded=False)  # one request at a time, like the original SDK


# ----------------------------------------------------------------------------- driver


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, path: str, timeout: float = 300) -> None:
    started = time.time()
    while time.time() - started < timeout:
        try:
            with urllib.request.urlopen(url + path, timeout=5) as response:
                body = response.read()
                if response.status == 200 and (path != "/healthcheck" or b"RUNNING" in body):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url}{path} not ready after {timeout} s")


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(
        url + "/classify", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as response:
        return json.loads(response.read())


def _tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its descendants (LitServe runs several processes)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:
            pass
        todo.extend(children.get(current, []))
    return total


def measure_round(server: dict, bodies: list[bytes], args) -> dict:
    """Warm up, then time ``args.requests`` requests; also the server's CPU time per request."""
    port = int(server["url"].rsplit(":", 1)[1])
    load = {"concurrency": args.concurrency}
    asyncio.run(http_load("127.0.0.1", port, "/classify", bodies, requests=args.warmup, **load))
    before = _tree_cpu_seconds(server["proc"].pid)
    result = asyncio.run(http_load("127.0.0.1", port, "/classify", bodies, requests=args.requests, **load))
    summary = result.summary()
    cpu = _tree_cpu_seconds(server["proc"].pid) - before
    summary["cpu_ms_per_request"] = round(cpu * 1000 / max(1, len(result.latencies)), 3)
    return summary


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="measurements per server, interleaved; medians kept")
    parser.add_argument("--serve", choices=["litserve", "flask"], help=argparse.SUPPRESS)
    parser.add_argument("--project", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        {"litserve": serve_litserve, "flask": serve_flask}[args.serve](args.project, args.port)
        return 0

    from runway_for_ml.cli.main import main as runway

    started: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "proj"
        assert runway(["init", str(project)]) == 0
        os.chdir(project)
        sys.stderr.write("[bench] training the digits template (tiny) ...\n")
        assert runway(["train", "digits", "--opts", *TINY]) == 0
        meta_command = {
            "name": "classify",
            "inputs": [{"type": "vector", "name": "pixels", "length": 64, "samplingMean": 4, "samplingStd": 6}],
        }
        bodies = [json.dumps(x).encode() for x in example_inputs(meta_command, 256, seed=1)]
        me = [sys.executable, str(Path(__file__).resolve())]
        batching = ["--max-batch-size", str(MAX_BATCH), "--batch-timeout-ms", str(BATCH_TIMEOUT_MS)]
        servers = [
            (
                "runway serve",
                [sys.executable, "-m", "runway_for_ml.cli.main", "serve", "digits_V0", "--port", "0", *batching],
                "/healthcheck",
            ),
            (
                "LitServe",
                [*me, "--serve", "litserve", "--project", str(project), "--port", str(_free_port())],
                "/health",
            ),
            (
                "Flask (1 thread)",
                [*me, "--serve", "flask", "--project", str(project), "--port", str(_free_port())],
                "/health",
            ),
        ]
        # All three run at once and are measured in turns, round after round: on a shared machine the
        # background load changes over time, and this way each server sees the same mix of it.
        try:
            for name, argv, ready in servers:
                proc, url = start_server_process(argv, cwd=project)
                started.append({"name": name, "proc": proc, "url": url, "ready": ready, "rounds": []})
            for server in started:
                _wait(server["url"], server["ready"])
                server["answers"] = [_post(server["url"], json.loads(b)) for b in bodies[:5]]
            for round_no in range(args.rounds):
                for server in started:
                    sys.stderr.write(f"[bench] round {round_no + 1}/{args.rounds}: {server['name']}\n")
                    server["rounds"].append(measure_round(server, bodies, args))
        finally:
            for server in started:
                stop_process(server["proc"])
            os.chdir(tmp)  # leave the project before it is removed

    rows = []
    for server in started:
        rounds = server["rounds"]
        row = {
            key: _median([r[key] for r in rounds])
            for key in ("rps", "p50_ms", "p95_ms", "p99_ms", "cpu_ms_per_request")
        }
        row.update(server=server["name"], answers=server["answers"], errors=sum(r["errors"] for r in rounds))
        row["all_rps"] = [r["rps"] for r in rounds]
        rows.append(row)
    ours, lit, flask = rows
    same = all(
        a["label"] == b["label"]
        and max(abs(x - y) for x, y in zip(a["probabilities"], b["probabilities"], strict=True)) < 1e-5
        for other in (lit, flask)
        for a, b in zip(ours["answers"], other["answers"], strict=True)
    )
    print(
        f"\nServing the digits MLP: concurrency {args.concurrency}, {args.requests} requests after {args.warmup} "
        f"warm-up; medians of {args.rounds} interleaved rounds"
    )
    print(
        f"{'server':<18} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'server CPU ms/req':>18} {'req/s vs runway':>16}"
    )
    for row in rows:
        ratio = row["rps"] / ours["rps"] if ours["rps"] else float("nan")
        print(
            f"{row['server']:<18} {row['rps']:>9.1f} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} {row['p99_ms']:>8.2f} "
            f"{row['errors']:>7} {row['cpu_ms_per_request']:>18.3f} {ratio:>15.2f}x"
        )
    print("req/s per round: " + "; ".join(f"{r['server']} {r['all_rps']}" for r in rows))
    checks = {
        "#1 req/s >= LitServe": ours["rps"] >= lit["rps"],
        "#1 p99 <= LitServe p99": ours["p99_ms"] <= lit["p99_ms"],
        "#2 req/s >= 2x Flask single-threaded": ours["rps"] >= 2 * flask["rps"],
        "same answers from all three": same,
        "no errors": all(r["errors"] == 0 for r in rows),
    }
    print(
        f"\nrunway / LitServe req/s: {ours['rps'] / lit['rps']:.2f}x   "
        f"runway / Flask req/s: {ours['rps'] / flask['rps']:.2f}x"
    )
    for label, ok in checks.items():
        print(f"  {'PASS' if ok else 'MISS'}  {label}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
