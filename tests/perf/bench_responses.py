"""Benchmark: what the Responses front door costs on top of chat completions.

    .venv/bin/python -m tests.perf.bench_responses [--frames 1000] [--rounds 5]

1. The pure encoder in this process: CPU microseconds per chunk turned into events + SSE bytes.
2. The real proxy (`python -m zproxy`, CPU read from /proc): CPU per 1,000 relayed upstream
   frames, streamed through `/v1/chat/completions` and through `/v1/responses`.
Prints figures, asserts nothing (the machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time

import aiohttp

from tests.fakes.zai import FakeZai, Script
from tests.perf.harness import PROMPT, cpu_seconds, fake_in_process, lorem, proxy_process
from zproxy.api.responses.encoder import ResponseEncoder, encode_events
from zproxy.api.responses.objects import ResponseShell
from zproxy.api.responses.request import ResponsesRequest


def encoder_cost(chunks: int) -> None:
    counter = itertools.count()
    shell = ResponseShell("resp_b", 0, ResponsesRequest(model="GLM-4.6", input=()))
    enc = ResponseEncoder(shell, lambda p: f"{p}_{next(counter)}", time.time)
    batch = [{"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "GLM-4.6",
              "choices": [{"index": 0, "delta": {"content": "lorem ipsum 你好"},
                           "finish_reason": None}]}]
    start = time.process_time()
    size = len(encode_events(enc.start()))
    for _ in range(chunks):
        size += len(encode_events(enc.feed(batch)))
    size += len(encode_events(enc.finish()))
    used = time.process_time() - start
    print(f"encoder CPU per chunk (in process):     {used / chunks * 1e6:6.2f} µs "
          f"({chunks} chunks, {size / 1e6:.1f} MB of SSE)")


async def proxy_cost(frames: int, rounds: int) -> None:
    fake = FakeZai()
    text = lorem(frames * 8)
    async with (fake_in_process(fake) as fake_url, proxy_process(fake_url) as proxy,
                aiohttp.ClientSession() as session):
        url = proxy.url
        routes = {"/v1/chat/completions": {"messages": [{"role": "user",
                                                         "content": PROMPT}]},
                  "/v1/responses": {"input": PROMPT}}
        for path, body in routes.items():
            await _stream(session, fake, url + path, body, "warm-up")
            before = cpu_seconds(proxy.pid)
            for _ in range(rounds):
                await _stream(session, fake, url + path, body, text)
            used = cpu_seconds(proxy.pid) - before
            print(f"proxy CPU per 1,000 frames, {path:21} {used / (rounds * frames) * 1e6:6.1f}"
                  f" ms ({rounds * frames} frames, {used:.3f} s CPU)")


async def _stream(session: aiohttp.ClientSession, fake: FakeZai, url: str,
                  body: dict[str, object], text: str) -> None:
    fake.push(Script(text=text, delta_size=8))
    async with session.post(url, json={"model": "GLM-4.5", "stream": True, **body}) as resp:
        assert resp.status == 200, resp.status
        await resp.read()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    encoder_cost(args.frames * 20)
    asyncio.run(proxy_cost(args.frames, args.rounds))
