"""Tests of the fake Z.AI upstream itself (tests/fakes/zai.py), over a real test client."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import FormData
from pytest_aiohttp import AiohttpClient

from tests.fakes.zai import FakeZai, Script, decoy_versions, parse_fe_version
from tests.fakes.zai_script import resolve_fixtures_dir, split_events
from zproxy.config import DEFAULT_SIGNING_SECRET
from zproxy.providers.zai.signing import signature

FIXTURES = resolve_fixtures_dir(None)

FE = "prod-fe-1.1.35"
V2 = "/api/v2/chat/completions"
USER_TOKEN, USER_ID = "tok-alice", "5f0e1d2c-3b4a-4958-8776-655443322110"
Client = Any  # aiohttp.test_utils.TestClient


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def body_for(text: str = "你好，1+1等于几？", **extra: Any) -> dict[str, Any]:
    return {"stream": True, "model": "GLM-4-6-API-V1",
            "messages": [{"role": "user", "content": text}], "signature_prompt": text,
            "features": {"enable_thinking": False}, "chat_id": str(uuid.uuid4()),
            "id": str(uuid.uuid4()), **extra}


def signed(token: str, user_id: str, body: dict[str, Any], *, fe: str = FE,
           ts: int | None = None, secret: str = DEFAULT_SIGNING_SECRET) -> dict[str, Any]:
    """kwargs for `client.post` making a correctly signed completion request."""
    ts = int(time.time() * 1000) if ts is None else ts
    request_id = str(uuid.uuid4())
    sig = signature(secret, request_id=request_id, user_id=user_id, timestamp_ms=ts,
                    prompt=body.get("signature_prompt", ""))
    params = {"requestId": request_id, "timestamp": str(ts), "user_id": user_id,
              "version": "0.0.1", "platform": "web", "token": token,
              "signature_timestamp": str(ts)}
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
               "X-FE-Version": fe, "X-Signature": sig}
    return {"params": params, "headers": headers, "data": orjson.dumps(body)}


def data_objects(raw: bytes) -> list[Any]:
    lines = [ln[len(b"data: "):] for ln in raw.split(b"\n") if ln.startswith(b"data: ")]
    return [ln.decode() if ln == b"[DONE]" else orjson.loads(ln) for ln in lines]


def rebuild(raw: bytes) -> str:
    """The message buffer, by the §8.2 delta/edit rules."""
    buf = ""
    for obj in data_objects(raw):
        data = obj.get("data", {}) if isinstance(obj, dict) else {}
        if "edit_index" in data:
            buf = buf[:data["edit_index"]] + data["edit_content"]
        buf += data.get("delta_content", "")
    return buf


async def guest(client: Client) -> tuple[str, str]:
    resp = await client.get("/api/v1/auths/")
    reply = await resp.json()
    return reply["token"], reply["id"]


@pytest.fixture
def fake() -> FakeZai:
    return FakeZai(user_tokens={USER_TOKEN: USER_ID})


@pytest.fixture
async def client(fake: FakeZai, aiohttp_client: AiohttpClient) -> Client:
    return await aiohttp_client(fake.app)


# -- auth, version page, models -------------------------------------------------------


async def test_guest_auth_issues_distinct_tokens(client: Client, fake: FakeZai) -> None:
    first = await client.get("/api/v1/auths/")
    second = await client.get("/api/v1/auths/")
    a, b = await first.json(), await second.json()
    assert a["role"] == b["role"] == "guest"
    assert a["token"] != b["token"] and a["id"] != b["id"]
    assert a["email"].startswith("Guest-") and a["email"].endswith("@guest.com")
    assert first.cookies["token"].value == a["token"]
    assert fake.guest_tokens == {a["token"]: a["id"], b["token"]: b["id"]}


async def test_user_token_auth(client: Client, fake: FakeZai) -> None:
    ok = await client.get("/api/v1/auths/", headers={"Authorization": f"Bearer {USER_TOKEN}"})
    assert (await ok.json())["role"] == "user" and (await ok.json())["id"] == USER_ID
    unknown = await client.get("/api/v1/auths/", headers={"Authorization": "Bearer nope"})
    assert unknown.status == 401
    fake.expire_token(USER_TOKEN)
    expired = await client.get("/api/v1/auths/", headers={"Authorization": f"Bearer {USER_TOKEN}"})
    assert expired.status == 401 and await expired.json() == {"message": "expired"}


async def test_index_has_version_and_lower_decoys(client: Client) -> None:
    html = await (await client.get("/")).text()
    found = re.findall(r"prod-fe-\d+\.\d+\.\d+", html)
    assert FE in found and len(found) >= 3
    assert max(found, key=lambda v: parse_fe_version(v) or (0, 0, 0)) == FE
    assert max(found) != FE  # a lexical max picks a decoy
    assert found[0] != FE  # so does "first match"


def test_decoys_are_lower() -> None:
    for version in [(1, 1, 35), (1, 0, 241), (1, 0, 99), (1, 10, 0), (2, 0, 0)]:
        assert all(tuple(map(int, d.split("."))) < version for d in decoy_versions(version))


async def test_models_list(client: Client, fake: FakeZai) -> None:
    assert (await client.get("/api/models")).status == 401
    resp = await client.get("/api/models", headers={"Authorization": f"Bearer {USER_TOKEN}"})
    ids = [m["id"] for m in (await resp.json())["data"]]
    assert {"0727-360B-API", "GLM-4-6-API-V1", "glm-4.7", "glm-5", "0808-360B-DR"} <= set(ids)
    fake.models = [{"id": "glm-9", "name": "GLM-9", "owned_by": "openai", "created": 1}]
    resp = await client.get("/api/models", headers={"Authorization": f"Bearer {USER_TOKEN}"})
    assert [m["id"] for m in (await resp.json())["data"]] == ["glm-9"]


# -- completion checks ----------------------------------------------------------------


@pytest.mark.parametrize("path", [V2, "/api/chat/completions"])
async def test_signed_completion_replays_fixture_bytes(client: Client, fake: FakeZai,
                                                       path: str) -> None:
    token, user_id = await guest(client)
    resp = await client.post(path, **signed(token, user_id, body_for()))
    assert resp.status == 200 and resp.content_type == "text/event-stream"
    assert await resp.read() == fixture("plain_answer.sse")
    assert len(fake.completions) == 1 and fake.completions[0].path == path
    assert fake.completions[0].query["user_id"] == user_id
    assert fake.completions[0].headers["x-fe-version"] == FE


@pytest.mark.parametrize(("features", "name"), [
    ({"enable_thinking": True}, "thinking_answer.sse"),
    ({"web_search": True, "auto_web_search": True}, "search_citations.sse"),
    ({"enable_thinking": True, "web_search": True}, "search_citations.sse"),
])
async def test_default_fixture_follows_features(client: Client, features: dict[str, Any],
                                                name: str) -> None:
    token, user_id = await guest(client)
    resp = await client.post(V2, **signed(token, user_id, body_for(features=features)))
    assert await resp.read() == fixture(name)


async def test_done_marker(aiohttp_client: AiohttpClient) -> None:
    fake = FakeZai(done_marker=True)
    client = await aiohttp_client(fake.app)
    token, user_id = await guest(client)
    resp = await client.post(V2, **signed(token, user_id, body_for()))
    assert await resp.read() == fixture("plain_answer.sse") + b"data: [DONE]\n\n"


async def test_bad_token_401(client: Client, fake: FakeZai) -> None:
    token, user_id = await guest(client)
    bad = await client.post(V2, **signed("tok-unknown", user_id, body_for()))
    assert bad.status == 401 and await bad.json() == {"message": "expired"}
    fake.expire_token(token)
    expired = await client.post(V2, **signed(token, user_id, body_for()))
    assert expired.status == 401
    assert fake.completions == []


@pytest.mark.parametrize("fe", ["prod-fe-1.0.93", "prod-fe-1.0.9", "", "1.1.35"])
async def test_old_or_missing_fe_version_426(client: Client, fe: str) -> None:
    token, user_id = await guest(client)
    resp = await client.post(V2, **signed(token, user_id, body_for(), fe=fe))
    assert resp.status == 426
    assert await resp.json() == {"error": {"detail": "Your client version check is failed",
                                           "code": 426}}


async def test_fe_version_compared_numerically(client: Client) -> None:
    token, user_id = await guest(client)
    resp = await client.post(V2, **signed(token, user_id, body_for(), fe="prod-fe-1.0.100"))
    assert resp.status == 200  # lexically "1.0.100" < "1.0.94", numerically it is newer
    await resp.read()


async def test_bad_signature_401(client: Client, fake: FakeZai) -> None:
    token, user_id = await guest(client)
    kwargs = signed(token, user_id, body_for(), secret="junjie")
    resp = await client.post(V2, **kwargs)
    assert resp.status == 401
    assert (await resp.json())["detail"] == "signature verification failed"
    assert fake.completions == []


@pytest.mark.parametrize(("param", "value", "detail"), [
    ("signature_timestamp", "1", "signature_timestamp does not match timestamp"),
    ("token", "other", "query token does not match the Authorization token"),
    ("user_id", "guest", "user_id does not belong to this token"),
    ("requestId", "", "missing query parameters: requestId"),
])
async def test_inconsistent_query_rejected(client: Client, param: str, value: str,
                                           detail: str) -> None:
    token, user_id = await guest(client)
    kwargs = signed(token, user_id, body_for())
    kwargs["params"][param] = value
    resp = await client.post(V2, **kwargs)
    assert resp.status == 401 and (await resp.json())["detail"] == detail


async def test_signature_failure_status_is_configurable(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(FakeZai(signature_failure_status=405).app)
    token, user_id = await guest(client)
    resp = await client.post(V2, **signed(token, user_id, body_for(), secret="x"))
    assert resp.status == 405 and resp.content_type == "text/html"


async def test_wrong_signature_prompt_400(client: Client) -> None:
    token, user_id = await guest(client)
    body = body_for("second question")
    body["messages"] = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "a"},
                        {"role": "user", "content": [{"type": "text", "text": " second"},
                                                     {"type": "text", "text": "question "}]}]
    ok = await client.post(V2, **signed(token, user_id, body))
    assert ok.status == 200  # text parts joined by a space and stripped
    await ok.read()
    body["signature_prompt"] = "first"  # correctly signed, but not the last user message
    resp = await client.post(V2, **signed(token, user_id, body))
    assert resp.status == 400


async def test_concurrency_limit_429(aiohttp_client: AiohttpClient) -> None:
    fake = FakeZai(concurrency_limit=1)
    client = await aiohttp_client(fake.app)
    token, user_id = await guest(client)
    fake.push(Script(text="held open", hang_after_frames=1))
    first = await client.post(V2, **signed(token, user_id, body_for()))
    await first.content.readuntil(b"\n\n")
    second = await client.post(V2, **signed(token, user_id, body_for()))
    assert second.status == 429 and (await second.json())["code"] == 429
    first.close()
    for _ in range(100):
        if not fake.active[token]:
            break
        await asyncio.sleep(0.02)
    third = await client.post(V2, **signed(token, user_id, body_for()))
    assert third.status == 200
    await third.read()


# -- scripts --------------------------------------------------------------------------


async def test_text_script_streams_deltas(client: Client, fake: FakeZai) -> None:
    token, user_id = await guest(client)
    fake.push(Script(text="Hello there, this is a scripted answer.", delta_size=5,
                     usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}))
    raw = await (await client.post(V2, **signed(token, user_id, body_for()))).read()
    objs = data_objects(raw)
    deltas = [o["data"]["delta_content"] for o in objs if "delta_content" in o["data"]]
    assert all(len(d) <= 5 for d in deltas) and len(deltas) == 8
    assert rebuild(raw) == "Hello there, this is a scripted answer."
    assert objs[-2]["data"] == {"phase": "other", "usage": {"prompt_tokens": 1,
                                                            "completion_tokens": 2,
                                                            "total_tokens": 3}}
    assert objs[-1]["data"] == {"phase": "done", "done": True}


async def test_thinking_script_uses_answer_start_edit(client: Client, fake: FakeZai) -> None:
    token, user_id = await guest(client)
    fake.push(Script(thinking="Line one.\nLine two.", text="The answer."))
    raw = await (await client.post(V2, **signed(token, user_id, body_for()))).read()
    edit = next(o["data"] for o in data_objects(raw) if "edit_index" in o["data"])
    assert edit["edit_index"] == 32 and edit["phase"] == "answer"
    assert rebuild(raw) == ('<details type="reasoning" done="true">\n> \n> \n> Line one.\n'
                            "> Line two.\n</details>\nThe answer.")


async def test_nonce_substitution_uses_newest(client: Client, fake: FakeZai) -> None:
    token, user_id = await guest(client)
    body = body_for("call a tool")
    body["messages"] = [{"role": "system", "content": "old <tool_calls_AAAAAA> x"},
                        {"role": "system", "content": "use <tool_calls_AB12CD> then"
                                                      " <tool_calls_ZZ99ZZ>"},
                        {"role": "user", "content": "call a tool"}]
    fake.push(Script(text='<tool_calls_{nonce}>[{"name":"f"}]</tool_calls_{nonce}>'))
    raw = await (await client.post(V2, **signed(token, user_id, body))).read()
    assert rebuild(raw) == '<tool_calls_ZZ99ZZ>[{"name":"f"}]</tool_calls_ZZ99ZZ>'


async def test_frames_and_raw_lines(client: Client, fake: FakeZai) -> None:
    token, user_id = await guest(client)
    fake.push(Script(frames=[{"delta_content": "hi", "phase": "answer"}]))
    fake.push(Script(raw_lines=["data: {broken", ": comment\n"]))
    first = await (await client.post(V2, **signed(token, user_id, body_for()))).read()
    assert first == (b'data: {"type":"chat:completion",'
                     b'"data":{"delta_content":"hi","phase":"answer"}}\n\n')
    second = await (await client.post(V2, **signed(token, user_id, body_for()))).read()
    assert second == b"data: {broken\n\n: comment\n"


async def test_chunk_size_splits_the_body(client: Client, fake: FakeZai) -> None:
    token, user_id = await guest(client)
    fake.push(Script(fixture="plain_answer.sse", chunk_size=7, done_marker=True))
    resp = await client.post(V2, **signed(token, user_id, body_for()))
    reads = [piece async for piece in resp.content.iter_any()]
    assert b"".join(reads) == fixture("plain_answer.sse") + b"data: [DONE]\n\n"
    assert len(reads) > 5
    assert all(len(piece) % 7 == 0 for piece in reads[:-1])


def test_split_events_round_trips() -> None:
    for name in ["plain_answer.sse", "search_citations.sse", "error_inline_internal.sse"]:
        raw = fixture(name)
        events = split_events(raw)
        assert b"".join(events) == raw and all(e.startswith(b"data: ") for e in events)


@pytest.mark.parametrize(("status", "body"), [
    (401, {"message": "expired"}),
    (426, {"error": {"detail": "Your client version check is failed", "code": 426}}),
    (429, {"detail": "Too many concurrent requests, please try again later", "code": 429}),
    (500, {"detail": "upstream error 500", "code": 500}),
])
async def test_status_scripts(client: Client, fake: FakeZai, status: int,
                              body: dict[str, Any]) -> None:
    token, user_id = await guest(client)
    fake.push(Script(status=status))
    resp = await client.post(V2, **signed(token, user_id, body_for()))
    assert resp.status == status and await resp.json() == body
    fake.push(Script(status=503, body={"custom": True}))
    resp = await client.post(V2, **signed(token, user_id, body_for()))
    assert resp.status == 503 and await resp.json() == {"custom": True}
    fake.push(Script(status=405))
    resp = await client.post(V2, **signed(token, user_id, body_for()))
    assert resp.status == 405 and resp.content_type == "text/html"


async def test_failed_checks_leave_script_queued(client: Client, fake: FakeZai) -> None:
    token, user_id = await guest(client)
    fake.push(Script(text="for the retry"))
    assert (await client.post(V2, **signed(token, user_id, body_for(), fe="x"))).status == 426
    raw = await (await client.post(V2, **signed(token, user_id, body_for()))).read()
    assert rebuild(raw) == "for the retry"


@pytest.mark.parametrize("after", [0, 2])
async def test_drop_after_frames_is_a_payload_error(client: Client, fake: FakeZai,
                                                    after: int) -> None:
    token, user_id = await guest(client)
    fake.push(Script(fixture="plain_answer.sse", drop_after_frames=after, chunk_size=10))
    resp = await client.post(V2, **signed(token, user_id, body_for()))
    assert resp.status == 200
    received = b""
    with pytest.raises(aiohttp.ClientPayloadError):
        async for piece in resp.content.iter_any():
            received += piece
    assert received == b"".join(split_events(fixture("plain_answer.sse"))[:after])


async def test_hang_after_frames_stalls(client: Client, fake: FakeZai) -> None:
    token, user_id = await guest(client)
    fake.push(Script(text="abcdefgh" * 3, hang_after_frames=1, frame_delay=0.001))
    resp = await client.post(V2, **signed(token, user_id, body_for()))
    first = await resp.content.readuntil(b"\n\n")
    assert data_objects(first)[0]["data"]["delta_content"] == "abcdefgh"
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(resp.content.read(), timeout=0.2)
    resp.close()


# -- persisted chats and uploads ------------------------------------------------------


async def new_chat(client: Client, token: str) -> str:
    request = orjson.loads(fixture("chats_new_request.json"))
    resp = await client.post("/api/v1/chats/new", json=request,
                             headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
    reply = await resp.json()
    assert reply["chat"]["id"] == reply["id"]
    return str(reply["id"])


def is_internal_error(raw: bytes) -> bool:
    return any(isinstance(o, dict) and o.get("data", {}).get("error", {}).get("code")
               == "INTERNAL_ERROR" for o in data_objects(raw))


async def test_persisted_chat_flow(client: Client, fake: FakeZai) -> None:
    token, user_id = await guest(client)
    assert (await client.post("/api/v1/chats/new", json={"chat": {}})).status == 401
    chat_id = await new_chat(client, token)
    assert fake.chats[chat_id].model == "glm-4.7" and fake.chats[chat_id].user_id == user_id

    async def turn(parent: str | None, messages: list[dict[str, Any]] | None = None,
                   chat: str = chat_id) -> tuple[bytes, str]:
        body = body_for("next", model="glm-4.7", chat_id=chat,
                        current_user_message_parent_id=parent)
        if messages is not None:
            body["messages"] = messages
        raw = await (await client.post(V2, **signed(token, user_id, body))).read()
        return raw, body["id"]

    raw, first_id = await turn(None)
    assert raw == fixture("plain_answer.sse")
    assert fake.chats[chat_id].last_assistant_id == first_id
    resent = [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
              {"role": "assistant", "content": "a"}, {"role": "user", "content": "next"}]
    assert is_internal_error((await turn(first_id, resent))[0])
    assert is_internal_error((await turn(None))[0])
    assert is_internal_error((await turn("stale-parent"))[0])
    assert is_internal_error((await turn(first_id, chat="unknown-chat"))[0])
    with_system = [{"role": "system", "content": "s"}, {"role": "user", "content": "next"}]
    raw, second_id = await turn(first_id, with_system)
    assert raw == fixture("plain_answer.sse")
    assert fake.chats[chat_id].last_assistant_id == second_id
    assert len(fake.completions) == 6


async def test_persisted_chat_belongs_to_its_token(client: Client) -> None:
    owner, _ = await guest(client)
    other, other_id = await guest(client)
    chat_id = await new_chat(client, owner)
    body = body_for(model="glm-4.6v", chat_id=chat_id, current_user_message_parent_id=None)
    raw = await (await client.post(V2, **signed(other, other_id, body))).read()
    assert is_internal_error(raw)


async def test_delete_chats(client: Client, fake: FakeZai) -> None:
    token, _ = await guest(client)
    other, _ = await guest(client)
    await new_chat(client, token)
    kept = await new_chat(client, other)
    resp = await client.delete("/api/v1/chats/", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200 and await resp.json() is True
    assert list(fake.chats) == [kept]


async def test_upload_user_ok_guest_refused(client: Client, fake: FakeZai) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(40))

    def form() -> FormData:
        data = FormData()
        data.add_field("file", png, filename="pic.png", content_type="image/png")
        return data

    resp = await client.post("/api/v1/files/", data=form(),
                             headers={"Authorization": f"Bearer {USER_TOKEN}"})
    assert resp.status == 200
    reply = await resp.json()
    assert reply["filename"] == "pic.png" and reply["user_id"] == USER_ID
    assert reply["meta"] == {"name": "pic.png", "content_type": "image/png", "size": len(png),
                             "data": {}, "oss_endpoint": "", "cdn_url": ""}
    assert fake.uploads[reply["id"]]["content"] == png
    content = await client.get(f"/api/v1/files/{reply['id']}/content",
                               headers={"Authorization": f"Bearer {USER_TOKEN}"})
    assert await content.read() == png
    token, _ = await guest(client)
    refused = await client.post("/api/v1/files/", data=form(),
                                headers={"Authorization": f"Bearer {token}"})
    assert refused.status == 403
    assert (await client.post("/api/v1/files/", data=form())).status == 401


async def test_every_request_is_recorded(client: Client, fake: FakeZai) -> None:
    await client.get("/")
    await client.get("/api/v1/auths/")
    await client.get("/nowhere")
    assert [(r.method, r.path) for r in fake.requests] == [
        ("GET", "/"), ("GET", "/api/v1/auths/"), ("GET", "/nowhere")]
