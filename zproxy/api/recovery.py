"""Transparent recovery: an upstream failure the client never sees.

An attempt can fail after the upstream answered 200: the connection resets or drops, a read
times out, or an in-stream error (Z.AI: INTERNAL_ERROR, concurrency limit or captcha). While
none of that attempt's output has reached the client, the failure is invisible. Its
translator and its held chunks are thrown away, and `ProviderCall.recover` starts another
attempt (fresh signature, another credential when the failure was the credential's) within
UPSTREAM_MAX_ATTEMPTS; a persisted chat's spent turn is never sent again (see `UpstreamCall`).

The window: a non-streaming response is held whole, so it is the whole response. A stream
holds every chunk, the role chunk included, until the first one a client would show (text,
reasoning, a tool call, a finish), so no header and no byte has gone out before it. After that
an error reaches the client as today (its front door encodes it: an SSE error event, then
[DONE]). This sits below `stream_chunks`/`complete_chat`, so every front door built on them
gets it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any

import structlog

from zproxy.core.provider import ProviderCall
from zproxy.core.trace import Trace
from zproxy.errors import UpstreamError
from zproxy.translate.response import ResponseTranslator

log = structlog.get_logger(__name__)

Chunk = dict[str, Any]


def visible(chunk: Chunk) -> bool:
    """Whether a client shows anything of `chunk`: the role chunk alone shows nothing."""
    choices = chunk.get("choices") or ()
    if not choices:
        return True  # the usage chunk
    choice = choices[0]
    delta = choice.get("delta") or {}
    return choice.get("finish_reason") is not None or any(
        value for key, value in delta.items() if key != "role")


class RecoveringRun:
    """Feeds the events of one request's upstream attempts to a translator; on a failure
    inside the window, starts over with a fresh translator and another attempt.

    `chunks()` yields the winning attempt's chunks up to `translator.end()`; afterwards
    `translator` is that attempt's, ready for `finish()`. With `stream=False` nothing is
    yielded: the caller reads the translator when `chunks()` ends.
    """

    __slots__ = ("_call", "_committed", "_held", "_new_translator", "_stream", "_trace",
                 "translator")

    def __init__(self, call: ProviderCall, trace: Trace,
                 new_translator: Callable[[], ResponseTranslator], *, stream: bool) -> None:
        self._call = call
        self._trace = trace
        self._new_translator = new_translator
        self._stream = stream
        self.translator = new_translator()
        self._committed = False
        self._held: list[Chunk] = []

    async def chunks(self) -> AsyncGenerator[list[Chunk], None]:
        # One generator over the attempts' events (no inner generator per attempt): a
        # stream's suspended chain is one frame shorter and has one `aclosing` fewer.
        call = self._call
        while True:
            self._held = []
            translator = self.translator
            try:
                async with aclosing(call.events()) as batches:
                    async for events in batches:
                        out = self._offer(translator.feed(events))
                        if out:
                            yield out
                        if translator.stopped:
                            break
                out = self._offer(translator.end())  # raises an in-stream error
                if out:
                    yield out
            except UpstreamError as exc:
                if self._committed or not call.recover(exc):
                    raise
                log.info("upstream.recovering", cause=exc.cause, attempts=self._trace.attempts)
                self.translator = self._new_translator()
                continue
            if self._held and not self._committed:
                yield self._held  # an answer without visible content still has its role chunk
            return

    def _offer(self, chunks: list[Chunk]) -> list[Chunk] | None:
        """What of an attempt's `chunks` goes out now: all of them once committed, the held
        ones with the first visible chunk, nothing while still inside the window."""
        if not chunks:
            return None
        if self._committed:
            return chunks
        if self._stream:
            self._held += chunks
            if any(map(visible, chunks)):
                self._committed = True  # from here on the client has seen output
                held, self._held = self._held, []  # not kept for the rest of the stream
                return held
        return None
