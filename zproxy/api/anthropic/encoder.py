"""OpenAI `chat.completion.chunk` dicts → Anthropic stream events, incrementally. Pure.

One `MessageEncoder` per response. The grammar it keeps (anthropic-api.md §5.2, §11.3):
exactly one `message_start` (with usage) first; blocks indexed 0, 1, 2… in the order they
start, one open at a time, each closed before the next starts; a thinking block gets its
`signature_delta` just before its stop; reasoning that resumes after text opens a new thinking
block; a tool block starts with `input: {}` and gets its arguments as `input_json_delta`
(never an empty one) whose concatenation is the JSON of the input; then `message_delta`
(stop reason, cumulative usage) and `message_stop`. No `[DONE]`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from zproxy.api.anthropic.wire import signature, stop_reason, usage

Event = dict[str, Any]


class MessageEncoder:
    def __init__(self, *, message_id: str, model: str, input_tokens: int) -> None:
        self._message_id = message_id
        self._model = model
        self._input_tokens = input_tokens
        self._started = False
        self._finished = False
        self._index = -1                     # index of the newest block
        self._open: str | None = None        # type of the open block, if any
        self._thinking: list[str] = []       # text of the open thinking block
        self._tool_blocks: dict[int, int] = {}  # OpenAI tool-call index → block index
        self._finish_reason: str | None = None
        self._matched: str | None = None
        self._usage: dict[str, Any] | None = None

    def feed(self, chunks: Iterable[dict[str, Any]]) -> list[Event]:
        events = self._start()
        for chunk in chunks:
            self._chunk(chunk, events)
        return events

    def finish(self) -> list[Event]:
        """Close the open block and end the message; nothing more may be fed."""
        if self._finished:
            return []
        self._finished = True
        events = self._start()
        if self._index < 0:  # an empty answer is still one (empty) text block
            self._open_block({"type": "text", "text": ""}, events)
        self._close(events)
        reason, sequence = stop_reason(self._finish_reason, self._matched,
                                       bool(self._tool_blocks))
        events.append({"type": "message_delta",
                       "delta": {"stop_reason": reason, "stop_sequence": sequence},
                       "usage": usage(self._usage, input_estimate=self._input_tokens)})
        events.append({"type": "message_stop"})
        return events

    # --- internals -------------------------------------------------------------------------

    def _start(self) -> list[Event]:
        if self._started:
            return []
        self._started = True
        return [{"type": "message_start", "message": {
            "id": self._message_id, "type": "message", "role": "assistant", "content": [],
            "model": self._model, "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": self._input_tokens, "output_tokens": 1,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}},
                {"type": "ping"}]

    def _chunk(self, chunk: dict[str, Any], events: list[Event]) -> None:
        choices = chunk.get("choices")
        if not choices:
            if chunk.get("usage"):
                self._usage = chunk["usage"]
            return
        choice = choices[0]
        delta = choice.get("delta") or {}
        if delta.get("reasoning_content"):
            self._thinking_delta(delta["reasoning_content"], events)
        if delta.get("content"):
            self._text_delta(delta["content"], events)
        for call in delta.get("tool_calls") or ():
            self._tool_delta(call, events)
        if choice.get("finish_reason"):
            self._finish_reason = choice["finish_reason"]
            self._matched = choice.get("stop_reason") if isinstance(
                choice.get("stop_reason"), str) else None

    def _thinking_delta(self, text: str, events: list[Event]) -> None:
        if self._open != "thinking":
            self._open_block({"type": "thinking", "thinking": "", "signature": ""}, events)
        self._thinking.append(text)
        events.append(self._delta({"type": "thinking_delta", "thinking": text}))

    def _text_delta(self, text: str, events: list[Event]) -> None:
        if self._open != "text":
            self._open_block({"type": "text", "text": ""}, events)
        events.append(self._delta({"type": "text_delta", "text": text}))

    def _tool_delta(self, call: dict[str, Any], events: list[Event]) -> None:
        tool_index = call.get("index", 0)
        function = call.get("function") or {}
        if call.get("id"):  # the head of a new call
            self._open_block({"type": "tool_use", "id": call["id"],
                              "name": function.get("name", ""), "input": {}}, events)
            self._tool_blocks[tool_index] = self._index
        arguments = function.get("arguments")
        # The engine sends a call's head, then its arguments (JSON it has validated against
        # the tool's schema) before anything else, so they belong to the open block.
        if arguments and self._open == "tool_use" and \
                self._tool_blocks.get(tool_index) == self._index:
            events.append(self._delta({"type": "input_json_delta",
                                       "partial_json": arguments}))

    def _open_block(self, block: dict[str, Any], events: list[Event]) -> None:
        self._close(events)
        self._index += 1
        self._open = block["type"]
        events.append({"type": "content_block_start", "index": self._index,
                       "content_block": block})

    def _close(self, events: list[Event]) -> None:
        if self._open is None:
            return
        if self._open == "thinking":
            events.append(self._delta({"type": "signature_delta",
                                       "signature": signature("".join(self._thinking))}))
            self._thinking = []
        events.append({"type": "content_block_stop", "index": self._index})
        self._open = None

    def _delta(self, delta: dict[str, Any]) -> Event:
        return {"type": "content_block_delta", "index": self._index, "delta": delta}
