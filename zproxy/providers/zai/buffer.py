"""The Z.AI message buffer and its rendering into append-only channels (zai-protocol.md §8).

Upstream frames edit one text buffer: `delta_content` appends, `edit_index`/`edit_content`
splices (`buf = buf[:i] + content`). The buffer holds Open WebUI markup: reasoning in
`<details type="reasoning">` blocks quoted with `> `, tool runs in `<glm_block>` JSON, and the
answer as plain text around them.

`MessageRenderer.apply(frame)` keeps that buffer and returns only what is new on each channel:
`Reasoning` (markup and quoting removed), `Content`, `ToolBlock`, `Usage`. Scanning is
incremental; an edit that reaches behind what was already scanned (the thinking→answer edit,
a tool block's result edit) re-scans the buffer from the start and emits only the difference,
so no text is lost or doubled. Pure; no I/O.
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

from zproxy.core.events import Content, Diagnostic, Event, Reasoning, ToolBlock, Usage
from zproxy.providers.zai.wire import Frame

_OPEN_TAG: Final = re.compile(r"<(details|glm_block)\b")
_TAG_PREFIXES: Final = ("<details", "<glm_block")
_DETAILS_CLOSE: Final = "</details>"
_BLOCK_CLOSE: Final = "</glm_block>"
_SEPARATOR: Final = "\n\n"

_TEXT, _REASONING, _BLOCK = 0, 1, 2


def _partial_suffix(buf: str, start: int, token: str) -> int:
    """Length of the longest suffix of buf[start:] that is a proper prefix of token."""
    for size in range(min(len(token) - 1, len(buf) - start), 0, -1):
        if token.startswith(buf[-size:]):
            return size
    return 0


class _Channel:
    """One output channel: drops leading white space, holds trailing white space, and joins
    segments separated by markup with a single blank line."""

    __slots__ = ("pieces", "_held", "_any", "_separate")

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self._held = ""
        self._any = False
        self._separate = False

    def write(self, text: str) -> None:
        if not self._any or self._separate:
            text = text.lstrip()
        body = text.rstrip()
        if not body:
            if self._any and not self._separate:
                self._held += text
            return
        lead = self._held
        if self._separate:
            lead = _SEPARATOR if self._any else ""
            self._separate = False
        self._held = text[len(body):]
        self.pieces.append(lead + body)
        self._any = True

    def break_segment(self) -> None:
        """Markup ended this segment: its trailing white space is markup too."""
        self._held = ""
        self._separate = True

    def flush(self) -> None:
        if self._held and not self._separate:
            self.pieces.append(self._held)
        self._held = ""


class _Scanner:
    """Classifies buf[pos:] into the channels. Deterministic: the same buffer scanned from 0
    always gives the same output, which is what makes re-scans after edits safe."""

    __slots__ = ("pos", "state", "content", "reasoning", "blocks", "_body_start",
                 "_line_start", "_round_open")

    def __init__(self) -> None:
        self.pos = 0
        self.state = _TEXT
        self.content = _Channel()
        self.reasoning = _Channel()
        self.blocks: list[tuple[str, dict[str, Any] | None]] = []
        self._body_start = 0
        self._line_start = False
        self._round_open = False

    def run(self, buf: str) -> None:
        step = (self._text, self._reasoning, self._block)
        while self.pos < len(buf) and step[self.state](buf):
            pass

    # TEXT: answer text until a reasoning or tool block opens
    def _text(self, buf: str) -> bool:
        at = buf.find("<", self.pos)
        if at == -1:
            self.content.write(buf[self.pos:])
            self.pos = len(buf)
            return False
        if at > self.pos:
            self.content.write(buf[self.pos:at])
            self.pos = at
        match = _OPEN_TAG.match(buf, at)
        if match is None:
            rest = buf[at:]
            if any(p.startswith(rest) for p in _TAG_PREFIXES):
                return False  # could still become a tag: hold
            self.content.write("<")
            self.pos = at + 1
            return True
        tag_end = buf.find(">", at)
        if tag_end == -1:
            return False
        if match.group(1) == "details" and 'type="reasoning"' not in buf[at:tag_end]:
            self.content.write(buf[at:tag_end + 1])
            self.pos = tag_end + 1
            return True
        self.content.break_segment()
        self.pos = tag_end + 1
        if match.group(1) == "details":
            self.state, self._round_open, self._line_start = _REASONING, False, True
            self.reasoning.break_segment()
        else:
            self.state, self._body_start = _BLOCK, tag_end + 1
        return True

    # REASONING: quoted thought lines until </details>
    def _reasoning(self, buf: str) -> bool:
        close = buf.find(_DETAILS_CLOSE, self.pos)
        end = close if close != -1 else len(buf) - _partial_suffix(buf, self.pos, _DETAILS_CLOSE)
        if not self._round_open and not self._skip_summary(buf, end, close != -1):
            return False
        self._quoted_lines(buf, end, close != -1)
        if close == -1 or self.pos < close:
            return False
        self.pos = close + len(_DETAILS_CLOSE)
        self.state = _TEXT
        self.reasoning.break_segment()
        return True

    def _skip_summary(self, buf: str, end: int, closed: bool) -> bool:
        """2025 form: a `<summary>…</summary>` line follows the opening tag (§8.3)."""
        head = buf[self.pos:end].lstrip()
        if head.startswith("<summary>"):
            stop = buf.find("</summary>", self.pos, end)
            if stop == -1:
                return closed and self._give_up_summary()
            self.pos = stop + len("</summary>")
        elif not closed and (not head or "<summary>".startswith(head)):
            return False
        self._round_open = True
        return True

    def _give_up_summary(self) -> bool:
        self._round_open = True
        return True

    def _quoted_lines(self, buf: str, end: int, closed: bool) -> None:
        i = self.pos
        while i < end:
            if self._line_start:
                if buf[i] == ">":
                    if i + 1 >= end and not closed:
                        break  # "> " or ">text": wait for the next character
                    i += 2 if i + 1 < end and buf[i + 1] == " " else 1
                self._line_start = False
                continue
            newline = buf.find("\n", i, end)
            stop = end if newline == -1 else newline + 1
            self.reasoning.write(buf[i:stop])
            self._line_start = newline != -1
            i = stop
        self.pos = i

    # BLOCK: a <glm_block> is only read once it is complete
    def _block(self, buf: str) -> bool:
        close = buf.find(_BLOCK_CLOSE, self.pos)
        if close == -1:
            return False
        raw = buf[self._body_start:close]
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            parsed = None
        self.blocks.append((raw, parsed if isinstance(parsed, dict) else None))
        self.pos = close + len(_BLOCK_CLOSE)
        self.state = _TEXT
        return True


def _utf16_to_index(text: str, units: int) -> int:
    """Code-point index of a UTF-16 offset (ZAI_EDIT_INDEX_UNIT=utf16)."""
    if text.isascii() or max(text) < "\U00010000":
        return units
    count = 0
    for index, char in enumerate(text):
        if count >= units:
            return index
        count += 2 if ord(char) > 0xFFFF else 1
    return len(text)


def _tool_block(raw: str, parsed: dict[str, Any] | None) -> Event:
    data = parsed.get("data") if parsed else None
    meta = data.get("metadata") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(meta, dict):
        return Diagnostic("unparsed_tool_block", raw[:200])
    browser = data.get("browser")
    return ToolBlock(id=str(meta.get("id") or ""), name=str(meta.get("name") or ""),
                     metadata=meta, browser=browser if isinstance(browser, dict) else None)


class MessageRenderer:
    """Applies frames to the upstream buffer; returns the new events on each channel."""

    def __init__(self, edit_index_unit: str = "codepoint") -> None:
        self._buf = ""
        self._scan = _Scanner()
        self._utf16 = edit_index_unit == "utf16"
        # per channel: the text the client has, and how much of it the scanner has produced
        self._sent = {"content": "", "reasoning": ""}
        self._scanned = {"content": 0, "reasoning": 0}
        self._sent_blocks: dict[str, str] = {}
        self._blocks_seen = 0

    @property
    def text(self) -> str:
        """The raw upstream buffer as the web UI would hold it."""
        return self._buf

    def apply(self, frame: Frame) -> list[Event]:
        events: list[Event] = []
        buf = self._buf
        self._buf = ""  # one reference: lets CPython grow the string in place
        rescan = False
        if frame.edit_content is not None and frame.edit_index is not None:
            index = _utf16_to_index(buf, frame.edit_index) if self._utf16 else frame.edit_index
            index = max(0, min(index, len(buf)))
            rescan = index < self._scan.pos
            buf = buf[:index] + frame.edit_content
        if frame.delta:
            buf += frame.delta
        self._buf = buf
        if rescan:
            self._rescan(events)
        else:
            self._scan.run(buf)
            self._drain(self._scan, events)
        if frame.usage:
            events.append(_usage(frame.usage))
        return events

    def finish(self) -> list[Event]:
        """End of stream: release held text; report a block that never closed."""
        events: list[Event] = []
        scan = self._scan
        if scan.state == _TEXT and scan.pos < len(self._buf):
            scan.content.write(self._buf[scan.pos:])  # a held partial tag was just text
            scan.pos = len(self._buf)
        elif scan.state == _BLOCK:
            events.append(Diagnostic("unclosed_tool_block", self._buf[scan.pos:][:200]))
        scan.content.flush()
        self._drain(scan, events)
        for name, sent in self._sent.items():
            if self._scanned[name] < len(sent):  # an edit took back text already sent
                events.append(Diagnostic("edit_rewrote_sent_text", name))
        return events

    def _drain(self, scan: _Scanner, events: list[Event]) -> None:
        for name, channel, kind in (("reasoning", scan.reasoning, Reasoning),
                                    ("content", scan.content, Content)):
            if channel.pieces:
                text = self._unsent(name, "".join(channel.pieces), events)
                channel.pieces.clear()
                if text:
                    events.append(kind(text))
        for raw, parsed in scan.blocks[self._blocks_seen:]:
            self._emit_block(raw, parsed, events)
        self._blocks_seen = len(scan.blocks)

    def _emit_block(self, raw: str, parsed: dict[str, Any] | None,
                    events: list[Event]) -> None:
        event = _tool_block(raw, parsed)
        key = event.id if isinstance(event, ToolBlock) else raw
        if self._sent_blocks.get(key) != raw:
            self._sent_blocks[key] = raw
            events.append(event)

    def _unsent(self, name: str, piece: str, events: list[Event]) -> str:
        """The part of the scanner's next `piece` the client does not have yet.

        After a re-scan the scanner re-produces text already sent; that part is swallowed.
        An edit that truly rewrote sent text cannot be taken back: it is reported, and the
        client's text is then taken to be the scanner's from that point on.
        """
        sent, done = self._sent[name], self._scanned[name]
        self._scanned[name] = done + len(piece)
        if done == len(sent):  # the usual case: nothing pending from a re-scan
            self._sent[name] = ""  # one reference: lets CPython grow the string in place
            sent += piece
            self._sent[name] = sent
            return piece
        overlap = min(len(piece), len(sent) - done)
        if sent.startswith(piece[:overlap], done):
            self._sent[name] = sent + piece[overlap:]
            return piece[overlap:]
        events.append(Diagnostic("edit_rewrote_sent_text", name))
        self._sent[name] = sent[:done] + piece
        return ""

    def _rescan(self, events: list[Event]) -> None:
        fresh = _Scanner()
        fresh.run(self._buf)
        self._scanned = {"content": 0, "reasoning": 0}
        self._blocks_seen = 0
        self._scan = fresh
        self._drain(fresh, events)


def _usage(raw: dict[str, Any]) -> Usage:
    def num(key: str) -> int:
        value = raw.get(key)
        return value if isinstance(value, int) else 0

    prompt, completion = num("prompt_tokens"), num("completion_tokens")
    total = num("total_tokens") or prompt + completion
    details = raw.get("prompt_tokens_details")
    return Usage(prompt, completion, total, details if isinstance(details, dict) else {})
