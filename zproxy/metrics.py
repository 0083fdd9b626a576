"""Prometheus metrics on a per-app `CollectorRegistry` (never the global default one).

`Metrics.observe(record)` runs once per finished request and only adds to plain counters in
this object: no prometheus-client metric (and so no lock) is touched per request. A collector
turns the counters into metric families when Prometheus scrapes (`render`), which is also
when the guest-session pool is read, so nothing polls anything in the background.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Final

from prometheus_client import CollectorRegistry, Info
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from zproxy import __version__
from zproxy.stats import APIS, MAX_MODELS, OTHER, RequestRecord

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


class _Histogram:
    """Bucket counts and sum of one labelled histogram series."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative (le, count) pairs, `le` spelt as the text format spells it."""
        out: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip(self.bounds, self.counts, strict=False):
            running += count
            out.append((repr(bound), running))
        out.append(("+Inf", running + self.counts[-1]))
        return out


class Metrics:
    def __init__(self, pool: PoolSnapshot | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests: Counter[tuple[str, int]] = Counter()
        self._latency: dict[str, _Histogram] = {}
        self._ttft: dict[str, _Histogram] = {}
        self._tokens: Counter[tuple[str, str]] = Counter()
        self._api_requests: Counter[tuple[str, int]] = Counter()
        self._attempts = 0
        self._retries: Counter[str] = Counter()
        self._recovered: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self.active_streams = 0
        self.in_flight = 0
        self._models: set[str] = set()
        self.registry.register(_Counters(self))
        Info("zproxy_build", "zproxy version.", registry=self.registry).info(
            {"version": __version__})
        if pool is not None:
            self.registry.register(_PoolCollector(pool))

    def _model(self, model: str) -> str:
        if model in self._models:
            return model
        if len(self._models) >= MAX_MODELS:  # MODEL_MAP may be large: bound the label set
            return OTHER
        self._models.add(model)
        return model

    def observe(self, record: RequestRecord) -> None:
        name = self._model(record.model_label)
        self._requests[name, record.status] += 1
        latency = self._latency.get(name)
        if latency is None:
            latency = self._latency[name] = _Histogram(LATENCY_BUCKETS)
        latency.observe(record.duration_s)
        if record.ttft_s is not None:
            ttft = self._ttft.get(name)
            if ttft is None:
                ttft = self._ttft[name] = _Histogram(TTFT_BUCKETS)
            ttft.observe(record.ttft_s)
        if record.prompt_tokens:
            self._tokens[name, "prompt"] += record.prompt_tokens
        if record.completion_tokens:
            self._tokens[name, "completion"] += record.completion_tokens
        if record.api is not None:
            self._api_requests[record.api if record.api in APIS else OTHER, record.status] += 1
        self._attempts += record.attempts
        for cause in record.retries:
            self._retries[cause] += 1
        for cause in record.recovered:
            self._recovered[cause] += 1
        if record.error_type is not None:
            self._errors[record.error_type] += 1

    def stream_opened(self) -> None:
        self.active_streams += 1

    def stream_closed(self) -> None:
        self.active_streams -= 1

    def request_started(self) -> None:
        self.in_flight += 1

    def request_ended(self) -> None:
        self.in_flight -= 1

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def families(self) -> Iterator[Metric]:
        """The counters as metric families, for the collector (scrape time only)."""
        yield _counter("zproxy_requests", "Finished API requests.", ["model", "status"],
                       [((m, str(s)), n) for (m, s), n in self._requests.items()])
        yield _histogram("zproxy_request_duration_seconds", "Total request duration.",
                         self._latency)
        yield _histogram("zproxy_time_to_first_token_seconds",
                         "Time to the first streamed token.", self._ttft)
        yield _counter("zproxy_tokens", "Tokens reported by the upstream.", ["model", "kind"],
                       self._tokens.items())
        yield _counter("zproxy_api_requests",
                       "Finished model requests, by front door (wire format).",
                       ["api", "status"],
                       [((a, str(s)), n) for (a, s), n in self._api_requests.items()])
        yield _counter("zproxy_upstream_attempts", "Upstream attempts.", [],
                       [((), self._attempts)])
        yield _counter("zproxy_upstream_retries", "Failed upstream attempts, by cause.",
                       ["cause"], (((c,), n) for c, n in self._retries.items()))
        yield _counter("zproxy_upstream_recovered",
                       "Attempts that failed after the upstream answered, before the client "
                       "saw any output, and were replaced by another attempt, by cause.",
                       ["cause"], (((c,), n) for c, n in self._recovered.items()))
        yield _counter("zproxy_request_errors", "Failed requests, by error type.", ["type"],
                       (((t,), n) for t, n in self._errors.items()))
        yield GaugeMetricFamily("zproxy_active_streams", "SSE responses in progress.",
                                value=self.active_streams)
        yield GaugeMetricFamily("zproxy_requests_in_flight", "API requests in progress.",
                                value=self.in_flight)


def _counter(name: str, doc: str, labels: list[str],
             values: Iterable[tuple[tuple[str, ...], int]]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for label_values, value in values:
        family.add_metric(list(label_values), value)
    return family


def _histogram(name: str, doc: str, series: Mapping[str, _Histogram]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=["model"])
    for model, histogram in series.items():
        family.add_metric([model], histogram.buckets(), histogram.total)
    return family


class _Counters(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self._metrics.families()

    def describe(self) -> Iterator[Metric]:
        return iter(())  # labelled series appear as requests come: nothing to pre-declare
