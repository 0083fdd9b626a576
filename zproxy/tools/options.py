"""Parser options and the tool_choice helpers the parser needs (§3.7, §3.11)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from zproxy.tools.arguments import ToolIndex


@dataclass(frozen=True)
class ParserOptions:
    max_preamble: int = 512
    max_block_chars: int = 1_000_000
    max_trailing_chars: int = 4000
    after_block_text: str = "drop"  # drop | emit
    accept_glm_native: bool = True
    inline_think: bool = True
    fence_adoption: bool = True
    schema_violation: str = "pass"  # pass | reject
    # Hold failed-block text (and what follows) at finish when a retry is warranted; it is
    # then in `deferred_events` for the caller to emit if the retry fails too (§3.9).
    defer_failed_text: bool = False


def default_id() -> str:
    return "call_" + secrets.token_hex(12)

def allowed_names(index: ToolIndex, tool_choice: Any) -> frozenset[str]:
    if tool_choice == "none":
        return frozenset()
    named = named_choice(tool_choice)
    if named is not None:
        return frozenset({named}) & frozenset(index.names)
    return frozenset(index.names)


def named_choice(tool_choice: Any) -> str | None:
    if isinstance(tool_choice, dict):
        fn = tool_choice.get("function")
        name = fn.get("name") if isinstance(fn, dict) else tool_choice.get("name")
        return str(name) if name else None
    return None
