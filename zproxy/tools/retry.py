"""Corrective retry, pure part (§3.9): what failed, and the follow-up turns that say so.

The parser fills a `RetryInfo` after `finish()` (`ToolCallParser.retry_info`, None when no
retry is warranted). `corrective_messages(info)` builds the two turns to append to the
upstream messages: the model's raw output up to and including the failed block, then a
user turn naming exactly what failed and restating the opener. Sending them is not done
here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from zproxy.tools.prompt import closer, opener

# Retry reasons, in the order the parser checks them.
TRUNCATED: Final = "truncated"
INVALID_CALLS: Final = "invalid_calls"
NO_CALL: Final = "no_call"
CALL_IN_REASONING: Final = "call_in_reasoning"


@dataclass(frozen=True, slots=True)
class CallFailure:
    """One call that was not emitted. `index` counts call elements in the response."""

    index: int
    name: str
    problem: str  # unknown_name | not_allowed | bad_json | schema_violation | truncated
    detail: str
    raw: str


@dataclass(frozen=True, slots=True)
class RetryInfo:
    reason: str
    failures: tuple[CallFailure, ...]
    raw_output: str  # answer text up to and including the failed block
    nonce: str
    valid_names: tuple[str, ...]
    required_name: str | None = None  # tool_choice named a function


def corrective_messages(info: RetryInfo) -> list[dict[str, Any]]:
    """[assistant turn with the raw output, user turn naming the failure]."""
    said = info.raw_output if info.raw_output.strip() else "(no answer text)"
    return [{"role": "assistant", "content": said},
            {"role": "user", "content": _explain(info)}]


def _explain(info: RetryInfo) -> str:
    lines = [_headline(info)]
    lines += [_failure_line(f, info) for f in info.failures]
    lines.append(_format_line(info))
    return "\n".join(lines)


def _headline(info: RetryInfo) -> str:
    if info.reason == TRUNCATED:
        return "Your output was cut off before the tool call was complete."
    if info.reason == CALL_IN_REASONING:
        return ("Your tool call was inside your reasoning, so it was not executed. "
                "Tool calls must be written in the answer.")
    if info.reason == NO_CALL:
        target = f"the tool `{info.required_name}`" if info.required_name else "a tool"
        return f"This reply must call {target}, but no valid tool call was found."
    return "Your tool call could not be executed:"


def _failure_line(failure: CallFailure, info: RetryInfo) -> str:
    head = f"- call #{failure.index + 1} (`{failure.name or '?'}`): "
    if failure.problem == "unknown_name":
        return head + f"unknown tool name. Valid names: {', '.join(info.valid_names)}."
    if failure.problem == "not_allowed":
        return head + f"this tool may not be called now. Allowed: {', '.join(info.valid_names)}."
    if failure.problem == "truncated":
        return head + "the output was cut off inside this call; write the complete call again."
    if failure.problem == "bad_json":
        return head + f"the arguments are not a valid JSON object: {failure.detail}"
    return head + failure.detail


def _format_line(info: RetryInfo) -> str:
    return (f"Reply with only the complete corrected block: {opener(info.nonce)}, then one "
            f'<call name="TOOL_NAME">{{...JSON arguments...}}</call> per call, then '
            f"{closer(info.nonce)}. Use standard JSON escaping inside the arguments.")
