"""Benchmark: WORKERS=1 against WORKERS=2, side by side, in one run.

    .venv/bin/python -m tests.perf.bench_workers [--requests 600] [--concurrency 16]
                                                 [--frames 1000] [--streams 6]

For each worker count, a real `python -m zproxy` (parent and workers) serves the same fake
upstream, which runs in a process of its own so the proxy is what is measured. Prints
non-stream requests per second (wall clock, `--concurrency` in flight), the proxy's CPU per
request, and its CPU per 1,000 relayed stream frames (parent and every worker, read from
/proc, so noise from the other processes on this shared 2-core machine does not count).
Asserts nothing. On 2 cores the fake upstream and this load generator take CPU too, so the
WORKERS=2 gain here is a floor, not a ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

import aiohttp

from tests.perf.harness import PROMPT, cpu_seconds, fake_process, proxy_process, tree_cpu


async def post(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> int:
    async with session.post(url, json=body) as response:
        data = await response.read()
        assert response.status == 200, (response.status, data[:200])
        return len(data)


async def non_stream(session: aiohttp.ClientSession, url: str, requests: int,
                     concurrency: int) -> float:
    body = {"model": "GLM-4.5", "messages": [{"role": "user", "content": PROMPT}]}
    left = iter(range(requests))

    async def client() -> None:
        for _ in left:
            await post(session, url, body)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - start


async def streams(session: aiohttp.ClientSession, url: str, count: int, frames: int) -> None:
    body = {"model": "GLM-4.5", "stream": True,
            "messages": [{"role": "user", "content": f"frames={frames}"}]}
    await asyncio.gather(*(post(session, url, body) for _ in range(count)))


async def measure(workers: int, fake_url: str, fake_pid: int,
                  args: argparse.Namespace) -> dict[str, float]:
    env = {"WORKERS": str(workers), "GUEST_POOL_SIZE": "4"}
    async with proxy_process(fake_url, **env) as proxy:
        chat = f"{proxy.url}/v1/chat/completions"
        connector = aiohttp.TCPConnector(limit=args.concurrency, force_close=False)
        async with aiohttp.ClientSession(connector=connector) as session:
            await non_stream(session, chat, 20 * workers, args.concurrency)  # warm every worker
            before, fake_before, own_before = (tree_cpu(proxy.pid), cpu_seconds(fake_pid),
                                               time.process_time())
            wall = await non_stream(session, chat, args.requests, args.concurrency)
            per_request = tree_cpu(proxy.pid) - before
            fake_cpu, own_cpu = (cpu_seconds(fake_pid) - fake_before,
                                 time.process_time() - own_before)
            before = tree_cpu(proxy.pid)
            await streams(session, chat, args.streams, args.frames)
            per_stream = tree_cpu(proxy.pid) - before
    return {"rps": args.requests / wall,
            "cpu_ms_per_request": per_request / args.requests * 1000,
            "fake_ms_per_request": fake_cpu / args.requests * 1000,
            "client_ms_per_request": own_cpu / args.requests * 1000,
            "cpu_ms_per_1000_frames": per_stream / (args.streams * args.frames) * 1_000_000}


async def main(args: argparse.Namespace) -> None:
    async with fake_process() as fake:
        results = {n: await measure(n, fake.url, fake.pid, args) for n in (1, 2)}
    print(f"{'':34} {'WORKERS=1':>12} {'WORKERS=2':>12}")
    rows = (("non-stream requests/s", "rps", "{:12.1f}"),
            ("proxy CPU per request (ms)", "cpu_ms_per_request", "{:12.2f}"),
            ("  fake upstream CPU per request", "fake_ms_per_request", "{:12.2f}"),
            ("  load generator CPU per request", "client_ms_per_request", "{:12.2f}"),
            ("stream CPU per 1,000 frames (ms)", "cpu_ms_per_1000_frames", "{:12.1f}"))
    for label, key, fmt in rows:
        print(f"{label:34} " + " ".join(fmt.format(results[n][key]) for n in (1, 2)))
    print(f"({args.requests} requests at concurrency {args.concurrency}; {args.streams} "
          f"concurrent streams of {args.frames} frames; {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=6)
    asyncio.run(main(parser.parse_args()))
