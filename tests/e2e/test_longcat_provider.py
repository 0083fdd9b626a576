"""The LongCat provider against the fake LongCat over real sockets (no engine)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from pytest_aiohttp import AiohttpServer

from tests.e2e.provider_helpers import request, run, texts
from tests.fakes.longcat import DEFAULT_RESULTS, FakeLongCat, LCScript
from zproxy import errors
from zproxy.core.events import Done, Failure, SearchResults, Usage
from zproxy.core.trace import Trace
from zproxy.providers.longcat.models import MODELS
from zproxy.providers.longcat.provider import LongCatOptions, LongCatProvider

FLASH, PLAIN, THINKING, SEARCH = MODELS
TOKEN = "AgEGfake-passport-token"


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
        yield s


async def provider_for(fake: FakeLongCat, server: AiohttpServer,
                       session: aiohttp.ClientSession, **options: Any) -> LongCatProvider:
    base = str((await server(fake.app)).make_url("/")).rstrip("/")
    return LongCatProvider(session, LongCatOptions(base=base, **{"tokens": (TOKEN,), **options}))


async def settled(fake: FakeLongCat) -> None:
    """Session deletes run in the background: wait for them to land."""
    for _ in range(200):
        if not fake.sessions:
            return
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("api", ["v1", "v2"])
@pytest.mark.parametrize("cumulative", [False, True])
async def test_both_generations_stream_and_delete_their_sessions(
        api: str, cumulative: bool, session: aiohttp.ClientSession,
        aiohttp_server: AiohttpServer) -> None:
    fake = FakeLongCat(tokens=[TOKEN], cumulative=cumulative, chunk_size=4, done_marker=True)
    fake.push(LCScript(text="你好！有什么可以帮你？ – fine", reasoning="想一想…", step=4))
    provider = await provider_for(fake, aiohttp_server, session, api=api)
    events = await run(provider, request(THINKING, [{"role": "user", "content": "你好"}]))
    assert texts(events) == ("想一想…", "你好！有什么可以帮你？ – fine")
    assert events[-1] == Done("stop") and any(isinstance(e, Usage) for e in events)
    sent = fake.completions[-1]
    assert sent.path == ("/api/v1/chat-completion" if api == "v1"
                         else "/api/v1/chat-completion-V2")
    assert sent.json["content"] == "你好" and sent.json["reasonEnabled"] == 1
    assert sent.json["searchEnabled"] == 0 and sent.json["conversationId"] in fake.created
    assert sent.cookies == {"passport_token_key": TOKEN}
    assert sent.headers["m-appkey"] == "fe_com.sankuai.friday.fe.longcat"
    assert sent.headers["Referer"].endswith(f"/c/{sent.json['conversationId']}")
    await settled(fake)
    assert fake.deleted == fake.created and not fake.sessions


async def test_search_results_and_history_flattening(session: aiohttp.ClientSession,
                                                     aiohttp_server: AiohttpServer) -> None:
    fake = FakeLongCat(tokens=[TOKEN])
    provider = await provider_for(fake, aiohttp_server, session)
    history = [{"role": "system", "content": "Be brief"}, {"role": "user", "content": "Q1"},
               {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"}]
    events = await run(provider, request(SEARCH, history))
    found = [e for e in events if isinstance(e, SearchResults)]
    assert [i.url for e in found for i in e.items] == [r["url"] for r in DEFAULT_RESULTS]
    assert texts(events)[0] == ""  # reasoning not asked
    sent = fake.completions[-1].json
    assert sent["searchEnabled"] == 1 and sent["reasonEnabled"] == 0
    assert sent["content"] == "system: Be brief\n\nuser: Q1\n\nassistant: A1\n\nuser: Q2"


async def test_a_refused_cookie_rests_only_that_token(session: aiohttp.ClientSession,
                                                      aiohttp_server: AiohttpServer) -> None:
    fake = FakeLongCat(tokens=["good"])
    provider = await provider_for(fake, aiohttp_server, session, tokens=("dead", "good"))
    for _ in range(3):
        trace = Trace()
        assert isinstance((await run(provider, request(FLASH), trace))[-1], Done)
    dead, good = (c.key for c in provider.tokens.credentials)
    assert not provider.tokens.healthy(dead) and provider.tokens.healthy(good)
    creates = [r.cookies.get("passport_token_key") for r in fake.requests
               if r.path.endswith("session-create")]
    assert creates.count("dead") == 1


async def test_only_dead_tokens_report_the_login_error(session: aiohttp.ClientSession,
                                                       aiohttp_server: AiohttpServer) -> None:
    fake = FakeLongCat(tokens=[])
    provider = await provider_for(fake, aiohttp_server, session)
    with pytest.raises(errors.UpstreamAuthError, match="LONGCAT_TOKEN"):
        await run(provider, request(FLASH))
    assert provider.available()  # configured, merely refused


async def test_no_token_is_no_credential(session: aiohttp.ClientSession,
                                         aiohttp_server: AiohttpServer) -> None:
    fake = FakeLongCat()
    provider = await provider_for(fake, aiohttp_server, session, tokens=())
    assert not provider.available()
    with pytest.raises(errors.NoUpstreamCredential, match="LONGCAT_TOKEN"):
        await run(provider, request(FLASH))


async def test_throttled_create_is_a_rate_limit(session: aiohttp.ClientSession,
                                                aiohttp_server: AiohttpServer) -> None:
    fake = FakeLongCat(tokens=[TOKEN], create_limit=0)
    provider = await provider_for(fake, aiohttp_server, session, max_attempts=1)
    with pytest.raises(errors.UpstreamRateLimitError, match="操作太快啦"):
        await run(provider, request(FLASH))


async def test_bare_json_error_and_event_error(session: aiohttp.ClientSession,
                                               aiohttp_server: AiohttpServer) -> None:
    fake = FakeLongCat(tokens=[TOKEN])
    fake.push(LCScript(bare_error={"code": 500, "message": "系统繁忙"}))
    fake.push(LCScript(text="abcdefghij", step=2, error_after=2))
    provider = await provider_for(fake, aiohttp_server, session)
    trace = Trace()
    events = await run(provider, request(FLASH), trace)
    assert trace.attempts == 2 and trace.retries == ["internal"]
    assert texts(events)[1] == "abcd" and isinstance(events[-1], Failure)
    await settled(fake)
    assert not fake.sessions  # failed attempts delete their sessions too


async def test_signature_requirement_is_reported_as_blocked(
        session: aiohttp.ClientSession, aiohttp_server: AiohttpServer) -> None:
    fake = FakeLongCat(tokens=[TOKEN], require_signature=True)
    provider = await provider_for(fake, aiohttp_server, session, max_attempts=1)
    with pytest.raises(errors.UpstreamBlockedError, match="mtgsig"):
        await run(provider, request(FLASH))


async def test_sensitive_finish_and_region_cookie(session: aiohttp.ClientSession,
                                                  aiohttp_server: AiohttpServer) -> None:
    fake = FakeLongCat(tokens=[TOKEN])
    fake.push(LCScript(text="partial", sensitive=True))
    provider = await provider_for(fake, aiohttp_server, session, region="2",
                                  delete_sessions=False)
    events = await run(provider, request(FLASH))
    assert events[-1] == Done("content_filter")
    assert fake.completions[-1].cookies["long_cat_region_key"] == "2"
    assert len(fake.sessions) == 1 and not fake.deleted  # LONGCAT_DELETE_SESSIONS=false

