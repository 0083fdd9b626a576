"""`POST /v1/responses/{id}/cancel` through the official openai SDK (sync and async).

Only `background: true` responses can be cancelled on OpenAI; the proxy runs every
response in the foreground, so a stored id is refused with 400 and an unknown id is 404,
both in the OpenAI error shape, and the refused response stays stored and unchanged.
"""

from __future__ import annotations

import asyncio

import aiohttp
import openai
import pytest

from tests.conftest import Proxy
from tests.e2e.helpers import async_client, sync_client
from tests.e2e.test_errors import assert_error_shape


async def test_cancel_a_foreground_response_is_refused_and_keeps_it(proxy: Proxy) -> None:
    async with async_client(proxy.base_url) as client:
        created = await client.responses.create(model="GLM-4.6", input="1+1?")
        with pytest.raises(openai.BadRequestError) as refused:
            await client.responses.cancel(created.id)
        assert refused.value.status_code == 400
        assert refused.value.param == "response_id"
        assert "background=true" in refused.value.message
        assert refused.value.code == "response_not_cancellable"
        fetched = await client.responses.retrieve(created.id)
        assert fetched.to_dict() == created.to_dict()
        assert fetched.status == "completed"


async def test_cancel_unknown_id_is_404_with_the_sync_client(proxy: Proxy) -> None:
    with sync_client(proxy.base_url) as client:  # in a thread: the proxy shares this loop
        with pytest.raises(openai.NotFoundError) as missing:
            await asyncio.to_thread(client.responses.cancel, "resp_doesnotexist")
    assert missing.value.code == "response_not_found"
    assert "resp_doesnotexist" in missing.value.message


async def test_cancel_error_bodies_have_the_openai_shape(proxy: Proxy) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{proxy.base_url}/responses/resp_nope/cancel") as resp:
            assert resp.status == 404
            error = assert_error_shape(await resp.json())
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "response_id"


async def test_cancel_is_documented(proxy: Proxy) -> None:
    root = proxy.base_url.removesuffix("/v1")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{root}/openapi.json") as resp:
            spec = await resp.json()
        async with session.get(f"{root}/docs") as resp:
            page = await resp.text()
    operation = spec["paths"]["/v1/responses/{response_id}/cancel"]["post"]
    assert set(operation["responses"]) >= {"200", "400", "404"}
    assert "/v1/responses/{response_id}/cancel" in page
