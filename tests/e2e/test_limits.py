"""Limits that protect the process (zproxy.limits), over real sockets.

Each limit answers in the OpenAI error shape with the right status; slow clients are
dropped; the concurrency cap answers 429 with Retry-After; the upstream pool does not queue
admitted streams. No timing assertions: waits are bounded only so a failure cannot hang.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest

from tests.conftest import MakeProxy, Proxy
from tests.e2e.helpers import USER, async_client, collect_stream
from tests.e2e.test_errors import assert_error_shape, post
from tests.fakes.zai import FakeZai, Script

SLOW = dict(text="one two three four five six", delta_size=4, frame_delay=0.2)


async def raw_exchange(proxy: Proxy, data: bytes, wait_s: float = 5.0) -> bytes:
    """Send `data` on a bare socket; return one response (head and Content-Length body),
    or b"" when the server closes the connection without answering."""
    host, port = proxy.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    try:
        async with asyncio.timeout(wait_s):
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                return exc.partial
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            return head + await reader.readexactly(length)
    finally:
        writer.close()


def split_response(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, \
        json.loads(body) if body else None


async def test_body_over_the_limit_is_413(make_proxy: MakeProxy) -> None:
    proxy = await make_proxy(max_body_bytes=2000)
    body = {"model": "GLM-4.5", "messages": [{"role": "user", "content": "x" * 3000}]}
    status, payload = await post(proxy, body)
    assert status == 413
    error = assert_error_shape(payload)
    assert error["code"] == "request_too_large" and "MAX_REQUEST_BYTES" in error["message"]


async def test_chunked_body_over_the_limit_is_413(make_proxy: MakeProxy) -> None:
    proxy = await make_proxy(max_body_bytes=2000)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"model": "GLM-4.5", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}]}'

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{proxy.base_url}/chat/completions", data=chunks()) as resp:
            assert resp.status == 413
            assert assert_error_shape(await resp.json())["code"] == "request_too_large"


@pytest.mark.parametrize(("overrides", "messages", "code", "name"), [
    ({"max_messages": 3}, [{"role": "user", "content": "hi"}] * 4, "too_many_messages",
     "MAX_MESSAGES"),
    ({"max_total_chars": 100}, [{"role": "system", "content": "s" * 60},
                                {"role": "user", "content": [{"type": "text", "text": "u" * 50}]}],
     "context_length_exceeded", "MAX_TOTAL_CHARS"),
])
async def test_chat_size_limits_are_400(make_proxy: MakeProxy, fake: FakeZai,
                                        overrides: dict[str, int],
                                        messages: list[dict[str, Any]], code: str,
                                        name: str) -> None:
    proxy = await make_proxy(**overrides)
    async with async_client(proxy.base_url) as sdk:
        with pytest.raises(openai.BadRequestError) as caught:
            await sdk.chat.completions.create(model="GLM-4.5", messages=messages)  # type: ignore[arg-type]
    error = assert_error_shape(caught.value.body and {"error": caught.value.body})
    assert (error["code"], error["param"]) == (code, "messages") and name in error["message"]
    assert fake.completions == []


async def test_slow_body_is_408(make_proxy: MakeProxy) -> None:
    proxy = await make_proxy(client_send_timeout_s=0.3)
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\"")
    status, headers, body = split_response(await raw_exchange(proxy, head))
    assert status == 408
    assert assert_error_shape(body)["code"] == "request_timeout"
    assert "CLIENT_SEND_TIMEOUT" in body["error"]["message"]


async def test_slow_headers_are_dropped(make_proxy: MakeProxy) -> None:
    proxy = await make_proxy(client_send_timeout_s=0.3)
    # never finishes its headers: the server closes the connection (read() returns)
    assert await raw_exchange(proxy, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n") \
        == b""


async def test_concurrency_cap_answers_429_with_retry_after(make_proxy: MakeProxy,
                                                            fake: FakeZai) -> None:
    proxy = await make_proxy(max_concurrent_requests=2)
    for _ in range(3):
        fake.push(Script(**SLOW))  # type: ignore[arg-type]
    async with async_client(proxy.base_url) as sdk:
        async def one() -> str:
            stream = await sdk.chat.completions.create(model="GLM-4.5", messages=USER,
                                                       stream=True)
            return str((await collect_stream(stream))["content"])

        running = [asyncio.create_task(one()) for _ in range(2)]
        async with asyncio.timeout(10):
            while sum(fake.active.values()) < 2:
                await asyncio.sleep(0.01)
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{proxy.base_url}/chat/completions",
                                 json={"model": "GLM-4.5", "messages": USER}) as resp:
                assert resp.status == 429
                assert resp.headers["Retry-After"] == "1"
                error = assert_error_shape(await resp.json())
        assert error["code"] == "too_many_concurrent_requests"
        assert "MAX_CONCURRENT_REQUESTS" in error["message"]
        assert await asyncio.gather(*running) == [SLOW["text"]] * 2
        # the slots are free again
        reply = await sdk.chat.completions.create(model="GLM-4.5", messages=USER)
        assert reply.choices[0].message.content == SLOW["text"]


async def test_cap_does_not_count_operator_pages(make_proxy: MakeProxy) -> None:
    proxy = await make_proxy(max_concurrent_requests=1)
    async with aiohttp.ClientSession() as http:
        for path in ("/health", "/metrics", "/openapi.json"):
            async with http.get(f"{proxy.url}{path}") as resp:
                assert resp.status == 200


async def test_slow_streams_do_not_queue_for_upstream_connections(
        make_proxy: MakeProxy, fake: FakeZai) -> None:
    """Every admitted stream has its upstream response open at the same time: the pool
    (UPSTREAM_CONNECTION_LIMIT, unlimited by default) makes none of them wait."""
    count = 40
    proxy = await make_proxy()
    for _ in range(count):
        fake.push(Script(text="slow stream", delta_size=2, frame_delay=0.1))
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, sum(fake.active.values()))
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(watch())
    async with async_client(proxy.base_url) as sdk:
        async def one() -> str:
            stream = await sdk.chat.completions.create(model="GLM-4.5", messages=USER,
                                                       stream=True)
            return str((await collect_stream(stream))["content"])

        assert await asyncio.gather(*(one() for _ in range(count))) == ["slow stream"] * count
    watcher.cancel()
    assert peak == count


async def test_idle_upstream_before_the_answer_is_504(make_proxy: MakeProxy,
                                                      fake: FakeZai) -> None:
    proxy = await make_proxy(read_timeout_s=0.3, max_attempts=2)
    for _ in range(2):
        fake.push(Script(text="never", thinking="t", hang_after_frames=1))
    status, payload = await post(proxy, {"model": "GLM-4.5", "messages": USER,
                                         "stream": True})
    assert status == 504
    assert assert_error_shape(payload)["code"] == "upstream_timeout"
    assert len(fake.completions) == 2  # the idle first attempt was retried


async def test_idle_upstream_after_content_is_an_error_event(make_proxy: MakeProxy,
                                                             fake: FakeZai) -> None:
    proxy = await make_proxy(read_timeout_s=0.3)
    fake.push(Script(text="partial answer", delta_size=4, frame_delay=0.05,
                     hang_after_frames=2))
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{proxy.base_url}/chat/completions", json={
                "model": "GLM-4.5", "messages": USER, "stream": True}) as resp:
            assert resp.status == 200
            text = await resp.text()
    data = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    assert assert_error_shape(json.loads(data[-2]))["code"] == "upstream_timeout"
    assert "part" in "".join(data[:-2])
