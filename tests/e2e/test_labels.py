"""Model names are client-chosen: aggregates stay bounded, the request log keeps the name."""

from __future__ import annotations

import aiohttp
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import MakeProxy
from tests.e2e.helpers import USER, async_client

KEY = "sk-labels"
AUTH = {"Authorization": f"Bearer {KEY}"}


async def _requests_by_model(http: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with http.get(f"{url}/metrics", headers=AUTH) as resp:
        text = await resp.text()
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "zproxy_requests":
            for sample in family.samples:
                if sample.name == "zproxy_requests_total":
                    model = sample.labels["model"]
                    counts[model] = counts.get(model, 0) + sample.value
    return counts


async def test_unknown_models_share_one_label_and_rows_keep_names(make_proxy: MakeProxy) -> None:
    proxy = await make_proxy(client_keys=(KEY,))
    client = async_client(proxy.base_url, KEY)
    invented = [f"made-up-{i}" for i in range(5)]
    for name in invented:
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.create(model=name, messages=USER)
    await client.chat.completions.create(model="GLM-4.6", messages=USER)
    await client.chat.completions.create(model="glm-4.6-thinking", messages=USER)

    async with aiohttp.ClientSession() as http:
        counts = await _requests_by_model(http, proxy.url)
        assert counts == {"(unknown)": 5, "GLM-4.6": 1, "glm-4.6-thinking": 1}
        async with http.get(f"{proxy.url}/dashboard/stats", headers=AUTH) as resp:
            models = {m["model"]: m["requests"] for m in (await resp.json())["models"]}
        assert models == counts
        async with http.get(f"{proxy.url}/dashboard/requests", headers=AUTH) as resp:
            rows = (await resp.json())["data"]
    assert [r["model"] for r in rows[2:]] == invented[::-1]  # the log row keeps the name


async def test_rejected_requests_keep_their_model_name(make_proxy: MakeProxy) -> None:
    proxy = await make_proxy(client_keys=(KEY,))
    with pytest.raises(openai.AuthenticationError):
        await async_client(proxy.base_url, "wrong-key").chat.completions.create(
            model="GLM-4.5", messages=USER)
    with pytest.raises(openai.BadRequestError):
        await async_client(proxy.base_url, KEY).chat.completions.create(
            model="GLM-4.6", messages=USER, temperature=7)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{proxy.base_url}/chat/completions", data=b"{not json",
                             headers={**AUTH, "Content-Type": "application/json"}) as resp:
            assert resp.status == 400
        async with http.get(f"{proxy.url}/dashboard/requests", headers=AUTH) as resp:
            rows = (await resp.json())["data"]
        counts = await _requests_by_model(http, proxy.url)
    assert [(r["status"], r["model"], r["error_type"]) for r in rows] == [
        (400, None, "invalid_json"), (400, "GLM-4.6", "invalid_type"),
        (401, "GLM-4.5", "invalid_api_key")]
    assert counts == {"(none)": 1, "GLM-4.6": 1, "GLM-4.5": 1}


@pytest.mark.parametrize("path", ["/chat/completions", "/messages", "/responses"])
async def test_unhashable_enum_fields_are_400_not_500(make_proxy: MakeProxy, path: str) -> None:
    """An object where a string enum is expected (schemathesis found these) is a 400."""
    proxy = await make_proxy()
    bodies = {"/chat/completions": {"model": "GLM-4.6", "messages": [{"role": {}, "content": "x"}]},
              "/messages": {"model": "GLM-4.6", "max_tokens": 5, "thinking": {"type": {}},
                            "messages": [{"role": "user", "content": "x"}]},
              "/responses": {"model": "GLM-4.6", "input": "x", "text": {"format": {"type": []}}}}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{proxy.base_url}{path}", json=bodies[path]) as resp:
            assert resp.status == 400, await resp.text()
