"""The tool prompt contract (§3.2, §3.7): nonce, catalog, calling rules, addenda, reminder.

`TOOLIFY_CUSTOM_PROMPT` replaces the whole template. Its placeholders are substituted
literally (no `str.format`, so JSON braces in the template are safe):

- `{tools}`        the catalog: `<tools>` + one minified JSON object per tool + `</tools>`
- `{opener}`       this request's opener, e.g. `<tool_calls_K7XQ2P>`
- `{closer}`       the matching closer, e.g. `</tool_calls_K7XQ2P>`
- `{choice_rules}` the tool_choice / parallel_tool_calls rules (may be empty)
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from typing import Any, Final

NONCE_ALPHABET: Final = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
NONCE_LENGTH: Final = 6
DEFAULT_BUDGET: Final = 60_000
TRUNCATED: Final = "…(truncated)"
DISABLED_LINE: Final = (
    "Tools are disabled for this reply: answer directly and do not write any tool-call block."
)

_TEMPLATE: Final = """# Tools

You may call the tools below to help with the user's request.

{tools}

## How to call tools

1. To call tools, write this block, starting on a new line:
{opener}
<call name="TOOL_NAME">{"param": "value"}</call>
{closer}
   The code in {opener} is new for this reply. Never use a code from an earlier message.
2. Write one <call> element per call. `name` is the exact tool name. The body is one JSON \
object whose keys are exactly the keys of the tool's parameters schema (copy keys such as \
"-i" exactly). Use standard JSON escaping; no XML escaping, no CDATA, no code fences.
3. Several independent calls may share one block.
4. Stop right after {closer}. Never write tool results yourself: they arrive in the next \
user message inside <tool_result ...> tags.
5. Write tool calls in your answer, never in your reasoning.
6. If no tool is needed, answer normally and never write {opener}.

Example (the tool `example_tool` does not exist; it only shows the shape):
{opener}
<call name="example_tool">{"path": "notes.txt", "limit": 5}</call>
{closer}
{choice_rules}"""


def new_nonce(rng: random.Random | None = None) -> str:
    """A fresh per-request nonce: 6 characters without look-alikes (§3.2)."""
    pick = (rng or random.SystemRandom()).choice
    return "".join(pick(NONCE_ALPHABET) for _ in range(NONCE_LENGTH))


def opener(nonce: str) -> str:
    return f"<tool_calls_{nonce}>"


def closer(nonce: str) -> str:
    return f"</tool_calls_{nonce}>"


def tool_name(tool: Mapping[str, Any]) -> str:
    fn = tool.get("function")
    return str(fn.get("name", "")) if isinstance(fn, Mapping) else ""


def choice_rules(tool_choice: str | Mapping[str, Any], parallel: bool) -> str:
    """The §3.7 addenda for tool_choice and parallel_tool_calls."""
    lines: list[str] = []
    if tool_choice == "required":
        lines.append("You must call at least one tool in this reply; reply with only the block.")
    elif isinstance(tool_choice, Mapping):
        name = tool_choice.get("function", {}).get("name", "")
        lines.append(f"Call the tool `{name}` exactly once in this reply and no other tool; "
                     "reply with only the block.")
    if not parallel:
        lines.append("Call at most one tool in this reply.")
    return "\n".join(lines)


def render_catalog(tools: Sequence[Mapping[str, Any]], budget: int = DEFAULT_BUDGET) -> str:
    """`<tools>` + one minified JSON object per tool; long descriptions shortened to fit."""
    entries = [_entry(t) for t in tools]
    size = sum(len(_dump(e)) for e in entries)
    if size > budget:
        _shorten(entries, size - budget)
    return "<tools>\n" + "\n".join(_dump(e) for e in entries) + "\n</tools>"


def _entry(tool: Mapping[str, Any]) -> dict[str, Any]:
    fn = tool.get("function")
    fn = fn if isinstance(fn, Mapping) else {}
    entry: dict[str, Any] = {"name": fn.get("name", "")}
    if fn.get("description"):
        entry["description"] = str(fn["description"])
    entry["parameters"] = fn.get("parameters") or {"type": "object", "properties": {}}
    return entry


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def _shorten(entries: list[dict[str, Any]], excess: int) -> None:
    """Cut the longest descriptions first, down to a common cap, until `excess` is saved."""
    lengths = sorted((len(e.get("description", "")) for e in entries), reverse=True)
    cap = _cap_for(lengths, excess)
    for entry in entries:
        text = entry.get("description", "")
        if len(text) > cap:
            entry["description"] = text[:cap] + TRUNCATED


def _cap_for(lengths: list[int], excess: int) -> int:
    lo, hi = 0, lengths[0] if lengths else 0
    while lo < hi:  # largest cap that saves enough
        mid = (lo + hi + 1) // 2
        if sum(max(0, n - mid - len(TRUNCATED)) for n in lengths) >= excess:
            lo = mid
        else:
            hi = mid - 1
    return lo


def render_tool_prompt(tools: Sequence[Mapping[str, Any]], tool_choice: str | Mapping[str, Any],
                       parallel: bool, nonce: str, *, custom_prompt: str | None = None,
                       budget: int = DEFAULT_BUDGET) -> str:
    """The system prompt for active tools (catalog, rules, addenda)."""
    shown = _shown_tools(tools, tool_choice)
    values = {
        "{tools}": render_catalog(shown, budget),
        "{opener}": opener(nonce),
        "{closer}": closer(nonce),
        "{choice_rules}": choice_rules(tool_choice, parallel),
    }
    text = custom_prompt or _TEMPLATE
    for key, value in values.items():
        text = text.replace(key, value)
    return text.rstrip()


def _shown_tools(tools: Sequence[Mapping[str, Any]],
                 tool_choice: str | Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    if isinstance(tool_choice, Mapping):
        name = tool_choice.get("function", {}).get("name")
        return [t for t in tools if tool_name(t) == name]
    return tools


def catalog_trimmed(tools: Sequence[Mapping[str, Any]], budget: int = DEFAULT_BUDGET) -> bool:
    return TRUNCATED in render_catalog(tools, budget) and not any(
        TRUNCATED in str(_entry(t).get("description", "")) for t in tools)


def reminder(nonce: str, tool_choice: str | Mapping[str, Any]) -> str:
    """One line appended to the last user / tool-result turn (recency, §3.2)."""
    if tool_choice == "required" or isinstance(tool_choice, Mapping):
        return (f"(Reminder: reply with a {opener(nonce)} … {closer(nonce)} block as described "
                "in the system message.)")
    return (f"(Reminder: to call tools, write a {opener(nonce)} … {closer(nonce)} block as "
            "described in the system message; otherwise answer directly.)")
