"""Process lifecycle: graceful shutdown lets running streams finish."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from tests.conftest import MakeProxy, proxy_settings
from tests.e2e.helpers import USER
from tests.fakes.zai import FakeZai, Script
from zproxy.app import create_app
from zproxy.server import start


async def test_shutdown_lets_a_running_stream_finish(fake: FakeZai, fake_url: str) -> None:
    settings = proxy_settings(fake_url, shutdown_grace_s=10.0)
    runner = await start(create_app(settings), "127.0.0.1", 0, settings.shutdown_grace_s)
    host, port = runner.addresses[0][:2]
    text = "".join(f"word{i} " for i in range(30))
    fake.push(Script(text=text, delta_size=7, frame_delay=0.03))
    body = {"model": "GLM-4.5", "messages": USER, "stream": True}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://{host}:{port}/v1/chat/completions",
                                json=body) as response:
            first = await response.content.readany()
            assert first.startswith(b"data: ")
            stopping = asyncio.create_task(runner.cleanup())  # SIGTERM does the same
            await asyncio.sleep(0.1)
            assert not stopping.done()  # waiting for the stream, not cutting it
            rest = await response.read()
    await stopping
    events = [line[6:] for line in (first + rest).decode().split("\n")
              if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert content == text  # every word arrived although shutdown had begun
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_guest_upkeep_tops_up_only_once_guests_are_used(make_proxy: MakeProxy,
                                                              fake: FakeZai) -> None:
    from tests.e2e.helpers import async_client
    from zproxy.app import _guest_upkeep

    proxy = await make_proxy(guest_pool_size=3)
    await _guest_upkeep(proxy.app)
    assert not fake.guest_tokens  # zero-config start-up stays quiet
    await async_client(proxy.base_url).chat.completions.create(model="GLM-4.5", messages=USER)
    assert len(fake.guest_tokens) == 1
    await _guest_upkeep(proxy.app)
    assert len(fake.guest_tokens) == 3  # the pool is kept ready for the next requests
