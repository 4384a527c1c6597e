"""Server metrics in the Prometheus text format (``GET /metrics``).

Counters of requests (by route, method and status code) and errors (by code), a latency histogram
per route and a histogram of batch sizes per command. Routes are the server's own route names
(unknown paths count as ``other``), so label sets stay bounded whatever clients send.

>>> m = ServerMetrics()
>>> m.observe_request("classify", "POST", 200, 0.004)
>>> 'runway_requests_total{route="classify",method="POST",code="200"} 1' in m.render()
True
"""

from __future__ import annotations

import threading
from collections import defaultdict

__all__ = ["BATCH_BUCKETS", "LATENCY_BUCKETS", "ServerMetrics"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def _labels(**labels: str) -> str:
    def esc(value: str) -> str:
        return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in labels.items()) + "}"


class _Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.total = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
        self.total += 1
        self.sum += value

    def lines(self, name: str, labels: dict[str, str]) -> list[str]:
        out = []
        for bound, count in zip(self.buckets, self.counts, strict=True):
            out.append(f"{name}_bucket{_labels(**labels, le=f'{bound:g}')} {count}")
        out.append(f"{name}_bucket{_labels(**labels, le='+Inf')} {self.total}")
        out.append(f"{name}_sum{_labels(**labels)} {self.sum:.6f}")
        out.append(f"{name}_count{_labels(**labels)} {self.total}")
        return out


class ServerMetrics:
    """Thread-safe counters and histograms, rendered on demand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.errors: dict[int, int] = defaultdict(int)
        self.latency: dict[str, _Histogram] = {}
        self.batches: dict[str, _Histogram] = {}
        self.ready = 0

    def observe_request(self, route: str, method: str, code: int, seconds: float) -> None:
        with self._lock:
            self.requests[(route, method, code)] += 1
            if code >= 400:
                self.errors[code] += 1
            self.latency.setdefault(route, _Histogram(LATENCY_BUCKETS)).observe(seconds)

    def observe_batch(self, command: str, size: int) -> None:
        with self._lock:
            self.batches.setdefault(command, _Histogram(BATCH_BUCKETS)).observe(size)

    def render(self) -> str:
        """The Prometheus text exposition (version 0.0.4)."""
        with self._lock:
            lines = [
                "# HELP runway_requests_total HTTP requests by route, method and status code.",
                "# TYPE runway_requests_total counter",
            ]
            for (route, method, code), n in sorted(self.requests.items()):
                lines.append(f"runway_requests_total{_labels(route=route, method=method, code=str(code))} {n}")
            lines += [
                "# HELP runway_errors_total Error responses by status code.",
                "# TYPE runway_errors_total counter",
            ]
            for code, n in sorted(self.errors.items()):
                lines.append(f"runway_errors_total{_labels(code=str(code))} {n}")
            lines += [
                "# HELP runway_request_duration_seconds Time from request received to response sent.",
                "# TYPE runway_request_duration_seconds histogram",
            ]
            for route, hist in sorted(self.latency.items()):
                lines += hist.lines("runway_request_duration_seconds", {"route": route})
            lines += [
                "# HELP runway_batch_size Requests per model call (dynamic batching).",
                "# TYPE runway_batch_size histogram",
            ]
            for command, hist in sorted(self.batches.items()):
                lines += hist.lines("runway_batch_size", {"command": command})
            lines += [
                "# HELP runway_model_ready 1 when setup has finished and commands are served.",
                "# TYPE runway_model_ready gauge",
                f"runway_model_ready {self.ready}",
            ]
        return "\n".join(lines) + "\n"
