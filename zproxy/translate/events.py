"""Events that flow from the upstream adapter to the OpenAI emitter.

The Z.AI adapter (`translate.buffer`) turns frames into `Content` / `Reasoning` / `ToolBlock`
/ `Usage` events; the tool-call parser (`zproxy.tools`) turns `Content` into `Content` and
`ToolCall` events; `translate.response` turns all of them into OpenAI chunks. Pure values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Content:
    """Answer text for `delta.content`."""

    text: str


@dataclass(frozen=True, slots=True)
class Reasoning:
    """Thinking text for `delta.reasoning_content`, markup already removed."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A complete, judged client tool call. `arguments` is compact JSON text."""

    index: int
    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """Something worth counting and logging that the client does not see."""

    kind: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ToolBlock:
    """A `<glm_block>` the upstream wrote (server-run search, open_url, native tool call).

    `metadata` is `data.metadata` of the block JSON; `browser` its `data.browser` (search
    results), or None. Emitted again, with the same id, whenever an edit rewrites the block.
    """

    id: str
    name: str
    metadata: dict[str, Any]
    browser: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    details: dict[str, Any] = field(default_factory=dict)


Event = Content | Reasoning | ToolCall | Diagnostic | ToolBlock | Usage
