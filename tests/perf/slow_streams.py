"""Benchmark: N concurrent slow streams must all start promptly (no queue for upstream
connections).

    .venv/bin/python -m tests.perf.slow_streams [--streams 1000] [--connection-limit 0]

The fake upstream (this process) sends each stream's frames 0.5 s apart, so every stream
holds its upstream connection for several seconds. The proxy runs as its own process with
MAX_CONCURRENT_REQUESTS above N. Printed: time from sending each request to its first content
byte (p50 / p95 / max), and the most streams the fake had open at once. With the default
pool (UPSTREAM_CONNECTION_LIMIT=0) all N are open together and start within the first frame
delay; `--connection-limit 100` shows the silent queue the old default made. Prints figures,
asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp

from tests.fakes.zai import FakeZai, Script
from tests.perf.harness import cpu_seconds, fake_in_process, proxy_process

FRAME_DELAY_S = 0.5


async def first_content_s(session: aiohttp.ClientSession, url: str) -> float:
    start = time.perf_counter()
    body = {"model": "GLM-4.5", "stream": True,
            "messages": [{"role": "user", "content": "slow stream"}]}
    async with session.post(url, json=body) as response:
        assert response.status == 200, response.status
        await response.content.readany()
        elapsed = time.perf_counter() - start
        await response.read()
    return elapsed


async def watch(fake: FakeZai, peak: list[int]) -> None:
    while True:
        peak[0] = max(peak[0], sum(fake.active.values()))
        await asyncio.sleep(0.01)


async def run(fake: FakeZai, url: str, pid: int, streams: int) -> None:
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await first_content_s(session, url)  # warm-up: guest login, FE version
        for _ in range(streams):
            fake.push(Script(text="slow stream " * 4, delta_size=6,
                             frame_delay=FRAME_DELAY_S))
        peak = [0]
        watcher = asyncio.create_task(watch(fake, peak))
        cpu = cpu_seconds(pid)
        started = time.perf_counter()
        firsts = sorted(await asyncio.gather(*(first_content_s(session, url)
                                               for _ in range(streams))))
        wall = time.perf_counter() - started
        watcher.cancel()
    p95 = firsts[int(len(firsts) * 0.95) - 1]
    print(f"{streams} concurrent slow streams (frames {FRAME_DELAY_S} s apart):")
    print(f"  first content byte: p50 {statistics.median(firsts):.2f} s   p95 {p95:.2f} s   "
          f"max {firsts[-1]:.2f} s")
    print(f"  most streams open upstream at once: {peak[0]}")
    print(f"  all done in {wall:.1f} s wall; proxy CPU {cpu_seconds(pid) - cpu:.2f} s")


async def main(streams: int, connection_limit: int) -> None:
    fake = FakeZai()
    env = {"MAX_CONCURRENT_REQUESTS": str(streams + 100),
           "UPSTREAM_CONNECTION_LIMIT": str(connection_limit)}
    async with fake_in_process(fake) as fake_url, proxy_process(fake_url, **env) as proxy:
        await run(fake, f"{proxy.url}/v1/chat/completions", proxy.pid, streams)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--connection-limit", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(main(args.streams, args.connection_limit))
