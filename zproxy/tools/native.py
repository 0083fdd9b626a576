"""Native GLM drift acceptor (§3.4.6): `<tool_call>name<arg_key>k</arg_key><arg_value>v…`.

GLM falls back to its trained syntax when prompted with another one. After `<tool_call>`
the name is read first; a name that does not resolve to an allowed tool ends the attempt at
once (the text goes back to the client unchanged). Otherwise the call runs to
`</tool_call>`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from zproxy.tools.scan import NATIVE_CLOSE, NATIVE_OPEN, TokenFinder

_NAME_END: Final = re.compile(r"[\s<{]")
_PAIR: Final = re.compile(
    r"\s*<arg_key>(.*?)</arg_key>\s*<arg_value>(.*?)</arg_value>\s*", re.S)
_CLOSE: Final = re.compile(re.escape(NATIVE_CLOSE))
_MAX_NAME: Final = 128


@dataclass(frozen=True, slots=True)
class NativeReject:
    rest: str  # the text after `<tool_call>`, to be scanned again as text


@dataclass(frozen=True, slots=True)
class NativeCall:
    name: str
    pairs: list[tuple[str, str]] | None  # <arg_key>/<arg_value> pairs, or None for JSON
    body: str
    raw: str
    rest: str


@dataclass(frozen=True, slots=True)
class NativeTruncated:
    name: str
    raw: str


NativeResult = NativeReject | NativeCall | NativeTruncated


class NativeParser:
    def __init__(self, allowed: Callable[[str], bool], max_chars: int) -> None:
        self._allowed = allowed
        self._max = max_chars
        self._work = ""
        self._name: str | None = None
        self._name_end = 0
        self._parts: list[str] = []
        self._finder: TokenFinder | None = None
        self._size = 0

    def feed(self, text: str, final: bool) -> NativeResult | None:
        self._size += len(text)
        if self._name is None:
            self._work += text
            return self._read_name(final)
        self._parts.append(text)
        assert self._finder is not None
        if self._finder.find(text) is None and not final:
            return NativeReject(self._joined()) if self._size > self._max else None
        return self._complete(final)

    def _joined(self) -> str:
        self._work += "".join(self._parts)
        self._parts = []
        return self._work

    def _read_name(self, final: bool) -> NativeResult | None:
        start = len(self._work) - len(self._work.lstrip())
        m = _NAME_END.search(self._work, start, start + _MAX_NAME + 1)
        if m is None or m.start() == start and m.group().isspace():
            if len(self._work) > _MAX_NAME or final:
                return NativeReject(self._work)
            return None
        name = self._work[start: m.start()]
        if not (self._allowed(name) or (not name and m.group() == "{")):
            return NativeReject(self._work)
        self._name, self._name_end = name, m.start()
        self._finder = TokenFinder(_CLOSE, len(NATIVE_CLOSE), 0)
        if self._finder.find(self._work) is None and not final:
            return None
        return self._complete(final)

    def _complete(self, final: bool) -> NativeResult | None:
        work = self._joined()
        end = work.find(NATIVE_CLOSE)
        if end < 0:
            return NativeTruncated(self._name or "", NATIVE_OPEN + work) if final else None
        name = self._name or ""
        body = work[self._name_end:end]
        raw = NATIVE_OPEN + work[: end + len(NATIVE_CLOSE)]
        return NativeCall(name, _pairs(body), body.strip(), raw, work[end + len(NATIVE_CLOSE):])


def _pairs(body: str) -> list[tuple[str, str]] | None:
    """`<arg_key>` pairs when the whole body is made of them, else None."""
    if "<arg_key>" not in body:
        return None
    pos, pairs = 0, list[tuple[str, str]]()
    while pos < len(body):
        m = _PAIR.match(body, pos)
        if m is None:
            return None if body[pos:].strip() else pairs
        pairs.append((m.group(1).strip(), m.group(2)))
        pos = m.end()
    return pairs
