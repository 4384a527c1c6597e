"""Benchmark a served model: ``runway bench`` and ``benchmarks/bench_serving.py``.

The load generator is a small asyncio HTTP/1.1 client (one keep-alive connection per concurrent
caller, reconnecting when a server closes the connection) so that the client costs little CPU next to
the server it measures. The server runs in its own process.

>>> load = asyncio.run(http_load("127.0.0.1", 9000, "/classify", [b'{"pixels": [...]}'], concurrency=8,
...                              requests=400))  # doctest: +SKIP
>>> load.summary()["rps"]  # doctest: +SKIP
2510.3
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "LoadResult",
    "example_inputs",
    "http_load",
    "peak_rss_mb",
    "percentile",
    "run_levels",
    "start_server_process",
    "stop_process",
    "wait_ready",
]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation; NaN for no values.

    >>> percentile([1, 2, 3, 4], 50)
    2.5
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class LoadResult:
    """Latencies (seconds) of the successful requests, the error count and the wall time."""

    concurrency: int
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        n = len(self.latencies)
        return {
            "concurrency": self.concurrency,
            "requests": n,
            "errors": self.errors,
            "rps": round(n / self.seconds, 1) if self.seconds > 0 else 0.0,
            "p50_ms": round(percentile(self.latencies, 50) * 1000, 2),
            "p95_ms": round(percentile(self.latencies, 95) * 1000, 2),
            "p99_ms": round(percentile(self.latencies, 99) * 1000, 2),
        }


def _request_bytes(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: keep-alive",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, keep-alive) of one response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    else:
        body = await reader.read()
        return int(status), body, False
    keep = headers.get("connection", "").lower() != "close" and version != "HTTP/1.0"
    return int(status), body, keep


async def http_load(
    host: str,
    port: int,
    path: str,
    bodies: Sequence[bytes],
    *,
    concurrency: int,
    requests: int,
    headers: dict[str, str] | None = None,
    check: Any = None,
    on_done: Any = None,
) -> LoadResult:
    """Send ``requests`` POSTs from ``concurrency`` callers, each waiting for its answer before the next.

    ``check(body_bytes) -> bool`` may verify answers (a failed check counts as an error);
    ``on_done()`` is called after each request (progress lines).
    """
    result = LoadResult(concurrency)
    payloads = [_request_bytes(host, port, path, b, headers or {}) for b in bodies]
    counter = iter(range(requests))

    async def caller(offset: int) -> None:
        reader = writer = None
        for i in counter:
            payload = payloads[(i + offset) % len(payloads)]
            for _attempt in range(2):
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                started = time.perf_counter()
                try:
                    writer.write(payload)
                    status, body, keep = await _read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    writer.close()
                    reader = writer = None
                    continue  # the server closed an idle connection: reconnect once
                elapsed = time.perf_counter() - started
                result.statuses[status] = result.statuses.get(status, 0) + 1
                if status == 200 and (check is None or check(body)):
                    result.latencies.append(elapsed)
                else:
                    result.errors += 1
                if not keep:
                    writer.close()
                    reader = writer = None
                break
            else:
                result.errors += 1
            if on_done is not None:
                on_done()
        if writer is not None:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(caller(k) for k in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


def example_inputs(command: dict[str, Any], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` valid input dicts for a command descriptor (from ``/meta``), drawn from its descriptors.

    Alternatives filling the same column are not known from a descriptor: every required input and
    the first optional one (when no input is required) get a value.
    """
    rng = random.Random(seed)
    inputs = command["inputs"]
    chosen = [t for t in inputs if t.get("default") is None and t["type"] != "image" and _required_guess(t)]
    if not chosen:
        chosen = [next((t for t in inputs if t["type"] != "image"), inputs[0])]
    return [{t["name"]: _draw(t, rng) for t in chosen} for _ in range(n)]


def _required_guess(descriptor: dict[str, Any]) -> bool:
    return not descriptor.get("optional", False)


def _draw(t: dict[str, Any], rng: random.Random) -> Any:
    kind = t["type"]
    if kind == "vector":
        mean, std = t.get("samplingMean", 0.0), t.get("samplingStd", 1.0)
        low, high = t.get("min", 0.0), t.get("max", float("inf"))  # within the declared bounds
        return [round(min(high, max(low, rng.gauss(mean, std))), 3) for _ in range(t["length"])]
    if kind == "number":
        low, high = t.get("min", 0.0), t.get("max", 1.0)
        return round(rng.uniform(low, high), 4)
    if kind == "category":
        return rng.choice(t["oneOf"])
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "text":
        words = ["a", "good", "bad", "model", "runway", "serves", "this", "text"]
        return " ".join(rng.choice(words) for _ in range(8))[: t.get("maxLength") or 200]
    if kind == "array":
        return [_draw(t["itemType"], rng) for _ in range(max(1, t.get("minLength") or 1))]
    if kind == "image":
        import base64
        import io

        from PIL import Image

        size = (t.get("width") or 8, t.get("height") or 8)
        mode = {1: "L", 3: "RGB", 4: "RGBA"}[t.get("channels", 3)]
        buffer = io.BytesIO()
        Image.new(mode, size).save(buffer, format="PNG")
        return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return None


def start_server_process(
    argv: Sequence[str], *, cwd: str | Path | None = None, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    """Start a server command that prints ``http://HOST:PORT``; return the process and the base URL."""
    import re

    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=env or dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.time() + 300
    seen: list[str] = []
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n" + "".join(seen[-30:]))
            continue
        seen.append(line)
        match = re.search(r"http://(\[[^\]]+\]|[\w.\-]+):(\d+)", line)
        if match:
            # Keep draining the output so that the server never blocks on a full pipe.
            import threading

            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, f"http://{match.group(1)}:{match.group(2)}"
    proc.kill()
    raise RuntimeError("server did not print its URL within 300 s:\n" + "".join(seen[-30:]))


def wait_ready(url: str, timeout: float = 300.0, headers: dict[str, str] | None = None) -> float:
    """Poll ``/healthcheck`` until RUNNING; return the seconds waited (FAILED raises)."""
    started = time.time()
    while time.time() - started < timeout:
        try:
            req = urllib.request.Request(url + "/healthcheck", headers=headers or {})
            with urllib.request.urlopen(req, timeout=5) as response:
                status = json.loads(response.read()).get("status")
            if status == "RUNNING":
                return time.time() - started
            if status == "FAILED":
                raise RuntimeError(f"{url}: setup failed")
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not become ready within {timeout:.0f} s")


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident memory (VmHWM) of a live process, in MB (Linux); ``None`` elsewhere."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def run_levels(
    url: str,
    path: str,
    bodies: Sequence[bytes],
    levels: Sequence[int],
    *,
    requests_per_level: int,
    warmup: int,
    headers: dict[str, str] | None = None,
    progress: Any = None,
) -> list[dict[str, Any]]:
    """Warm up, then measure each concurrency level; one summary dict per level.

    A level sends ``max(requests_per_level, 20 * level)`` requests (enough for its p99).
    ``progress``: a :class:`runway_for_ml.progress.PlainProgress`, reset for each level.
    """
    from urllib.parse import urlparse

    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", int(parsed.port or 80)
    rows = []
    for level in levels:
        asyncio.run(http_load(host, port, path, bodies, concurrency=level, requests=warmup, headers=headers))
        requests = max(requests_per_level, level * 20)
        if progress is not None:
            progress.reset(requests, prefix=f"concurrency {level}")
        result = asyncio.run(
            http_load(
                host,
                port,
                path,
                bodies,
                concurrency=level,
                requests=requests,
                headers=headers,
                on_done=None if progress is None else lambda: progress.update(1),
            )
        )
        rows.append(result.summary())
        if progress is not None:
            summary = rows[-1]
            progress.close(errors=summary["errors"], p50_ms=summary["p50_ms"], p99_ms=summary["p99_ms"])
    return rows


def stop_process(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGTERM (graceful), then SIGKILL after ``timeout``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def python_executable() -> str:
    return sys.executable
