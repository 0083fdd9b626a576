"""The grammar inside one `<tool_calls_NONCE>` block (§3.4.3, §3.4.4).

`BlockParser.feed` takes the text after the opener piece by piece and returns items:
`Noise` (preamble or text between calls), `RawCall` (one call's text, not yet judged),
`Truncated`, and finally one of `BlockEnd`, `FalseTrigger` or `TooLarge`. Judging the
calls is the caller's job. Large argument bodies are scanned as they arrive and only
joined once they close, so a big `write_file` costs O(n).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from zproxy.tools.scan import JsonScanner, TokenFinder, could_be_prefix

_CALL_TAGS: Final = ("<call", "<invoke")
_CALL_OPEN: Final = re.compile(r"<(call|invoke)(?=[\s>/])")
_GENERIC_CLOSE: Final = re.compile(r"</(?:tool_calls(?:_[A-Za-z0-9]{0,16})?|function_calls)>")
_CALL_CLOSE: Final = re.compile(r"</(?:call|invoke)\s*>")
_RAW_END: Final = re.compile(
    r"</(?:call|invoke)\s*>|</(?:tool_calls(?:_[A-Za-z0-9]{0,16})?|function_calls)>")
_NAME_ATTR: Final = re.compile(
    r"""\bname\s*=\s*(?:"([^"]*)"|'([^']*)'|“([^”]*)”|([^\s>/"']+))""")
_WRAPPER_OPEN: Final = re.compile(r"<(arguments|args|args_json|parameters|input)>")
_TAIL_SKIP: Final = re.compile(
    r"(?:\s+|```|\]\]>|</(?:arguments|args|args_json|parameters|input)>)")
_MAX_HEAD: Final = 512

PRE, HEAD, BODY, JSON, TAIL, RAW = range(6)


@dataclass(frozen=True, slots=True)
class Noise:
    text: str


@dataclass(frozen=True, slots=True)
class RawCall:
    name: str
    body: str
    raw: str


@dataclass(frozen=True, slots=True)
class Truncated:
    name: str
    raw: str


@dataclass(frozen=True, slots=True)
class BlockEnd:
    rest: str
    closed: bool


@dataclass(frozen=True, slots=True)
class FalseTrigger:
    rest: str  # everything after the opener, to be scanned again as text


@dataclass(frozen=True, slots=True)
class TooLarge:
    raw: str


Item = Noise | RawCall | Truncated | BlockEnd | FalseTrigger | TooLarge


class BlockParser:
    """Incremental parser for the inside of one block. `raw` keeps the text it consumed."""

    def __init__(self, opener: str, closer: str, *, max_preamble: int, max_chars: int) -> None:
        self.opener, self.closer = opener, closer
        self.max_preamble, self.max_chars = max_preamble, max_chars
        self.calls = 0  # call elements seen (valid or not)
        self.raw: list[str] = []  # consumed text, in order
        self._work, self._pos = "", 0
        self._phase = PRE
        self._noise_at = -1  # start of a noise run in _work
        self._call_at = 0
        self._name = ""
        self._body_at = 0
        self._value_end = 0
        self._value_ok = False
        self._search_at = 0
        self._parts: list[str] = []  # streamed text not yet in _work
        self._streamed = 0
        self._scanner: JsonScanner | None = None
        self._finder: TokenFinder | None = None
        self._size = 0
        self._items: list[Item] = []
        self._done = False

    # --- feeding -----------------------------------------------------------------------------

    def feed(self, text: str, final: bool = False) -> list[Item]:
        self._size += len(text)
        if self._phase in (JSON, RAW):
            if not self._stream(text) and not final:
                return self._too_large() if self._size > self.max_chars else []
            self._join()
        else:
            self._work += text
        if self._size > self.max_chars and not final:
            return self._too_large()
        while not self._done and self._step(final):
            pass
        items, self._items = self._items, []
        return items

    def _stream(self, text: str) -> bool:
        """Scan a piece of a long body without joining; True when the body ended in it."""
        offset = len(self._work) + self._streamed
        self._parts.append(text)
        self._streamed += len(text)
        if self._phase == JSON:
            assert self._scanner is not None
            end = self._scanner.scan(text, offset)
            if end is None:
                return False
            self._value_end = end
        else:
            assert self._finder is not None
            if self._finder.find(text) is None:
                return False
        self._join()
        return True

    def _join(self) -> None:
        if self._parts:
            self._work += "".join(self._parts)
            self._parts, self._streamed = [], 0

    def _too_large(self) -> list[Item]:
        self._join()
        self._done = True
        return [TooLarge("".join(self.raw) + self._work)]

    def _step(self, final: bool) -> bool:
        handler = (self._pre, self._head, self._body, self._json, self._tail, self._raw)
        return handler[self._phase](final)

    # --- PRE: between the opener / a call and the next call ----------------------------------

    def _pre(self, final: bool) -> bool:
        w, p = self._work, self._pos
        while p < len(w) and w[p].isspace():
            p += 1
        if p >= len(w):
            return self._pre_wait(p, final)
        if w[p] != "<":
            return self._noise(p, w.find("<", p + 1), final)
        return self._pre_tag(p, final)

    def _pre_tag(self, p: int, final: bool) -> bool:
        w = self._work
        if _CALL_OPEN.match(w, p):
            self._flush_noise(p)
            self._call_at, self._pos, self._phase = p, p, HEAD
            self.calls += 1
            return True
        if w.startswith(self.opener, p):  # repeated opener (M1)
            self._flush_noise(p)
            self._pos = p + len(self.opener)
            return True
        close = _GENERIC_CLOSE.match(w, p)
        if close:
            self._flush_noise(p)
            return self._end(close.end(), True)
        tail = w[p:]
        if not final and len(tail) < 24 and (could_be_prefix(tail, "<call ", "<invoke ",
                                             self.opener) or re.fullmatch(r"</?\w*", tail)):
            return self._pre_wait(p, final)
        return self._noise(p, w.find("<", p + 1), final)

    def _pre_wait(self, p: int, final: bool) -> bool:
        if not final:
            self._pos = p if self._noise_at < 0 else self._pos
            return False
        if self.calls == 0:
            return self._false()
        return self._end(self._noise_at if self._noise_at >= 0 else p, False)

    def _noise(self, p: int, nxt: int, final: bool) -> bool:
        if self._noise_at < 0:
            self._noise_at = p
        end = len(self._work) if nxt < 0 else nxt
        if end - self._noise_at > self.max_preamble:
            return self._false() if self.calls == 0 else self._end(self._noise_at, False)
        self._pos = end
        if nxt < 0:
            return self._pre_wait(end, final)
        return True

    def _flush_noise(self, p: int) -> None:
        if self._noise_at >= 0:
            self._items.append(Noise(self._work[self._noise_at:p]))
            self._noise_at = -1

    def _false(self) -> bool:
        self._done = True
        self._items.append(FalseTrigger(self._work))
        return False

    def _end(self, cut: int, closed: bool) -> bool:
        """Block over: `_work[:cut]` belongs to it, the rest goes back to the caller."""
        self._noise_at = -1
        self.raw.append(self._work[:cut])
        self._items.append(BlockEnd(self._work[cut:], closed))
        self._done = True
        return False

    # --- HEAD: <call name=...> ---------------------------------------------------------------

    def _head(self, final: bool) -> bool:
        w, start = self._work, self._call_at
        gt = w.find(">", start)
        if gt < 0:
            if final:
                return self._truncated()
            if len(w) - start > _MAX_HEAD:
                return self._to_raw(start, start)
            return False
        m = _NAME_ATTR.search(w, start, gt)
        self._name = next((g for g in m.groups() if g is not None), "") if m else ""
        if w[gt - 1] == "/":  # <call name="x"/>: no arguments
            return self._call_done("", gt + 1)
        self._pos, self._phase = gt + 1, BODY
        return True

    # --- BODY: what starts the arguments -----------------------------------------------------

    def _body(self, final: bool) -> bool:
        w, p = self._work, self._pos
        while p < len(w) and w[p].isspace():
            p += 1
        self._pos = p
        if p >= len(w):
            return self._truncated() if final else False
        c = w[p]
        if c in '{["':
            return self._start_json(p)
        if c == "`":
            return self._skip_fence(p, final)
        if c == "<":
            return self._body_tag(p, final)
        return self._to_raw(p)

    def _skip_fence(self, p: int, final: bool) -> bool:
        nl = self._work.find("\n", p)
        if nl < 0:
            return self._truncated() if final else False
        self._pos = nl + 1
        return True

    def _body_tag(self, p: int, final: bool) -> bool:
        w = self._work
        for token in ("<![CDATA[",):
            if w.startswith(token, p):
                self._pos = p + len(token)
                return True
        m = _WRAPPER_OPEN.match(w, p)
        if m:
            self._pos = m.end()
            return True
        close = _CALL_CLOSE.match(w, p)
        if close:
            return self._call_done("", close.end())
        if _CALL_OPEN.match(w, p) or w.startswith(self.opener, p) or _GENERIC_CLOSE.match(w, p):
            return self._call_done("", p)  # a call with no body and no close
        if not final and ">" not in w[p:p + 40] and len(w) - p < 40:
            return False
        return self._to_raw(p)

    # --- JSON body ---------------------------------------------------------------------------

    def _start_json(self, p: int) -> bool:
        self._body_at, self._value_end = p, 0
        self._scanner = JsonScanner()
        end = self._scanner.scan(self._work, 0, p)
        if end is None:
            self._phase = JSON
            return False
        self._value_end, self._phase = end, TAIL
        return True

    def _json(self, final: bool) -> bool:
        """Only reached when joined: at the end of the stream, or after the value closed."""
        if self._value_end > self._body_at:
            self._phase = TAIL
            return True
        if not final:
            return False
        return self._recover_unclosed()

    def _recover_unclosed(self) -> bool:
        """Stream ended with the JSON open: stray quotes, or real truncation (M6)."""
        w = self._work
        for m in _CALL_CLOSE.finditer(w, self._body_at):
            after = w[m.end():].lstrip()
            if not after or _CALL_OPEN.match(after) or after.startswith(self.opener) \
                    or _GENERIC_CLOSE.match(after):
                return self._call_done(w[self._body_at:m.start()], m.end())
        return self._truncated()

    def _tail(self, final: bool) -> bool:
        w, p = self._work, self._value_end
        while (m := _TAIL_SKIP.match(w, p)) is not None:
            p = m.end()
        body = w[self._body_at:self._value_end]
        close = _CALL_CLOSE.match(w, p)
        if close:
            return self._call_done(body, close.end())
        if p >= len(w):
            return self._call_done(body, p) if final else False
        if _CALL_OPEN.match(w, p) or w.startswith(self.opener, p) or _GENERIC_CLOSE.match(w, p):
            return self._call_done(body, p)
        if not final and could_be_prefix(w[p:p + 24], "</call>", "</invoke>", "<call ",
                                         "<invoke ", self.opener, self.closer, "</tool_calls>",
                                         "```", "]]>", "</arguments>", "</args_json>",
                                         "</parameters>"):
            return False
        return self._junk_after_value(body, p, final)

    def _junk_after_value(self, body: str, p: int, final: bool) -> bool:
        """The value closed but no `</call>` follows: the scanner was thrown off (§3.4.4).

        The call then runs to the next `</call>`; if none comes, the closed value stands.
        """
        self._value_ok = True
        return self._to_raw(self._body_at, p, final)

    # --- RAW body: child elements, garbage, recovery ----------------------------------------

    def _to_raw(self, body_at: int, search_at: int | None = None, final: bool = False) -> bool:
        self._body_at = body_at
        self._search_at = body_at if search_at is None else search_at
        self._finder = TokenFinder(_RAW_END, 24, self._search_at)
        self._phase = RAW
        hit = self._finder.find(self._work[self._search_at:])
        return self._raw_hit(hit) if hit else True

    def _raw(self, final: bool) -> bool:
        m = _RAW_END.search(self._work, self._search_at)
        if m is not None:
            return self._raw_hit((m.start(), m.end()))
        if not final:
            return False
        if self._value_ok:
            return self._call_done(self._work[self._body_at:self._value_end], self._value_end)
        return self._truncated()

    def _raw_hit(self, hit: tuple[int, int]) -> bool:
        start, end = hit
        closes_call = _CALL_CLOSE.match(self._work, start) is not None
        return self._call_done(self._work[self._body_at:start], end if closes_call else start)

    # --- results -----------------------------------------------------------------------------

    def _call_done(self, body: str, end: int) -> bool:
        raw = self._work[self._call_at:end]
        self._items.append(RawCall(self._name, body, raw))
        self.raw.append(self._work[:end])
        self._work, self._pos = self._work[end:], 0
        self._phase, self._scanner, self._finder = PRE, None, None
        self._value_end, self._value_ok = 0, False
        return True

    def _truncated(self) -> bool:
        self._items.append(Truncated(self._name, self._work[self._call_at:]))
        self.raw.append(self._work)
        self._work = ""
        self._items.append(BlockEnd("", False))
        self._done = True
        return False
