"""Running a provider straight against its fake, over real sockets, without the engine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from zproxy.core.events import Content, Event, Reasoning
from zproxy.core.models import ModelSpec, ResolvedModel
from zproxy.core.plan import NormalizedRequest
from zproxy.core.provider import Provider
from zproxy.core.trace import Trace


def request(spec: ModelSpec, messages: Sequence[Mapping[str, Any]] | None = None, *,
            thinking: bool | None = None, search: bool | None = None,
            **kw: Any) -> NormalizedRequest:
    model = ResolvedModel(spec, spec.id, spec.thinking if thinking is None else thinking,
                          spec.search if search is None else search)
    return NormalizedRequest(model, messages or [{"role": "user", "content": "Hi there"}], **kw)


async def run(provider: Provider, req: NormalizedRequest,
              trace: Trace | None = None) -> list[Event]:
    out: list[Event] = []
    prepared = provider.prepare(req, now=0.0, new_id=lambda: "id")
    async for batch in provider.call(prepared, trace or Trace()).events():
        out += batch
    return out


def texts(events: list[Event]) -> tuple[str, str]:
    return ("".join(e.text for e in events if isinstance(e, Reasoning)),
            "".join(e.text for e in events if isinstance(e, Content)))
