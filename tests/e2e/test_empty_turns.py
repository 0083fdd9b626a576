"""A request whose messages render to nothing is a 400, never a 500 (schemathesis-found)."""

from __future__ import annotations

import aiohttp
import pytest

from tests.conftest import Proxy


@pytest.mark.parametrize("messages", [
    [{"role": "assistant", "content": []}],
    [{"role": "user", "content": [{"type": "thinking", "thinking": "x", "signature": "s"}]}],
])
async def test_count_tokens_with_nothing_to_send_is_400(proxy: Proxy,
                                                        messages: list[object]) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{proxy.url}/v1/messages/count_tokens",
                                json={"model": "GLM-4.7", "messages": messages}) as response:
            body = await response.json()
    assert response.status == 400
    assert body["error"]["type"] == "invalid_request_error"
