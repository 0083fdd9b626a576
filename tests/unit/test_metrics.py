"""Metrics: per-app registry, text format that Prometheus' own parser reads, counters move."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from zproxy.metrics import Metrics
from zproxy.stats import MAX_MODELS, OTHER, RequestRecord


def rec(**kw: Any) -> RequestRecord:
    base: dict[str, Any] = {"time": 1.0, "method": "POST", "path": "/v1/chat/completions",
                            "status": 200, "duration_s": 0.7}
    return RequestRecord(**{**base, **kw})


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, tuple(sorted(labels.items()))))


def test_each_app_has_its_own_registry() -> None:
    a, b = Metrics(), Metrics()  # would raise "Duplicated timeseries" on a shared registry
    a.observe(rec(model="GLM-4.5"))
    assert value(a, "zproxy_requests_total", model="GLM-4.5", status="200") == 1.0
    assert value(b, "zproxy_requests_total", model="GLM-4.5", status="200") is None


def test_counters_and_histograms_move() -> None:
    m = Metrics()
    m.observe(rec(model="GLM-4.5", ttft_s=0.2, prompt_tokens=12, completion_tokens=38,
                  attempts=3, retries=("timeout", "rate_limit")))
    m.observe(rec(model="GLM-4.5", status=502, error_type="upstream_unavailable",
                  duration_s=3.0, attempts=1))
    assert value(m, "zproxy_requests_total", model="GLM-4.5", status="200") == 1.0
    assert value(m, "zproxy_requests_total", model="GLM-4.5", status="502") == 1.0
    assert value(m, "zproxy_request_duration_seconds_count", model="GLM-4.5") == 2.0
    assert value(m, "zproxy_request_duration_seconds_sum", model="GLM-4.5") == 3.7
    assert value(m, "zproxy_request_duration_seconds_bucket", model="GLM-4.5", le="1.0") == 1.0
    assert value(m, "zproxy_time_to_first_token_seconds_count", model="GLM-4.5") == 1.0
    assert value(m, "zproxy_tokens_total", model="GLM-4.5", kind="prompt") == 12.0
    assert value(m, "zproxy_tokens_total", model="GLM-4.5", kind="completion") == 38.0
    assert value(m, "zproxy_upstream_attempts_total") == 4.0
    assert value(m, "zproxy_upstream_retries_total", cause="timeout") == 1.0
    assert value(m, "zproxy_upstream_retries_total", cause="rate_limit") == 1.0
    assert value(m, "zproxy_request_errors_total", type="upstream_unavailable") == 1.0


def test_gauges() -> None:
    m = Metrics()
    m.stream_opened()
    m.stream_opened()
    m.stream_closed()
    m.request_started()
    assert value(m, "zproxy_active_streams") == 1.0
    assert value(m, "zproxy_requests_in_flight") == 1.0
    m.request_ended()
    assert value(m, "zproxy_requests_in_flight") == 0.0


def test_pool_is_read_at_scrape_time() -> None:
    pool = {"guest_sessions": 2, "user_tokens": 1, "user_tokens_usable": 1,
            "active_requests": 0}
    m = Metrics(pool=lambda: pool)
    assert value(m, "zproxy_guest_sessions") == 2.0
    pool["guest_sessions"] = 5
    assert value(m, "zproxy_guest_sessions") == 5.0
    assert value(m, "zproxy_user_tokens") == 1.0
    assert value(m, "zproxy_upstream_active_requests") == 0.0


def test_pool_absent_before_startup() -> None:
    m = Metrics(pool=lambda: None)
    assert value(m, "zproxy_guest_sessions") is None
    assert value(m, "zproxy_active_streams") == 0.0


def test_model_label_is_bounded() -> None:
    m = Metrics()
    for i in range(MAX_MODELS + 5):
        m.observe(rec(model=f"invented-{i}"))
    models = {labels for (name, labels) in samples(m) if name == "zproxy_requests_total"}
    assert len(models) == MAX_MODELS + 1
    assert value(m, "zproxy_requests_total", model=OTHER, status="200") == 5.0


def test_build_info() -> None:
    from zproxy import __version__

    assert value(Metrics(), "zproxy_build_info", version=__version__) == 1.0


def test_histogram_buckets_are_cumulative_and_bounds_inclusive() -> None:
    m = Metrics()
    for duration in (0.05, 0.07, 400.0):  # on a bound, between bounds, above them all
        m.observe(rec(model="GLM-4.5", duration_s=duration))
    bucket = "zproxy_request_duration_seconds_bucket"
    assert value(m, bucket, model="GLM-4.5", le="0.05") == 1.0
    assert value(m, bucket, model="GLM-4.5", le="0.1") == 2.0
    assert value(m, bucket, model="GLM-4.5", le="300.0") == 2.0
    assert value(m, bucket, model="GLM-4.5", le="+Inf") == 3.0
    assert value(m, "zproxy_request_duration_seconds_count", model="GLM-4.5") == 3.0
    assert value(m, "zproxy_request_duration_seconds_sum", model="GLM-4.5") == 400.12
