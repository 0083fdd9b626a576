"""Stage s2 of argument decoding: deterministic fixes that know what is inside a string.

- outside strings, full-width `：，“”｛｝［］` become ASCII (A6);
- outside strings, Python `True/False/None` become JSON literals (A5);
- trailing commas before `}`/`]` are removed (A5);
- inside strings, a backslash not followed by a valid JSON escape is doubled (A4), so
  `C:\\Users` survives while `C:\\new` stays an (ambiguous) newline.
"""

from __future__ import annotations

import re
from typing import Final

_FULL_WIDTH: Final = {"：": ":", "，": ",", "｛": "{", "｝": "}", "［": "[", "］": "]"}
_LITERALS: Final = {"True": "true", "False": "false", "None": "null"}
_WORD: Final = re.compile(r"[^\W\d]\w*")
_ESCAPES: Final = frozenset('"\\/bfnrtu')
_HEX4: Final = re.compile(r"[0-9a-fA-F]{4}")


def safe_fixes(text: str) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"' or c == "“":
            i = _copy_string(text, i, out)
        elif c.isalpha() or c == "_":
            i = _copy_word(text, i, out)
        elif c == ",":
            i = _copy_comma(text, i, out)
        else:
            out.append(_FULL_WIDTH.get(c, c))
            i += 1
    return "".join(out)


def _copy_word(text: str, i: int, out: list[str]) -> int:
    m = _WORD.match(text, i)
    assert m is not None
    out.append(_LITERALS.get(m.group(), m.group()))
    return m.end()


def _copy_comma(text: str, i: int, out: list[str]) -> int:
    j = i + 1
    while j < len(text) and text[j] in " \t\r\n":
        j += 1
    if j < len(text) and text[j] in "}]｝］":
        return j  # trailing comma dropped; the whitespace after it too
    out.append(",")
    return i + 1


def _copy_string(text: str, i: int, out: list[str]) -> int:
    """Copy one string starting at the quote at `i`; returns the index after it."""
    closers = '"”' if text[i] == "“" else '"'
    out.append('"')
    i += 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i = _copy_escape(text, i, out)
            continue
        if c in closers:
            out.append('"')
            return i + 1
        out.append(c)
        i += 1
    return i


def _copy_escape(text: str, i: int, out: list[str]) -> int:
    nxt = text[i + 1] if i + 1 < len(text) else ""
    if nxt in _ESCAPES and nxt and (nxt != "u" or _HEX4.match(text, i + 2)):
        out.append(text[i : i + 2])
        return i + 2
    out.append("\\\\")
    return i + 1
