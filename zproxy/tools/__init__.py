"""Emulated OpenAI tool calling over a text-only chat upstream (tool-calling.md §3).

Request side: `prepare_tool_request` renders the prompt contract and the history with a
per-request nonce and returns a `ToolContext`. Response side: `ToolCallParser` turns the
answer text into `Content` / `ToolCall` events. After `finish()`, `parser.retry_info` says
whether a corrective retry is warranted, and `corrective_messages` builds its turns.
Pure: no I/O, no clock, no module-level state.
"""

from __future__ import annotations

from zproxy.tools.context import ToolContext, prepare_tool_request
from zproxy.tools.history import has_tool_history
from zproxy.tools.options import ParserOptions
from zproxy.tools.parser import ToolCallParser
from zproxy.tools.prompt import new_nonce
from zproxy.tools.retry import CallFailure, RetryInfo, corrective_messages

__all__ = [
    "CallFailure",
    "ParserOptions",
    "RetryInfo",
    "ToolCallParser",
    "ToolContext",
    "corrective_messages",
    "has_tool_history",
    "new_nonce",
    "prepare_tool_request",
]
