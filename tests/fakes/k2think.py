"""A fake K2Think (MBZUAI's Open WebUI deployment): a real aiohttp app, providers.md §1 and §4.1.

It plays both eras the sources describe, picked by knobs, and is strict where the real
server is believed to be:

- ``GET /guest`` → HTML with two ``Set-Cookie``s (optionally after a 302, ZY followed it);
  ``POST /api/v1/chats/guest/new`` → ``{"id", "title": "Guest Chat", …}`` + a cookie; the body
  must hold ``chat.history.messages``, ``chat.history.currentId`` and a user first message.
- ``POST /api/guest/chat/completions`` (``guest_auth``: ``none`` | ``cookies``) and
  ``POST /api/chat/completions`` (always ``Authorization: Bearer <JWT>`` of a signed-in user,
  else 401 ``{"detail": "Not authenticated"}``, the exact text being unknown). Unknown model →
  400 ``{"detail": "Model not found"}``; ``retired_host`` → always 400 (2026 www.k2think.ai);
  ``history_repair`` → 400 for an assistant turn without a thinking key (IFM, 2026).
  ``stream: false`` → the §1.6 JSON; ``stream: true`` → ``data:`` snapshot lines, 2025
  markup (``<summary>`` + ``<answer>``) or 2026 (``> `` quotes, bare answer), with optional
  ``task_id``, interleaved ``choices`` frames, ``done`` with content/usage, ``[DONE]``, ``-1``,
  a rewriting snapshot, an in-stream ``{"detail"}``, and an unclean drop after the last frame.
- ``POST /api/v1/auths/signin`` → ``{"token": <HS256-looking JWT {id, exp}>}`` + cookie;
  ``GET /api/models`` (Bearer) → the model list. Responses are gzipped when the client asks.

Usage::

    fake = FakeK2Think(markup="2025")
    fake.push(K2Script(text="2 + 2 = 4", reasoning="Add them."))
    server = await aiohttp_server(fake.app)
    ...
    assert fake.completions[-1].json["model"] == "MBZUAI-IFM/K2-Think-v2"

Without a queued script a completion answers the prompt (`tests/fakes/answers.py`: echo,
emulated tool calls, reasoning). Run alone: ``python -m tests.fakes.k2think --port 9091``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import sys
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson
from aiohttp import web

from tests.fakes.answers import demo_script
from tests.fakes.recording import RECORD, Recorded, recording_middleware
from tests.fakes.zai_script import WireOptions, message_text, write_frames

__all__ = ["FakeK2Think", "K2Script", "k2_snapshots"]

DEFAULT_MODELS: Final = ("MBZUAI-IFM/K2-Think-v2", "IFM/K2-Horizon-375B-A23B")
THINKING_KEYS: Final = ("think", "reasoning", "reasoning_content", "think_fast", "think_faster")
Markup = Literal["2025", "2026"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class K2Script:
    """What the next completion gets. `status` answers an HTTP error with `body` instead."""

    text: str = ""
    reasoning: str | None = None
    step: int = 6                     # characters added per snapshot
    status: int | None = None
    body: Any = None
    raw_lines: list[str] | None = None  # exact `data:` payloads (without the prefix)
    rewrite_at: int | None = None     # from this snapshot on the answer is `rewrite`
    rewrite: str = ""                 # (a non-prefix change of text already sent)
    detail_after: int | None = None   # an in-stream {"detail"} after this many snapshots
    usage: dict[str, int] | None = None
    chunk_size: int | None = None
    drop_after_frames: int | None = None




def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def fake_jwt(user_id: str, exp: int) -> str:
    """An HS256-looking JWT `{id, exp}` (ZX's published samples); the signature is zeros."""
    head = _b64url(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
    return f"{head}.{_b64url(orjson.dumps({'id': user_id, 'exp': exp}))}.{_b64url(bytes(32))}"


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in text.split("\n"))


def render_snapshot(reasoning: str | None, answer: str, *, markup: Markup,
                    thinking_done: bool, answer_done: bool) -> str:
    """The Open WebUI rendering of (partial) reasoning and answer, as K2Think streams it."""
    head = ""
    if reasoning is not None:
        if markup == "2025":
            attrs = ' done="true" duration="1"' if thinking_done else ' done="false"'
            summary = "Thought for 1 seconds" if thinking_done else "Thinking…"
            head = f'<details type="reasoning"{attrs}>\n<summary>{summary}</summary>\n'
        else:
            head = '<details type="reasoning">\n'
        head += _quote(reasoning) + ("\n</details>\n" if thinking_done else "\n")
    if not thinking_done:
        return head
    if markup == "2025":
        return f"{head}<answer>{answer}{'</answer>' if answer_done else ''}"
    return head + answer


def k2_snapshots(script: K2Script, markup: Markup) -> list[str]:
    """Growing snapshots: reasoning first (if any), then the answer, `step` chars at a time."""
    step, out = max(1, script.step), []
    if script.reasoning is not None:
        for end in range(step, len(script.reasoning) + step, step):
            out.append(render_snapshot(script.reasoning[:end], "", markup=markup,
                                       thinking_done=False, answer_done=False))
    text = script.text
    for end in range(step, len(text) + step, step):
        if script.rewrite_at is not None and len(out) >= script.rewrite_at:
            text = script.rewrite
        out.append(render_snapshot(script.reasoning, text[:end], markup=markup,
                                   thinking_done=True, answer_done=end >= len(text)))
    if not text:
        out.append(render_snapshot(script.reasoning, "", markup=markup, thinking_done=True,
                                   answer_done=True))
    return out


def non_stream_content(script: K2Script, markup: Markup) -> str:
    if markup == "2025":
        think = f"<think>{script.reasoning}</think>\n" if script.reasoning is not None else ""
        return f"{think}<answer>{script.text}</answer>"
    return render_snapshot(script.reasoning, script.text, markup=markup, thinking_done=True,
                           answer_done=True)


def _usage(messages: Sequence[Any], script: K2Script) -> dict[str, int]:
    if script.usage is not None:
        return script.usage
    prompt = sum(len(message_text(m.get("content"))) for m in messages if isinstance(m, dict))
    p, c = prompt // 4 + 1, (len(script.text) + len(script.reasoning or "")) // 4 + 1
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _data(obj: Any) -> bytes:
    return b"data: " + (obj if isinstance(obj, bytes) else orjson.dumps(obj)) + b"\n\n"


@dataclass
class StreamShape:
    """The 2025/2026 framing knobs (all optional upstream behaviours in §1.6)."""

    task_id: bool = False
    choices_frames: bool = False
    done_content: bool = False
    done_usage: bool = False
    done_marker: bool = False
    minus_one: bool = False
    drop_at_end: bool = False


class FakeK2Think:
    """The fake upstream. One per test; serve `app`; inspect `requests`/`completions`."""

    def __init__(self, *, markup: Markup = "2026", guest_auth: str = "none",
                 require_handshake: bool = False, history_repair: bool = False,
                 retired_host: bool = False, models: Sequence[str] = DEFAULT_MODELS,
                 users: dict[str, str] | None = None, redirect_guest: bool = False,
                 shape: StreamShape | None = None, chunk_size: int | None = None,
                 frame_delay: float = 0.0, token_ttl_s: int = 3600,
                 log: Callable[[str], None] | None = None) -> None:
        self.markup: Markup = markup
        self.guest_auth = guest_auth
        self.require_handshake = require_handshake
        self.history_repair = history_repair
        self.retired_host = retired_host
        self.models = list(models)
        self.users = dict(users or {})            # email -> password
        self.tokens: dict[str, str] = {}          # JWT -> email
        self.redirect_guest = redirect_guest
        self.shape = shape or StreamShape()
        self.chunk_size = chunk_size
        self.frame_delay = frame_delay
        self.token_ttl_s = token_ttl_s
        self.requests: list[Recorded] = []
        self.completions: list[Recorded] = []
        self.guest_chats: dict[str, Any] = {}
        self._handshakes: set[str] = set()         # k2_guest cookie values handed out
        self._scripts: deque[K2Script] = deque()
        self._log = log
        self._released = asyncio.Event()
        self.app = self._make_app()

    # -- controls --------------------------------------------------------------------

    def push(self, script: K2Script) -> None:
        self._scripts.append(script)

    def issue_token(self, email: str = "user@example.com") -> str:
        """A valid Bearer JWT, as if `email` had signed in."""
        token = fake_jwt(str(uuid.uuid5(uuid.NAMESPACE_URL, email)),
                         int(time.time()) + self.token_ttl_s)
        self.tokens[token] = email
        return token

    def revoke(self, token: str) -> None:
        self.tokens.pop(token, None)

    # -- app -------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[recording_middleware(self.requests), self._gzip_mw])
        app.add_routes([
            web.get("/guest", self._guest_page), web.get("/guest/", self._guest_page),
            web.post("/api/v1/chats/guest/new", self._guest_new),
            web.post("/api/guest/chat/completions", self._guest_completion),
            web.post("/api/chat/completions", self._user_completion),
            web.post("/api/v1/auths/signin", self._signin),
            web.get("/api/models", self._models)])
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_shutdown(self, app: web.Application) -> None:
        self._released.set()

    @web.middleware
    async def _gzip_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """§4.1.5: compress plain JSON answers when the client offers gzip (ZY forced
        `gzip, deflate` because brotli broke its decoder)."""
        resp = await handler(request)
        accepts = request.headers.get("Accept-Encoding", "")
        if (isinstance(resp, web.Response) and "gzip" in accepts and resp.body
                and resp.content_type == "application/json"):
            assert isinstance(resp.body, bytes)
            resp.body = gzip.compress(resp.body)
            resp.headers["Content-Encoding"] = "gzip"
        return resp

    # -- guest bootstrap (ZY, 2025) --------------------------------------------------

    async def _guest_page(self, request: web.Request) -> web.StreamResponse:
        if self.redirect_guest and request.path == "/guest":
            raise web.HTTPFound("/guest/")
        value = uuid.uuid4().hex
        self._handshakes.add(value)
        resp = web.Response(text="<!doctype html><title>K2 Think</title>", content_type="text/html")
        resp.set_cookie("k2_guest", value, path="/", httponly=True)
        resp.set_cookie("k2_lang", "en", path="/")
        return resp

    def _handshake_ok(self, request: web.Request) -> bool:
        return request.cookies.get("k2_guest") in self._handshakes

    async def _guest_new(self, request: web.Request) -> web.Response:
        if self.require_handshake and not self._handshake_ok(request):
            return _json(403, {"detail": "Guest session required"})
        body = request[RECORD].json
        chat = body.get("chat") if isinstance(body, dict) else None
        history = chat.get("history") if isinstance(chat, dict) else None
        messages = chat.get("messages") if isinstance(chat, dict) else None
        if (not isinstance(history, dict) or not isinstance(history.get("messages"), dict)
                or not history.get("currentId") or not isinstance(messages, list) or not messages
                or not isinstance(messages[0], dict) or messages[0].get("role") != "user"):
            return _json(400, {"detail": "chat.history and a first user message are required"})
        chat_id = str(uuid.uuid4())
        self.guest_chats[chat_id] = body
        resp = _json(200, {"id": chat_id, "title": "Guest Chat", "chat": chat,
                           "created_at": int(time.time())})
        resp.set_cookie("k2_chat", chat_id[:8], path="/")
        return resp

    # -- completions -----------------------------------------------------------------

    async def _guest_completion(self, request: web.Request) -> web.StreamResponse:
        if self.guest_auth == "cookies" and not self._handshake_ok(request):
            return _json(401, {"detail": "Not authenticated"})
        return await self._completion(request)

    async def _user_completion(self, request: web.Request) -> web.StreamResponse:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in self.tokens:
            return _json(401, {"detail": "Not authenticated"})
        return await self._completion(request)

    async def _completion(self, request: web.Request) -> web.StreamResponse:
        if self.retired_host:
            return _json(400, {"detail": "This endpoint is no longer available"})
        body = request[RECORD].json
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _json(400, {"detail": "messages is required"})
        if body.get("model") not in self.models:
            return _json(400, {"detail": "Model not found"})
        rejected = self._history_problem(body["messages"])
        if rejected is not None:
            return _json(400, {"detail": rejected})
        self.completions.append(request[RECORD])
        script = self._scripts.popleft() if self._scripts else self._default_script(body)
        if self._log is not None:
            self._log(f"model={body.get('model')} stream={body.get('stream')}")
        if script.status is not None:
            return _json(script.status, script.body if script.body is not None
                         else {"detail": f"upstream error {script.status}"})
        if body.get("stream") is False:
            return self._non_stream(body, script)
        return await self._stream(request, body, script)

    def _history_problem(self, messages: list[Any]) -> str | None:
        if not self.history_repair:
            return None
        for message in messages:
            if (isinstance(message, dict) and message.get("role") == "assistant"
                    and not any(key in message for key in THINKING_KEYS)):
                return "Assistant message is missing a thinking field"
        return None

    def _default_script(self, body: dict[str, Any]) -> K2Script:
        effort = ((body.get("extra_body") or {}).get("chat_template_kwargs") or {}) \
            .get("reasoning_effort")
        features = {"enable_thinking": True}
        script, _ = demo_script({"messages": body["messages"], "features": features})
        reasoning = script.thinking if effort != "none" else None
        return K2Script(text=script.text or "", reasoning=reasoning)

    def _non_stream(self, body: dict[str, Any], script: K2Script) -> web.Response:
        content = non_stream_content(script, self.markup)
        return _json(200, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
            "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                         "finish_reason": "stop"}],
            "usage": _usage(body["messages"], script)})

    def stream_frames(self, body: dict[str, Any], script: K2Script) -> list[bytes]:
        """The SSE body for `script` under the current knobs (public for unit tests)."""
        if script.raw_lines is not None:
            return [f"data: {line}\n\n".encode() for line in script.raw_lines]
        shape, snaps = self.shape, k2_snapshots(script, self.markup)
        frames: list[bytes] = []
        if shape.task_id:
            frames.append(_data({"task_id": str(uuid.uuid4())}))
        for index, snap in enumerate(snaps):
            if index == script.detail_after:
                frames.append(_data({"detail": "Upstream model error"}))
                return frames
            frames.append(_data({"content": snap}))
            if shape.choices_frames:
                frames.append(_data({"choices": [{"index": 0, "delta": {"content": snap[-3:]}}]}))
        if shape.choices_frames:
            frames.append(_data({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
        done: dict[str, Any] = {"done": True}
        if shape.done_content and snaps:
            done["content"] = snaps[-1]
        if shape.done_usage:
            done["usage"] = _usage(body["messages"], script)
        frames.append(_data(done))
        if shape.done_marker:
            frames.append(b"data: [DONE]\n\n")
        if shape.minus_one:
            frames.append(b"data: -1\n\n")
        return frames

    async def _stream(self, request: web.Request, body: dict[str, Any],
                      script: K2Script) -> web.StreamResponse:
        frames = self.stream_frames(body, script)
        drop = script.drop_after_frames
        if drop is None and self.shape.drop_at_end:
            drop = len(frames)
        opts = WireOptions(chunk_size=script.chunk_size or self.chunk_size,
                           frame_delay=self.frame_delay, drop_after_frames=drop)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-cache"})
        try:
            await resp.prepare(request)
            await resp.write(b"")
            await write_frames(request, resp, frames, opts, self._released)
        except ConnectionError:
            pass
        return resp

    # -- accounts --------------------------------------------------------------------

    async def _signin(self, request: web.Request) -> web.Response:
        body = request[RECORD].json
        email = body.get("email") if isinstance(body, dict) else None
        password = body.get("password") if isinstance(body, dict) else None
        if not isinstance(email, str) or self.users.get(email) != password:
            return _json(400, {"detail": "The email or password provided is incorrect."})
        token = self.issue_token(email)
        resp = _json(200, {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, email)), "email": email,
                           "name": email.split("@")[0], "role": "user", "token": token,
                           "token_type": "Bearer"})
        resp.set_cookie("token", token, path="/", httponly=True)
        return resp

    async def _models(self, request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token.strip() not in self.tokens:
            return _json(401, {"detail": "Not authenticated"})
        return _json(200, {"data": [{"id": m, "name": m.split("/")[-1], "owned_by": "MBZUAI",
                                     "status": "active", "object": "model"}
                                    for m in self.models]})


def _json(status: int, obj: Any) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(obj), content_type="application/json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.k2think", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9091)
    parser.add_argument("--markup", choices=("2025", "2026"), default="2026")
    parser.add_argument("--chunk-size", type=int, default=None, metavar="N")
    parser.add_argument("--frame-delay", type=float, default=0.0, metavar="S")
    parser.add_argument("--user", action="append", default=[], metavar="EMAIL=PASSWORD",
                        help="an account for /api/v1/auths/signin (repeatable)")
    args = parser.parse_args(argv)
    users = dict(u.partition("=")[::2] for u in args.user)
    fake = FakeK2Think(markup=args.markup, chunk_size=args.chunk_size, users=users,
                       frame_delay=args.frame_delay,
                       log=lambda line: print(f"fake k2think: {line}", flush=True))
    token = fake.issue_token()
    print(f"fake K2Think upstream on http://{args.host}:{args.port}/ "
          f"(a valid K2THINK_TOKEN: {token})", flush=True)
    web.run_app(fake.app, host=args.host, port=args.port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
