"""Cost of recording one request's stats: meter → record → ring buffer + Prometheus.

    .venv/bin/python -m tests.perf.bench_stats [--n 100000]

Runs exactly what the `observe_requests` middleware runs at the end of a request, minus the
aiohttp request object: `RequestMeter.finish`, `client_ip`, `classify_client`,
`StatsRecorder.record` and `Metrics.observe`. Prints µs per request; asserts nothing.
"""

from __future__ import annotations

import argparse
import time

from zproxy.core.trace import Trace
from zproxy.metrics import Metrics
from zproxy.stats import RequestMeter, StatsRecorder, classify_client, client_ip


def once(stats: StatsRecorder, metrics: Metrics, i: int) -> None:
    started = time.monotonic()
    meter = RequestMeter(started=started, wall=time.time(), model=f"GLM-4.{i % 3 + 5}",
                         stream=bool(i % 2), prompt_tokens=12, completion_tokens=38,
                         first_token_at=started + 0.01, trace=Trace(attempts=1))
    record = meter.finish(method="POST", path="/v1/chat/completions", status=200,
                          ended=started + 0.05,
                          client_ip=client_ip("127.0.0.1", "203.0.113.9", ("127.0.0.1",)),
                          client=classify_client("OpenAI/Python 1.99.0", None))
    stats.record(record)
    metrics.observe(record)


def main(n: int) -> None:
    stats, metrics = StatsRecorder(100), Metrics()
    for i in range(1000):  # warm-up: every label combination exists
        once(stats, metrics, i)
    start = time.perf_counter()
    for i in range(n):
        once(stats, metrics, i)
    per = (time.perf_counter() - start) / n * 1e6
    snap_start = time.perf_counter()
    for _ in range(100):
        stats.snapshot()
    snap = (time.perf_counter() - snap_start) / 100 * 1e3
    print(f"stats recording per request:   {per:6.1f} µs  ({n} requests)")
    print(f"dashboard snapshot (N=100):    {snap:6.2f} ms  (only when the page asks)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    main(parser.parse_args().n)
