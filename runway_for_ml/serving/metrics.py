"""Server metrics through ``prometheus_client`` (``GET /metrics``, the Prometheus text format).

Counters of requests (by route, method and status code) and errors (by code), a latency histogram
per route, a histogram of batch sizes per command and a readiness gauge, in a registry of the
server's own (several servers in one process do not mix). Routes are the server's own route names
(unknown paths count as ``other``), so label sets stay bounded whatever clients send.

The request path stays cheap: each label set's child metric is looked up once and kept, so a request
costs a dict lookup, one counter increment and one histogram observation.

>>> m = ServerMetrics()
>>> m.observe_request("classify", "POST", 200, 0.004)
>>> 'runway_requests_total{code="200",method="POST",route="classify"} 1.0' in m.render()
True
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["BATCH_BUCKETS", "LATENCY_BUCKETS", "ServerMetrics"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServerMetrics:
    """The server's metrics in a ``prometheus_client`` registry of its own, rendered on demand."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "runway_requests",
            "HTTP requests by route, method and status code.",
            ("route", "method", "code"),
            registry=self.registry,
        )
        self._errors = Counter("runway_errors", "Error responses by status code.", ("code",), registry=self.registry)
        self._latency = Histogram(
            "runway_request_duration_seconds",
            "Time from request received to response sent.",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._batches = Histogram(
            "runway_batch_size",
            "Requests per model call (dynamic batching).",
            ("command",),
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self._ready = Gauge(
            "runway_model_ready", "1 when setup has finished and commands are served.", registry=self.registry
        )
        self._ready_value = 0
        # label values -> child metrics: prometheus_client's labels() validates and locks on every call.
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        self._batch_children: dict[str, Any] = {}

    @property
    def ready(self) -> int:
        """1 when setup has finished and commands are served (the ``runway_model_ready`` gauge)."""
        return self._ready_value

    @ready.setter
    def ready(self, value: int) -> None:
        self._ready_value = int(value)
        self._ready.set(self._ready_value)

    def observe_request(self, route: str, method: str, code: int, seconds: float) -> None:
        key = (route, method, code)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self._requests.labels(route, method, str(code)),
                self._errors.labels(str(code)) if code >= 400 else None,
                self._latency.labels(route),
            )
            self._request_children[key] = children
        requests, errors, latency = children
        requests.inc()
        if errors is not None:
            errors.inc()
        latency.observe(seconds)

    def observe_batch(self, command: str, size: int) -> None:
        child = self._batch_children.get(command)
        if child is None:
            child = self._batch_children[command] = self._batches.labels(command)
        child.observe(size)

    def render(self) -> str:
        """The Prometheus text exposition (version 0.0.4)."""
        return generate_latest(self.registry).decode()
