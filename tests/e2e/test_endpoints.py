"""Models, health, service info and CORS."""

from __future__ import annotations

import aiohttp
import openai
import pytest

from tests.conftest import MakeProxy, Proxy
from tests.e2e.helpers import async_client


async def test_models_list_and_get(proxy: Proxy) -> None:
    client = async_client(proxy.base_url)
    models = [m async for m in client.models.list()]
    ids = {m.id for m in models}
    assert {"GLM-4.5", "GLM-4.5-Thinking", "GLM-4.5-Search", "GLM-4.5-Air", "GLM-4.6",
            "GLM-4.6-Thinking", "GLM-4.6-Search"} <= ids
    one = await client.models.retrieve("glm-4.6")
    assert one.id == "GLM-4.6" and one.object == "model"
    assert (one.model_extra or {})["capabilities"]["reasoning"] is True
    with pytest.raises(openai.NotFoundError) as caught:
        await client.models.retrieve("nope")
    assert caught.value.code == "model_not_found"


async def test_health_needs_no_key(make_proxy: MakeProxy) -> None:
    proxy = await make_proxy(client_keys=("sk-secret",))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{proxy.url}/health") as response:
            assert response.status == 200
            assert (await response.json())["status"] == "ok"
        async with session.get(f"{proxy.url}/") as response:
            info = await response.json()
            assert info["name"] == "zproxy" and info["auth_required"] is True
            assert "sk-secret" not in await response.text()
        async with session.get(f"{proxy.base_url}/models") as response:
            assert response.status == 401


async def test_cors_preflight_and_headers(make_proxy: MakeProxy) -> None:
    proxy = await make_proxy(cors_origins=("https://app.example",))
    async with aiohttp.ClientSession() as session:
        headers = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
                   "Access-Control-Request-Headers": "authorization,content-type"}
        async with session.options(f"{proxy.base_url}/chat/completions",
                                   headers=headers) as response:
            assert response.status == 204
            assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
            assert "POST" in response.headers["Access-Control-Allow-Methods"]
        async with session.get(f"{proxy.base_url}/models",
                               headers={"Origin": "https://app.example"}) as response:
            assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
        async with session.get(f"{proxy.base_url}/models",
                               headers={"Origin": "https://evil.example"}) as response:
            assert "Access-Control-Allow-Origin" not in response.headers


async def test_request_id_is_returned(proxy: Proxy) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{proxy.url}/health",
                               headers={"X-Request-ID": "abc123"}) as response:
            assert response.headers["X-Request-ID"] == "abc123"
