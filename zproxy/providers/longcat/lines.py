"""Bytes → lines for LongCat bodies, keeping lines that are not `data:` (pure).

LongCat answers errors as a bare JSON line `{"code", "message"}` where the stream would be,
sometimes under a `text/event-stream` content type (ZY, PG), so an SSE decoder that skips
non-`data:` lines would swallow them. Bytes may split anywhere, inside UTF-8 characters too.
"""

from __future__ import annotations

import codecs
from typing import Final, Literal

MAX_LINE_CHARS: Final = 16 * 1024 * 1024

LineKind = Literal["data", "bare"]


class LineTooLong(ValueError):
    """A line grew past the size limit without ending."""


class LineReader:
    __slots__ = ("_decoder", "_tail")

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._tail = ""

    def feed(self, data: bytes) -> list[tuple[LineKind, str]]:
        text = self._tail + self._decoder.decode(data)
        if "\n" not in text:
            self._tail = text
            if len(text) > MAX_LINE_CHARS:
                raise LineTooLong("longcat: a line exceeds the size limit")
            return []
        *lines, self._tail = text.split("\n")
        return [item for line in lines if (item := _classify(line)) is not None]

    def flush(self) -> list[tuple[LineKind, str]]:
        rest, self._tail = self._tail + self._decoder.decode(b"", final=True), ""
        item = _classify(rest)
        return [item] if item is not None else []


def _classify(line: str) -> tuple[LineKind, str] | None:
    line = line.strip()
    if not line or line.startswith(":") or line.startswith(("event:", "id:", "retry:")):
        return None  # PG skips `:` and `event:` lines too (defensive; none captured)
    if line.startswith("data:"):
        return "data", line[5:].strip()
    return "bare", line
