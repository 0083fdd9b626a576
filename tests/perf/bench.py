"""Benchmark: proxy overhead on time-to-first-chunk, and proxy CPU per 1,000 relayed frames.

    .venv/bin/python -m tests.perf.bench [--requests 40] [--frames 1000]

The fake upstream runs in this process; the proxy runs as a separate `python -m zproxy`
process so its CPU time can be read from /proc (Linux). Prints figures, asserts nothing:
targets live in the closing notes, not in timed unit tests (machines here are small and noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web

from tests.fakes.zai import FakeZai, Script
from zproxy.config import DEFAULT_SIGNING_SECRET
from zproxy.providers.zai.signing import signature

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "你好，1+1等于几？"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def first_chunk_ms(session: aiohttp.ClientSession, url: str, **kwargs: object) -> float:
    start = time.perf_counter()
    async with session.post(url, **kwargs) as response:  # type: ignore[arg-type]
        assert response.status == 200, response.status
        await response.content.readany()
        elapsed = (time.perf_counter() - start) * 1000
        await response.read()
    return elapsed


async def direct_request(session: aiohttp.ClientSession, base: str, token: str,
                         user_id: str) -> dict[str, object]:
    now, request_id = int(time.time() * 1000), str(uuid.uuid4())
    body = {"stream": True, "model": "0727-360B-API", "signature_prompt": PROMPT,
            "messages": [{"role": "user", "content": PROMPT}], "features": {}}
    query = {"requestId": request_id, "timestamp": str(now), "user_id": user_id,
             "token": token, "signature_timestamp": str(now)}
    sig = signature(DEFAULT_SIGNING_SECRET, request_id=request_id, user_id=user_id,
                    timestamp_ms=now, prompt=PROMPT)
    headers = {"Authorization": f"Bearer {token}", "X-FE-Version": "prod-fe-1.1.35",
               "X-Signature": sig, "Content-Type": "application/json"}
    return {"url": f"{base}/api/v2/chat/completions", "params": query, "headers": headers,
            "data": orjson.dumps(body)}


async def wait_ready(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(f"{url}/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("proxy did not start")


async def main(requests: int, frames: int) -> None:
    fake = FakeZai()
    runner = web.AppRunner(fake.app)
    await runner.setup()
    fake_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", fake_port).start()
    fake_url = f"http://127.0.0.1:{fake_port}"
    proxy_port = free_port()
    env = {**os.environ, "ZAI_BASE_URL": fake_url, "PORT": str(proxy_port),
           "HOST": "127.0.0.1", "LOG_JSON": "true", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "zproxy"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proxy_url = f"http://127.0.0.1:{proxy_port}"
    try:
        await wait_ready(proxy_url)
        await run(fake, fake_url, proxy_url, proc.pid, requests, frames)
    finally:
        proc.terminate()
        proc.wait(10)
        await runner.cleanup()


async def run(fake: FakeZai, fake_url: str, proxy_url: str, pid: int, requests: int,
              frames: int) -> None:
    chat = {"url": f"{proxy_url}/v1/chat/completions",
            "json": {"model": "GLM-4.5", "stream": True,
                     "messages": [{"role": "user", "content": PROMPT}]}}
    async with aiohttp.ClientSession() as session:
        for _ in range(3):  # warm-up: guest login, FE version scrape, connection pools
            await first_chunk_ms(session, **chat)  # type: ignore[arg-type]
        async with session.get(f"{fake_url}/api/v1/auths/") as response:
            guest = await response.json()
        proxied, direct = [], []
        for _ in range(requests):
            proxied.append(await first_chunk_ms(session, **chat))  # type: ignore[arg-type]
            kwargs = await direct_request(session, fake_url, guest["token"], guest["id"])
            direct.append(await first_chunk_ms(session, **kwargs))  # type: ignore[arg-type]
        print_ttft(proxied, direct)
        await cpu_per_frames(fake, session, chat, pid, frames)


def print_ttft(proxied: list[float], direct: list[float]) -> None:
    p50, d50 = statistics.median(proxied), statistics.median(direct)
    p95 = statistics.quantiles(proxied, n=20)[18]
    d95 = statistics.quantiles(direct, n=20)[18]
    print(f"time to first chunk, direct to fake:   p50 {d50:6.2f} ms   p95 {d95:6.2f} ms")
    print(f"time to first chunk, through proxy:    p50 {p50:6.2f} ms   p95 {p95:6.2f} ms")
    print(f"proxy overhead on time to first chunk: p50 {p50 - d50:6.2f} ms")


async def cpu_per_frames(fake: FakeZai, session: aiohttp.ClientSession,
                         chat: dict[str, object], pid: int, frames: int) -> None:
    rounds = 5
    text = "lorem ipsum dolor sit amet, 你好世界 " * (frames * 8 // 34 + 1)
    before = cpu_seconds(pid)
    start = time.perf_counter()
    for _ in range(rounds):
        fake.push(Script(text=text[: frames * 8], delta_size=8))
        async with session.post(**chat) as response:  # type: ignore[arg-type]
            body = await response.read()
            assert body.endswith(b"data: [DONE]\n\n")
    used, wall = cpu_seconds(pid) - before, time.perf_counter() - start
    relayed = rounds * frames
    print(f"proxy CPU per 1,000 relayed frames:    {used / relayed * 1000 * 1000:6.1f} ms "
          f"({relayed} frames, {used:.3f} s CPU, {wall:.2f} s wall)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--frames", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.frames))
