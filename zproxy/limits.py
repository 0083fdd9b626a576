"""Limits that protect the process, each a setting, each failing in the error shape.

- Body size (MAX_REQUEST_BYTES): 413. A declared Content-Length is checked before reading;
  a chunked body is cut off by aiohttp's `client_max_size` while it is read.
- Time to send the request (CLIENT_SEND_TIMEOUT): 408 when the body has not arrived in time.
  Slow headers are dropped by the server's keep-alive timer, which aiohttp arms from the
  moment a connection opens (`zproxy.server.start`).
- Concurrent API requests (MAX_CONCURRENT_REQUESTS): 429 with Retry-After at once, never an
  unbounded queue. The upstream pool is sized so admitted streams never wait for a connection.
- Messages and characters per chat (MAX_MESSAGES, MAX_TOTAL_CHARS): 400 naming the limit,
  checked in `plan_chat` so every front door has them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Final

from aiohttp import web

from zproxy.config import Settings
from zproxy.errors import (
    ClientRequestError,
    OverloadedError,
    PayloadTooLargeError,
    RequestTimeoutError,
)

API_PREFIX: Final = "/v1/"
RETRY_AFTER_S: Final = 1  # a slot frees as soon as any request ends
_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})


class Admission:
    """Admission under the concurrency cap: `enter()` before the body is read, `leave()` when
    the request ends. One per app (`zproxy.gateway`)."""

    __slots__ = ("active", "_cap")

    def __init__(self, settings: Settings) -> None:
        self.active = 0
        self._cap = settings.max_concurrent_requests

    def enter(self) -> None:
        if self.active >= self._cap:
            raise OverloadedError(
                f"Too many concurrent requests: this server takes {self._cap} at a time "
                f"(MAX_CONCURRENT_REQUESTS); retry after {RETRY_AFTER_S} s",
                retry_after_s=RETRY_AFTER_S)
        self.active += 1

    def leave(self) -> None:
        self.active -= 1


async def read_request_body(request: web.Request, settings: Settings) -> None:
    """Read (and cache, for the handler) the whole body within the size and time limits."""
    if request.method not in _BODY_METHODS:
        return
    limit = settings.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(request.content_length, limit)
    try:
        if request.content.is_eof():  # it all came with the headers: nothing to time
            await request.read()
            return
        async with asyncio.timeout(settings.client_send_timeout_s):
            await request.read()
    except TimeoutError:
        raise RequestTimeoutError(
            f"The request body did not arrive within {settings.client_send_timeout_s:g} s "
            "(CLIENT_SEND_TIMEOUT)") from None
    except web.HTTPRequestEntityTooLarge:
        raise _too_large(None, limit) from None


def _too_large(size: int | None, limit: int) -> PayloadTooLargeError:
    told = f"{size} bytes" if size is not None else "larger"
    return PayloadTooLargeError(
        f"The request body is {told}; the limit is {limit} bytes (MAX_REQUEST_BYTES)")


def _text_chars(message: dict[str, Any]) -> int:
    content = message.get("content")
    total = len(content) if isinstance(content, str) else 0
    if isinstance(content, list):
        total += sum(len(p["text"]) for p in content
                     if isinstance(p, dict) and isinstance(p.get("text"), str))
    calls = message.get("tool_calls")
    # Counted before the message shapes are validated: a malformed `tool_calls` (an int,
    # say) is left for the parser to refuse with a 400, never iterated here (fuzz-found).
    for call in calls if isinstance(calls, list) else ():
        function = call.get("function") if isinstance(call, dict) else None
        arguments = function.get("arguments") if isinstance(function, dict) else None
        total += len(arguments) if isinstance(arguments, str) else 0
    return total


def check_chat_size(messages: Iterable[dict[str, Any]], settings: Settings) -> None:
    """400 when a chat has more messages or text than the settings allow. Pure."""
    messages = list(messages)
    if len(messages) > settings.max_messages:
        raise ClientRequestError(
            f"The request has {len(messages)} messages; the limit is {settings.max_messages} "
            "(MAX_MESSAGES)", param="messages", code="too_many_messages")
    chars = sum(map(_text_chars, messages))
    if chars > settings.max_total_chars:
        raise ClientRequestError(
            f"The messages hold {chars} characters of text; the limit is "
            f"{settings.max_total_chars} (MAX_TOTAL_CHARS)", param="messages",
            code="context_length_exceeded")
