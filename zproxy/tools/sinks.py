"""Where the parser's output goes: released now, held, or dropped (§3.4.4, §3.7, §3.9).

- text after a block is held and dropped at the end (`after_block_text: drop`, M3), unless
  more output (a call, or a failed block's raw text) follows it;
- with tool_choice required/named, content is held until the first valid call;
- with `defer_failed_text`, content from the first failed call on is kept aside at the end
  when a retry is warranted, so the caller can still try again.
"""

from __future__ import annotations

from zproxy.core.events import Content, Diagnostic, Event, Reasoning, ToolCall


class Emitter:
    def __init__(self, *, hold: bool, defer: bool, drop_after: bool) -> None:
        self.hold = hold
        self._defer = defer
        self._drop_after = drop_after
        self._out: list[Event] = []
        self._held: list[Event] = []
        self.deferred: list[Event] = []
        self._deferring = False
        self._called = False
        self.in_after = False
        self._after: list[str] = []
        self.after_chars = 0

    def take(self) -> list[Event]:
        out, self._out = self._out, []
        return out

    def reasoning(self, text: str) -> None:
        self._out.append(Reasoning(text))

    def diagnostic(self, diag: Diagnostic) -> None:
        self._out.append(diag)

    def text(self, text: str) -> None:
        """Plain answer text: held after a block, released otherwise."""
        if self.in_after and self._drop_after:
            self._after.append(text)
            self.after_chars += len(text)
        else:
            self.content(text)

    def content(self, text: str) -> None:
        """Text that goes to the client (held text before it goes first)."""
        if not text:
            return
        self._flush_after()
        event = Content(text)
        if self._deferring:
            self.deferred.append(event)
        elif self.hold and not self._called:
            self._held.append(event)
        else:
            self._out.append(event)

    def call(self, event: ToolCall) -> None:
        self._flush_after()
        if not self._called:
            self._called = True
            self._out.extend(self._held)
            self._held = []
        self._out.append(event)

    def failed(self) -> None:
        self._deferring = self._defer

    def enter_after(self) -> None:
        self.in_after = True

    def _flush_after(self) -> None:
        if self._after:
            after, self._after, self.after_chars = self._after, [], 0
            self.in_after = False
            for text in after:
                self.content(text)
            self.in_after = True

    def close(self, *, needs_retry: bool) -> None:
        dropped = "".join(self._after)
        self._after = []
        if dropped.strip():
            self._out.append(Diagnostic("dropped_trailing_text", f"{len(dropped)} chars"))
        pending = self._held + self.deferred
        self._held = []
        if needs_retry and self._defer:
            self.deferred = pending
        else:
            self._out.extend(pending)
            self.deferred = []
