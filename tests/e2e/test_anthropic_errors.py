"""Errors on the Anthropic routes (every path, in Anthropic's shape, through the SDK's own
exception mapping), the raw stream framing, client disconnects and the OpenAPI description."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import anthropic
import pytest

from tests.conftest import Proxy
from tests.e2e.anthropic_clients import QUESTION, async_client
from tests.fakes.zai import FakeZai, Script

# --- errors ----------------------------------------------------------------------------------

async def test_validation_errors_are_anthropic_shaped(proxy: Proxy) -> None:
    client = async_client(proxy)
    cases: list[dict[str, Any]] = [
        {"model": "claude-sonnet-4-5", "messages": QUESTION},  # no max_tokens
        {"max_tokens": 10, "messages": QUESTION},
        {"model": "claude-sonnet-4-5", "max_tokens": 10},
        {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "system",
                                                                       "content": "x"}]},
        {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": QUESTION,
         "temperature": 3},
    ]
    for body in cases:
        with pytest.raises(anthropic.BadRequestError) as caught:
            await client.post("/v1/messages", cast_to=object, body=body)
        error = caught.value.body["error"]
        assert error["type"] == "invalid_request_error" and error["message"]
        assert caught.value.response.headers["x-should-retry"] == "false"
        assert caught.value.request_id and caught.value.request_id.startswith("req_")
    assert "max_tokens" in str(await _error_message(client, cases[0]))


async def _error_message(client: anthropic.AsyncAnthropic, body: dict[str, Any]) -> str:
    try:
        await client.post("/v1/messages", cast_to=object, body=body)
    except anthropic.APIStatusError as exc:
        return str(exc.body["error"]["message"])
    raise AssertionError("no error")


async def test_non_json_body_and_unknown_route(proxy: Proxy) -> None:
    import aiohttp
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{proxy.url}/v1/messages", data=b"{not json",
                                headers={"Content-Type": "application/json"}) as response:
            body = await response.json()
            assert response.status == 400 and body["type"] == "error"
            assert body["error"]["type"] == "invalid_request_error"
            assert body["request_id"] == response.headers["request-id"]
        async with session.post(f"{proxy.url}/v1/messages/batches", json={}) as response:
            body = await response.json()
            assert response.status == 404 and body["error"]["type"] == "not_found_error"


async def test_unknown_model_is_not_found(proxy: Proxy) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        await async_client(proxy).messages.create(model="gpt-4o", max_tokens=10,
                                                  messages=QUESTION)
    assert caught.value.body["error"]["type"] == "not_found_error"


async def test_authentication_with_x_api_key_or_bearer(make_proxy: Any, fake: FakeZai) -> None:
    proxy = await make_proxy(client_keys=("sk-right",))
    with pytest.raises(anthropic.AuthenticationError) as caught:
        await async_client(proxy, key="sk-wrong").messages.create(
            model="claude-sonnet-4-5", max_tokens=10, messages=QUESTION)
    assert caught.value.body["error"]["type"] == "authentication_error"
    fake.push(Script(text="via x-api-key"))
    reply = await async_client(proxy, key="sk-right").messages.create(
        model="claude-sonnet-4-5", max_tokens=10, messages=QUESTION)
    assert reply.content[0].text == "via x-api-key"
    fake.push(Script(text="via bearer"))
    bearer = anthropic.AsyncAnthropic(base_url=proxy.url, auth_token="sk-right",
                                      max_retries=0)
    reply = await bearer.messages.create(model="claude-sonnet-4-5", max_tokens=10,
                                         messages=QUESTION)
    assert reply.content[0].text == "via bearer"


@pytest.mark.parametrize(("status", "exc_type", "error_type", "http"), [
    (429, anthropic.RateLimitError, "rate_limit_error", 429),
    (503, anthropic.InternalServerError, "overloaded_error", 529),
    (500, anthropic.InternalServerError, "api_error", 502),
])
async def test_upstream_errors_before_the_stream(proxy: Proxy, fake: FakeZai, status: int,
                                                 exc_type: type[Exception], error_type: str,
                                                 http: int) -> None:
    for _ in range(proxy.settings.max_attempts):
        fake.push(Script(status=status))
    with pytest.raises(exc_type) as caught:
        async with async_client(proxy).messages.stream(
                model="claude-sonnet-4-5", max_tokens=10, messages=QUESTION) as stream:
            await stream.get_final_message()
    error = caught.value
    assert isinstance(error, anthropic.APIStatusError) and error.status_code == http
    assert error.body["error"]["type"] == error_type
    assert error.response.headers["content-type"].startswith("application/json")
    if http in {429, 529}:
        assert error.response.headers["retry-after"] == "2"
    # the dashboard records the status the client received, not the OpenAI mapping's 502
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{proxy.url}/dashboard/requests") as response:
            rows = (await response.json())["data"]
    assert [r["status"] for r in rows if r["path"] == "/v1/messages"] == [http]


async def test_upstream_timeout_is_timeout_error(make_proxy: Any, fake: FakeZai) -> None:
    proxy = await make_proxy(read_timeout_s=0.3, max_attempts=1)
    fake.push(Script(text="never", hang_after_frames=0))
    with pytest.raises(anthropic.APIStatusError) as caught:
        await async_client(proxy).messages.create(model="claude-sonnet-4-5", max_tokens=10,
                                                  messages=QUESTION)
    assert caught.value.status_code == 504
    assert caught.value.body["error"]["type"] == "timeout_error"


async def test_error_after_headers_is_an_error_event(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(text="partial answer that breaks", delta_size=4, drop_after_frames=3))
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with async_client(proxy).messages.stream(
                model="claude-sonnet-4-5", max_tokens=10, messages=QUESTION) as stream:
            async for event in stream:
                seen.append(event.type)
    assert seen[0] == "message_start" and "message_stop" not in seen
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "api_error"


async def test_client_disconnect_cancels_the_upstream(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(text="x" * 80, delta_size=4, hang_after_frames=3))
    client = async_client(proxy)
    async with client.messages.stream(model="claude-sonnet-4-5", max_tokens=10,
                                      messages=QUESTION) as stream:
        async for event in stream:
            if event.type == "content_block_delta":
                break  # leaving the block closes the HTTP response mid-stream
    for _ in range(100):  # the fake counts the stream as active until its peer goes away
        if not any(fake.active.values()):
            break
        await asyncio.sleep(0.05)
    assert not any(fake.active.values())


async def test_openapi_lists_the_routes_and_describes_real_answers(proxy: Proxy,
                                                                   fake: FakeZai) -> None:
    import aiohttp
    from openapi_schema_validator import OAS31Validator

    async with aiohttp.ClientSession() as session:
        async with session.get(f"{proxy.url}/openapi.json") as response:
            spec = await response.json()
        headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
        fake.push(Script(thinking="hm", text="answer"))
        body = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": QUESTION,
                "thinking": {"type": "enabled", "budget_tokens": 1024}}
        async with session.post(f"{proxy.url}/v1/messages", json=body,
                                headers=headers) as response:
            message = await response.json()
        async with session.post(f"{proxy.url}/v1/messages/count_tokens?beta=true",
                                json={"model": "GLM-4.6", "messages": QUESTION},
                                headers=headers) as response:
            count = await response.json()
        async with session.post(f"{proxy.url}/v1/messages", json={},
                                headers=headers) as response:
            error = await response.json()
    assert {"/v1/messages", "/v1/messages/count_tokens"} <= set(spec["paths"])
    for instance, name in ((message, "AnthropicMessage"), (count, "AnthropicTokenCount"),
                           (error, "AnthropicError")):
        schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
        OAS31Validator(schema).validate(instance)
    assert [b["type"] for b in message["content"]] == ["thinking", "text"]


async def test_raw_stream_framing_and_pings_while_the_upstream_is_slow(
        make_proxy: Any, fake: FakeZai) -> None:
    import aiohttp

    proxy = await make_proxy(tool_keepalive_s=0.05)
    fake.push(Script(text="slow but steady", delta_size=5, frame_delay=0.2))
    body = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": QUESTION,
            "stream": True}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{proxy.url}/v1/messages?beta=true", json=body) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/event-stream")
            assert response.headers["request-id"].startswith("req_")
            raw = await response.text()
    events = [frame.split("\n") for frame in raw.split("\n\n") if frame]
    names = []
    for lines in events:
        assert len(lines) == 2 and lines[0].startswith("event: ")
        name = lines[0][len("event: "):]
        assert json.loads(lines[1][len("data: "):])["type"] == name
        names.append(name)
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert names.count("ping") >= 3  # kept alive between the slow upstream frames
    assert "[DONE]" not in raw


async def test_client_key_rate_limit_is_anthropic_shaped(make_proxy: Any,
                                                         fake: FakeZai) -> None:
    """A stored client key's limit answers from the auth middleware (not raised): still
    Anthropic's shape on these routes, with its Retry-After kept."""
    import aiohttp

    password = "admin-secret-0123456789"
    proxy = await make_proxy(admin_password=password, client_keys=("sk-env-0123456789",))
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{proxy.url}/admin/api/keys", json={"name": "cc", "rpm_limit": 1},
                             headers={"Authorization": f"Bearer {password}"}) as response:
            assert response.status == 201
            secret = (await response.json())["key"]
    client = async_client(proxy, key=secret)
    fake.push(Script(text="first"))
    await client.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=QUESTION)
    with pytest.raises(anthropic.RateLimitError) as caught:
        await client.messages.create(model="claude-sonnet-4-5", max_tokens=10,
                                     messages=QUESTION)
    body = caught.value.body
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert "cc" in body["error"]["message"] and body["request_id"].startswith("req_")
    assert 1 <= int(caught.value.response.headers["retry-after"]) <= 60
