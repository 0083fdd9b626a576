"""Every error path: real HTTP statuses before the first byte, SSE error events after it,
and always the OpenAI error shape (house rule 11)."""

from __future__ import annotations

import json
import socket
from typing import Any

import aiohttp
import openai
import pytest

from tests.conftest import MakeProxy, Proxy
from tests.e2e.helpers import USER, async_client
from tests.fakes.zai import FakeZai, Script

ERROR_KEYS = {"message", "type", "param", "code"}


def assert_error_shape(body: Any) -> dict[str, Any]:
    assert set(body) == {"error"}
    assert set(body["error"]) == ERROR_KEYS
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


async def post(proxy: Proxy, body: Any, headers: dict[str, str] | None = None,
               raw: bytes | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{proxy.base_url}/chat/completions",
                                data=raw if raw is not None else json.dumps(body),
                                headers={"Content-Type": "application/json",
                                         **(headers or {})}) as response:
            return response.status, await response.json(content_type=None)


# --- client errors -----------------------------------------------------------------------

@pytest.mark.parametrize(("body", "param", "code"), [
    ({"messages": USER}, "model", "missing_required_parameter"),
    ({"model": "GLM-4.5"}, "messages", "invalid_type"),
    ({"model": "GLM-4.5", "messages": []}, "messages", "invalid_type"),
    ({"model": "GLM-4.5", "messages": [{"role": "wizard", "content": "x"}]},
     "messages[0].role", "invalid_value"),
    ({"model": "GLM-4.5", "messages": USER, "n": 2}, "n", "unsupported_parameter"),
    ({"model": "GLM-4.5", "messages": USER, "logprobs": True}, "logprobs",
     "unsupported_parameter"),
    ({"model": "GLM-4.5", "messages": USER, "temperature": 5}, "temperature", "invalid_type"),
    ({"model": "GLM-4.5", "messages": USER, "stop": ["a", "b", "c", "d", "e"]}, "stop",
     "invalid_value"),
    ({"model": "GLM-4.5", "messages": USER, "stream": "yes"}, "stream", "invalid_type"),
])
async def test_bad_requests_name_the_parameter(proxy: Proxy, body: dict[str, Any],
                                               param: str, code: str) -> None:
    status, payload = await post(proxy, body)
    assert status == 400
    error = assert_error_shape(payload)
    assert error["param"] == param and error["code"] == code
    assert error["type"] == "invalid_request_error"


async def test_invalid_json_is_400(proxy: Proxy) -> None:
    status, payload = await post(proxy, None, raw=b"{not json")
    assert status == 400
    assert assert_error_shape(payload)["code"] == "invalid_json"


async def test_unknown_model_is_404_model_not_found(proxy: Proxy) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        await async_client(proxy.base_url).chat.completions.create(
            model="gpt-4o", messages=USER)
    assert caught.value.status_code == 404
    assert caught.value.code == "model_not_found"


async def test_unknown_path_and_method_are_openai_shaped(proxy: Proxy) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{proxy.base_url}/nothing-here") as response:
            assert response.status == 404
            assert_error_shape(await response.json())
        async with session.get(f"{proxy.base_url}/chat/completions") as response:
            assert response.status == 405
            assert_error_shape(await response.json())


# --- client auth ---------------------------------------------------------------------------

async def test_missing_and_wrong_keys_are_401(make_proxy: MakeProxy) -> None:
    proxy = await make_proxy(client_keys=("sk-one", "sk-two"))
    status, payload = await post(proxy, {"model": "GLM-4.5", "messages": USER})
    assert status == 401
    assert assert_error_shape(payload)["type"] == "authentication_error"
    with pytest.raises(openai.AuthenticationError):
        await async_client(proxy.base_url, key="sk-wrong").chat.completions.create(
            model="GLM-4.5", messages=USER)
    reply = await async_client(proxy.base_url, key="sk-two").chat.completions.create(
        model="GLM-4.5", messages=USER)
    assert reply.choices[0].message.content
    status, _ = await post(proxy, {"model": "GLM-4.5", "messages": USER},
                           headers={"x-api-key": "sk-one"})
    assert status == 200


async def test_skip_auth_accepts_anything(make_proxy: MakeProxy) -> None:
    proxy = await make_proxy(client_keys=("sk-one",), skip_auth=True)
    status, _ = await post(proxy, {"model": "GLM-4.5", "messages": USER})
    assert status == 200


# --- upstream failures before the first byte ---------------------------------------------

@pytest.mark.parametrize(("status", "expected", "code", "attempts"), [
    (401, 502, "upstream_auth_failed", 3),
    (429, 429, "upstream_rate_limited", 3),
    (426, 502, "upstream_client_version", 3),
    (405, 502, "waf_blocked", 1),
    (500, 502, "upstream_unavailable", 3),
])
async def test_upstream_http_errors(proxy: Proxy, fake: FakeZai, status: int, expected: int,
                                    code: str, attempts: int) -> None:
    for _ in range(3):
        fake.push(Script(status=status))
    for stream in (False, True):
        got, payload = await post(proxy, {"model": "GLM-4.5", "messages": USER,
                                          "stream": stream})
        assert got == expected
        assert assert_error_shape(payload)["code"] == code
        if not stream:
            assert len([r for r in fake.requests if "completions" in r.path]) == attempts
        for _ in range(3):
            fake.push(Script(status=status))


@pytest.mark.parametrize(("fixture", "code"), [
    ("error_inline_internal.sse", "upstream_internal_error"),
    ("error_captcha_required.sse", "upstream_captcha_required"),
    ("error_client_version.sse", "upstream_client_version"),
])
async def test_in_stream_errors_before_content_become_http_errors(
        proxy: Proxy, fake: FakeZai, fixture: str, code: str) -> None:
    for _ in range(3):
        fake.push(Script(fixture=fixture))
    status, payload = await post(proxy, {"model": "GLM-4.5", "messages": USER,
                                         "stream": True})
    assert status == 502
    assert assert_error_shape(payload)["code"] == code


async def test_in_stream_error_is_retried_then_succeeds(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(fixture="error_inline_internal.sse"))
    reply = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.5", messages=USER)
    assert reply.choices[0].message.content


async def test_upstream_timeout_is_504(make_proxy: MakeProxy, fake: FakeZai) -> None:
    proxy = await make_proxy(read_timeout_s=0.5, max_attempts=1)
    fake.push(Script(text="never", hang_after_frames=0))
    status, payload = await post(proxy, {"model": "GLM-4.5", "messages": USER})
    assert status == 504
    assert assert_error_shape(payload)["type"] == "timeout_error"


async def test_unreachable_upstream_is_502(make_proxy: MakeProxy) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proxy = await make_proxy(upstream_base=f"http://127.0.0.1:{port}")
    status, payload = await post(proxy, {"model": "GLM-4.5", "messages": USER})
    assert status == 502
    assert assert_error_shape(payload)["code"] == "upstream_unavailable"


# --- failures after the headers went out --------------------------------------------------

async def test_connection_dropped_mid_stream_ends_with_error_event(proxy: Proxy,
                                                                   fake: FakeZai) -> None:
    fake.push(Script(fixture="plain_answer.sse", drop_after_frames=3))
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{proxy.base_url}/chat/completions",
                                json={"model": "GLM-4.5", "messages": USER,
                                      "stream": True}) as response:
            assert response.status == 200
            text = await response.text()
    data = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    error = assert_error_shape(json.loads(data[-2]))
    assert error["code"] == "upstream_unavailable"
    assert "你好" in "".join(data[:-2])  # what arrived before the drop was relayed


async def test_sdk_raises_on_in_band_error(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(fixture="plain_answer.sse", drop_after_frames=3))
    stream = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.5", messages=USER, stream=True)
    with pytest.raises(openai.APIError):
        async for _ in stream:
            pass


async def test_in_stream_error_after_content(proxy: Proxy, fake: FakeZai) -> None:
    fake.push(Script(raw_lines=[
        'data: {"type":"chat:completion","data":{"delta_content":"partial","phase":"answer"}}',
        'data: {"type":"chat:completion","data":{"error":{"code":"INTERNAL_ERROR",'
        '"detail":"Something went wrong"}}}',
    ], frame_delay=0.05))  # separate reads: the content goes out before the error arrives
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{proxy.base_url}/chat/completions",
                                json={"model": "GLM-4.5", "messages": USER,
                                      "stream": True}) as response:
            text = await response.text()
    data = [line[6:] for line in text.split("\n") if line.startswith("data: ")]
    assert "partial" in data[1]
    assert assert_error_shape(json.loads(data[-2]))["code"] == "upstream_internal_error"
    assert data[-1] == "[DONE]"


async def test_dropped_stream_non_streaming_is_502(make_proxy: MakeProxy,
                                                   fake: FakeZai) -> None:
    """With no attempt left to recover it (tests/e2e/test_recovery.py has the retry)."""
    proxy = await make_proxy(max_attempts=1)
    fake.push(Script(fixture="plain_answer.sse", drop_after_frames=3))
    status, payload = await post(proxy, {"model": "GLM-4.5", "messages": USER})
    assert status == 502
    assert_error_shape(payload)
