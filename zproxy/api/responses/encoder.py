"""`chat.completion.chunk` dicts → Responses stream events, incrementally. Pure.

The engine's chunks say what came back (reasoning, content, tool-call heads and arguments,
annotations, the finish reason, usage); `ResponseEncoder` turns them into the documented
event sequence (anthropic-api.md §13.5): each output item is opened with
`response.output_item.added` (+ its part), filled with deltas and closed with its `.done`
events when the next kind of output starts or the answer ends. Every event carries an
increasing `sequence_number`. The same encoder, drained, builds the non-streaming object,
so both modes return identical output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from zproxy.api.responses.objects import (
    NewId,
    ResponseShell,
    function_call_item,
    message_item,
    output_text,
    reasoning_item,
    response_error,
    response_usage,
    summary_text,
    url_citation,
)
from zproxy.errors import to_openai_error

Event = dict[str, Any]
PREFIXES: Final = {"message": "msg", "reasoning": "rs", "function_call": "fc"}


@dataclass(slots=True)
class _Item:
    kind: str  # message | reasoning | function_call
    index: int  # output_index
    id: str
    text: list[str] = field(default_factory=list)
    annotations: list[dict[str, Any]] = field(default_factory=list)
    call_id: str = ""
    name: str = ""
    base: int = 0  # answer characters before this message item's text

    @property
    def where(self) -> dict[str, Any]:
        return {"item_id": self.id, "output_index": self.index}

    def final(self, status: str) -> dict[str, Any]:
        text = "".join(self.text)
        if self.kind == "message":
            return message_item(self.id, status, text, self.annotations)
        if self.kind == "reasoning":
            return reasoning_item(self.id, status, text)
        return function_call_item(self.id, self.call_id, self.name, text, status)


class ResponseEncoder:
    def __init__(self, shell: ResponseShell, new_id: NewId, now: Callable[[], float]) -> None:
        self._shell = shell
        self._new_id = new_id
        self._now = now
        self._seq = 0
        self._open: _Item | None = None
        self._calls: dict[int, _Item] = {}  # chat tool-call index → its item
        self._usage: dict[str, Any] | None = None
        self._reasoning_chars = 0
        self._content_chars = 0
        self._messages: list[_Item] = []
        self.finish_reason: str | None = None
        self.output: list[dict[str, Any]] = []
        self.response: dict[str, Any] = shell.object("in_progress", [])

    # --- the public steps ----------------------------------------------------------------

    def start(self) -> list[Event]:
        return [self._event("response.created", response=self.response),
                self._event("response.in_progress", response=self.response)]

    def feed(self, chunks: Iterable[dict[str, Any]]) -> list[Event]:
        events: list[Event] = []
        for chunk in chunks:
            if chunk.get("usage") is not None:
                self._usage = chunk["usage"]
            for choice in chunk.get("choices") or ():
                self._delta(choice.get("delta") or {}, events)
                self.finish_reason = choice.get("finish_reason") or self.finish_reason
        return events

    def finish(self) -> list[Event]:
        """Close the open item; `response.completed` (or `.incomplete` at the length limit)."""
        events = self._close("completed")
        incomplete = self.finish_reason == "length"
        status = "incomplete" if incomplete else "completed"
        self.response = self._shell.object(
            status, list(self.output), usage=self.usage(),
            incomplete="max_output_tokens" if incomplete else None,
            completed_at=None if incomplete else int(self._now()))
        events.append(self._event(f"response.{status}", response=self.response))
        return events

    def fail(self, exc: BaseException) -> list[Event]:
        """After headers went out: an `error` event and `response.failed`, never silence."""
        events = self._close("incomplete")
        body = to_openai_error(exc)[1]["error"]
        events.append(self._event("error", code=body["code"] or body["type"],
                                  message=body["message"], param=body["param"]))
        self.response = self._shell.object("failed", list(self.output),
                                           error=response_error(exc))
        events.append(self._event("response.failed", response=self.response))
        return events

    def usage(self) -> dict[str, Any]:
        return response_usage(self._usage, self._reasoning_chars)

    # --- deltas --------------------------------------------------------------------------

    def _delta(self, delta: dict[str, Any], events: list[Event]) -> None:
        if delta.get("reasoning_content"):
            self._reasoning_chars += len(delta["reasoning_content"])
            self._text("reasoning", delta["reasoning_content"], events)
        if delta.get("content"):
            self._text("message", delta["content"], events)
            self._content_chars += len(delta["content"])
        for call in delta.get("tool_calls") or ():
            self._call(call, events)
        if delta.get("annotations"):
            self._annotate(delta["annotations"], events)

    def _text(self, kind: str, text: str, events: list[Event]) -> None:
        item = self._open if self._open is not None and self._open.kind == kind else None
        if item is None:
            item = self._begin(kind, events)
        item.text.append(text)
        if kind == "message":
            events.append(self._event("response.output_text.delta", **item.where,
                                      content_index=0, delta=text, logprobs=[]))
        else:
            events.append(self._event("response.reasoning_summary_text.delta", **item.where,
                                      summary_index=0, delta=text))

    def _call(self, call: dict[str, Any], events: list[Event]) -> None:
        """A head (with `id`) opens a function_call item; argument chunks fill it."""
        function = call.get("function") or {}
        index = call.get("index", 0)
        if call.get("id"):
            self._calls[index] = self._begin("function_call", events, call_id=call["id"],
                                             name=function.get("name", ""))
        item = self._calls.get(index)
        arguments = function.get("arguments") or ""
        if item is not None and item is self._open and arguments:
            item.text.append(arguments)
            events.append(self._event("response.function_call_arguments.delta",
                                      **item.where, delta=arguments))

    def _annotate(self, annotations: list[dict[str, Any]], events: list[Event]) -> None:
        """Chat annotations index the whole answer text; here each message item has its own
        text (search answers interleave reasoning and text), so offsets are rebased."""
        for note in filter(None, map(url_citation, annotations)):
            item = self._message_at(note["start_index"])
            if item is None:
                continue
            note["start_index"] -= item.base
            note["end_index"] -= item.base
            if item is self._open:
                events.append(self._event("response.output_text.annotation.added",
                                          **item.where, content_index=0,
                                          annotation_index=len(item.annotations),
                                          annotation=note))
                item.annotations.append(note)
            else:  # already closed: the final response object carries it
                item.annotations.append(note)
                self.output[item.index] = item.final("completed")

    def _message_at(self, offset: int) -> _Item | None:
        for item in reversed(self._messages):
            if item.base <= offset:
                return item
        return None

    # --- item lifecycle ------------------------------------------------------------------

    def _begin(self, kind: str, events: list[Event], call_id: str = "",
               name: str = "") -> _Item:
        events.extend(self._close("completed"))
        item = _Item(kind, len(self.output), self._new_id(PREFIXES[kind]), call_id=call_id,
                     name=name, base=self._content_chars)
        self._open = item
        if kind == "message":
            self._messages.append(item)
        added = item.final("in_progress")
        if kind == "message":
            added["content"] = []
        elif kind == "reasoning":
            added["summary"] = []
        self.output.append(added)
        events.append(self._event("response.output_item.added", output_index=item.index,
                                  item=added))
        if kind == "message":
            events.append(self._event("response.content_part.added", **item.where,
                                      content_index=0, part=output_text("", [])))
        elif kind == "reasoning":
            events.append(self._event("response.reasoning_summary_part.added", **item.where,
                                      summary_index=0, part=summary_text("")))
        return item

    def _close(self, status: str) -> list[Event]:
        item, self._open = self._open, None
        if item is None:
            return []
        text = "".join(item.text)
        events: list[Event] = []
        if item.kind == "message":
            events += [self._event("response.output_text.done", **item.where, content_index=0,
                                   text=text, logprobs=[]),
                       self._event("response.content_part.done", **item.where,
                                   content_index=0, part=output_text(text, item.annotations))]
        elif item.kind == "reasoning":
            events += [self._event("response.reasoning_summary_text.done", **item.where,
                                   summary_index=0, text=text),
                       self._event("response.reasoning_summary_part.done", **item.where,
                                   summary_index=0, part=summary_text(text))]
        else:
            events.append(self._event("response.function_call_arguments.done", **item.where,
                                      name=item.name, arguments=text))
        done = self.output[item.index] = item.final(status)
        events.append(self._event("response.output_item.done", output_index=item.index,
                                  item=done))
        return events

    def _event(self, kind: str, **fields: Any) -> Event:
        event = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event


def encode_events(events: Iterable[Event]) -> bytes:
    """SSE frames: `event: <type>` + `data: <json>`, one bytes object per batch; no [DONE]."""
    return b"".join(b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n"
                    for e in events)
