"""The shared event model: what every provider's decoder yields (providers.md §3.2).

A provider decoder turns upstream frames into `Content` / `Reasoning` / `ToolBlock` /
`SearchResults` / `Usage` / `Meta` events, ends a stream with exactly one `Done`, and reports
an in-stream failure as `Failure`. The tool-call parser (`zproxy.tools`) turns `Content` into
`Content` and `ToolCall` events; the response translator turns all of them into OpenAI chunks,
which the front doors encode. Pure values; no provider and no wire format knows another's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from zproxy.errors import UpstreamError

FinishReason = Literal["stop", "length", "content_filter", "error"]


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
    """Token counts as the upstream reported them; `details` is OpenAI's
    `prompt_tokens_details` (e.g. `{"cached_tokens": n}`)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SearchItem:
    """One web result a server-side search returned."""

    title: str
    url: str
    snippet: str = ""
    index: int = 0          # the upstream's own number for it, when it cites by number
    ref_id: str = ""        # the upstream's own id for it, when it cites by id


@dataclass(frozen=True, slots=True)
class SearchResults:
    """Results of a search the upstream ran for this answer; they become citations.
    A later `SearchResults` with the same non-empty `key` replaces the earlier one (Z.AI
    re-sends a search block whenever an edit rewrites it)."""

    items: tuple[SearchItem, ...]
    query: str = ""
    key: str = ""


@dataclass(frozen=True, slots=True)
class Meta:
    """Ids the upstream assigned (conversation, message, task); never shown to clients."""

    upstream_model: str = ""
    conversation_id: str = ""
    message_id: str = ""


@dataclass(frozen=True, slots=True)
class Failure:
    """An upstream error inside a stream that answered 200. `error` is classified
    (`zproxy.core.failures`): before any visible text it may be retried or becomes an HTTP
    error; after text it becomes the client format's error event."""

    error: UpstreamError


@dataclass(frozen=True, slots=True)
class Done:
    """The upstream finished. Exactly one per stream. Events after it in the same batch are
    the decoder's final flush (held text released at the end); they are routed when the
    response ends, exactly as a flush at EOF would be."""

    finish: FinishReason = "stop"


Event = (Content | Reasoning | ToolCall | Diagnostic | ToolBlock | Usage | SearchResults | Meta
         | Failure | Done)
