"""A fake LongCat web chat (longcat.chat): a real aiohttp app, providers.md §2 and §4.2.

- ``POST /api/v1/session-create``: no ``passport_token_key`` cookie → 200
  ``{"code":401,"message":"请求cookie信息为空"}``; an unknown one → ``{"code": LOGIN_CODE,
  "message":"登录后才能继续对话哦~"}``; more than ``create_limit`` creates per second →
  ``{"code": THROTTLE_CODE, "message":"操作太快啦，请稍后再试～"}`` (or HTTP 429 with
  ``throttle_http``); else the §2.8 body with a fresh UUID. (The numeric codes are unknown.)
- ``GET /api/v1/session-delete?conversationId=`` → ``{"code":0,"message":"success"}`` (guessed),
  an unknown id → code ≠ 0. ``sessions`` holds the open ones, ``deleted`` the deleted ones.
- ``POST /api/v1/chat-completion`` and ``…-oversea`` (generation A, 2025): ``delta.content``
  increments plus a cumulative ``content``, ``reasonContent``/``reasoningContent`` when
  ``reasonEnabled``, search status and results when ``searchEnabled``, ``tokenInfo`` and
  ``lastOne`` on the last frame, optional ``data: [DONE]``.
- ``POST /api/v1/chat-completion-V2`` and ``…-oversea-V2`` (generation B, 2026): ``event``
  frames ``create`` → ``reason``* → ``search``* → ``content``* → ``finish`` (``lastOne``),
  deltas or cumulative per knob (``cumulative``), optional ``finishType:"sensitive"``.
- Faults per script: an error as a bare JSON line, ``event_error``, a ``data:`` frame with
  ``code:429``, HTTP 401/403, ``sensitive``; a ``require_signature`` knob rejects requests
  without an ``mtgsig`` header and the ``yodaReady/csecplatform/csecversion`` query (403).
- ``GET /api/v1/user-current`` → ``{code:0, data:{loginStatus, userId, …}}``.

The non-oversea endpoints need a known ``passport_token_key`` cookie and a ``conversationId``
made by that cookie. Headers are recorded (``m-appkey``, ``Referer``) but not required.
Without a queued script the answer comes from `tests/fakes/answers.py` (echo, emulated tool
calls). Run alone: ``python -m tests.fakes.longcat --port 9092``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

import orjson
from aiohttp import web

from tests.fakes.answers import demo_script
from tests.fakes.recording import RECORD, Recorded, recording_middleware
from tests.fakes.zai_script import WireOptions, write_frames

__all__ = ["FakeLongCat", "LCScript"]

COOKIE: Final = "passport_token_key"
EMPTY_COOKIE: Final = {"code": 401, "message": "请求cookie信息为空"}
LOGIN_CODE: Final = 40100       # unknown upstream value (§5)
THROTTLE_CODE: Final = 42900    # unknown upstream value (§5)
LOGIN_MESSAGE: Final = "登录后才能继续对话哦~"
THROTTLE_MESSAGE: Final = "操作太快啦，请稍后再试～"
MODEL_A: Final = "LongCat-Flash"
MODEL_B: Final = "LongCat-2.0-Preview-LongCatAI"
SIGNATURE_QUERY: Final = ("yodaReady", "csecplatform", "csecversion")
DEFAULT_RESULTS: Final = (
    {"title": "LongCat – Meituan", "url": "https://longcat.chat/about",
     "snippet": "LongCat is Meituan's large language model."},
    {"title": "LongCat-Flash on GitHub", "url": "https://github.com/meituan-longcat",
     "snippet": "Model weights and the technical report."})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class LCScript:
    """What the next completion gets; everything optional."""

    text: str = ""
    reasoning: str | None = None
    search: list[dict[str, str]] | None = None
    query: str = "longcat"
    step: int = 5
    status: int | None = None            # an HTTP error with `body`
    body: Any = None
    bare_error: dict[str, Any] | None = None   # a bare JSON line instead of frames
    error_after: int | None = None       # gen B: `event_error` after this many content events
    code_after: int | None = None        # a `data: {"code":429,…}` frame after N content events
    sensitive: bool = False
    usage: tuple[int, int] | None = None
    chunk_size: int | None = None
    drop_after_frames: int | None = None


@dataclass
class Session:
    id: str
    token: str | None
    created: float




def _pieces(text: str, step: int) -> list[str]:
    step = max(1, step)
    return [text[i:i + step] for i in range(0, len(text), step)]


def _data(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(obj), content_type="application/json")


def _usage(body: dict[str, Any], script: LCScript) -> tuple[int, int]:
    if script.usage is not None:
        return script.usage
    content = body.get("content")
    prompt = len(content) // 4 + 1 if isinstance(content, str) else 1
    return prompt, (len(script.text) + len(script.reasoning or "")) // 4 + 1


def frames_a(body: dict[str, Any], script: LCScript, conv: str) -> list[bytes]:
    """Generation A (2025) frames: deltas in `choices`, cumulative `content`/`reasonContent`."""
    base = {"id": f"r{uuid.uuid4().hex[:8]}", "conversationId": conv, "messageId": 2,
            "parentId": 1, "object": "chat.completion.chunk", "created": int(time.time()),
            "model": MODEL_A, "searchEnabled": bool(body.get("searchEnabled")),
            "reasonEnabled": bool(body.get("reasonEnabled")), "sensitive": False,
            "loadingStatus": False, "pluginInfo": None, "title": None}
    zero = {"promptTokens": 0, "completionTokens": 0, "totalTokens": 0, "hasTokens": False}
    frames: list[bytes] = []
    reasoning_so_far, content_so_far = "", ""

    def frame(delta: dict[str, Any], status: str, **extra: Any) -> bytes:
        return _data({**base, "choices": [{"delta": {"role": "assistant", "content": "",
                                                     "reasoningContent": None,
                                                     "functionCall": None, **delta},
                                           "index": 0, "finishReason": ""}],
                      "content": content_so_far, "reasonContent": reasoning_so_far,
                      "contentStatus": status, "tokenInfo": zero, "lastOne": False, **extra})

    if script.search is not None:
        frames.append(frame({}, "PROCESSING", searchStatus="SEARCHING", searchResults=None))
        frames.append(frame({}, "PROCESSING", searchStatus="FINISHED",
                            searchResults=orjson.dumps(script.search).decode()))
    for piece in _pieces(script.reasoning or "", script.step):
        reasoning_so_far += piece
        frames.append(frame({"reasoningContent": piece}, "PROCESSING", reasonStatus="THINKING"))
    pieces = _pieces(script.text, script.step) or [""]
    for index, piece in enumerate(pieces):
        if index == script.code_after:
            frames.append(_data({"code": 429, "message": "请求过于频繁"}))
            return frames
        content_so_far += piece
        last = index == len(pieces) - 1
        if not last:
            frames.append(frame({"content": piece}, "PROCESSING"))
            continue
        prompt, completion = _usage(body, script)
        info = {"promptTokens": prompt, "completionTokens": completion,
                "totalTokens": prompt + completion, "hasTokens": True}
        final = orjson.loads(frame({"content": piece}, "FINISHED")[6:])
        final["choices"][0]["finishReason"] = "stop"
        final.update(tokenInfo=info, lastOne=True, sensitive=script.sensitive)
        frames.append(_data(final))
    return frames


def frames_b(body: dict[str, Any], script: LCScript, conv: str, cumulative: bool) -> list[bytes]:
    """Generation B (2026) event frames; `cumulative` sends whole texts instead of deltas."""
    top = {"conversationId": conv, "messageId": 11263291, "model": MODEL_B}
    frames = [_data({"event": {"type": "create"}, **top, "lastOne": False})]

    def texts(kind: str, text: str) -> None:
        so_far = ""
        for piece in _pieces(text, script.step):
            so_far += piece
            frames.append(_data({"event": {"type": kind, "content": so_far if cumulative
                                           else piece, "status": "PROCESSING"},
                                 "lastOne": False}))

    texts("reason", script.reasoning or "")
    if script.search is not None:
        frames.append(_data({"event": {"type": "search", "content": {"query": script.query}},
                             "lastOne": False}))
        frames.append(_data({"event": {"type": "search",
                                       "content": {"resultList": script.search}},
                             "lastOne": False}))
    so_far = ""
    for index, piece in enumerate(_pieces(script.text, script.step)):
        if index == script.error_after:
            frames.append(_data({"event": {"type": "event_error",
                                           "message": "服务繁忙，请稍后再试"}, "lastOne": True}))
            return frames
        if index == script.code_after:
            frames.append(_data({"code": 429, "message": "请求过于频繁"}))
            return frames
        so_far += piece
        frames.append(_data({"event": {"type": "content", "content": so_far if cumulative
                                       else piece, "status": "PROCESSING"}, "lastOne": False}))
    prompt, completion = _usage(body, script)
    finish: dict[str, Any] = {"type": "finish", "finalContentX": script.text,
                              "usage": {"inputTokens": prompt, "outputTokens": completion,
                                        "totalTokens": prompt + completion}}
    if script.sensitive:
        finish["finishType"] = "sensitive"
    frames.append(_data({"event": finish, "lastOne": True}))
    return frames


class FakeLongCat:
    """The fake upstream. One per test; serve `app`; inspect the recorded state."""

    def __init__(self, *, tokens: Iterable[str] = (), cumulative: bool = False,
                 done_marker: bool = False, create_limit: int | None = None,
                 throttle_http: bool = False, require_signature: bool = False,
                 chunk_size: int | None = None, frame_delay: float = 0.0,
                 log: Callable[[str], None] | None = None) -> None:
        self.tokens: set[str] = set(tokens)
        self.cumulative = cumulative
        self.done_marker = done_marker
        self.create_limit = create_limit
        self.throttle_http = throttle_http
        self.require_signature = require_signature
        self.chunk_size = chunk_size
        self.frame_delay = frame_delay
        self.sessions: dict[str, Session] = {}
        self.deleted: list[str] = []
        self.created: list[str] = []
        self.requests: list[Recorded] = []
        self.completions: list[Recorded] = []
        self._create_times: deque[float] = deque()
        self._scripts: deque[LCScript] = deque()
        self._log = log
        self._released = asyncio.Event()
        self.app = self._make_app()

    def push(self, script: LCScript) -> None:
        self._scripts.append(script)

    def expire(self, token: str) -> None:
        self.tokens.discard(token)

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[recording_middleware(self.requests)])
        app.add_routes([
            web.post("/api/v1/session-create", self._create),
            web.get("/api/v1/session-delete", self._delete),
            web.get("/api/v1/user-current", self._user_current),
            web.post("/api/v1/chat-completion", self._chat_a),
            web.post("/api/v1/chat-completion-oversea", self._chat_a),
            web.post("/api/v1/chat-completion-V2", self._chat_b),
            web.post("/api/v1/chat-completion-oversea-V2", self._chat_b)])
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_shutdown(self, app: web.Application) -> None:
        self._released.set()

    # -- sessions --------------------------------------------------------------------

    def _login_problem(self, request: web.Request) -> dict[str, Any] | None:
        token = request.cookies.get(COOKIE)
        if not token:
            return EMPTY_COOKIE
        if token not in self.tokens:
            return {"code": LOGIN_CODE, "message": LOGIN_MESSAGE}
        return None

    def _throttled(self) -> bool:
        if self.create_limit is None:
            return False
        now = time.monotonic()
        while self._create_times and now - self._create_times[0] > 1.0:
            self._create_times.popleft()
        self._create_times.append(now)
        return len(self._create_times) > self.create_limit

    async def _create(self, request: web.Request) -> web.Response:
        problem = self._login_problem(request)
        if problem is not None:
            return _json(problem)
        if self._throttled():
            throttled = {"code": THROTTLE_CODE, "message": THROTTLE_MESSAGE}
            return _json(throttled, 429 if self.throttle_http else 200)
        conv, now_ms = str(uuid.uuid4()), int(time.time() * 1000)
        self.sessions[conv] = Session(conv, request.cookies.get(COOKIE), time.time())
        self.created.append(conv)
        return _json({"code": 0, "message": "success", "data": {
            "agent": "1", "conversationId": conv, "createAt": now_ms, "currentMessageId": 0,
            "label": "今天", "model": "LongCat", "title": "新对话", "titleType": "SYSTEM",
            "updateAt": now_ms, "capabilities": ["search", "think", "file", "voiceCall"]}})

    async def _delete(self, request: web.Request) -> web.Response:
        conv = request.query.get("conversationId", "")
        session = self.sessions.get(conv)
        if session is None or session.token != request.cookies.get(COOKIE):
            return _json({"code": 404, "message": "会话不存在"})
        del self.sessions[conv]
        self.deleted.append(conv)
        return _json({"code": 0, "message": "success"})

    async def _user_current(self, request: web.Request) -> web.Response:
        token = request.cookies.get(COOKIE)
        live = bool(token) and token in self.tokens
        return _json({"code": 0, "data": {
            "loginStatus": 1 if live else 0, "userId": 1000 + len(token or "") if live else None,
            "name": "longcat-user" if live else None, "reasonButtonStatus": 1,
            "searchButtonStatus": 1}})

    # -- completions -----------------------------------------------------------------

    def _check(self, request: web.Request) -> tuple[web.Response | None, str]:
        """(rejection, conversation id) for a completion request."""
        if self.require_signature and (not request.headers.get("mtgsig") or any(
                key not in request.query for key in SIGNATURE_QUERY)):
            return _json({"code": 403, "message": "请求签名校验失败"}, 403), ""
        body = request[RECORD].json
        if not isinstance(body, dict) or not isinstance(body.get("content"), str):
            return _json({"code": 400, "message": "参数错误"}), ""
        if "oversea" in request.path:
            return None, str(uuid.uuid4())
        problem = self._login_problem(request)
        if problem is not None:
            status = 401 if request.path.endswith("-V2") else 200
            return _json(problem, status), ""
        conv = str(body.get("conversationId") or "")
        session = self.sessions.get(conv)
        if session is None or session.token != request.cookies.get(COOKIE):
            return _json({"code": 404, "message": "会话不存在或已删除"}), ""
        return None, conv

    def _script(self, body: dict[str, Any]) -> LCScript:
        if self._scripts:
            return self._scripts.popleft()
        demo, _ = demo_script({"messages": [{"role": "user", "content": body["content"]}]})
        reasoning = ("The user wrote something; this is the offline fake."
                     if body.get("reasonEnabled") else None)
        search = list(DEFAULT_RESULTS) if body.get("searchEnabled") else None
        return LCScript(text=demo.text or "", reasoning=reasoning, search=search)

    async def _chat_a(self, request: web.Request) -> web.StreamResponse:
        return await self._chat(request, generation="A")

    async def _chat_b(self, request: web.Request) -> web.StreamResponse:
        return await self._chat(request, generation="B")

    async def _chat(self, request: web.Request, generation: str) -> web.StreamResponse:
        rejected, conv = self._check(request)
        if rejected is not None:
            return rejected
        body = request[RECORD].json
        self.completions.append(request[RECORD])
        script = self._script(body)
        if self._log is not None:
            self._log(f"{request.path} reason={body.get('reasonEnabled')} "
                      f"search={body.get('searchEnabled')}")
        if script.status is not None:
            return _json(script.body if script.body is not None
                         else {"code": script.status, "message": "error"}, script.status)
        if script.bare_error is not None:
            frames = [orjson.dumps(script.bare_error) + b"\n"]
        elif generation == "A":
            frames = frames_a(body, script, conv)
        else:
            frames = frames_b(body, script, conv, self.cumulative)
        if self.done_marker and script.bare_error is None:
            frames.append(b"data: [DONE]\n\n")
        return await self._write(request, frames, script)

    async def _write(self, request: web.Request, frames: list[bytes],
                     script: LCScript) -> web.StreamResponse:
        opts = WireOptions(chunk_size=script.chunk_size or self.chunk_size,
                           frame_delay=self.frame_delay,
                           drop_after_frames=script.drop_after_frames)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream;charset=UTF-8",
                                           "Cache-Control": "no-cache"})
        try:
            await resp.prepare(request)
            await resp.write(b"")
            await write_frames(request, resp, frames, opts, self._released)
        except ConnectionError:
            pass
        return resp


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.longcat", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--token", action="append", default=[], metavar="VALUE",
                        help="a valid passport_token_key (repeatable; default: fake-longcat)")
    parser.add_argument("--cumulative", action="store_true",
                        help="generation B sends cumulative texts instead of deltas")
    parser.add_argument("--chunk-size", type=int, default=None, metavar="N")
    parser.add_argument("--frame-delay", type=float, default=0.0, metavar="S")
    args = parser.parse_args(argv)
    tokens = args.token or ["fake-longcat"]
    fake = FakeLongCat(tokens=tokens, cumulative=args.cumulative, chunk_size=args.chunk_size,
                       frame_delay=args.frame_delay,
                       log=lambda line: print(f"fake longcat: {line}", flush=True))
    print(f"fake LongCat upstream on http://{args.host}:{args.port}/ "
          f"(LONGCAT_TOKEN={tokens[0]})", flush=True)
    web.run_app(fake.app, host=args.host, port=args.port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
