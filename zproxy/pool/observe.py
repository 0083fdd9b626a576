"""The pool seen from outside: per-token Prometheus series and the dashboard's pool card.

Both read the in-memory pool when asked (a scrape, a page load), never on the request path.
Series are labelled with the token's label or fingerprint, never the token, and capped at
`MAX_TOKEN_SERIES` tokens so a big fleet cannot blow up the scrape.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from zproxy.pool.model import STATES
from zproxy.pool.pool import UserPool

MAX_TOKEN_SERIES: Final = 200


class TokenCollector(Collector):
    def __init__(self, pool: UserPool) -> None:
        self._pool = pool

    def collect(self) -> Iterator[Metric]:
        labels = ["token"]
        state = GaugeMetricFamily("zproxy_user_token_state",
                                  "1 for the state each user token is in.", labels=[
                                      "token", "state"])
        requests = CounterMetricFamily("zproxy_user_token_requests",
                                       "Requests a user token was picked for.", labels=labels)
        failures = CounterMetricFamily("zproxy_user_token_failures",
                                       "Failures that belonged to the token.", labels=labels)
        streak = GaugeMetricFamily("zproxy_user_token_consecutive_failures",
                                   "Consecutive failures (reset by a success).", labels=labels)
        entries = sorted(self._pool.entries(), key=lambda e: e.id)[:MAX_TOKEN_SERIES]
        seen: set[str] = set()
        for entry in entries:
            name = entry.display if entry.display not in seen else entry.fingerprint
            seen.add(name)
            current = self._pool.state(entry)
            for each in STATES:
                state.add_metric([name, each], 1.0 if each == current else 0.0)
            requests.add_metric([name], entry.requests)
            failures.add_metric([name], entry.failures)
            streak.add_metric([name], self._pool.health_of(entry).failures)
        yield from (state, requests, failures, streak)

    def describe(self) -> Iterator[Metric]:
        return iter(())


def pool_card(pool: UserPool | None) -> dict[str, Any] | None:
    """Counts by state for the dashboard (None: no pool in this app)."""
    return None if pool is None else pool.snapshot()
