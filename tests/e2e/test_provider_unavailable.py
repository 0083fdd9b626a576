"""A provider without a credential (LongCat has no guest mode): listed as unavailable, and
its models answer an explained 503 in every front door's error shape (issue 12)."""

from __future__ import annotations

import aiohttp
import anthropic
import openai
import pytest

from tests.conftest import MakeProxy, Proxy
from tests.e2e.anthropic_clients import async_client as anthropic_client
from tests.e2e.helpers import USER, async_client


@pytest.fixture
async def no_longcat(make_proxy: MakeProxy) -> Proxy:
    return await make_proxy(longcat_tokens=())


async def test_listed_as_unavailable_with_the_reason(no_longcat: Proxy) -> None:
    listed = await async_client(no_longcat.base_url).models.list()
    models = {m.id: m for m in listed.data}
    flash = models["LongCat-Flash"]
    extra = flash.model_extra or {}
    assert extra["provider"] == "longcat" and extra["available"] is False
    assert "LONGCAT_TOKEN" in extra["unavailable_reason"]
    assert "LONGCAT_PASSPORT_TOKEN" in extra["unavailable_reason"]
    assert flash.owned_by and flash.owned_by != "z.ai"
    assert (models["GLM-4.6"].model_extra or {})["available"] is True
    assert (models["K2-Think"].model_extra or {})["available"] is True  # K2Think has guests


async def test_chat_completions_answer_503_naming_the_variable(no_longcat: Proxy) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        await async_client(no_longcat.base_url).chat.completions.create(
            model="LongCat-Flash", messages=USER, stream=True)
    assert caught.value.status_code == 503
    body = caught.value.body
    assert isinstance(body, dict) and body["code"] == "provider_unavailable"
    assert body["type"] == "upstream_error" and "LONGCAT_TOKEN" in body["message"]


async def test_anthropic_messages_answer_503_in_anthropics_shape(no_longcat: Proxy) -> None:
    with pytest.raises(anthropic.APIStatusError) as caught:
        await anthropic_client(no_longcat).messages.create(
            model="LongCat-Flash", max_tokens=64, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 503
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "api_error"  # Anthropic's type for a 5xx
    assert "LONGCAT_TOKEN" in body["error"]["message"]


async def test_responses_answer_503_naming_the_variable(no_longcat: Proxy) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        await async_client(no_longcat.base_url).responses.create(model="LongCat-Flash",
                                                                 input="hi")
    assert caught.value.status_code == 503
    assert "LONGCAT_TOKEN" in caught.value.message


async def test_docs_show_what_to_set(no_longcat: Proxy) -> None:
    async with aiohttp.ClientSession() as http, \
            http.get(f"{no_longcat.url}/docs") as response:
        page = await response.text()
    start = page.index('id="providers-table"')
    table = page[start:page.index("</table>", start)]
    assert "unavailable: set LONGCAT_TOKEN" in table and "K2Think" in table
