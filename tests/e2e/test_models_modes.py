"""Every model family and mode: thinking, search with citations, vision, persisted chats."""

from __future__ import annotations

import asyncio
import base64
import json

import aiohttp
import openai
import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from tests.conftest import MakeProxy, Proxy
from tests.e2e.helpers import MANIFEST, USER, async_client, collect_stream
from tests.fakes.zai import FakeZai

SEARCH = MANIFEST["search_citations.sse"]
THINKING = MANIFEST["thinking_answer.sse"]
# a 1x1 PNG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")
DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


def image_message(url: str) -> list[dict[str, object]]:
    return [{"role": "user", "content": [{"type": "text", "text": "What is in this image?"},
                                         {"type": "image_url", "image_url": {"url": url}}]}]


@pytest.fixture
async def user_proxy(make_proxy: MakeProxy, fake: FakeZai) -> Proxy:
    fake.user_tokens["tok-alice"] = "alice-id"
    return await make_proxy(upstream_tokens=("tok-alice",))


@pytest.mark.parametrize(("model", "upstream"), [
    ("GLM-4.5", "0727-360B-API"), ("GLM-4.5-Air", "0727-106B-API"),
    ("GLM-4.5V", "glm-4.5v"), ("GLM-4.6", "GLM-4-6-API-V1"), ("GLM-4.6V", "glm-4.6v"),
    ("GLM-4.7", "glm-4.7"), ("GLM-5", "glm-5"), ("0808-360B-DR", "0808-360B-DR"),
])
async def test_each_family_answers(proxy: Proxy, fake: FakeZai, model: str,
                                   upstream: str) -> None:
    reply = await async_client(proxy.base_url).chat.completions.create(
        model=model, messages=USER, extra_body={"enable_thinking": False,
                                                "web_search": False})
    assert reply.choices[0].message.content
    assert fake.completions[-1].json["model"] == upstream


@pytest.mark.parametrize("model", ["GLM-4.5-Thinking", "GLM-4.7-Thinking", "GLM-5",
                                   "glm-4.6-thinking"])
async def test_thinking_models_fill_reasoning(proxy: Proxy, model: str) -> None:
    stream = await async_client(proxy.base_url).chat.completions.create(
        model=model, messages=USER, stream=True)
    out = await collect_stream(stream)
    assert out["reasoning"] == THINKING["expected_reasoning"]
    assert out["content"] == THINKING["expected_answer"]


async def test_search_answer_carries_citations(proxy: Proxy, fake: FakeZai) -> None:
    reply = await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.5-Search", messages=[{"role": "user", "content": "Redis 8 AI features?"}])
    message = reply.choices[0].message
    content = message.content or ""
    for source in SEARCH["expected_search_results"]:
        assert source["url"] in content
        assert source["title"] in content
    assert "【" not in content  # every marker was rewritten to a link
    assert "<glm_block" not in content and '"mcp"' not in content
    annotations = message.annotations or []  # the SDK's own typed url_citation objects
    assert {a.type for a in annotations} == {"url_citation"}
    urls = {a.url_citation.url for a in annotations}
    assert urls == {s["url"] for s in SEARCH["expected_search_results"]}
    for note in annotations:
        cited = content[note.url_citation.start_index:note.url_citation.end_index]
        assert note.url_citation.url in cited
    body = fake.completions[-1].json
    assert body["features"]["web_search"] is True
    assert body["mcp_servers"] == ["deep-web-search"]


async def test_search_streaming_matches_non_streaming(proxy: Proxy) -> None:
    client = async_client(proxy.base_url)
    messages = [{"role": "user", "content": "Redis 8?"}]
    whole = await client.chat.completions.create(model="GLM-4.6-Search", messages=messages)
    stream = await client.chat.completions.create(model="GLM-4.6-Search", messages=messages,
                                                  stream=True)
    out = await collect_stream(stream)
    assert out["content"] == whole.choices[0].message.content
    assert out["reasoning"] == "\n\n".join(SEARCH["expected_reasoning_rounds"])


async def test_vision_uploads_the_image(user_proxy: Proxy, fake: FakeZai) -> None:
    reply = await async_client(user_proxy.base_url).chat.completions.create(
        model="GLM-4.6V", messages=image_message(DATA_URL))
    assert reply.choices[0].message.content
    (file_id, upload), = fake.uploads.items()
    assert upload["content"] == PNG
    body = fake.completions[-1].json
    parts = body["messages"][-1]["content"]
    assert {"type": "image_url", "image_url": {"url": file_id}} in parts
    assert body["files"][0]["id"] == file_id
    assert DATA_URL not in json.dumps(body)


async def test_vision_on_glm_45v_non_persisted(user_proxy: Proxy, fake: FakeZai) -> None:
    await async_client(user_proxy.base_url).chat.completions.create(
        model="GLM-4.5V", messages=image_message(DATA_URL))
    file_id = next(iter(fake.uploads))
    assert fake.completions[-1].json["messages"][-1]["content"][1]["image_url"]["url"] == file_id


async def test_vision_as_guest_is_an_explained_400(proxy: Proxy) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await async_client(proxy.base_url).chat.completions.create(
            model="GLM-4.6V", messages=image_message(DATA_URL))
    assert caught.value.code == "vision_requires_token"
    assert "ZAI_TOKEN" in str(caught.value.message)


async def test_image_on_a_text_model_is_400(user_proxy: Proxy) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await async_client(user_proxy.base_url).chat.completions.create(
            model="GLM-4.6", messages=image_message(DATA_URL))
    assert caught.value.code == "model_not_vision"


async def test_bad_data_url_is_400(user_proxy: Proxy) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await async_client(user_proxy.base_url).chat.completions.create(
            model="GLM-4.6V", messages=image_message("data:image/png;base64,@@@"))
    assert caught.value.code == "invalid_image"


async def _image_server(aiohttp_server: AiohttpServer) -> str:
    async def png(request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    app = web.Application()
    app.router.add_get("/cat.png", png)
    server = await aiohttp_server(app)
    return str(server.make_url("/cat.png"))


async def test_fetch_refuses_loopback_images(make_proxy: MakeProxy, fake: FakeZai,
                                             aiohttp_server: AiohttpServer) -> None:
    fake.user_tokens["tok-alice"] = "alice-id"
    url = await _image_server(aiohttp_server)
    proxy = await make_proxy(upstream_tokens=("tok-alice",), vision_fetch_remote=True)
    with pytest.raises(openai.BadRequestError) as caught:
        await async_client(proxy.base_url).chat.completions.create(
            model="GLM-4.6V", messages=image_message(url))
    assert caught.value.code == "image_url_forbidden"
    assert not fake.uploads


async def test_fetch_allowed_private_images_are_uploaded(make_proxy: MakeProxy, fake: FakeZai,
                                                         aiohttp_server: AiohttpServer) -> None:
    fake.user_tokens["tok-alice"] = "alice-id"
    url = await _image_server(aiohttp_server)
    proxy = await make_proxy(upstream_tokens=("tok-alice",), vision_fetch_remote=True,
                             vision_allow_private=True)
    await async_client(proxy.base_url).chat.completions.create(
        model="GLM-4.6V", messages=image_message(url))
    assert [u["content"] for u in fake.uploads.values()] == [PNG]


async def test_http_image_urls_pass_through_without_fetching(user_proxy: Proxy,
                                                             fake: FakeZai) -> None:
    url = "https://images.example/cat.png"
    await async_client(user_proxy.base_url).chat.completions.create(
        model="GLM-4.6V", messages=image_message(url))
    assert not fake.uploads
    assert url in json.dumps(fake.completions[-1].json)


async def test_five_turn_persisted_conversation(proxy: Proxy, fake: FakeZai) -> None:
    client = async_client(proxy.base_url)
    history: list[dict[str, object]] = [{"role": "system", "content": "Be terse."}]
    for turn in range(5):
        history.append({"role": "user", "content": f"question {turn}"})
        reply = await client.chat.completions.create(model="GLM-4.7", messages=history)
        history.append({"role": "assistant", "content": reply.choices[0].message.content})
    chats_new = [r for r in fake.requests if r.path == "/api/v1/chats/new"]
    assert len(chats_new) == 1
    assert len(fake.chats) == 1
    chat = next(iter(fake.chats.values()))
    assert chat.completions == 5
    sent = [r.json for r in fake.completions]
    assert all(len(b["messages"]) == 1 for b in sent)
    assert [b["messages"][0]["content"] for b in sent] == [f"question {i}" for i in range(5)]
    assert {b["chat_id"] for b in sent} == {chat.id}
    assert sent[0]["current_user_message_parent_id"] is None
    for previous, current in zip(sent, sent[1:], strict=False):
        assert current["current_user_message_parent_id"] == previous["id"]
    query = fake.completions[-1].query
    assert query["screen_width"] and query["user_agent"]  # fingerprint for persisted models


async def test_persisted_chat_starts_with_earlier_turns(proxy: Proxy, fake: FakeZai) -> None:
    messages = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "one"},
                {"role": "user", "content": "second"}]
    await async_client(proxy.base_url).chat.completions.create(model="GLM-4.7",
                                                               messages=messages)
    created = next(iter(fake.chats.values()))
    contents = [m["content"] for m in created.messages.values()]
    assert contents == ["first", "one", "second"]
    assert fake.completions[-1].json["messages"] == [{"role": "user", "content": "second"}]


async def test_stale_chat_falls_back_to_a_fresh_one(proxy: Proxy, fake: FakeZai) -> None:
    client = async_client(proxy.base_url)
    history: list[dict[str, object]] = [{"role": "user", "content": "hello"}]
    reply = await client.chat.completions.create(model="GLM-4.7", messages=history)
    history += [{"role": "assistant", "content": reply.choices[0].message.content},
                {"role": "user", "content": "and again"}]
    fake.chats.clear()  # the upstream forgot the chat: continuing it gives INTERNAL_ERROR
    reply = await client.chat.completions.create(model="GLM-4.7", messages=history)
    assert reply.choices[0].message.content
    assert len([r for r in fake.requests if r.path == "/api/v1/chats/new"]) == 2


async def test_model_aliases_and_map(make_proxy: MakeProxy, fake: FakeZai) -> None:
    proxy = await make_proxy(alias_primary="my-glm", model_map={
        "team-default": "GLM-4.6",
        "glm-next": {"upstream_id": "glm-5.1", "thinking": True}})
    client = async_client(proxy.base_url)
    ids = {m.id async for m in client.models.list()}
    assert {"my-glm", "team-default", "glm-next"} <= ids
    await client.chat.completions.create(model="my-glm", messages=USER)
    assert fake.completions[-1].json["model"] == "0727-360B-API"
    await client.chat.completions.create(model="team-default", messages=USER)
    assert fake.completions[-1].json["model"] == "GLM-4-6-API-V1"
    await client.chat.completions.create(model="glm-next", messages=USER)
    assert fake.completions[-1].json["model"] == "glm-5.1"
    assert fake.completions[-1].json["features"]["enable_thinking"] is True


async def test_model_discovery_merges_upstream_models(make_proxy: MakeProxy,
                                                      fake: FakeZai) -> None:
    fake.models = [*fake.models, {"id": "glm-9", "name": "GLM-9", "owned_by": "openai",
                                  "created": 0}]
    proxy = await make_proxy(model_discovery=True)
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            async with session.get(f"{proxy.base_url}/models") as response:
                ids = {m["id"] for m in (await response.json())["data"]}
            if "glm-9" in ids:
                break
            await asyncio.sleep(0.05)
    assert "glm-9" in ids
    assert "0727-360B-API" not in ids  # ids already behind a public name are not duplicated
