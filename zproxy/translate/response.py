"""Provider events → OpenAI `chat.completion.chunk`s, or one `chat.completion`. Pure.

One `ResponseTranslator` per upstream attempt. Streaming and non-streaming share every step,
so they cannot disagree: a provider's decoded events (`zproxy.core.events`) → tool-call parser
(when tools are active) → content filters (citations, stop sequences) → chunks. `feed()`
takes the events of one upstream read and returns the chunks for them, consecutive text
coalesced. Knows no provider.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from zproxy.core.events import (
    Content,
    Diagnostic,
    Done,
    Event,
    Failure,
    Meta,
    Reasoning,
    SearchResults,
    ToolBlock,
    ToolCall,
    Usage,
)
from zproxy.translate.limit import CHARS_PER_TOKEN, TokenBudget


class CallParser(Protocol):
    """What the translator needs of `zproxy.tools.ToolCallParser`."""

    def feed(self, text: str, channel: str = "content") -> list[Event]: ...

    def finish(self, upstream_finish_reason: str = "stop") -> tuple[list[Event], str]: ...

    @property
    def can_stop(self) -> bool: ...

    @property
    def retry_info(self) -> Any: ...

    @property
    def deferred_events(self) -> list[Event]: ...

    def accept_upstream_call(self, name: str, arguments: str,
                             call_id: str = "") -> list[Event]: ...


class ContentFilter(Protocol):
    """A stage on the content channel that may hold text back (stop sequences, citations)."""

    def feed(self, text: str) -> str: ...

    def flush(self) -> str: ...

    @property
    def stopped(self) -> bool: ...


class StopFilter:
    """Cuts the content at the first stop sequence; holds only a possible stop prefix."""

    def __init__(self, stops: Iterable[str]) -> None:
        self._stops = tuple(stops)
        self._held = ""
        self._stopped = False
        self.matched: str | None = None  # the stop sequence that cut the answer

    @property
    def stopped(self) -> bool:
        return self._stopped

    def feed(self, text: str) -> str:
        if self._stopped:
            return ""
        text = self._held + text
        hit = self._first_match(text)
        # a longer stop that starts before the match (or at the end) may still complete
        start = self._partial_start(text, len(text) if hit is None else hit[0])
        if start is not None:
            self._held = text[start:]
            return text[:start]
        self._held = ""
        return text if hit is None else self._stop_at(text, hit)

    def flush(self) -> str:
        held, self._held = self._held, ""
        hit = self._first_match(held)
        return held if hit is None else self._stop_at(held, hit)

    def _stop_at(self, text: str, hit: tuple[int, str]) -> str:
        self._stopped, self.matched = True, hit[1]
        return text[:hit[0]]

    def _first_match(self, text: str) -> tuple[int, str] | None:
        """(index, stop) of the complete stop sequence that starts first, or None."""
        found = [(i, s) for s in self._stops if (i := text.find(s)) != -1]
        return min(found, key=lambda hit: hit[0]) if found else None

    def _partial_start(self, text: str, before: int) -> int | None:
        """The first index before `before` from which the rest of `text` is a proper
        prefix of a stop sequence: from there on, text cannot be let out yet."""
        longest = max(map(len, self._stops), default=0)
        for start in range(max(0, len(text) - longest + 1), before):
            tail = text[start:]
            if any(len(s) > len(tail) and s.startswith(tail) for s in self._stops):
                return start
        return None


def estimate_tokens(chars: int) -> int:
    """Rough local estimate (≈4 characters a token) when the upstream sends no usage."""
    return math.ceil(chars / CHARS_PER_TOKEN) if chars else 0


@dataclass(slots=True)
class _Totals:
    content: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    calls: list[ToolCall] = field(default_factory=list)
    blocks: dict[str, ToolBlock] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    usage: Usage | None = None


class ResponseTranslator:
    def __init__(
        self,
        *,
        completion_id: str,
        created: int,
        model: str,
        include_usage: bool = False,
        prompt_chars: int = 0,
        max_tokens: int | None = None,
        parser: CallParser | None = None,
        filters: Iterable[ContentFilter] = (),
        on_results: Callable[[SearchResults], None] | None = None,
        annotations: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self._base = {"id": completion_id, "object": "chat.completion.chunk",
                      "created": created, "model": model}
        self._include_usage = include_usage
        self._prompt_chars = prompt_chars
        self._budget = TokenBudget(max_tokens)
        self._parser = parser
        self._filters = tuple(filters)
        self._on_results = on_results
        self._tail: list[Event] = []  # the decoder's final flush, after Done
        self._annotations = annotations
        self._role_sent = False
        self._ended = False
        self._error: Exception | None = None  # an in-stream error, raised after what preceded it
        self._reason = "stop"
        self.totals = _Totals()
        self.done = False
        self.finish_reason: str | None = None

    @property
    def stopped(self) -> bool:
        """The answer is complete (done frame, stop sequence, or nothing more the upstream
        writes can change the tool calls): stop reading upstream."""
        return (self.done or self._error is not None or any(f.stopped for f in self._filters)
                or self._budget.cut or (self._parser is not None and self._parser.can_stop))

    @property
    def retry_info(self) -> Any:
        """After `end()`: what a corrective tool-call retry should say, or None (§3.9).
        None too when max_tokens cut the answer: the broken call is the cut's doing."""
        if self._parser is None or not self._ended or self._budget.cut:
            return None
        return self._parser.retry_info

    # --- streaming -------------------------------------------------------------------------

    def feed(self, events: Iterable[Event]) -> list[dict[str, Any]]:
        """Chunks for one upstream read. A `Failure` raises its UpstreamError, after the text
        that came before it in the same read has been returned. After `Done`, the rest of the
        read is the decoder's final flush, routed by `end()`."""
        self._raise_pending_error()
        if self.done:
            return []
        pending: list[Event] = []
        events = list(events)
        for i, event in enumerate(events):
            if isinstance(event, Failure):
                self._error = event.error
                if not pending:
                    self._raise_pending_error()
                break
            if isinstance(event, Done):
                self.done = True
                self._tail = events[i + 1:]
                break
            self._route(event, pending)
        return self._chunks(pending)

    def end(self) -> list[dict[str, Any]]:
        """The upstream is done: release held text and let the tool parser judge the rest.
        A failed tool block stays held while `retry_info` says a retry may fix it."""
        self._raise_pending_error()
        if self._ended:
            return []
        self._ended = True
        pending: list[Event] = []
        tail, self._tail = self._tail, []
        for event in tail:
            self._route(event, pending)
        self._reason = self._upstream_reason()
        if self._parser is not None:
            for block in self.totals.blocks.values():
                # Z.AI: a block for a client tool ends with "result": null; tools the server
                # runs itself (search, open_url) end with their output (ZY samples, 2025-09).
                meta = block.metadata
                if meta.get("result") is None and isinstance(meta.get("arguments"), str):
                    self._filtered(self._parser.accept_upstream_call(
                        block.name, meta["arguments"], block.id), pending)
            events, self._reason = self._parser.finish(self._reason)
            self._filtered(events, pending)
        return self._chunks(pending)

    def finish(self, retried: Iterable[ToolCall] = ()) -> list[dict[str, Any]]:
        """The remaining chunks, the finish chunk and (if asked) the usage chunk.
        `retried` are the calls a corrective retry produced; without any, held text goes
        out as it was written."""
        chunks = self.end()
        pending: list[Event] = []
        if self.retry_info is not None and self._parser is not None:
            calls = list(retried)
            self._filtered(calls or self._parser.deferred_events, pending)
            self._reason = "tool_calls" if calls else self._reason
        self._flush_filters(pending)
        chunks += self._chunks(pending)
        reason = self.finish_reason = "length" if self._budget.cut else self._reason
        notes = self._annotations() if self._annotations else []
        if notes:
            chunks.append(self._chunk({"annotations": notes}))
        final = self._chunk({}, reason)
        if self._stop_sequence() is not None:
            final["choices"][0]["stop_reason"] = self._stop_sequence()
        chunks.append(final)
        if self._include_usage:
            chunks.append({**self._base, "choices": [], "usage": self.usage()})
        return chunks

    # --- non-streaming ---------------------------------------------------------------------

    def completion(self) -> dict[str, Any]:
        """The `chat.completion` object; call after `finish()`."""
        totals = self.totals
        content = "".join(totals.content)
        message: dict[str, Any] = {"role": "assistant",
                                   "content": content if content or not totals.calls else None}
        if totals.reasoning:
            message["reasoning_content"] = "".join(totals.reasoning)
        if totals.calls:
            message["tool_calls"] = [_call_object(c) for c in totals.calls]
        notes = self._annotations() if self._annotations else []
        if notes:
            message["annotations"] = notes
        choice = {"index": 0, "message": message, "finish_reason": self.finish_reason,
                  "logprobs": None}
        if self._stop_sequence() is not None:
            choice["stop_reason"] = self._stop_sequence()
        return {**self._base, "object": "chat.completion", "choices": [choice],
                "usage": self.usage()}

    def usage(self) -> dict[str, Any]:
        usage = self.totals.usage
        if usage is not None and not self._budget.cut:
            result: dict[str, Any] = {"prompt_tokens": usage.prompt_tokens,
                                      "completion_tokens": usage.completion_tokens,
                                      "total_tokens": usage.total_tokens}
            if usage.details:
                result["prompt_tokens_details"] = usage.details
            return result
        # cut by max_tokens: the upstream counted text the client never got
        out_chars = sum(map(len, self.totals.content)) + sum(map(len, self.totals.reasoning))
        completion = estimate_tokens(out_chars)
        if usage is not None:
            return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": completion,
                    "total_tokens": usage.prompt_tokens + completion}
        prompt = estimate_tokens(self._prompt_chars)
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion, "estimated": True}

    # --- internals -------------------------------------------------------------------------

    def _stop_sequence(self) -> str | None:
        """The matched stop string, shown as the choice's `stop_reason` (vLLM's field)."""
        return next((f.matched for f in self._filters
                     if isinstance(f, StopFilter) and f.matched is not None), None)

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _route(self, event: Event, pending: list[Event]) -> None:
        if isinstance(event, Content | Reasoning) and self._parser is not None:
            channel = "content" if isinstance(event, Content) else "reasoning"
            self._filtered(self._parser.feed(event.text, channel), pending)
        elif isinstance(event, ToolBlock):
            self.totals.blocks[event.id] = event
        elif isinstance(event, SearchResults):
            if self._on_results is not None:
                self._on_results(event)
        elif isinstance(event, Meta | Done | Failure):
            pass  # ids are the provider's; Done and Failure are handled by `feed`
        elif isinstance(event, Usage):
            self.totals.usage = event
        elif isinstance(event, Diagnostic):
            self.totals.diagnostics.append(event)
        else:
            self._filtered([event], pending)

    def _filtered(self, events: Iterable[Event], pending: list[Event]) -> None:
        for event in events:
            if isinstance(event, Content):
                text = event.text
                for stage in self._filters:
                    text = stage.feed(text)
                if text:
                    pending.append(Content(text))
            elif isinstance(event, Diagnostic):
                self.totals.diagnostics.append(event)
            elif not any(f.stopped for f in self._filters):
                pending.append(event)

    def _flush_filters(self, pending: list[Event]) -> None:
        for i, stage in enumerate(self._filters):
            text = stage.flush()
            for later in self._filters[i + 1:]:
                text = later.feed(text)
            if text:
                pending.append(Content(text))

    def _upstream_reason(self) -> str:
        # the web chat never reports a length stop; max_tokens is the budget's to enforce
        return "stop"

    def _within_budget(self, events: list[Event]) -> list[Event]:
        if not self._budget.active:
            return events
        kept: list[Event] = []
        for event in events:
            if isinstance(event, Content | Reasoning):
                text = self._budget.take(event.text)
                if text:
                    kept.append(type(event)(text))
            elif not self._budget.cut:  # nothing after the cut, tool calls included
                kept.append(event)
        return kept

    def _chunks(self, events: list[Event]) -> list[dict[str, Any]]:
        chunks: list[dict[str, Any]] = []
        if not self._role_sent:
            self._role_sent = True
            chunks.append(self._chunk({"role": "assistant", "content": ""}))
        for kind, group in _coalesce(self._within_budget(events)):
            chunks.extend(self._emit(kind, group))
        return chunks

    def _emit(self, kind: str, group: list[Event]) -> list[dict[str, Any]]:
        totals = self.totals
        if kind == "call":
            out = []
            for call in group:
                assert isinstance(call, ToolCall)
                totals.calls.append(call)
                out += [self._chunk({"tool_calls": [_call_head(call)]}),
                        self._chunk({"tool_calls": [{"index": call.index, "function": {
                            "arguments": call.arguments}}]})]
            return out
        text = "".join(e.text for e in group if isinstance(e, Content | Reasoning))
        (totals.content if kind == "content" else totals.reasoning).append(text)
        key = "content" if kind == "content" else "reasoning_content"
        return [self._chunk({key: text})]

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**self._base,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _coalesce(events: list[Event]) -> list[tuple[str, list[Event]]]:
    groups: list[tuple[str, list[Event]]] = []
    for event in events:
        kind = ("content" if isinstance(event, Content) else
                "reasoning" if isinstance(event, Reasoning) else "call")
        if groups and groups[-1][0] == kind and kind != "call":
            groups[-1][1].append(event)
        else:
            groups.append((kind, [event]))
    return groups


def _call_head(call: ToolCall) -> dict[str, Any]:
    return {"index": call.index, "id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": ""}}


def _call_object(call: ToolCall) -> dict[str, Any]:
    return {"id": call.id, "type": "function",
            "function": {"name": call.name, "arguments": call.arguments}}
