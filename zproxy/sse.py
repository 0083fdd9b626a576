"""Incremental Server-Sent Events decoder (WHATWG HTML §9.2.6, the parts upstreams use).

`SSEDecoder.feed(bytes)` returns the `data` payload of every event completed by those bytes;
`flush()` ends the stream. Bytes may be split anywhere, including inside a UTF-8 character or
a CRLF pair. Only `data:` fields matter here: `event:`, `id:`, `retry:` and comments are
skipped. Pure: no I/O.
"""

from __future__ import annotations

import codecs
from typing import Final

MAX_PENDING_CHARS: Final = 16 * 1024 * 1024


class SSEDecodeError(ValueError):
    """An event grew past the size limit without ending."""


class SSEDecoder:
    __slots__ = ("_decoder", "_tail", "_data", "_data_size", "_pending_cr", "_max")

    def __init__(self, max_pending_chars: int = MAX_PENDING_CHARS) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._tail = ""
        self._data: list[str] = []
        self._data_size = 0
        self._pending_cr = False
        self._max = max_pending_chars

    def feed(self, chunk: bytes) -> list[str]:
        if (chunk.endswith(b"\n\n") and not (self._tail or self._data or self._pending_cr)
                and b"\r" not in chunk and not self._decoder.getstate()[0]):
            # the common read: whole `data: …` events and nothing pending from the last one
            return self._whole_events(chunk.decode("utf-8", "replace"))
        return self._lines(self._decoder.decode(chunk))

    def joined(self, chunk: bytes, sep: bytes) -> tuple[bytes, int] | None:
        """The common read, undecoded: when nothing is pending and `chunk` is whole events of
        one `data: ` line each, their payloads joined by `sep` (still bytes) and how many
        there are, so a JSON upstream can parse a read as one array. None for any other
        read, which `feed` then takes as usual. The decoder's state is unchanged either way.
        """
        if (not chunk.startswith(b"data: ") or not chunk.endswith(b"\n\n") or b"\r" in chunk
                or self._tail or self._data or self._pending_cr
                or self._decoder.getstate()[0]):
            return None
        body = chunk[6:-2]
        joined = body.replace(b"\n\ndata: ", sep)
        if b"\n" in joined:  # a field besides `data: `, a comment or a multi-line event
            return None
        return joined, body.count(b"\n\ndata: ") + 1

    def _whole_events(self, text: str) -> list[str]:
        payloads: list[str] = []
        for event in text.split("\n\n"):
            if event.startswith("data: ") and "\n" not in event:
                payloads.append(event[6:])
            elif event:  # several fields, comments or `data:` without the space
                payloads += self._lines(event + "\n\n")
        return payloads

    def flush(self) -> list[str]:
        """End of stream: an unterminated last event is still delivered (lenient)."""
        events = self._lines(self._decoder.decode(b"", final=True))
        if self._tail:
            events += self._lines("\n")
        if self._data:
            events.append("\n".join(self._data))
            self._data, self._data_size = [], 0
        return events

    def _lines(self, text: str) -> list[str]:
        if not text:  # e.g. only part of a UTF-8 character arrived
            return []
        if self._pending_cr:
            self._pending_cr = False
            if text.startswith("\n"):
                text = text[1:]
        if "\r" in text:
            if text.endswith("\r"):
                self._pending_cr = True
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if "\n" not in text:
            self._tail += text
            self._check_size()
            return []
        lines = (self._tail + text).split("\n")
        self._tail = lines.pop()
        events: list[str] = []
        for line in lines:
            self._line(line, events)
        self._check_size()
        return events

    def _check_size(self) -> None:
        if len(self._tail) + self._data_size > self._max:
            raise SSEDecodeError("SSE event exceeds the size limit")

    def _line(self, line: str, events: list[str]) -> None:
        if not line:
            if self._data:
                events.append("\n".join(self._data))
                self._data, self._data_size = [], 0
            return
        if line.startswith("data:"):
            value = line[5:]
            value = value[1:] if value.startswith(" ") else value
            self._data.append(value)
            self._data_size += len(value)
        # other fields and ":" comments carry nothing we use
