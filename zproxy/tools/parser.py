"""The incremental tool-call parser (§3.4): one code path for stream and non-stream.

States: START → (THINK) → TEXT ⇄ BLOCK / NATIVE. "After a block" is TEXT with a holding
sink: its text is kept and dropped at the end (M3) unless another block follows.

Holdback (§3.4.2): in TEXT only the longest suffix that could still grow into the opener
or `<tool_call>`, or a fence-opener line that may wrap a block, is kept back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from zproxy.core.events import Diagnostic, Event, ToolCall
from zproxy.tools import retry
from zproxy.tools.arguments import ToolIndex, Verdict, judge_call, judge_native
from zproxy.tools.block import (
    BlockEnd,
    BlockParser,
    FalseTrigger,
    Item,
    Noise,
    RawCall,
    TooLarge,
    Truncated,
)
from zproxy.tools.context import ToolContext
from zproxy.tools.native import NativeCall, NativeParser, NativeReject, NativeResult
from zproxy.tools.options import ParserOptions, allowed_names, default_id, named_choice
from zproxy.tools.prompt import closer, new_nonce, opener
from zproxy.tools.scan import (
    FENCE_BEFORE,
    NATIVE_OPEN,
    NEAR_MISS,
    THINK_CLOSE,
    THINK_OPEN,
    FenceTracker,
    fence_holdback,
    prefix_holdback,
)
from zproxy.tools.sinks import Emitter

START, THINK, TEXT, BLOCK, NATIVE = range(5)
_FENCE_WINDOW: Final = 256


class ToolCallParser:
    """Turns answer text into Content / ToolCall events; reasoning passes through."""

    def __init__(self, tools: Sequence[dict[str, Any]], tool_choice: str | dict[str, Any] = "auto",
                 parallel_tool_calls: bool = True, nonce: str | None = None,
                 options: ParserOptions | None = None, *,
                 id_factory: Callable[[], str] | None = None, start_index: int = 0) -> None:
        self.options = opts = options or ParserOptions()
        self.nonce = nonce or new_nonce()
        self.trigger, self.closer = opener(self.nonce), closer(self.nonce)
        self._index = ToolIndex(tools)
        self._allowed = allowed_names(self._index, tool_choice)
        self._required_name = named_choice(tool_choice)
        self._active = bool(self._allowed) and tool_choice != "none"
        self._native_on = opts.accept_glm_native and self._active
        self._tokens = (self.trigger, NATIVE_OPEN) if self._native_on else (self.trigger,)
        hold = tool_choice == "required" or self._required_name is not None
        self._emit = Emitter(hold=hold and self._active, defer=opts.defer_failed_text,
                             drop_after=opts.after_block_text == "drop")
        self._ids = id_factory or default_id
        self._parallel = parallel_tool_calls
        self._state = START if opts.inline_think else TEXT
        self._work = ""
        self._fence = FenceTracker()
        self._lstrip = False
        self._fence_close = False
        self._block: BlockParser | None = None
        self._block_prefix = ""
        self._block_valid = 0
        self._block_pending: list[str] = []
        self._native: NativeParser | None = None
        self._next_index = start_index
        self._calls = 0
        self._attempts = 0
        self._failures: list[retry.CallFailure] = []
        self._fail_end: int | None = None
        self._fed: list[str] = []
        self._fed_len = 0
        self._reasoning_tail = ""
        self._near_tail = ""
        self._reasoning_call = False
        self._finished = False

    @classmethod
    def for_context(cls, ctx: ToolContext, options: ParserOptions | None = None, *,
                    id_factory: Callable[[], str] | None = None,
                    start_index: int = 0) -> ToolCallParser:
        return cls(ctx.tools, ctx.tool_choice, ctx.parallel_tool_calls, ctx.nonce, options,
                   id_factory=id_factory, start_index=start_index)

    # --- public ------------------------------------------------------------------------------

    @property
    def call_count(self) -> int:
        return self._calls

    @property
    def can_stop(self) -> bool:
        """True when nothing more the upstream writes can change the result (§3.4.4)."""
        after = self._emit.after_chars > self.options.max_trailing_chars
        single = not self._parallel and self._calls > 0 and self._state == TEXT
        return self._emit.in_after and (after or single)

    @property
    def deferred_events(self) -> list[Event]:
        return list(self._emit.deferred)

    def feed(self, text: str, channel: str = "content") -> list[Event]:
        if channel == "reasoning":
            self._reasoning(text)
            return self._emit.take()
        if not text:
            return []
        self._fed.append(text)
        self._fed_len += len(text)
        if self._state == TEXT and (not self._active or self._plain(text)):
            self._release(text)  # fast path: nothing in it can start a trigger or fence
        else:
            self._run(text, final=False)
        return self._emit.take()

    def accept_upstream_call(self, name: str, arguments: str,
                             call_id: str = "") -> list[Event]:
        """A call the upstream reported itself (a `<glm_block>`, §3.10). It becomes a client
        call only when the name resolves to a declared, allowed tool and the arguments pass
        §3.5; anything else is ignored with a diagnostic, never shown as text."""
        if not self._active or self._index.resolve(name) is None:
            self._diag("upstream_tool_ignored", name)
            return self._emit.take()
        verdict = judge_call(self._index, self._allowed, name, arguments or "{}",
                             schema_violation=self.options.schema_violation)
        if verdict.ok:
            self._emit_call(verdict, call_id)
        else:
            self._diag("invalid_upstream_call", f"{verdict.problem}: {verdict.detail}"[:300])
        return self._emit.take()

    def _plain(self, text: str) -> bool:
        return not (self._work or self._lstrip or self._fence_close or "<" in text
                    or "`" in text)

    def finish(self, upstream_finish_reason: str = "stop") -> tuple[list[Event], str]:
        if not self._finished:
            self._finished = True
            self._run("", final=True)
            self._end_diagnostics()
            self._emit.close(needs_retry=self.retry_info is not None)
        reason = "tool_calls" if self._calls else upstream_finish_reason
        return self._emit.take(), reason

    @property
    def needs_retry(self) -> bool:
        return self.retry_info is not None

    @property
    def retry_info(self) -> retry.RetryInfo | None:
        """What a corrective retry should say, or None when none is warranted (§3.9)."""
        if not self._finished or not self._active:
            return None
        reason = self._retry_reason()
        if reason is None:
            return None
        end = self._fed_len if self._fail_end is None else self._fail_end
        names = tuple(n for n in self._index.names if n in self._allowed)
        return retry.RetryInfo(reason, tuple(self._failures), "".join(self._fed)[:end],
                               self.nonce, names, self._required_name)

    def _retry_reason(self) -> str | None:
        if any(f.problem == "truncated" for f in self._failures):
            return retry.TRUNCATED
        if self._calls:
            return None
        if self._failures:
            return retry.INVALID_CALLS
        if self._emit.hold:
            return retry.NO_CALL
        return retry.CALL_IN_REASONING if self._reasoning_call else None

    # --- driving -----------------------------------------------------------------------------

    def _run(self, text: str, final: bool) -> None:
        if self._state == BLOCK:
            self._block_feed(text, False)
        elif self._state == NATIVE:
            self._native_feed(text, False)
        else:
            self._work += text
        while self._step(final):
            pass

    def _step(self, final: bool) -> bool:
        """One move; True while another move may make progress."""
        state = self._state
        if state == START:
            moved = self._start(final)
        elif state == THINK:
            moved = self._think(final)
        elif state == TEXT:
            moved = self._text(final)
        elif final and state == BLOCK:
            moved = self._block_feed("", True)
        elif final and state == NATIVE:
            moved = self._native_feed("", True)
        else:
            moved = False
        return moved or self._state != state

    def _start(self, final: bool) -> bool:
        lead = self._work.lstrip()
        if lead.startswith(THINK_OPEN):
            self._work, self._state = lead[len(THINK_OPEN):], THINK
            return True
        if not final and (not lead or THINK_OPEN.startswith(lead)):
            return False
        self._state = TEXT
        return True

    def _think(self, final: bool) -> bool:
        w = self._work
        end = w.find(THINK_CLOSE)
        if end >= 0:
            self._reasoning(w[:end])
            self._work, self._state, self._lstrip = w[end + len(THINK_CLOSE):], TEXT, True
            return True
        keep = len(w) if final else prefix_holdback(w, 0, (THINK_CLOSE,), quotable=False)
        self._reasoning(w[:keep])
        self._work = w[keep:]
        return False

    def _reasoning(self, text: str) -> None:
        if not text:
            return
        self._emit.reasoning(text)
        window = self._reasoning_tail + text
        if self._active and any(t in window for t in self._tokens):
            self._reasoning_call = True
        self._reasoning_tail = window[-24:]

    # --- TEXT --------------------------------------------------------------------------------

    def _text(self, final: bool) -> bool:
        if self._lstrip or self._fence_close:
            done = self._strip_lead(final)
            if done is not None:
                return done
        w = self._work
        if not self._active:
            self._release(w)
            self._work = ""
            return False
        hit = self._find(w)
        if hit is None:
            cut = len(w) if final else self._holdback(w)
            self._release(w[:cut])
            self._work = w[cut:]
            return False
        at, token = hit
        return self._trigger(at, token)

    def _strip_lead(self, final: bool) -> bool | None:
        """After `</think>`: drop leading whitespace; after a fenced block: its closing fence."""
        lead = self._work.lstrip()
        if not lead and not final:
            return False
        if self._fence_close and not final and lead in ("`", "``", "```"):
            return False
        if self._fence_close and lead.startswith("```") and not lead.startswith("````"):
            nl = lead.find("\n")
            if nl < 0 and not final:
                return False
            lead = lead[nl + 1:] if nl >= 0 else ""
        self._lstrip = self._fence_close = False
        self._work = lead
        return None

    def _find(self, w: str) -> tuple[int, str] | None:
        hits = [(i, t) for t in self._tokens if (i := w.find(t)) >= 0]
        return min(hits) if hits else None

    def _holdback(self, w: str) -> int:
        prev = self._fence.last
        cut = prefix_holdback(prev + w, 1, self._tokens) - 1
        if self.options.fence_adoption:
            cut = min(cut, fence_holdback(w, 0, prev == "\n", self.trigger))
        return cut

    def _release(self, text: str) -> None:
        if text:
            self._fence.push(text)
            self._near_miss(text)
            self._emit.text(text)

    def _near_miss(self, text: str) -> None:
        """Count openers with a wrong or missing nonce (§3.8 `near_miss_trigger`)."""
        window = self._near_tail + text
        if "<tool_calls" in window:
            for m in NEAR_MISS.finditer(window):
                if m.end() > len(self._near_tail) and m.group() != self.trigger:
                    self._diag("near_miss_trigger", m.group())
        self._near_tail = window[-24:]

    def _quoted(self, w: str, at: int) -> bool:
        prev = w[at - 1] if at > 0 else self._fence.last
        return prev == "`"

    def _trigger(self, at: int, token: str) -> bool:
        w = self._work
        if self._quoted(w, at) or (token == NATIVE_OPEN and self._in_fence(w[:at])):
            self._release(w[: at + len(token)])
            self._work = w[at + len(token):]
            return True
        before, prefix = self._split_fence(w[:at]) if token == self.trigger else (w[:at], "")
        self._release(before)
        self._work = ""
        if token == self.trigger:
            self._open_block(prefix, w[at + len(token):])
        else:
            self._open_native(w[at + len(token):])
        return self._state == TEXT

    def _in_fence(self, before: str) -> bool:
        probe = self._fence.copy()
        probe.push(before)
        return probe.in_fence

    def _split_fence(self, before: str) -> tuple[str, str]:
        """Fence adoption: a fence-opener line right before the opener is dropped (§3.4.2)."""
        if not self.options.fence_adoption or "`" not in before:
            return before, ""
        window = before[-_FENCE_WINDOW:]
        m = FENCE_BEFORE.search(window)
        if m is None:
            return before, ""
        if m.start(1) == 0 and (len(before) > len(window) or self._fence.last != "\n"):
            return before, ""
        start = len(before) - len(window) + m.start(1)
        return before[:start], before[start:]

    # --- BLOCK -------------------------------------------------------------------------------

    def _open_block(self, prefix: str, rest: str) -> None:
        opts = self.options
        self._block = BlockParser(self.trigger, self.closer, max_preamble=opts.max_preamble,
                                  max_chars=opts.max_block_chars)
        self._block_prefix, self._block_valid, self._block_pending = prefix, 0, []
        self._state = BLOCK
        self._block_feed(rest, False)

    def _block_feed(self, text: str, final: bool) -> bool:
        assert self._block is not None
        for item in self._block.feed(text, final):
            self._on_item(item)
        return False

    def _on_item(self, item: Item) -> None:
        if isinstance(item, Noise):
            self._block_pending.append(item.text)
        elif isinstance(item, RawCall):
            self._on_call(item.name, item.raw, self._judge(item))
        elif isinstance(item, Truncated):
            self._on_truncated(item.name, item.raw)
        elif isinstance(item, BlockEnd):
            self._close_block(item.rest)
        elif isinstance(item, FalseTrigger):
            self._diag("false_trigger")
            self._to_text(self._block_prefix + self.trigger, item.rest, failed=False)
        elif isinstance(item, TooLarge):
            self._diag("block_too_large")
            self._to_text(self._block_prefix + self.trigger + item.raw, "", failed=False)

    def _judge(self, item: RawCall) -> Verdict:
        return judge_call(self._index, self._allowed, item.name, item.body,
                          schema_violation=self.options.schema_violation)

    def _on_call(self, name: str, raw: str, verdict: Verdict) -> None:
        self._attempts += 1
        for note in verdict.notes:
            self._diag(note, verdict.detail if note == "schema_violation" else verdict.name)
        if verdict.ok:
            self._emit_call(verdict)
            return
        self._diag("invalid_call", f"{verdict.problem}: {verdict.detail}"[:300])
        self._fail(name, verdict.problem, verdict.detail, raw)

    def _on_truncated(self, name: str, raw: str) -> None:
        self._attempts += 1
        self._diag("truncated_call", name)
        self._fail(name, "truncated", "", raw)

    def _fail(self, name: str, problem: str, detail: str, raw: str) -> None:
        self._failures.append(retry.CallFailure(self._attempts - 1, name, problem, detail, raw))
        self._block_pending.append(raw)
        self._emit.failed()

    def _emit_call(self, verdict: Verdict, call_id: str = "") -> None:
        self._block_valid += 1
        if not self._parallel and self._calls:
            self._diag("extra_call_dropped", verdict.name)
            return
        self._flush_pending()
        assert verdict.arguments is not None
        self._emit.call(ToolCall(self._next_index, call_id or self._ids(), verdict.name,
                                 verdict.arguments))
        self._next_index += 1
        self._calls += 1

    def _flush_pending(self) -> None:
        for text in self._block_pending:
            if text.strip():
                self._emit.content(text)
        self._block_pending = []

    def _close_block(self, rest: str) -> None:
        assert self._block is not None
        if self._block_valid:
            self._flush_pending()
            self._fence_close = bool(self._block_prefix)
            self._fence.push(self.trigger)  # the line now holds a block, not a fence
            self._emit.enter_after()
            self._set_text(rest)
            return
        if self._block.calls and self._fail_end is None:
            self._fail_end = self._fed_len - len(rest)
        self._to_text(self._block_prefix + self.trigger + "".join(self._block.raw), rest)

    def _to_text(self, released: str, rest: str, *, failed: bool = True) -> None:
        """Back to TEXT: a failed attempt's raw text goes to the client, a false one is text."""
        self._fence.push(released)
        if failed:
            self._emit.content(released)
        else:
            self._emit.text(released)
        self._set_text(rest)

    def _set_text(self, rest: str) -> None:
        self._block = self._native = None
        self._block_pending = []
        self._state, self._work = TEXT, rest

    # --- NATIVE ------------------------------------------------------------------------------

    def _open_native(self, rest: str) -> None:
        def allowed(name: str) -> bool:
            return self._index.resolve(name) in self._allowed

        self._native = NativeParser(allowed, self.options.max_block_chars)
        self._state = NATIVE
        self._native_feed(rest, False)

    def _native_feed(self, text: str, final: bool) -> bool:
        assert self._native is not None
        result = self._native.feed(text, final)
        if result is not None:
            self._on_native(result)
        return False

    def _on_native(self, result: NativeResult) -> None:
        if isinstance(result, NativeReject):
            self._to_text(NATIVE_OPEN, result.rest, failed=False)
        elif isinstance(result, NativeCall):
            self._native_call(result)
        else:
            self._on_truncated(result.name, result.raw)
            self._to_text("".join(self._block_pending), "")

    def _native_call(self, call: NativeCall) -> None:
        verdict = judge_native(self._index, self._allowed, call.name, call.pairs, call.body,
                               schema_violation=self.options.schema_violation)
        self._block_pending = []
        self._on_call(call.name, call.raw, verdict)
        if verdict.ok:
            self._diag("native_call", verdict.name)
            self._fence.push(NATIVE_OPEN)
            self._emit.enter_after()
            self._set_text(call.rest)
        else:
            if self._fail_end is None:
                self._fail_end = self._fed_len - len(call.rest)
            self._to_text(call.raw, call.rest)

    # --- end ---------------------------------------------------------------------------------

    def _diag(self, kind: str, detail: str = "") -> None:
        self._emit.diagnostic(Diagnostic(kind, detail))

    def _end_diagnostics(self) -> None:
        if self._reasoning_call and not self._calls:
            self._diag("call_in_reasoning")
