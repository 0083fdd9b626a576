"""Open WebUI reasoning markup → reasoning and answer deltas, incrementally. Pure.

Open WebUI deployments (chat.z.ai, K2Think) render a model's thinking into the answer text:

    <details type="reasoning" done="true" duration="1">
    <summary>Thought for 1 seconds</summary>
    > quoted reasoning lines
    </details>
    <answer>the answer</answer>            (2025; in 2026 the answer follows bare)

and some non-stream bodies use `<think>…</think><answer>…</answer>` instead (providers.md
§1.6). `ReasoningSplitter.feed(text)` takes appended text (from `zproxy.core.text`) and
returns `Reasoning` / `Content` events with the markup, the summary and the `> ` quoting
removed. A trailing piece that may still become a tag (`<`, `<det`, `</deta`) or a quote
marker (`\n>`) is held back until the next feed, so no chunk ever leaks markup; `flush()` at
the end releases anything held that did not turn into markup.
"""

from __future__ import annotations

import re
from typing import Final

from zproxy.core.events import Content, Event, Reasoning

_DETAILS_OPEN: Final = re.compile(r'<details\b[^>]*\btype="reasoning"[^>]*>')
_SUMMARY_CLOSE: Final = "</summary>"
_TEXT_TAGS: Final = ("<details", "<think>", "<answer>", "</answer>")
_REASONING_CLOSERS: Final = {"details": "</details>", "think": "</think>"}
_MAX_TAG: Final = 512  # an opening tag longer than this is text, not markup

_TEXT, _REASONING = 0, 1


class _Channel:
    """Drops a segment's leading white space and holds its trailing white space, so blank
    lines around markup never reach the client and a later segment starts cleanly."""

    __slots__ = ("_reasoning", "_held", "_started", "_fresh")

    def __init__(self, reasoning: bool) -> None:
        self._reasoning = reasoning
        self._held = ""
        self._started = False
        self._fresh = True   # at the start of a segment: leading white space goes

    def write(self, text: str, out: list[Event]) -> None:
        if self._fresh:
            text = text.lstrip()
            if not text:
                return
            self._fresh = False
            self._started = True
        body = text.rstrip()
        if not body:
            self._held += text
            return
        piece = self._held + body
        self._held = text[len(body):]
        out.append(Reasoning(piece) if self._reasoning else Content(piece))

    def end_segment(self) -> None:
        """Markup ended the segment: its trailing white space goes; the next one starts
        after a single blank line, as the upstream rendered it."""
        self._held = "\n\n" if self._started else ""
        self._fresh = True


def _partial(rest: str, tokens: tuple[str, ...]) -> bool:
    """Whether `rest` (starting at `<`) may still grow into one of `tokens`."""
    return any(token.startswith(rest) for token in tokens)


class ReasoningSplitter:
    """One per response. Feed appended text, get events; call `flush()` at the end."""

    def __init__(self) -> None:
        self._buf = ""
        self._state = _TEXT
        self._closer = ""
        self._quoted = False     # inside <details>: lines are `> `-quoted
        self._line_start = True
        self._content = _Channel(reasoning=False)
        self._reasoning = _Channel(reasoning=True)

    @property
    def in_reasoning(self) -> bool:
        return self._state == _REASONING

    def feed(self, text: str) -> list[Event]:
        self._buf += text
        out: list[Event] = []
        while self._buf and self._step(out, final=False):
            pass
        return out

    def flush(self) -> list[Event]:
        out: list[Event] = []
        while self._buf and self._step(out, final=True):
            pass
        if self._buf:  # what never became markup is text after all
            channel = self._reasoning if self._state == _REASONING else self._content
            channel.write(self._buf, out)
            self._buf = ""
        return out

    # --- one step: consume a prefix of the buffer; False when it must wait for more -------

    def _step(self, out: list[Event], *, final: bool) -> bool:
        if self._state == _TEXT:
            return self._text(out, final)
        return self._thinking(out, final)

    def _text(self, out: list[Event], final: bool) -> bool:
        buf = self._buf
        at = buf.find("<")
        if at == -1:
            self._content.write(buf, out)
            self._buf = ""
            return False
        if at:
            self._content.write(buf[:at], out)
            buf = self._buf = buf[at:]
        for tag in ("<answer>", "</answer>"):
            if buf.startswith(tag):
                self._buf = buf[len(tag):]
                return True
        if buf.startswith("<think>"):
            self._open(len("<think>"), "think", quoted=False)
            return True
        if buf.startswith("<details"):
            end = buf.find(">")
            if end == -1 and len(buf) < _MAX_TAG and not final:
                return False
            match = _DETAILS_OPEN.match(buf, 0, end + 1) if end != -1 else None
            if match is not None:
                self._open(match.end(), "details", quoted=True)
                return True
        elif _partial(buf, _TEXT_TAGS) and not final:
            return False
        self._content.write("<", out)  # not markup
        self._buf = buf[1:]
        return True

    def _open(self, length: int, kind: str, *, quoted: bool) -> None:
        self._buf = self._buf[length:]
        self._state, self._closer, self._quoted = _REASONING, _REASONING_CLOSERS[kind], quoted
        self._line_start = True
        self._content.end_segment()

    def _thinking(self, out: list[Event], final: bool) -> bool:
        buf = self._buf
        at = buf.find("<")
        if at == -1:
            return self._reason(buf, out, hold=not final)
        if at:
            self._reason(buf[:at], out, hold=False)
            return True
        if buf.startswith(self._closer):
            self._buf = buf[len(self._closer):]
            self._state = _TEXT
            self._reasoning.end_segment()
            return True
        if buf.startswith("<summary"):
            end = buf.find(_SUMMARY_CLOSE)
            if end != -1:
                self._buf = buf[end + len(_SUMMARY_CLOSE):]
                self._line_start = True
                return True
            if len(buf) < _MAX_TAG and not final:
                return False
        elif _partial(buf, (self._closer, "<summary")) and not final:
            return False
        self._reasoning.write("<", out)
        self._line_start = False
        self._buf = buf[1:]
        return True

    def _reason(self, piece: str, out: list[Event], *, hold: bool) -> bool:
        """Write reasoning text without its `> ` quoting; with `hold`, keeps a lone `>` at
        the end of a line start (the quote's space may come next). Consumes what it wrote
        from the buffer; always False (nothing more to do until the next feed)."""
        kept: list[str] = []
        i = 0
        while i < len(piece):
            if self._quoted and self._line_start:
                if piece.startswith("> ", i):
                    i += 2
                elif piece[i] == ">" and i + 1 == len(piece) and hold:
                    break  # may be "> " once more arrives
                elif piece[i] == ">":
                    i += 1
            end = piece.find("\n", i)
            end = len(piece) if end == -1 else end + 1
            kept.append(piece[i:end])
            self._line_start = piece[end - 1] == "\n" if end > i else self._line_start
            i = end
        self._buf = self._buf[i:]
        if kept:
            self._reasoning.write("".join(kept), out)
        return False


def split_markup(text: str, *, final: bool = False) -> tuple[str, str]:
    """(reasoning, answer) of one whole snapshot, markup removed.

    For cumulative upstreams, split each snapshot and diff each part (`zproxy.core.text.
    Snapshot`): the markup itself changes between snapshots (`done="false"` becomes
    `done="true" duration="1"`, K2Think 2025), so diffing the raw text would see rewrites that
    are not there. Without `final`, a trailing partial tag is left out of both parts."""
    splitter = ReasoningSplitter()
    events = splitter.feed(text)
    if final:
        events += splitter.flush()
    reasoning = "".join(e.text for e in events if isinstance(e, Reasoning))
    answer = "".join(e.text for e in events if isinstance(e, Content))
    return reasoning, answer
