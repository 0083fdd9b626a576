"""LongCat stream decoders, generation A (2025) and B (2026) (providers.md §2.5, §2.6). Pure.

Both read lines (`zproxy.providers.longcat.lines`), so a bare `{"code", "message"}` line where
the stream should be is an error, not noise. Text reconstruction goes through one
`Snapshot` per channel: deltas are appended to what was sent, cumulative values are diffed.

- **A** (`chat-completion`): `choices[0].delta.content` is the increment (ZY, JC, LC, FL, WJ),
  `content` the whole answer so far; reasoning in `delta.reasoningContent` / the cumulative
  `reasonContent`; search results in `searchResults`; usage in `tokenInfo` when `hasTokens`;
  `sensitive: true` marks a filtered answer; `lastOne` ends it.
- **B** (`chat-completion-V2`): `event.type` `create` / `reason`|`think` / `content` /
  `search`… / `finish` / `event_error`; whether `content` and `reason` values are deltas or
  cumulative is disputed (§5), hence `text_mode` (`auto` treats a value that extends
  everything sent so far as cumulative). `finish` carries the whole answer, usage and
  `finishType: "sensitive"`.

A `data:` frame with a top-level `code` ≠ 0 is an error in both. EOF before the last frame is
a protocol failure (the answer may be cut short).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

import orjson

from zproxy.core.events import (
    Content,
    Diagnostic,
    Done,
    Event,
    Failure,
    FinishReason,
    Meta,
    Reasoning,
    SearchItem,
    SearchResults,
    Usage,
)
from zproxy.core.failures import upstream_error
from zproxy.core.text import Snapshot
from zproxy.providers.longcat.failures import body_error
from zproxy.providers.longcat.lines import LineKind, LineReader

TextMode = Literal["auto", "delta", "cumulative"]
SEARCH_EVENTS: Final = frozenset({"search", "common_search", "general_search",
                                  "local_life_search"})


def search_items(value: Any) -> tuple[SearchItem, ...]:
    """Results from a list of `{title, url, snippet|content}` (or its JSON text)."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return ()
    if not isinstance(value, list):
        return ()
    items = []
    for number, entry in enumerate(value, 1):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("url"), str):
            continue
        snippet = entry.get("snippet") or entry.get("content") or ""
        items.append(SearchItem(title=str(entry.get("title") or entry["url"]),
                                url=entry["url"], snippet=str(snippet), index=number))
    return tuple(items)


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


class _Base:
    """Line handling, channels and the end rule shared by both generations."""

    def __init__(self, *, keep_reasoning: bool = True) -> None:
        self._lines = LineReader()
        self.reasoning = Snapshot()
        self.answer = Snapshot()
        self._keep_reasoning = keep_reasoning
        self._usage: Usage | None = None
        self._finish: FinishReason = "stop"
        self._meta_sent = False
        self._search_sent = 0
        self.ended = False

    def feed(self, data: bytes) -> list[Event]:
        return self._handle(self._lines.feed(data))

    def flush(self) -> list[Event]:
        out = self._handle(self._lines.flush())
        if not self.ended:
            self.ended = True
            out.append(Failure(upstream_error(
                "protocol", "longcat: the stream ended before its last frame")))
        return out

    def _handle(self, lines: list[tuple[LineKind, str]]) -> list[Event]:
        out: list[Event] = []
        for kind, text in lines:
            if self.ended:
                break
            out += self._line(kind, text)
        return out

    def _line(self, kind: LineKind, text: str) -> list[Event]:
        if kind == "data" and text == "[DONE]":
            return self._end()
        try:
            frame = orjson.loads(text)
        except orjson.JSONDecodeError:
            return [Diagnostic("unparsed_frame", text[:200])]
        if not isinstance(frame, dict):
            return []
        code = frame.get("code")
        if code not in (None, 0, 200) and ("message" in frame or kind == "bare"):
            self.ended = True
            message = frame.get("message")
            return [Failure(body_error(code, message if isinstance(message, str) else ""))]
        if kind == "bare":
            return [Diagnostic("bare_line", text[:200])]
        return self.frame(frame)

    def frame(self, frame: dict[str, Any]) -> list[Event]:
        raise NotImplementedError

    # -- helpers for the generations -------------------------------------------------

    def meta(self, frame: Mapping[str, Any]) -> list[Event]:
        if self._meta_sent:
            return []
        self._meta_sent = True
        return [Meta(upstream_model=str(frame.get("model") or ""),
                     conversation_id=str(frame.get("conversationId") or ""),
                     message_id=str(frame.get("messageId") or ""))]

    def think(self, whole: str) -> list[Event]:
        new = self.reasoning.feed(whole)
        return [Reasoning(new)] if new and self._keep_reasoning else []

    def say(self, whole: str) -> list[Event]:
        new = self.answer.feed(whole)
        out: list[Event] = [Content(new)] if new else []
        if self.answer.last_rewrite:
            out.append(Diagnostic("rewrite", "longcat: cumulative text changed what was sent"))
        return out

    def search(self, items: tuple[SearchItem, ...], query: str = "") -> list[Event]:
        if len(items) <= self._search_sent:
            return []
        new, self._search_sent = items[self._search_sent:], len(items)
        return [SearchResults(new, query)]

    def usage(self, prompt: Any, completion: Any, total: Any) -> None:
        p, c = _int(prompt), _int(completion)
        self._usage = Usage(p, c, _int(total) or p + c)

    def filtered(self) -> None:
        self._finish = "content_filter"

    def _end(self) -> list[Event]:
        self.ended = True
        out: list[Event] = [self._usage] if self._usage is not None else []
        return [*out, Done(self._finish)]


class DecoderA(_Base):
    """Generation A: `chat-completion` / `chat-completion-oversea` (2025)."""

    def frame(self, frame: dict[str, Any]) -> list[Event]:
        out = self.meta(frame)
        out += self.search(search_items(frame.get("searchResults")))
        choices = frame.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else {}
        delta = choice.get("delta") if isinstance(choice, dict) else None
        delta = delta if isinstance(delta, dict) else {}
        out += self._text(delta.get("reasoningContent"), frame.get("reasonContent"), self.think,
                          self.reasoning)
        out += self._text(delta.get("content"), frame.get("content"), self.say, self.answer)
        info = frame.get("tokenInfo")
        if isinstance(info, dict) and info.get("hasTokens"):
            self.usage(info.get("promptTokens"), info.get("completionTokens"),
                       info.get("totalTokens"))
        if frame.get("sensitive") is True:
            self.filtered()
        finished = (isinstance(choice, dict) and choice.get("finishReason") == "stop"
                    and frame.get("contentStatus") == "FINISHED")
        if frame.get("lastOne") is True or finished:
            out += self._end()
        return out

    @staticmethod
    def _text(delta: Any, whole: Any, emit: Callable[[str], list[Event]],
              channel: Snapshot) -> list[Event]:
        if isinstance(delta, str) and delta:
            return emit(channel.text + delta)
        if isinstance(whole, str) and whole:
            return emit(whole)
        return []


class DecoderB(_Base):
    """Generation B: `chat-completion-V2` / `chat-completion-oversea-V2` (2026)."""

    def __init__(self, *, keep_reasoning: bool = True, text_mode: TextMode = "auto") -> None:
        super().__init__(keep_reasoning=keep_reasoning)
        self._mode = text_mode
        self._query = ""

    def frame(self, frame: dict[str, Any]) -> list[Event]:
        event = frame.get("event")
        out: list[Event] = []
        if isinstance(event, dict):
            out += self._event(str(event.get("type")), event, frame)
        info = frame.get("tokenInfo")
        if isinstance(info, dict) and info.get("hasTokens") and self._usage is None:
            self.usage(info.get("promptTokens"), info.get("completionTokens"),
                       info.get("totalTokens"))
        if frame.get("lastOne") is True and not self.ended:
            out += self._end()
        return out

    def _event(self, kind: str, event: dict[str, Any], frame: dict[str, Any]) -> list[Event]:
        value = event.get("content")
        if kind == "create":
            return self.meta(frame)
        if kind in ("reason", "think") and isinstance(value, str):
            return self.think(self._whole(self.reasoning, value))
        if kind == "content" and isinstance(value, str):
            return self.say(self._whole(self.answer, value))
        if kind in SEARCH_EVENTS:
            return self._search(value)
        if kind == "finish":
            return self._finish_event(event)
        if kind in ("event_error", "eventError"):
            self.ended = True
            message = event.get("message") or value or "stream error"
            return [Failure(upstream_error("internal", f"longcat: {message}"))]
        return []

    def _whole(self, channel: Snapshot, value: str) -> str:
        if self._mode == "cumulative":
            return value
        if self._mode == "auto" and channel.text and value.startswith(channel.text):
            return value
        return channel.text + value

    def _search(self, value: Any) -> list[Event]:
        if isinstance(value, dict):
            if isinstance(value.get("query"), str):
                self._query = value["query"]
            return self.search(search_items(value.get("resultList")), self._query)
        return self.search(search_items(value), self._query)

    def _finish_event(self, event: dict[str, Any]) -> list[Event]:
        out: list[Event] = []
        final = event.get("finalContentX") or event.get("finalContent")
        if isinstance(final, str) and final.startswith(self.answer.text):
            out += self.say(final)  # the whole answer: sends what the events left out
        elif isinstance(final, str):
            out.append(Diagnostic("final_differs", "longcat: finalContent differs from the "
                                  "streamed answer; the streamed one stands"))
        usage = event.get("usage")
        if isinstance(usage, dict):
            self.usage(usage.get("inputTokens"), usage.get("outputTokens"),
                       usage.get("totalTokens"))
        if event.get("finishType") == "sensitive":
            self.filtered()
        return out
