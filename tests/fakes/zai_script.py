"""What the fake Z.AI upstream streams back, and how it writes it (faults included).

`Script` describes one completion response; `render_frames` turns it into the exact
SSE byte frames, and `write_frames` puts them on the wire with the requested delays,
chunk splits, drops and hangs. Kept apart from `zai.py` so the HTTP checks and the
stream shaping can each be read on their own. See `tests/fakes/zai.py` for the overview.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson
from aiohttp import web

FIXTURES_ENV: Final = "ZPROXY_FIXTURES_DIR"
# The project's own copy of the Z.AI transcripts; ZPROXY_FIXTURES_DIR may point elsewhere.
DEFAULT_FIXTURES_DIR: Final = Path(__file__).resolve().parents[1] / "fixtures" / "zai"
DONE_LINE: Final = b"data: [DONE]\n\n"
# Z.AI: the 2026 thinking block opener (LT live trace, fixture thinking_answer.sse).
THINKING_OPEN: Final = '<details type="reasoning" done="false">\n> \n> \n>'
ANSWER_START_EDIT_INDEX: Final = 32  # len('<details type="reasoning" done="')
NONCE_RE: Final = re.compile(r"<tool_calls_([A-Z0-9]{6})>")
POLL_S: Final = 0.02


@dataclass
class Script:
    """What the next completion request gets. Everything is optional.

    Precedence of the body sources: `status` > `fixture` > `raw_lines` > `frames` > `text`;
    with none of them the fake picks a fixture from the request (see `FakeZai`).
    """

    status: int | None = None
    body: Any = None
    fixture: str | None = None
    frames: list[dict[str, Any]] | None = None
    raw_lines: list[str] | None = None
    text: str | None = None
    thinking: str | None = None
    delta_size: int = 8
    chunk_size: int | None = None
    frame_delay: float | None = None
    drop_after_frames: int | None = None
    hang_after_frames: int | None = None
    done_marker: bool | None = None
    usage: dict[str, Any] | None = None


@dataclass
class WireOptions:
    """Resolved fault knobs for one response (script values over FakeZai defaults)."""

    chunk_size: int | None = None
    frame_delay: float = 0.0
    drop_after_frames: int | None = None
    hang_after_frames: int | None = None


def resolve_fixtures_dir(explicit: Path | None) -> Path:
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(FIXTURES_ENV)
    return Path(env) if env else DEFAULT_FIXTURES_DIR


@dataclass
class FixtureStore:
    """Reads fixture files once and caches their bytes."""

    root: Path
    _cache: dict[str, bytes] = field(default_factory=dict)

    def read(self, name: str) -> bytes:
        if name not in self._cache:
            self._cache[name] = (self.root / name).read_bytes()
        return self._cache[name]

    def json(self, name: str) -> Any:
        return orjson.loads(self.read(name))

    def http_error(self, status: int) -> tuple[str, bytes]:
        """(content type, body) for an HTTP-level error, from http_errors.json when listed."""
        for entry in self.json("http_errors.json"):
            if entry["status"] == status:
                if entry["body"] is None:
                    return "text/html", _html_error(status)
                return entry["content_type"], orjson.dumps(entry["body"])
        return "application/json", orjson.dumps({"detail": f"upstream error {status}",
                                                 "code": status})


def _html_error(status: int) -> bytes:
    # Z.AI: the 405 WAF page body was never recorded; any HTML will do.
    return f"<html><body><h1>{status} Not Allowed</h1></body></html>".encode()


def split_events(raw: bytes) -> list[bytes]:
    """Split an SSE body into per-event byte frames whose concatenation is `raw` exactly."""
    frames = [piece + b"\n\n" for piece in raw.split(b"\n\n")]
    frames[-1] = frames[-1][:-2]  # the last split piece had no separator after it
    if not frames[-1]:
        frames.pop()
    elif len(frames) > 1 and not frames[-1].strip():
        frames[-2] += frames.pop()  # trailing newlines stay with the last event
    return frames


def encode_data(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def envelope(data: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "chat:completion", "data": dict(data)}


def message_text(content: Any) -> str:
    """String content as is; text parts joined by one space and stripped (zai-protocol §4.1)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        return " ".join(p for p in parts if isinstance(p, str)).strip()
    return ""


def last_user_text(messages: Sequence[Any]) -> str:
    """The prompt a client must sign: the last user message that has text (ZY HEAD)."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            text = message_text(message.get("content"))
            if text:
                return text
    return ""


def find_nonce(messages: Sequence[Any]) -> str | None:
    """Newest `<tool_calls_XXXXXX>` nonce in the messages (last message first, last match)."""
    for message in reversed(messages):
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        found = NONCE_RE.findall(content) if isinstance(content, str) else []
        if found:
            return str(found[-1])
    return None


def default_usage(messages: Sequence[Any], text: str) -> dict[str, Any]:
    prompt_chars = sum(len(message_text(m.get("content"))) for m in messages if isinstance(m, dict))
    prompt, completion = prompt_chars // 4 + 1, len(text) // 4 + 1
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion, "prompt_tokens_details": {"cached_tokens": 0}}


def _pieces(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i:i + size] for i in range(0, len(text), size)]


def text_frames(script: Script, messages: Sequence[Any]) -> list[dict[str, Any]]:
    """`data` objects for a `text` (and optional `thinking`) script, in the §8.3 layout."""
    text = script.text or ""
    nonce = find_nonce(messages)
    if nonce is not None:
        text = text.replace("{nonce}", nonce)
    answer = _pieces(text, script.delta_size)
    frames: list[dict[str, Any]] = []
    if script.thinking is not None:
        quoted = " " + script.thinking.replace("\n", "\n> ")
        frames.append({"delta_content": THINKING_OPEN, "phase": "thinking"})
        frames += [{"delta_content": p, "phase": "thinking"}
                   for p in _pieces(quoted, script.delta_size)]
        # Z.AI: the first answer frame is an edit that closes the reasoning block (LT trace).
        first = answer.pop(0) if answer else ""
        frames.append({"edit_index": ANSWER_START_EDIT_INDEX,
                       "edit_content": f'true">\n> \n> \n>{quoted}\n</details>\n{first}',
                       "phase": "answer"})
    frames += [{"delta_content": p, "phase": "answer"} for p in answer]
    frames.append({"phase": "other", "usage": script.usage or default_usage(messages, text)})
    frames.append({"phase": "done", "done": True})
    return frames


def _raw_line(line: str) -> bytes:
    return line.encode() if line.endswith("\n") else (line + "\n\n").encode()


def render_frames(script: Script, messages: Sequence[Any], store: FixtureStore,
                  done_marker: bool) -> list[bytes]:
    """The SSE byte frames for a 200 response to `script`."""
    if script.fixture is not None:
        frames = split_events(store.read(script.fixture))
    elif script.raw_lines is not None:
        frames = [_raw_line(line) for line in script.raw_lines]
    elif script.frames is not None:
        frames = [encode_data(envelope(f)) for f in script.frames]
    else:
        frames = [encode_data(envelope(f)) for f in text_frames(script, messages)]
    if done_marker:
        frames.append(DONE_LINE)
    return frames


async def write_frames(request: web.Request, resp: web.StreamResponse, frames: Sequence[bytes],
                       opts: WireOptions, released: asyncio.Event) -> None:
    """Write `frames` honouring the fault knobs, then end, abort or hang as asked.

    With `chunk_size`, the body is cut into pieces of that many bytes regardless of frame
    or UTF-8 boundaries; a piece may hold the tail of one frame and the head of the next.
    """
    pending = b""
    for index, frame in enumerate(frames):
        if index == opts.drop_after_frames:
            await _flush(resp, pending)
            await abort(request)
            return
        if index == opts.hang_after_frames:
            await _flush(resp, pending)
            await hang(request, released)
            return
        if index and opts.frame_delay:
            await asyncio.sleep(opts.frame_delay)
        if opts.chunk_size is None:
            await resp.write(frame)
            continue
        pending += frame
        while len(pending) >= opts.chunk_size:
            await _write_piece(resp, pending[:opts.chunk_size])
            pending = pending[opts.chunk_size:]
    await _flush(resp, pending)
    if opts.drop_after_frames is not None and opts.drop_after_frames >= len(frames):
        await abort(request)
    elif opts.hang_after_frames is not None and opts.hang_after_frames >= len(frames):
        await hang(request, released)
    else:
        await resp.write_eof()


async def _write_piece(resp: web.StreamResponse, piece: bytes) -> None:
    await resp.write(piece)
    await asyncio.sleep(0)  # let the loop flush it, so pieces arrive in separate reads


async def _flush(resp: web.StreamResponse, pending: bytes) -> None:
    if pending:
        await _write_piece(resp, pending)


async def abort(request: web.Request) -> None:
    """Drop the TCP connection without the chunked terminator (client: payload error).

    The handler then returns normally; aiohttp's own `write_eof` meets a closed transport
    and gives up quietly.
    """
    transport = request.transport
    if transport is None:
        return
    while transport.get_write_buffer_size() and not transport.is_closing():
        await asyncio.sleep(0.001)  # abort() would discard what is still buffered
    transport.abort()


async def hang(request: web.Request, released: asyncio.Event) -> None:
    """Send nothing more until the client goes away or the fake shuts down (then abort)."""
    while not released.is_set():
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(POLL_S)
    await abort(request)
