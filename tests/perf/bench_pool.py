"""Benchmark: the cost of picking a user token from a pool of 1,000, and proof that the
request path runs no store query.

    .venv/bin/python -m tests.perf.bench_pool [--tokens 1000] [--picks 200000]

The pool is loaded from a real SQLite store (a temporary file). Each "request" is what the
upstream client does per attempt: TokenPool.acquire → report_success → release. A tenth of
the tokens sit in other priority groups, some have weights and concurrency caps, and a few
fail now and then so health changes happen during the run. CPU time is process time, so other
helpers on the machine add little noise. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from zproxy.errors import UpstreamRateLimitError
from zproxy.pool.health import Policy
from zproxy.pool.pool import UserPool
from zproxy.pool.service import TokenService
from zproxy.providers.zai.tokens import Credential, TokenPool
from zproxy.store import Store, database_url


async def _no_login() -> Credential:
    raise AssertionError("guests are off in this benchmark")


async def main(tokens: int, picks: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store = await Store.open(database_url(str(Path(folder) / "bench.db"), None))
        pool = UserPool(policy=Policy(3, 1800))
        service = TokenService(store, pool)
        rng = random.Random(7)
        batch = [f"bench-token-{n:05d}-" + "x" * 40 for n in range(tokens)]
        await service.add(batch)
        for entry in pool.entries()[: tokens // 10]:
            await service.update(entry.id, {"priority": 1, "weight": rng.randint(1, 5),
                                            "max_concurrent": 4})
        tokens_pool = TokenPool([], guest_enabled=False, guest_pool_size=1, guest_ttl_s=480,
                                login=_no_login, users=pool)
        failure = UpstreamRateLimitError("busy", upstream_status=429)
        queries_before = store.queries
        cpu, wall = time.process_time(), time.perf_counter()
        for n in range(picks):
            credential = await tokens_pool.acquire()
            if n % 97 == 0:
                tokens_pool.report_failure(credential, failure)
            else:
                tokens_pool.report_success(credential)
            tokens_pool.release(credential)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        queries_during = store.queries - queries_before
        flush_cpu = time.process_time()
        await service.flush()
        flush_cpu = time.process_time() - flush_cpu
        flush_queries = store.queries - queries_before - queries_during
        await store.close()
    print(f"pool: {tokens} tokens ({tokens // 10} in a higher priority group), "
          f"{picks} acquire+report+release cycles")
    print(f"  cost per request: {cpu / picks * 1e6:.2f} µs CPU ({wall / picks * 1e6:.2f} µs wall)")
    print(f"  store queries during the run: {queries_during}")
    print(f"  then one flush: {flush_queries} statements, {flush_cpu * 1000:.1f} ms CPU "
          f"(writes every token's counters and health in a batch)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--picks", type=int, default=200_000)
    args = parser.parse_args()
    asyncio.run(main(args.tokens, args.picks))
