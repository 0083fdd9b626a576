"""Small incremental scanners shared by the tool-call parser.

Everything here works on text that arrives in pieces: state is kept between calls so that a
piece is looked at once (no rescanning of the whole buffer, §3.4 of tool-calling.md).
"""

from __future__ import annotations

import re
from typing import Final

NATIVE_OPEN: Final = "<tool_call>"
NATIVE_CLOSE: Final = "</tool_call>"
THINK_OPEN: Final = "<think>"
THINK_CLOSE: Final = "</think>"

_STR_STOP: Final = re.compile(r'["\\]')
_STRUCT: Final = re.compile(r'["{}\[\]]')
# A fence opener line: up to 3 spaces, 3+ backticks, an optional info word.
FENCE_LINE: Final = re.compile(r"[ \t]{0,3}`{3,}[\w.+#-]*[ \t]*")
# Fence opener line directly before a trigger (whitespace between is allowed).
FENCE_BEFORE: Final = re.compile(r"(?:^|\n)([ \t]{0,3}`{3,}[\w.+#-]*[ \t]*\n\s*)\Z")
# A fence line that is still being typed (no newline yet).
_FENCE_TYPING: Final = re.compile(r"[ \t]{0,3}(?:`{1,2}|`{3,}[\w.+#-]*[ \t]*)\Z")
NEAR_MISS: Final = re.compile(r"<tool_calls(?:_[A-Za-z0-9]*)?>")


class JsonScanner:
    """Finds where one JSON value ends; string- and escape-aware, fed piece by piece.

    Positions are absolute: the caller says where each piece starts. Closing tags, the
    opener or `]]>` inside a JSON string are therefore content, not structure (M4).
    """

    __slots__ = ("depth", "in_str", "esc")

    def __init__(self) -> None:
        self.depth = 0
        self.in_str = False
        self.esc = False

    def scan(self, text: str, offset: int, start: int = 0) -> int | None:
        """Scan `text[start:]` (text begins at absolute `offset`); absolute end or None."""
        i, n = start, len(text)
        while i < n:
            if self.esc:
                self.esc, i = False, i + 1
                continue
            if self.in_str:
                i = self._in_string(text, i)
                if i < 0:
                    return None
                if self.depth == 0 and not self.in_str:
                    return offset + i
                continue
            m = _STRUCT.search(text, i)
            if m is None:
                return None
            i = m.end()
            c = m.group()
            if c == '"':
                self.in_str = True
            elif c in "{[":
                self.depth += 1
            else:
                self.depth -= 1
                if self.depth <= 0:
                    return offset + i
        return None

    def _in_string(self, text: str, i: int) -> int:
        m = _STR_STOP.search(text, i)
        if m is None:
            return -1
        if m.group() == "\\":
            if m.end() >= len(text):
                self.esc = True
                return -1
            return m.end() + 1
        self.in_str = False
        return m.end()


class TokenFinder:
    """Finds the first match of a regex in a stream, looking at each piece once."""

    __slots__ = ("_rx", "_carry", "_overlap", "_base")

    def __init__(self, rx: re.Pattern[str], overlap: int, base: int) -> None:
        self._rx = rx
        self._carry = ""
        self._overlap = overlap
        self._base = base  # absolute position of _carry[0]

    def find(self, text: str) -> tuple[int, int] | None:
        """Feed a piece; absolute (start, end) of the first match, or None."""
        window = self._carry + text
        m = self._rx.search(window)
        if m is not None:
            return self._base + m.start(), self._base + m.end()
        keep = min(len(window), self._overlap)
        self._base += len(window) - keep
        self._carry = window[len(window) - keep:]
        return None


def could_be_prefix(text: str, *tokens: str) -> bool:
    """True when `text` is a proper prefix of one of `tokens`."""
    return any(len(text) < len(t) and t.startswith(text) for t in tokens)


def prefix_holdback(text: str, start: int, tokens: tuple[str, ...], *,
                    quotable: bool = True) -> int:
    """Index where the longest suffix of `text[start:]` that could grow into a token begins.

    Returns len(text) when nothing needs holding. With `quotable`, a `<` right after a
    backtick is quoted and can never be a trigger, so it is not held.
    """
    longest = max(len(t) for t in tokens)
    lo = max(start, len(text) - longest + 1)
    k = text.find("<", lo)
    while k != -1:
        quoted = quotable and k > 0 and text[k - 1] == "`"
        if not quoted and could_be_prefix(text[k:], *tokens):
            return k
        k = text.find("<", k + 1)
    return len(text)


def fence_holdback(text: str, start: int, at_line_start: bool, trigger: str) -> int:
    """Index of a trailing fence-opener line that may still wrap a block (§3.4.2)."""
    if "`" not in text[start:]:
        return len(text)
    nl = text.rfind("\n", start)
    line0 = nl + 1 if nl >= 0 else start
    if (nl >= 0 or at_line_start) and _FENCE_TYPING.fullmatch(text, line0):
        return line0
    return _fence_then_prefix(text, start, at_line_start, trigger)


def _fence_then_prefix(text: str, start: int, at_line_start: bool, trigger: str) -> int:
    tail = text[start:]
    m = re.search(r"(?:^|\n)([ \t]{0,3}`{3,}[\w.+#-]*[ \t]*\n)(\s*)(<[^\s]*)?\Z", tail)
    if m is None:
        return len(text)
    part = m.group(3) or ""
    if part and not trigger.startswith(part):
        return len(text)
    line0 = start + m.start(1)
    if line0 == start and not at_line_start:
        return len(text)
    return line0


class FenceTracker:
    """Tracks whether released text is inside a ``` code fence (for the native acceptor)."""

    __slots__ = ("in_fence", "_head", "last")

    def __init__(self) -> None:
        self.in_fence = False
        self._head = ""  # first chars of the current line
        self.last = "\n"  # last character released ("\n" = at a line start)

    def copy(self) -> FenceTracker:
        twin = FenceTracker()
        twin.in_fence, twin._head, twin.last = self.in_fence, self._head, self.last
        return twin

    def push(self, text: str) -> None:
        if not text:
            return
        self.last = text[-1]
        nl = text.find("\n")
        if nl < 0:
            if len(self._head) < 8:
                self._head += text[: 8 - len(self._head)]
            return
        self._end_line(self._head + text[:nl])
        if "`" in text:
            for line in text[nl + 1 :].split("\n")[:-1]:
                self._end_line(line)
        self._head = text[text.rfind("\n") + 1 :][:8]

    def _end_line(self, line: str) -> None:
        if line.lstrip(" ").startswith("```"):
            self.in_fence = not self.in_fence
