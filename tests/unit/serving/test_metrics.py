"""/metrics through prometheus_client: what a Prometheus server parses from the exposition."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from runway_for_ml.serving.metrics import BATCH_BUCKETS, ServerMetrics


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(parsed: dict, name: str, **labels: str) -> float:
    return parsed[(name, tuple(sorted(labels.items())))]


def test_requests_errors_latency_batches_and_readiness_are_exposed() -> None:
    metrics = ServerMetrics()
    for _ in range(3):
        metrics.observe_request("classify", "POST", 200, 0.004)
    metrics.observe_request("classify", "POST", 400, 0.0005)
    metrics.observe_request("other", "GET", 404, 0.0001)
    metrics.observe_batch("classify", 3)
    metrics.observe_batch("classify", 40)
    assert metrics.ready == 0
    metrics.ready = 1
    parsed = samples(metrics.render())
    assert value(parsed, "runway_requests_total", route="classify", method="POST", code="200") == 3
    assert value(parsed, "runway_requests_total", route="classify", method="POST", code="400") == 1
    assert value(parsed, "runway_errors_total", code="400") == 1
    assert value(parsed, "runway_errors_total", code="404") == 1
    assert ("runway_errors_total", (("code", "200"),)) not in parsed  # only error codes are errors
    assert value(parsed, "runway_request_duration_seconds_count", route="classify") == 4
    assert value(parsed, "runway_request_duration_seconds_bucket", route="classify", le="0.001") == 1
    assert value(parsed, "runway_request_duration_seconds_bucket", route="classify", le="+Inf") == 4
    assert value(parsed, "runway_batch_size_bucket", command="classify", le="4.0") == 1
    assert value(parsed, "runway_batch_size_bucket", command="classify", le=f"{float(BATCH_BUCKETS[-1])}") == 2
    assert value(parsed, "runway_batch_size_sum", command="classify") == 43
    assert value(parsed, "runway_model_ready") == 1


def test_each_server_has_its_own_registry() -> None:
    first, second = ServerMetrics(), ServerMetrics()
    first.observe_request("a", "GET", 200, 0.01)
    assert ("runway_requests_total", (("code", "200"), ("method", "GET"), ("route", "a"))) in samples(first.render())
    assert not any(name == "runway_requests_total" for name, _ in samples(second.render()))
