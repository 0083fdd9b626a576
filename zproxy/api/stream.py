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
    while True:
        task = asyncio.ensure_future(anext(batches))
        try:
            while not (await asyncio.wait({task}, timeout=keepalive_s))[0]:
                await response.write(keepalive)
        except BaseException:
            task.cancel()
            await asyncio.wait({task})  # let the generator stop before aclosing() closes it
            raise
        try:
            data = task.result()
        except StopAsyncIteration:
            return
        await response.write(data)


def _log_stream_error(exc: Exception) -> None:
    status, body = to_openai_error(exc)
    if status >= 500 and body["error"]["type"] == "server_error":
        log.exception("stream.failed")
    else:
        log.warning("stream.upstream_error", status=status, error=body["error"]["message"])
