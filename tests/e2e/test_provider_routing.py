"""Routing by model name over real sockets, with the openai SDK (issue 12): the catalogue is
the routing table, `/v1/models` says who serves each model, unknown names are 404s."""

from __future__ import annotations

import aiohttp
import openai
import pytest

from tests.conftest import MakeProxy, Proxy
from tests.e2e.helpers import USER, async_client
from tests.fakes.zai import FakeZai


async def test_models_say_who_serves_them_and_whether_they_can(proxy: Proxy) -> None:
    listed = await async_client(proxy.base_url).models.list()
    glm = {m.id: m for m in listed.data}["GLM-4.6"]
    assert glm.owned_by == "z.ai"
    extra = glm.model_extra or {}
    assert extra["provider"] == "zai" and extra["available"] is True
    assert extra["capabilities"]["reasoning"] is True
    one = await async_client(proxy.base_url).models.retrieve("glm-4.6")
    assert (one.model_extra or {})["provider"] == "zai"


async def test_an_unknown_model_is_a_404_and_never_reaches_an_upstream(
        proxy: Proxy, fake: FakeZai) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await async_client(proxy.base_url).chat.completions.create(model="gpt-4o",
                                                                   messages=USER)
    assert caught.value.status_code == 404
    assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]
    assert fake.completions == []


async def test_model_map_names_route_to_their_provider(make_proxy: MakeProxy,
                                                       fake: FakeZai) -> None:
    proxy = await make_proxy(model_map={"house-model": "GLM-4.6",
                                        "ghost": {"provider": "nowhere"}})
    client = async_client(proxy.base_url)
    reply = await client.chat.completions.create(model="house-model", messages=USER)
    assert reply.choices[0].message.content
    assert fake.completions[-1].json["model"] == "GLM-4-6-API-V1"
    with pytest.raises(openai.NotFoundError, match="nowhere"):
        await client.chat.completions.create(model="ghost", messages=USER)


async def test_docs_list_the_providers(proxy: Proxy) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{proxy.url}/docs") as response:
        page = await response.text()
    start = page.index('id="providers-table"')
    table = page[start:page.index("</table>", start)]
    assert "Z.AI" in table and "ZAI_TOKEN" in table and "guest mode" in table
