"""The normalized request: what a provider is asked, whatever the client's wire format was.

Front doors parse OpenAI, Anthropic or Responses input into a `ChatRequest`; the engine
(`zproxy.api.chat`) resolves the model, renders emulated tools into the messages and checks
sizes, and hands each provider this value. Pure data; a provider turns it into its own
upstream call (system merging, flattening, signing are the provider's business).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zproxy.core.models import ResolvedModel


@dataclass(frozen=True, slots=True)
class NormalizedRequest:
    """One chat turn to run upstream.

    `messages` are OpenAI-shaped, after tool rendering: roles `system`, `user`, `assistant`
    only (tool calls and results are already text, `zproxy.tools`); `content` is a string or
    a list of `{"type": "text"}` / `{"type": "image_url"}` parts. `images` lists every image
    URL in them, in order; `image_data` their bytes once the engine fetched them.

    For providers that continue an upstream conversation (`sticky`), `history` is the
    client's own message list and `render(start)` renders `history[start:]` the way
    `messages` were rendered (tool prompt included), so only the new turns need be sent.
    """

    model: ResolvedModel
    messages: Sequence[Mapping[str, Any]]
    stream: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    json_mode: bool = False          # response_format json_object / json_schema
    images: tuple[str, ...] = ()
    client_key: str = ""             # who asks (sticky conversations are kept per client)
    image_data: Mapping[str, Any] = field(default_factory=dict)   # url -> zproxy.images.Image
    history: Sequence[Mapping[str, Any]] = ()
    render: Callable[[int], list[dict[str, Any]]] | None = None

    @property
    def thinking(self) -> bool:
        return self.model.thinking

    @property
    def search(self) -> bool:
        return self.model.search

    @property
    def system(self) -> str:
        """Every system message's text, joined by blank lines."""
        texts = [m.get("content") for m in self.messages if m.get("role") == "system"]
        return "\n\n".join(t for t in texts if isinstance(t, str) and t)
