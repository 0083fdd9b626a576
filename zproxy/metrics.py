"""Prometheus metrics on a per-app `CollectorRegistry` (never the global default one).

`Metrics.observe(record)` runs once per finished request; the guest-session pool is read at
scrape time through a collector callback, so nothing polls it in the background.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Final, NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from zproxy import __version__
from zproxy.stats import APIS, MAX_MODELS, NO_MODEL, OTHER, RequestRecord

CONTENT_TYPE: Final = CONTENT_TYPE_PLAIN_0_0_4
LATENCY_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0,
                          300.0)
TTFT_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
# TokenPool.snapshot() key -> (metric name, help)
POOL_GAUGES: Final = {
    "guest_sessions": ("zproxy_guest_sessions", "Usable guest sessions in the pool."),
    "user_tokens": ("zproxy_user_tokens", "Configured Z.AI user tokens."),
    "user_tokens_usable": ("zproxy_user_tokens_usable", "User tokens not disabled."),
    "active_requests": ("zproxy_upstream_active_requests",
                        "Upstream requests holding a credential."),
}

PoolSnapshot = Callable[[], Mapping[str, int] | None]


class _PoolCollector(Collector):
    """Reads the credential pool when Prometheus scrapes, not before."""

    def __init__(self, snapshot: PoolSnapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        values = self._snapshot() or {}
        for key, (name, doc) in POOL_GAUGES.items():
            if key in values:
                yield GaugeMetricFamily(name, doc, value=values[key])

    def describe(self) -> Iterator[Metric]:
        return iter(())  # names vary with the snapshot; skip registration-time collect()


class _ModelChildren(NamedTuple):
    latency: Histogram
    ttft: Histogram
    prompt: Counter
    completion: Counter


class Metrics:
    def __init__(self, pool: PoolSnapshot | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("zproxy_requests", "Finished API requests.",
                                ["model", "status"], registry=r)
        self.latency = Histogram("zproxy_request_duration_seconds",
                                 "Total request duration.", ["model"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.ttft = Histogram("zproxy_time_to_first_token_seconds",
                              "Time to the first streamed token.", ["model"],
                              buckets=TTFT_BUCKETS, registry=r)
        self.tokens = Counter("zproxy_tokens", "Tokens reported by the upstream.",
                              ["model", "kind"], registry=r)
        self.api_requests = Counter("zproxy_api_requests",
                                    "Finished model requests, by front door (wire format).",
                                    ["api", "status"], registry=r)
        self.attempts = Counter("zproxy_upstream_attempts", "Upstream attempts.", registry=r)
        self.retries = Counter("zproxy_upstream_retries", "Failed upstream attempts, by cause.",
                               ["cause"], registry=r)
        self.recovered = Counter(
            "zproxy_upstream_recovered",
            "Attempts that failed after the upstream answered, before the client saw any "
            "output, and were replaced by another attempt, by cause.", ["cause"], registry=r)
        self.errors = Counter("zproxy_request_errors", "Failed requests, by error type.",
                              ["type"], registry=r)
        self.active_streams = Gauge("zproxy_active_streams", "SSE responses in progress.",
                                    registry=r)
        self.in_flight = Gauge("zproxy_requests_in_flight", "API requests in progress.",
                               registry=r)
        Info("zproxy_build", "zproxy version.", registry=r).info({"version": __version__})
        if pool is not None:
            r.register(_PoolCollector(pool))
        self._models: set[str] = set()
        self._by_model: dict[str, _ModelChildren] = {}
        self._by_status: dict[tuple[str, int], Counter] = {}

    def _model(self, model: str | None) -> str:
        if model is None:
            return NO_MODEL
        if model in self._models:
            return model
        if len(self._models) >= MAX_MODELS:  # client-chosen names: bound the label set
            return OTHER
        self._models.add(model)
        return model

    def _children(self, name: str) -> _ModelChildren:
        # `.labels()` costs more than the rest of observe(): resolve each model's series once
        children = self._by_model.get(name)
        if children is None:
            children = self._by_model[name] = _ModelChildren(
                self.latency.labels(name), self.ttft.labels(name),
                self.tokens.labels(name, "prompt"), self.tokens.labels(name, "completion"))
        return children

    def observe(self, record: RequestRecord) -> None:
        name = self._model(record.model)
        children = self._children(name)
        key = (name, record.status)
        counter = self._by_status.get(key)
        if counter is None:
            counter = self._by_status[key] = self.requests.labels(name, str(record.status))
        counter.inc()
        children.latency.observe(record.duration_s)
        if record.ttft_s is not None:
            children.ttft.observe(record.ttft_s)
        if record.prompt_tokens:
            children.prompt.inc(record.prompt_tokens)
        if record.completion_tokens:
            children.completion.inc(record.completion_tokens)
        if record.api is not None:
            api = record.api if record.api in APIS else OTHER
            self.api_requests.labels(api, str(record.status)).inc()
        if record.attempts:
            self.attempts.inc(record.attempts)
        for cause in record.retries:
            self.retries.labels(cause).inc()
        for cause in record.recovered:
            self.recovered.labels(cause).inc()
        if record.error_type is not None:
            self.errors.labels(record.error_type).inc()

    def stream_opened(self) -> None:
        self.active_streams.inc()

    def stream_closed(self) -> None:
        self.active_streams.dec()

    def request_started(self) -> None:
        self.in_flight.inc()

    def request_ended(self) -> None:
        self.in_flight.dec()

    def render(self) -> bytes:
        return generate_latest(self.registry)
