"""The K2Think provider against the fake K2Think over real sockets (no engine)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer

from tests.e2e.provider_helpers import request, run, texts
from tests.fakes.k2think import FakeK2Think, K2Script, StreamShape
from zproxy import errors
from zproxy.core.events import Done, Failure, Usage
from zproxy.core.trace import Trace
from zproxy.providers.k2think.models import MODELS
from zproxy.providers.k2think.provider import K2ThinkOptions, K2ThinkProvider

K2, NOTHINK, HORIZON = MODELS


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
        yield s


async def serve(fake: FakeK2Think, aiohttp_server: AiohttpServer) -> str:
    return str((await aiohttp_server(fake.app)).make_url("/")).rstrip("/")


@pytest.mark.parametrize("markup", ["2025", "2026"])
async def test_guest_streams_reasoning_and_answer(markup: str, session: aiohttp.ClientSession,
                                                  aiohttp_server: AiohttpServer) -> None:
    fake = FakeK2Think(markup=markup, chunk_size=3,  # type: ignore[arg-type]
                       shape=StreamShape(task_id=True, choices_frames=True, done_usage=True))
    fake.push(K2Script(text="Vier – 4 ✓", reasoning="Add 2 and 2."))
    provider = K2ThinkProvider(session, K2ThinkOptions(base=await serve(fake, aiohttp_server)))
    events = await run(provider, request(K2, [{"role": "system", "content": "Be brief"},
                                              {"role": "user", "content": "2+2?"},
                                              {"role": "assistant", "content": "Hm?"},
                                              {"role": "user", "content": "2+2!"}]))
    assert texts(events) == ("Add 2 and 2.", "Vier – 4 ✓")
    assert events[-1] == Done("stop") and any(isinstance(e, Usage) for e in events)
    sent = fake.completions[-1]
    assert sent.path == "/api/guest/chat/completions" and "Authorization" not in sent.headers
    assert sent.json["model"] == "MBZUAI-IFM/K2-Think-v2" and sent.json["stream"] is True
    assert sent.json["messages"][0] == {"role": "user", "content": "Be brief\n\n2+2?"}
    assert sent.json["messages"][1] == {"role": "assistant", "content": "Hm?", "reasoning": ""}
    assert sent.headers["Accept-Encoding"] == "gzip, deflate"


async def test_history_repair_is_what_the_2026_backend_needs(
        session: aiohttp.ClientSession, aiohttp_server: AiohttpServer) -> None:
    fake = FakeK2Think(history_repair=True)
    base = await serve(fake, aiohttp_server)
    history = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
               {"role": "user", "content": "c"}]
    ok = await run(K2ThinkProvider(session, K2ThinkOptions(base=base)), request(K2, history))
    assert isinstance(ok[-1], Done)
    with pytest.raises(errors.UpstreamProtocolError, match="thinking field"):
        await run(K2ThinkProvider(session, K2ThinkOptions(base=base, history_repair=False)),
                  request(K2, history))


async def test_user_token_goes_as_bearer_and_nothink_drops_reasoning(
        session: aiohttp.ClientSession, aiohttp_server: AiohttpServer) -> None:
    fake = FakeK2Think()
    token = fake.issue_token()
    fake.push(K2Script(text="4", reasoning="hidden"))
    provider = K2ThinkProvider(session, K2ThinkOptions(base=await serve(fake, aiohttp_server),
                                                       tokens=(token,), guest=False))
    trace = Trace()
    events = await run(provider, request(NOTHINK), trace)
    assert texts(events) == ("", "4") and trace.credential_kind == "user"
    assert fake.completions[-1].path == "/api/chat/completions"
    assert fake.completions[-1].headers["Authorization"] == f"Bearer {token}"


async def test_a_401_rests_that_token_only(session: aiohttp.ClientSession,
                                           aiohttp_server: AiohttpServer) -> None:
    fake = FakeK2Think()
    good, bad = fake.issue_token("a@x"), fake.issue_token("b@x")
    fake.revoke(bad)
    provider = K2ThinkProvider(session, K2ThinkOptions(base=await serve(fake, aiohttp_server),
                                                       tokens=(bad, good), guest=False))
    for _ in range(3):
        trace = Trace()
        assert isinstance((await run(provider, request(K2), trace))[-1], Done)
    keys = [c.key for c in provider.tokens.credentials]
    assert not provider.tokens.healthy(keys[0]) and provider.tokens.healthy(keys[1])
    bearers = [r.headers["Authorization"] for r in fake.requests]
    assert bearers.count(f"Bearer {bad}") == 1  # tried once, then left alone


async def test_handshake_flow_collects_cookies_across_a_redirect(
        session: aiohttp.ClientSession, aiohttp_server: AiohttpServer) -> None:
    fake = FakeK2Think(require_handshake=True, guest_auth="cookies", redirect_guest=True)
    provider = K2ThinkProvider(session, K2ThinkOptions(base=await serve(fake, aiohttp_server),
                                                       handshake=True))
    events = await run(provider, request(K2))
    assert isinstance(events[-1], Done)
    assert [r.path for r in fake.requests] == [
        "/guest", "/guest/", "/api/v1/chats/guest/new", "/api/guest/chat/completions"]
    sent = fake.completions[-1]
    assert sent.cookies["guest_conversation_count"] == "1" and "k2_guest" in sent.cookies
    assert sent.json["conversation_id"] in fake.guest_chats


async def test_without_handshake_cookie_auth_refuses(session: aiohttp.ClientSession,
                                                     aiohttp_server: AiohttpServer) -> None:
    fake = FakeK2Think(guest_auth="cookies")
    provider = K2ThinkProvider(session, K2ThinkOptions(base=await serve(fake, aiohttp_server)))
    with pytest.raises(errors.UpstreamAuthError):
        await run(provider, request(K2))


async def test_unknown_model_and_retired_host(session: aiohttp.ClientSession,
                                              aiohttp_server: AiohttpServer) -> None:
    fake = FakeK2Think(models=("MBZUAI-IFM/K2-Think",))
    base = await serve(fake, aiohttp_server)
    with pytest.raises(errors.UpstreamProtocolError, match="Model not found") as caught:
        await run(K2ThinkProvider(session, K2ThinkOptions(base=base)), request(K2))
    assert caught.value.code == "upstream_model_not_found"
    fake.retired_host = True
    with pytest.raises(errors.UpstreamProtocolError, match="K2THINK_BASE_URL"):
        await run(K2ThinkProvider(session, K2ThinkOptions(base=base)), request(HORIZON))


async def test_horizon_sends_reasoning_effort_and_unclean_end_is_normal(
        session: aiohttp.ClientSession, aiohttp_server: AiohttpServer) -> None:
    fake = FakeK2Think(shape=StreamShape(drop_at_end=True))
    fake.push(K2Script(text="fine", reasoning="r"))
    provider = K2ThinkProvider(session, K2ThinkOptions(base=await serve(fake, aiohttp_server)))
    events = await run(provider, request(HORIZON))
    assert texts(events) == ("r", "fine") and events[-1] == Done("stop")
    body = fake.completions[-1].json
    assert body["model"] == "IFM/K2-Horizon-375B-A23B"
    assert body["extra_body"] == {"chat_template_kwargs": {"reasoning_effort": "medium"}}


async def test_in_stream_detail_before_text_is_retried_then_reported(
        session: aiohttp.ClientSession, aiohttp_server: AiohttpServer) -> None:
    fake = FakeK2Think()
    fake.push(K2Script(text="x", detail_after=0))
    fake.push(K2Script(text="second try"))
    provider = K2ThinkProvider(session, K2ThinkOptions(base=await serve(fake, aiohttp_server)))
    trace = Trace()
    events = await run(provider, request(K2), trace)
    assert texts(events)[1] == "second try" and trace.attempts == 2
    assert trace.retries == ["internal"]


async def test_in_stream_detail_after_text_is_a_failure_event(
        session: aiohttp.ClientSession, aiohttp_server: AiohttpServer) -> None:
    fake = FakeK2Think()
    fake.push(K2Script(text="abcdefghijkl", step=3, detail_after=2))
    provider = K2ThinkProvider(session, K2ThinkOptions(base=await serve(fake, aiohttp_server)))
    events = await run(provider, request(K2))
    assert texts(events)[1] == "abcdef" and isinstance(events[-1], Failure)


async def test_gzip_json_answer_is_decoded(session: aiohttp.ClientSession,
                                           aiohttp_server: AiohttpServer) -> None:
    """A non-stream JSON answer (2025 `<think>`/`<answer>` markup), gzip-compressed."""
    fake = FakeK2Think(markup="2025")
    fake.push(K2Script(text="four", reasoning="two and two"))
    base = await serve(fake, aiohttp_server)
    async with session.post(f"{base}/api/guest/chat/completions",
                            json={"model": "MBZUAI-IFM/K2-Think-v2", "stream": False,
                                  "messages": [{"role": "user", "content": "2+2"}]},
                            headers={"Accept-Encoding": "gzip"}) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        body = await response.json()
    content = body["choices"][0]["message"]["content"]
    assert content == "<think>two and two</think>\n<answer>four</answer>"
