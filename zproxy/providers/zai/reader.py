"""Reads a completion's SSE body and returns the frames of each network read (text frames
merged: `wire.parse_frames`; a read of whole one-line events parsed as one JSON array:
`wire.parse_joined`)."""

from __future__ import annotations

import asyncio

import aiohttp

from zproxy import errors
from zproxy.providers.http import mapped_errors
from zproxy.providers.zai import wire
from zproxy.sse import SSEDecoder


class FrameReader:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._content = response.content
        self._chunks = response.content.iter_any()
        self._decoder = SSEDecoder()
        self.eof = False

    async def drain(self, timeout_s: float) -> None:
        """After the done frame: read to EOF briefly so the connection can go back to the
        pool; whatever comes after `done` carries nothing."""
        try:
            if self._content.is_eof():  # the rest is already here: no timer needed
                while not self.eof:
                    await self.batch()
                return
            async with asyncio.timeout(timeout_s):
                while not self.eof:
                    await self.batch()
        except (TimeoutError, errors.UpstreamError):
            pass

    async def batch(self) -> list[wire.Frame] | None:
        while not self.eof:
            with mapped_errors():
                try:
                    chunk = await anext(self._chunks)
                except StopAsyncIteration:
                    self.eof = True
                    chunk = None
                frames = self._frames(chunk)
            if frames:
                return frames
        return None

    def _frames(self, chunk: bytes | None) -> list[wire.Frame]:
        if chunk is None:
            return wire.parse_frames(self._decoder.flush())
        # the common read (whole one-line events): one JSON parse for all its frames
        joined = self._decoder.joined(chunk, b",")
        frames = wire.parse_joined(*joined) if joined is not None else None
        return frames if frames is not None else wire.parse_frames(self._decoder.feed(chunk))
