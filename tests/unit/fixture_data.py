"""Shared access to the Z.AI fixtures (tests/fixtures/zai) and small pipeline helpers.

Pure helpers only: no pytest fixtures, no I/O beyond reading the fixture files.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

from tests.fakes.zai_script import resolve_fixtures_dir
from zproxy.config import Settings
from zproxy.core.events import Content, Event, Reasoning, ToolBlock, Usage
from zproxy.providers.registry import ProviderRegistry, build_catalog
from zproxy.providers.zai.buffer import MessageRenderer
from zproxy.providers.zai.decoder import FrameDecoder
from zproxy.providers.zai.provider import ZaiProvider, zai_info
from zproxy.providers.zai.wire import Frame, parse_frame
from zproxy.sse import SSEDecoder
from zproxy.translate.response import ResponseTranslator

FIXTURES = resolve_fixtures_dir(None)  # tests/fixtures/zai, or ZPROXY_FIXTURES_DIR


@cache
def manifest() -> dict[str, dict[str, Any]]:
    return json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))


@cache
def sse_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def load_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


SSE_FILES: tuple[str, ...] = tuple(sorted(p.name for p in FIXTURES.glob("*.sse")))
STREAM_FILES: tuple[str, ...] = tuple(n for n in SSE_FILES if not n.startswith("error_"))
ERROR_FILES: tuple[str, ...] = tuple(n for n in SSE_FILES if n.startswith("error_"))


def split_at(data: bytes | str, cuts: Iterable[int]) -> list[Any]:
    """Split `data` at the given offsets (clamped, sorted, duplicates give empty pieces)."""
    points = sorted(max(0, min(len(data), c)) for c in cuts)
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


def decode(chunks: Iterable[bytes]) -> list[str]:
    decoder = SSEDecoder()
    payloads: list[str] = []
    for chunk in chunks:
        payloads += decoder.feed(chunk)
    return payloads + decoder.flush()


def frames_from(chunks: Iterable[bytes]) -> list[Frame]:
    frames = []
    for payload in decode(chunks):
        frame = parse_frame(payload)
        assert frame is not None, payload
        frames.append(frame)
    return frames


def fixture_frames(name: str) -> list[Frame]:
    return frames_from([sse_bytes(name)])


def render(frames: Sequence[Frame], renderer: MessageRenderer | None = None
           ) -> tuple[MessageRenderer, list[Event]]:
    renderer = renderer or MessageRenderer()
    events: list[Event] = []
    for frame in frames:
        events += renderer.apply(frame)
    events += renderer.finish()
    return renderer, events


def joined(events: Iterable[Event], kind: type[Content] | type[Reasoning]) -> str:
    return "".join(e.text for e in events if isinstance(e, kind))


def last_blocks(events: Iterable[Event]) -> dict[str, ToolBlock]:
    blocks: dict[str, ToolBlock] = {}
    for event in events:
        if isinstance(event, ToolBlock):
            blocks[event.id] = event
    return blocks


def usages(events: Iterable[Event]) -> list[Usage]:
    return [e for e in events if isinstance(e, Usage)]


def planning_registry(settings: Settings | None = None) -> ProviderRegistry:
    """The default providers, for planning only (no upstream client)."""
    settings = settings or Settings()
    catalog = build_catalog([zai_info(settings)], settings.model_map, settings.model_aliases)
    return ProviderRegistry(catalog, [ZaiProvider(None, settings)])


class ZaiTranslator:
    """The translator fed as a Z.AI call feeds it: frames through the Z.AI decoder (one per
    attempt), its final flush at the end. `decoded` keeps every event the decoder gave."""

    def __init__(self, translator: ResponseTranslator, edit_index_unit: str = "codepoint"):
        self.translator = translator
        self.decoder = FrameDecoder(edit_index_unit)
        self.decoded: list[Event] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.translator, name)

    def feed(self, frames: list[Frame]) -> list[dict[str, Any]]:
        events = self.decoder.decode(frames)
        self.decoded += events
        return self.translator.feed(events)

    def _eof(self) -> list[dict[str, Any]]:
        events = self.decoder.finish()
        self.decoded += events
        return self.translator.feed(events) if events else []

    def end(self) -> list[dict[str, Any]]:
        return self._eof() + self.translator.end()

    def finish(self, retried: Any = ()) -> list[dict[str, Any]]:
        return self._eof() + self.translator.finish(retried)
