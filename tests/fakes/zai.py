"""A fake chat.z.ai: a real aiohttp app that enforces the upstream protocol and replays scripts.

It stands in for chat.z.ai (unreachable from tests) and is as strict as the real server is
believed to be (shared/zai-protocol.md §12), so proxy bugs fail loudly instead of passing:

- ``GET /`` serves HTML with the configured ``prod-fe-X.Y.Z`` plus lower decoys, one of them
  lexically greater (catches a lexical-max version scrape) and one placed before it.
- ``GET /api/v1/auths/`` issues a fresh guest (id, fake ES256 JWT, ``Set-Cookie: token=``);
  with ``Bearer <user token>`` it returns that user's ``role:"user"`` profile, else 401.
- ``POST /api/v2/chat/completions`` and ``POST /api/chat/completions`` check, in this order:
  known unexpired Bearer (401 ``{"message":"expired"}``); ``X-FE-Version`` >= the minimum,
  compared numerically (426 + the §9 body); query ``requestId``, ``timestamp``, ``user_id``,
  ``signature_timestamp == timestamp``, ``token == bearer``, ``user_id`` == the token's id, and
  ``X-Signature`` == signature(secret, …, body.signature_prompt) (all:
  ``signature_failure_status``, 401 by default); ``signature_prompt`` == the last user text
  (400); the per-token concurrency limit (429). Persisted-chat models (``glm-4.7``,
  ``glm-4.6v``) also need a known ``chat_id`` of that token, a single non-system message and
  the right ``current_user_message_parent_id``, else an in-stream ``INTERNAL_ERROR``.
  ``throttle(token, n)`` makes a token's next n completions answer 429; ``expire_token``
  makes every request with it answer 401, ``/api/v1/auths/`` included.
- ``POST /api/v1/chats/new``, ``DELETE /api/v1/chats/``, ``POST /api/v1/files/`` (user tokens
  only), ``GET /api/v1/files/{id}/content`` and ``GET /api/models``.

Usage::

    fake = FakeZai(user_tokens={"tok-alice": "alice-id"})
    fake.push(Script(text="hello", chunk_size=3))        # what the next completion gets
    server = await aiohttp_server(fake.app)               # base URL: server.make_url("/")
    ...
    assert fake.completions[-1].json["model"] == "glm-4.7"

Without a queued `Script` a completion replays a fixture: ``features.web_search`` →
search_citations.sse, ``features.enable_thinking`` → thinking_answer.sse, else plain_answer.sse.
With ``demo=True`` it answers the prompt instead (`tests/fakes/answers.py`: echo, tool calls,
reasoning) and reports each completion through ``log``.
Run it alone with ``python -m tests.fakes --port 9090`` (``--demo`` for the demo answers).
"""

from __future__ import annotations

import asyncio
import base64
import email.parser
import email.policy
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson
from aiohttp import web

from tests.fakes.answers import demo_script, describe
from tests.fakes.recording import RECORD, Recorded, recording_middleware
from tests.fakes.zai_script import (
    FIXTURES_ENV,
    FixtureStore,
    Script,
    WireOptions,
    last_user_text,
    render_frames,
    resolve_fixtures_dir,
    write_frames,
)
from zproxy.config import DEFAULT_SIGNING_SECRET
from zproxy.providers.zai.signing import signature

__all__ = ["ChatState", "FakeZai", "Recorded", "Script"]

COMPLETION_PATHS: Final = ("/api/v2/chat/completions", "/api/chat/completions")
PERSISTED_MODELS: Final = frozenset({"glm-4.7", "glm-4.6v"})
FE_VERSION_RE: Final = re.compile(r"prod-fe-(\d+)\.(\d+)\.(\d+)")
DEFAULT_MODELS: Final = (
    ("0727-360B-API", "GLM-4.5"), ("0727-106B-API", "GLM-4.5-Air"),
    ("GLM-4-6-API-V1", "GLM-4.6"), ("glm-4.5v", "GLM-4.5V"), ("glm-4.6v", "GLM-4.6V"),
    ("glm-4.7", "GLM-4.7"), ("glm-5", "GLM-5"), ("0808-360B-DR", "0808-360B-DR"),
)
_JWT_HEADER: Final = {"alg": "ES256", "typ": "JWT"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]




@dataclass
class ChatState:
    """A chat made by ``POST /api/v1/chats/new``."""

    id: str
    token: str
    user_id: str
    model: str | None
    messages: dict[str, Any]  # chat.history.messages as sent
    current_id: str | None  # chat.history.currentId (the first user message id)
    last_assistant_id: str | None = None  # body `id` of the last accepted completion
    completions: int = 0
    request: dict[str, Any] = field(default_factory=dict)


def _json(status: int, obj: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(obj), headers=headers,
                        content_type="application/json")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def fake_jwt(payload: Mapping[str, Any]) -> str:
    """An unsigned look-alike of chat.z.ai's ES256 JWT (signature: 64 zero bytes)."""
    return ".".join((_b64url(orjson.dumps(_JWT_HEADER)), _b64url(orjson.dumps(dict(payload))),
                     _b64url(bytes(64))))


def parse_fe_version(value: str | None) -> tuple[int, int, int] | None:
    match = FE_VERSION_RE.fullmatch(value or "")
    if match is None:
        return None
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def decoy_versions(version: tuple[int, int, int]) -> list[str]:
    """Versions below `version`; the first sorts above it as a string when that is possible."""
    major, minor, patch = version
    decoys: list[str] = []
    if patch >= 10 and str(patch)[0] != "9":
        decoys.append(f"{major}.{minor}.9")
    elif minor >= 10 and str(minor)[0] != "9":
        decoys.append(f"{major}.9.{patch}")
    if patch:
        decoys.append(f"{major}.{minor}.{patch - 1}")
    if (1, 0, 70) < version:
        decoys.append("1.0.70")
    return decoys


def _bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def _parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str, str, bytes]]:
    """field name -> (filename, content type, bytes), via the stdlib MIME parser."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, tuple[str, str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if name and isinstance(payload, bytes):
            fields[str(name)] = (part.get_filename() or "", part.get_content_type(), payload)
    return fields


class FakeZai:
    """The fake upstream. Build one per test; serve `app`; inspect the recorded state."""

    def __init__(self, *, fixtures_dir: Path | None = None, secret: str = DEFAULT_SIGNING_SECRET,
                 fe_version: str = "prod-fe-1.1.35", min_fe_version: str = "prod-fe-1.0.94",
                 user_tokens: Mapping[str, str] | None = None,
                 signature_failure_status: int = 401, done_marker: bool = False,
                 chunk_size: int | None = None, frame_delay: float = 0.0,
                 concurrency_limit: int | None = None,
                 persisted_models: Iterable[str] = PERSISTED_MODELS, demo: bool = False,
                 log: Callable[[str], None] | None = None) -> None:
        min_version = parse_fe_version(min_fe_version)
        if parse_fe_version(fe_version) is None or min_version is None:
            raise ValueError("fe_version and min_fe_version must look like prod-fe-X.Y.Z")
        root = resolve_fixtures_dir(fixtures_dir)
        if not (root / "http_errors.json").is_file():
            # fail at start-up: without them every request would answer 500
            raise FileNotFoundError(f"Z.AI fixtures not found in {root}: pass a folder holding "
                                    f"http_errors.json, or unset {FIXTURES_ENV}")
        self.fixtures = FixtureStore(root)
        self.demo = demo
        self._log = log
        self.secret = secret
        self.fe_version = fe_version
        self.min_fe_version = min_version
        self.user_tokens: dict[str, str] = dict(user_tokens or {})
        self.signature_failure_status = signature_failure_status
        self.done_marker = done_marker
        self.chunk_size = chunk_size
        self.frame_delay = frame_delay
        self.concurrency_limit = concurrency_limit
        self.persisted_models: set[str] = set(persisted_models)
        self.models: list[dict[str, Any]] = [
            {"id": mid, "name": name, "owned_by": "openai", "created": 1767225600}
            for mid, name in DEFAULT_MODELS]
        self.requests: list[Recorded] = []
        self.completions: list[Recorded] = []
        self.guest_tokens: dict[str, str] = {}
        self.expired: set[str] = set()
        self.throttled: dict[str, int] = {}  # token -> completions still to answer 429
        self.chats: dict[str, ChatState] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.active: dict[str, int] = {}  # token -> streams in flight
        self._scripts: deque[Script] = deque()
        # With no queued script: a script chosen from the request body (the soak's faults)
        self.responder: Callable[[dict[str, Any]], Script | None] | None = None
        self._released = asyncio.Event()  # set on shutdown: ends hanging streams
        self.app = self._make_app()

    # -- public controls -------------------------------------------------------------

    def push(self, script: Script) -> None:
        """Queue `script` for the next completion that passes the HTTP-level checks."""
        self._scripts.append(script)

    def expire_token(self, token: str) -> None:
        self.expired.add(token)

    def throttle(self, token: str, times: int = 1) -> None:
        """The next `times` completions of `token` answer 429 (the upstream's rate limit)."""
        self.throttled[token] = self.throttled.get(token, 0) + times

    def _throttle(self, token: str) -> bool:
        left = self.throttled.get(token, 0)
        if left:
            self.throttled[token] = left - 1
        return left > 0

    def identity(self, token: str | None) -> tuple[str, str] | None:
        """(user id, role) of a live token, else None."""
        if token is None or token in self.expired:
            return None
        if token in self.user_tokens:
            return self.user_tokens[token], "user"
        if token in self.guest_tokens:
            return self.guest_tokens[token], "guest"
        return None

    # -- app -------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[recording_middleware(self.requests)],
                              client_max_size=64 << 20)
        routes = [web.get("/", self._index), web.get("/api/v1/auths/", self._auths),
                  web.post("/api/v1/chats/new", self._chats_new),
                  web.delete("/api/v1/chats/", self._chats_delete),
                  web.post("/api/v1/files/", self._upload),
                  web.get("/api/v1/files/{file_id}/content", self._file_content),
                  web.get("/api/models", self._models)]
        routes += [web.post(path, self._completion) for path in COMPLETION_PATHS]
        app.add_routes(routes)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_shutdown(self, app: web.Application) -> None:
        self._released.set()

    def _auth_error(self) -> web.Response:
        _, body = self.fixtures.http_error(401)
        return web.Response(status=401, body=body, content_type="application/json")

    # -- small endpoints ---------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        version = parse_fe_version(self.fe_version)
        assert version is not None
        # One decoy before the real version (catches "first match"), the rest after it.
        decoys = [f"prod-fe-{v}" for v in decoy_versions(version)]
        lines = [f'<link rel="modulepreload" href="/_app/immutable/{v}/start.js">'
                 for v in decoys[:1]]
        lines.append(f'<script>window.__APP_VERSION__ = "{self.fe_version}";</script>')
        lines += [f'<script type="module" src="/_app/immutable/{v}/app.js"></script>'
                  for v in decoys[1:]]
        html = ("<!doctype html><html><head><meta charset=\"utf-8\"><title>Z.ai Chat</title>\n"
                + "\n".join(lines) + "\n</head><body><div id=\"app\"></div></body></html>\n")
        return web.Response(text=html, content_type="text/html")

    async def _auths(self, request: web.Request) -> web.Response:
        token = _bearer(request)
        if token is None:
            return self._new_guest()
        found = self.identity(token)
        if found is None:
            return self._auth_error()
        user_id, role = found
        name = f"Guest-{user_id[:8]}" if role == "guest" else f"user-{user_id[:8]}"
        domain = "guest.com" if role == "guest" else "example.com"
        return _json(200, {"id": user_id, "email": f"{name}@{domain}", "name": name,
                           "role": role, "token": token})

    def _new_guest(self) -> web.Response:
        guest_id, now_ms = str(uuid.uuid4()), int(time.time() * 1000)
        email_addr = f"Guest-{now_ms}@guest.com"
        token = fake_jwt({"id": guest_id, "email": email_addr})
        self.guest_tokens[token] = guest_id
        resp = _json(200, {"id": guest_id, "email": email_addr, "name": f"Guest-{now_ms}",
                           "role": "guest", "token": token})
        resp.set_cookie("token", token, path="/")
        return resp

    async def _models(self, request: web.Request) -> web.Response:
        if self.identity(_bearer(request)) is None:
            return self._auth_error()
        return _json(200, {"data": self.models})

    async def _chats_new(self, request: web.Request) -> web.Response:
        token = _bearer(request)
        found = self.identity(token)
        if token is None or found is None:
            return self._auth_error()
        body = request[RECORD].json
        chat = body.get("chat") if isinstance(body, dict) else None
        if not isinstance(chat, dict):
            return _json(400, {"detail": "body must be {\"chat\": {...}}", "code": 400})
        history = chat.get("history")
        history = history if isinstance(history, dict) else {}
        models = chat.get("models") or [None]
        state = ChatState(id=str(uuid.uuid4()), token=token, user_id=found[0],
                          model=models[0], messages=dict(history.get("messages") or {}),
                          current_id=history.get("currentId"), request=body)
        self.chats[state.id] = state
        now = int(time.time())
        return _json(200, {"id": state.id, "user_id": state.user_id,
                           "title": chat.get("title", ""), "chat": {**chat, "id": state.id},
                           "updated_at": now, "created_at": now, "share_id": None,
                           "archived": False, "pinned": False, "meta": {}, "folder_id": None})

    async def _chats_delete(self, request: web.Request) -> web.Response:
        token = _bearer(request)
        if self.identity(token) is None:
            return self._auth_error()
        for chat_id in [cid for cid, chat in self.chats.items() if chat.token == token]:
            del self.chats[chat_id]
        return _json(200, True)

    async def _upload(self, request: web.Request) -> web.Response:
        found = self.identity(_bearer(request))
        if found is None:
            return self._auth_error()
        if found[1] != "user":
            return _json(403, {"detail": "Guests cannot upload files", "code": 403})
        fields = _parse_multipart(request.headers.get("Content-Type", ""), await request.read())
        if "file" not in fields:
            return _json(400, {"detail": "multipart field 'file' is required", "code": 400})
        filename, content_type, data = fields["file"]
        file_id, now = str(uuid.uuid4()), int(time.time())
        meta = {"name": filename, "content_type": content_type, "size": len(data), "data": {},
                "oss_endpoint": "", "cdn_url": ""}
        reply = {"id": file_id, "user_id": found[0], "hash": None, "filename": filename,
                 "data": {}, "meta": meta, "created_at": now, "updated_at": now}
        self.uploads[file_id] = {**reply, "content": data}
        return _json(200, reply)

    async def _file_content(self, request: web.Request) -> web.Response:
        upload = self.uploads.get(request.match_info["file_id"])
        if self.identity(_bearer(request)) is None or upload is None:
            return _json(404, {"detail": "Not found", "code": 404})
        return web.Response(body=upload["content"], content_type=upload["meta"]["content_type"])

    # -- completions -----------------------------------------------------------------

    async def _completion(self, request: web.Request) -> web.StreamResponse:
        token = _bearer(request)
        found = self.identity(token)
        if token is None or found is None:
            return self._auth_error()
        if self._fe_too_old(request.headers.get("X-FE-Version")):
            _, body = self.fixtures.http_error(426)
            return web.Response(status=426, body=body, content_type="application/json")
        body = request[RECORD].json
        rejected = self._check_signed(request, token, found[0], body)
        if rejected is not None:
            return rejected
        assert isinstance(body, dict)
        if (self.concurrency_limit is not None
                and self.active.get(token, 0) >= self.concurrency_limit) or self._throttle(token):
            _, limit_body = self.fixtures.http_error(429)
            return web.Response(status=429, body=limit_body, content_type="application/json")
        self.completions.append(request[RECORD])
        if not self._persisted_chat_ok(token, body):
            return await self._stream(request, token, Script(fixture="error_inline_internal.sse"),
                                      body)
        script, chosen = ((self._scripts.popleft(), "scripted") if self._scripts
                          else self._script_for(body))
        if self._log is not None:
            self._log(f"{describe(body)} -> {chosen}")
        if script.status is not None:
            return self._scripted_error(script)
        self._remember_turn(body)
        return await self._stream(request, token, script, body)

    def _fe_too_old(self, header: str | None) -> bool:
        version = parse_fe_version(header)
        return version is None or version < self.min_fe_version

    def _check_signed(self, request: web.Request, token: str, user_id: str,
                      body: Any) -> web.Response | None:
        """The §4.1 consistency rules; returns the rejection, or None when all hold."""
        query = request.query
        missing = [k for k in ("requestId", "timestamp", "user_id", "signature_timestamp", "token")
                   if not query.get(k)]
        problem = None
        if missing:
            problem = f"missing query parameters: {', '.join(missing)}"
        elif not query["timestamp"].isdigit():
            problem = "timestamp must be an integer in ms"
        elif query["signature_timestamp"] != query["timestamp"]:
            problem = "signature_timestamp does not match timestamp"
        elif query["token"] != token:
            problem = "query token does not match the Authorization token"
        elif query["user_id"] != user_id:
            problem = "user_id does not belong to this token"
        if problem is not None:
            return self._signature_error(problem)
        if not isinstance(body, dict):
            return _json(400, {"detail": "body must be a JSON object", "code": 400})
        prompt = body.get("signature_prompt")
        expected = signature(self.secret, request_id=query["requestId"], user_id=user_id,
                             timestamp_ms=int(query["timestamp"]),
                             prompt=prompt if isinstance(prompt, str) else "")
        if request.headers.get("X-Signature") != expected:
            return self._signature_error("signature verification failed")
        if prompt != last_user_text(body.get("messages") or []):
            return _json(400, {"detail": "signature_prompt does not match the last user message",
                               "code": 400})
        return None

    def _signature_error(self, detail: str) -> web.Response:
        status = self.signature_failure_status
        if status == 405:  # Z.AI: a WAF block comes back as an HTML page
            content_type, body = self.fixtures.http_error(405)
            return web.Response(status=405, body=body, content_type=content_type)
        return _json(status, {"detail": detail, "code": status})

    def _persisted_chat_ok(self, token: str, body: dict[str, Any]) -> bool:
        """SB (2026): resent histories and stale chat/parent ids give INTERNAL_ERROR."""
        if body.get("model") not in self.persisted_models:
            return True
        chat = self.chats.get(str(body.get("chat_id")))
        if chat is None or chat.token != token:
            return False
        messages = body.get("messages") or []
        if sum(1 for m in messages if isinstance(m, dict) and m.get("role") != "system") > 1:
            return False
        parent = body.get("current_user_message_parent_id")
        if chat.completions == 0:
            return parent is None
        return parent is not None and parent == chat.last_assistant_id

    def _remember_turn(self, body: dict[str, Any]) -> None:
        chat = self.chats.get(str(body.get("chat_id")))
        if chat is not None and body.get("model") in self.persisted_models:
            chat.last_assistant_id = body.get("id")
            chat.completions += 1

    def _script_for(self, body: dict[str, Any]) -> tuple[Script, str]:
        chosen = self.responder(body) if self.responder is not None else None
        return (chosen, "responder") if chosen is not None else self._default_script(body)

    def _default_script(self, body: dict[str, Any]) -> tuple[Script, str]:
        """The answer when no script is queued, and what it is (for the log)."""
        features = body.get("features")
        features = features if isinstance(features, dict) else {}
        if features.get("web_search"):  # the recorded transcript shows citations best
            return Script(fixture="search_citations.sse"), "search_citations.sse"
        if self.demo:
            return demo_script(body)
        if features.get("enable_thinking"):
            return Script(fixture="thinking_answer.sse"), "thinking_answer.sse"
        return Script(fixture="plain_answer.sse"), "plain_answer.sse"

    def _scripted_error(self, script: Script) -> web.Response:
        assert script.status is not None
        if script.body is None:
            content_type, raw = self.fixtures.http_error(script.status)
        elif isinstance(script.body, (bytes, str)):
            content_type = "text/plain"
            raw = script.body.encode() if isinstance(script.body, str) else script.body
        else:
            content_type, raw = "application/json", orjson.dumps(script.body)
        return web.Response(status=script.status, body=raw, content_type=content_type)

    async def _stream(self, request: web.Request, token: str, script: Script,
                      body: dict[str, Any]) -> web.StreamResponse:
        done = self.done_marker if script.done_marker is None else script.done_marker
        frames = render_frames(script, body.get("messages") or [], self.fixtures, done)
        opts = WireOptions(
            chunk_size=script.chunk_size if script.chunk_size is not None else self.chunk_size,
            frame_delay=script.frame_delay if script.frame_delay is not None else self.frame_delay,
            drop_after_frames=script.drop_after_frames,
            hang_after_frames=script.hang_after_frames)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-cache"})
        self.active[token] = self.active.get(token, 0) + 1
        try:
            await resp.prepare(request)
            await resp.write(b"")  # aiohttp buffers headers until the first body write
            await write_frames(request, resp, frames, opts, self._released)
        except ConnectionError:
            pass  # the client went away; nothing left to do
        finally:
            self.active[token] -= 1
        return resp
