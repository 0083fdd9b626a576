"""Z.AI frames → the shared events. Pure; one decoder per upstream attempt.

The message buffer (`buffer.MessageRenderer`) yields text, reasoning, tool blocks and usage;
this adds what the engine needs besides: `SearchResults` after each search block (citations),
`Failure` for an in-stream error frame (nothing after it), and `Done` for the done frame,
followed by the buffer's final flush (held text released at the end, routed by the engine
when the response ends). At EOF without a done frame, `finish()` gives the same `Done` +
flush: Z.AI streams that stop after text are answers (unchanged behaviour).
"""

from __future__ import annotations

from collections.abc import Iterable

from zproxy.core.events import Done, Event, Failure, ToolBlock
from zproxy.providers.zai.buffer import MessageRenderer
from zproxy.providers.zai.search import search_results
from zproxy.providers.zai.wire import Frame, classify_error


class FrameDecoder:
    def __init__(self, edit_index_unit: str = "codepoint") -> None:
        self._renderer = MessageRenderer(edit_index_unit)
        self._ended = False

    @property
    def text(self) -> str:
        """The raw upstream buffer, markup included."""
        return self._renderer.text

    def decode(self, frames: Iterable[Frame]) -> list[Event]:
        events: list[Event] = []
        if self._ended:
            return events
        for frame in frames:
            if frame.error is not None:
                self._ended = True
                events.append(Failure(classify_error(frame.error, None)))
                break
            self._rendered(self._renderer.apply(frame), events)
            if frame.done:
                events += self.finish()
                break
        return events

    def finish(self) -> list[Event]:
        """`Done`, then whatever the buffer still held."""
        if self._ended:
            return []
        self._ended = True
        events: list[Event] = [Done()]
        self._rendered(self._renderer.finish(), events)
        return events

    @staticmethod
    def _rendered(rendered: list[Event], events: list[Event]) -> None:
        for event in rendered:
            events.append(event)
            if isinstance(event, ToolBlock):
                results = search_results(event)
                if results is not None:
                    events.append(results)
