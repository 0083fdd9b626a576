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
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.zai import FakeZai, Script
from tests.perf.bench import PROMPT, ROOT, cpu_seconds, free_port, wait_ready

STREAM_MARK = "frames="


class LongAnswers(FakeZai):
    """The fake upstream; a prompt `frames=N` gets an answer of N content frames."""

    def _default_script(self, body: dict[str, Any]) -> tuple[Script, str]:
        messages = body.get("messages") or [{}]
        content = str(messages[-1].get("content") or "")
        if content.startswith(STREAM_MARK):
            frames = int(content[len(STREAM_MARK):])
            text = ("lorem ipsum dolor sit amet, 你好世界 " * (frames // 4 + 1))[: frames * 8]
            return Script(text=text, delta_size=8), f"{frames} frames"
        return super()._default_script(body)


def serve_fake(port: int) -> None:
    web.run_app(LongAnswers().app, host="127.0.0.1", port=port, print=None,
                access_log=None)


def tree_cpu(pid: int) -> float:
    """CPU seconds of `pid` and its live children (the workers)."""
    total = cpu_seconds(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                total += cpu_seconds(int(child))
            except FileNotFoundError:
                pass
    return total


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
            "messages": [{"role": "user", "content": f"{STREAM_MARK}{frames}"}]}
    await asyncio.gather(*(post(session, url, body) for _ in range(count)))


async def measure(workers: int, fake_url: str, fake_pid: int,
                  args: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    env = {**os.environ, "ZAI_BASE_URL": fake_url, "PORT": str(port), "HOST": "127.0.0.1",
           "WORKERS": str(workers), "LOG_JSON": "true", "PYTHONPATH": str(ROOT),
           "GUEST_POOL_SIZE": "4"}
    proc = subprocess.Popen([sys.executable, "-m", "zproxy"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    chat = f"{url}/v1/chat/completions"
    try:
        await wait_ready(url)
        connector = aiohttp.TCPConnector(limit=args.concurrency, force_close=False)
        async with aiohttp.ClientSession(connector=connector) as session:
            await non_stream(session, chat, 20 * workers, args.concurrency)  # warm every worker
            before, fake_before, own_before = (tree_cpu(proc.pid), cpu_seconds(fake_pid),
                                               time.process_time())
            wall = await non_stream(session, chat, args.requests, args.concurrency)
            per_request = tree_cpu(proc.pid) - before
            fake_cpu, own_cpu = (cpu_seconds(fake_pid) - fake_before,
                                 time.process_time() - own_before)
            before = tree_cpu(proc.pid)
            await streams(session, chat, args.streams, args.frames)
            per_stream = tree_cpu(proc.pid) - before
    finally:
        proc.terminate()
        proc.wait(20)
    return {"rps": args.requests / wall,
            "cpu_ms_per_request": per_request / args.requests * 1000,
            "fake_ms_per_request": fake_cpu / args.requests * 1000,
            "client_ms_per_request": own_cpu / args.requests * 1000,
            "cpu_ms_per_1000_frames": per_stream / (args.streams * args.frames) * 1_000_000}


async def main(args: argparse.Namespace) -> None:
    fake_port = free_port()
    fake = subprocess.Popen([sys.executable, "-m", "tests.perf.bench_workers", "--serve-fake",
                             str(fake_port)], cwd=ROOT, env={**os.environ,
                                                             "PYTHONPATH": str(ROOT)})
    fake_url = f"http://127.0.0.1:{fake_port}"
    try:
        await wait_fake(fake_url)
        results = {n: await measure(n, fake_url, fake.pid, args) for n in (1, 2)}
    finally:
        fake.terminate()
        fake.wait(10)
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


async def wait_fake(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(f"{url}/api/v1/auths/"):
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    raise RuntimeError("fake upstream did not start")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=6)
    parser.add_argument("--serve-fake", type=int, default=None, help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.serve_fake is not None:
        serve_fake(parsed.serve_fake)
    else:
        asyncio.run(main(parsed))
