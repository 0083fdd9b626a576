"""Benchmark: CPU overhead of the Anthropic Messages path over chat completions, same stream.

    .venv/bin/python -m tests.perf.bench_anthropic [--requests 200] [--frames 200]

The fake upstream runs in this process and scripts the same answer for both front doors; the
proxy runs as a separate `python -m zproxy` process so its CPU time is read from /proc (Linux).
Rounds alternate between the two doors so machine noise hits both alike. Also prints the pure
encoder's cost per chunk, measured in-process without a server. Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import aiohttp

from tests.fakes.zai import FakeZai, Script
from tests.perf.harness import cpu_seconds, fake_in_process, lorem, proxy_process
from zproxy.api.anthropic.encoder import MessageEncoder
from zproxy.api.anthropic.wire import encode_events
from zproxy.api.stream import encode_chunks

QUESTION = [{"role": "user", "content": "Explain TCP slow start."}]


def bodies(stream: bool) -> dict[str, dict[str, Any]]:
    return {
        "chat_completions": {"path": "/v1/chat/completions", "json": {
            "model": "GLM-4.6", "stream": stream, "messages": QUESTION,
            "stream_options": {"include_usage": True}}},
        "anthropic_messages": {"path": "/v1/messages", "json": {
            "model": "claude-sonnet-4-5", "stream": stream, "max_tokens": 4096,
            "messages": QUESTION}},
    }


async def one(session: aiohttp.ClientSession, proxy_url: str, fake: FakeZai, text: str,
              request: dict[str, Any]) -> None:
    fake.push(Script(text=text, delta_size=8))
    async with session.post(proxy_url + request["path"], json=request["json"]) as response:
        assert response.status == 200, await response.text()
        await response.read()


async def measure(fake: FakeZai, proxy_url: str, pid: int, requests: int, frames: int,
                  stream: bool) -> dict[str, float]:
    text = lorem(frames * 8)
    used = {name: 0.0 for name in bodies(stream)}
    batch = 10  # /proc counts CPU in clock ticks (10 ms): measure batches, not requests
    async with aiohttp.ClientSession() as session:
        for request in bodies(stream).values():  # warm-up: guest login, FE version, pools
            for _ in range(3):
                await one(session, proxy_url, fake, text, request)
        for _ in range(max(1, requests // batch)):
            for name, request in bodies(stream).items():
                before = cpu_seconds(pid)
                for _ in range(batch):
                    await one(session, proxy_url, fake, text, request)
                used[name] += cpu_seconds(pid) - before
    done = max(1, requests // batch) * batch
    return {name: total / done * 1000 for name, total in used.items()}


def encoder_cost(frames: int, rounds: int = 200) -> tuple[float, float]:
    """(µs per chunk for OpenAI SSE encoding, µs per chunk for Anthropic encoding)."""
    base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"content": "lorem ip"},
                                    "finish_reason": None}]} for _ in range(frames)]
    start = time.process_time()
    for _ in range(rounds):
        for chunk in chunks:
            encode_chunks([chunk])
    openai = time.process_time() - start
    start = time.process_time()
    for _ in range(rounds):
        encoder = MessageEncoder(message_id="msg_1", model="m", input_tokens=10)
        for chunk in chunks:
            encode_events(encoder.feed([chunk]))
        encode_events(encoder.finish())
    anthropic = time.process_time() - start
    per = rounds * frames / 1e6
    return openai / per, anthropic / per


async def main(requests: int, frames: int) -> None:
    fake = FakeZai()
    async with fake_in_process(fake) as fake_url, proxy_process(fake_url) as proxy:
        print(f"{requests} requests per door, {frames} upstream frames each; proxy CPU "
              "per request (ms):")
        for stream in (True, False):
            cpu = await measure(fake, proxy.url, proxy.pid, requests, frames, stream)
            chat, messages = cpu["chat_completions"], cpu["anthropic_messages"]
            label = "stream    " if stream else "non-stream"
            print(f"  {label}  chat completions {chat:6.2f}   messages {messages:6.2f}   "
                  f"overhead {messages - chat:+6.2f} ms ({(messages / chat - 1) * 100:+5.1f} %)")
    openai, anthropic = encoder_cost(frames)
    print(f"encoding one text chunk in-process: OpenAI SSE {openai:5.2f} µs, "
          f"Anthropic events {anthropic:5.2f} µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.frames))
