"""SSE output: the only code that calls `prepare()` / `write()` on a streaming response.

The first batch is awaited *before* headers go out, so connection, auth and first-frame
failures still become a real HTTP status with an OpenAI error body. After that, an error
becomes one final `error` event followed by `[DONE]`. A client that goes away ends the
stream quietly; closing the batch iterator releases the upstream connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from typing import Any, Final

import orjson
import structlog
from aiohttp import web

from zproxy.errors import to_openai_error
from zproxy.observability import meter

log = structlog.get_logger(__name__)

DONE: Final = b"data: [DONE]\n\n"
KEEPALIVE: Final = b": keepalive\n\n"
SSE_HEADERS: Final = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
}


def encode_chunks(chunks: list[dict[str, Any]]) -> bytes:
    """`data: <json>\\n\\n` for each chunk, as one bytes object (one write per read)."""
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks)


def error_event(exc: BaseException) -> bytes:
    _, body = to_openai_error(exc)
    return b"data: " + orjson.dumps(body) + b"\n\n" + DONE


async def write_sse(request: web.Request, batches: AsyncGenerator[bytes, None], *,
                    keepalive_s: float | None = None, keepalive: bytes = KEEPALIVE,
                    on_error: Callable[[BaseException], bytes] = error_event,
                    headers: Mapping[str, str] | None = None) -> web.StreamResponse:
    """Pump SSE bytes to the client; `keepalive`, `on_error` and `headers` let another wire
    format (Anthropic's `ping` and `error` events) reuse the same headers-sent rules."""
    async with aclosing(batches):
        first = await anext(batches, b"")  # raises before headers: a real HTTP status
        response = web.StreamResponse(headers={**SSE_HEADERS, **(headers or {})})
        await response.prepare(request)
        try:
            await response.write(first)
            del first  # not kept for the rest of the stream
            await _pump(response, batches, keepalive_s, keepalive)
        except (ConnectionResetError, asyncio.CancelledError):
            log.info("stream.client_gone")
            raise
        except Exception as exc:  # noqa: BLE001 - headers are out: report in-band
            _log_stream_error(exc)
            found = meter(request)
            if found is not None:
                body = to_openai_error(exc)[1]["error"]
                found.error_type = body["code"] or body["type"]
            await response.write(on_error(exc))
        await response.write_eof()
        return response


async def _pump(response: web.StreamResponse, batches: AsyncGenerator[bytes, None],
                keepalive_s: float | None, keepalive: bytes) -> None:
    if keepalive_s is None:
        async for data in batches:
            await response.write(data)
        return
    idle = _Keepalive(response, keepalive, keepalive_s)
    try:
        async for data in batches:
            await response.write(data)
            idle.wrote()
    finally:
        idle.stop()
    idle.raise_failure()


class _Keepalive:
    """Writes `keepalive` whenever nothing went out for `interval_s`, from one timer per
    stream (a task and an `asyncio.wait` per batch cost more than the batch itself). The
    timer checks the time of the last write and sleeps again until that plus the interval;
    a keepalive that cannot be written cancels the pump, as a failed write would."""

    __slots__ = ("_response", "_bytes", "_interval", "_loop", "_last", "_timer", "_pump",
                 "_writing", "_failure")

    def __init__(self, response: web.StreamResponse, data: bytes, interval_s: float) -> None:
        self._response, self._bytes, self._interval = response, data, interval_s
        self._loop = asyncio.get_running_loop()
        self._last = self._loop.time()
        self._pump = asyncio.current_task()
        self._writing: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._timer: asyncio.TimerHandle | None = self._loop.call_at(
            self._last + interval_s, self._check)

    def wrote(self) -> None:
        self._last = self._loop.time()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _check(self) -> None:
        due = self._last + self._interval
        if self._loop.time() >= due and (self._writing is None or self._writing.done()):
            self._writing = self._loop.create_task(self._write())
            due = self._loop.time() + self._interval
        self._timer = self._loop.call_at(due, self._check)

    async def _write(self) -> None:
        try:
            await self._response.write(self._bytes)
        except (ConnectionResetError, RuntimeError) as exc:  # the client is gone
            self._failure = exc
            self.stop()
            if self._pump is not None:
                self._pump.cancel()
            return
        self._last = self._loop.time()


def _log_stream_error(exc: Exception) -> None:
    status, body = to_openai_error(exc)
    if status >= 500 and body["error"]["type"] == "server_error":
        log.exception("stream.failed")
    else:
        log.warning("stream.upstream_error", status=status, error=body["error"]["message"])
