"""K2Think stream and body decoders: snapshots in, events out (providers.md §1.6, §1.7). Pure.

The stream is `data: <json>` lines (`zproxy.sse.SSEDecoder`). Each `{"content": …}` is the
whole rendered answer so far; every snapshot is split into reasoning and answer
(`zproxy.core.markup.split_markup`: both the 2025 `<summary>`/`<answer>` and the 2026 `> `
layouts) and each part is diffed against what was sent (`zproxy.core.text.Snapshot`), so
reasoning and answer stream as they grow instead of arriving whole when a closing tag
appears (ZY's regexes). `{"done": true}` ends the answer (its `content`, if any, is the
final snapshot; its `usage` is reported); the `choices` frames interleaved with the
snapshots only carry a finish reason; `{"detail": …}` without content is an error. An EOF
after text without `done` is a normal end: the backend sometimes tears the connection down
after its last frame (IFM, 2026).

`BodyDecoder` reads the `stream: false` JSON (`<think>…</think><answer>…</answer>` in 2025).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from zproxy.core.events import (
    Content,
    Diagnostic,
    Done,
    Event,
    Failure,
    FinishReason,
    Meta,
    Reasoning,
    Usage,
)
from zproxy.core.failures import upstream_error
from zproxy.core.markup import split_markup
from zproxy.core.text import RewritePolicy, Snapshot
from zproxy.errors import UpstreamError
from zproxy.providers.k2think.wire import END_MARKERS
from zproxy.sse import SSEDecoder

_FINISH: Final[dict[str, FinishReason]] = {"stop": "stop", "length": "length",
                                           "content_filter": "content_filter"}


def detail_error(detail: str, http_status: int | None = None) -> UpstreamError:
    """An Open WebUI `{"detail": …}` (HTTP error body or in-stream), classified."""
    lowered = detail.lower()
    message = f"k2think: {detail}"
    if "model not found" in lowered:
        return upstream_error("model_not_found", message + " (the upstream retired this model "
                              "id: point the model at a current one with MODEL_MAP)",
                              http_status=http_status)
    if any(word in lowered for word in ("not authenticated", "unauthorized", "expired")):
        return upstream_error("auth", message, http_status=http_status)
    if any(word in lowered for word in ("rate limit", "too many", "slow down")):
        return upstream_error("rate_limit", message, http_status=http_status)
    return upstream_error("internal" if http_status is None else "bad_request", message,
                          http_status=http_status)


def classify(status: int | None, headers: Mapping[str, str], body: Any) -> UpstreamError:
    """HTTP answers that are not a stream (providers.md §1.9)."""
    detail = body.get("detail") if isinstance(body, Mapping) else None
    text = detail if isinstance(detail, str) else (body if isinstance(body, str) else "")
    shown = f" ({status}): {text}" if text else f" ({status})"
    if status in (401, 403):
        return upstream_error("auth", f"k2think: token refused{shown}", http_status=status)
    if status == 429:
        retry = headers.get("Retry-After", "")
        return upstream_error("rate_limit", f"k2think: rate limited{shown}", http_status=status,
                              retry_after_s=float(retry) if retry.isdigit() else None)
    if status == 400 and text:
        error = detail_error(text, status)
        if error.code != "upstream_bad_request":
            return error
        # K2Think: in 2026 www.k2think.ai answered 400 to every guest completion (IFM)
        return upstream_error("bad_request", f"{error.message} (if every request fails so, "
                              "the host moved: set K2THINK_BASE_URL)", http_status=status)
    if status is not None and 400 <= status < 500:
        return upstream_error("bad_request", f"k2think: request refused{shown}",
                              http_status=status)
    return upstream_error("upstream", f"k2think: upstream error{shown}", http_status=status)


def usage_of(value: Any) -> Usage | None:
    if not isinstance(value, Mapping):
        return None
    numbers = [value.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")]
    if not all(isinstance(n, int) for n in numbers[:2]):
        return None
    prompt, completion = int(numbers[0] or 0), int(numbers[1] or 0)
    total = numbers[2] if isinstance(numbers[2], int) else prompt + completion
    return Usage(prompt, completion, int(total))


class _Parts:
    """The reasoning and answer of successive snapshots, diffed part by part."""

    def __init__(self, policy: RewritePolicy, keep_reasoning: bool) -> None:
        self.reasoning = Snapshot(policy)
        self.answer = Snapshot(policy)
        self.keep_reasoning = keep_reasoning
        self.seen_text = False

    def feed(self, snapshot: str, *, final: bool) -> list[Event]:
        reasoning, answer = split_markup(snapshot, final=final)
        out: list[Event] = []
        new_reasoning = self.reasoning.feed(reasoning)
        if new_reasoning and self.keep_reasoning:
            out.append(Reasoning(new_reasoning))
        new_answer = self.answer.feed(answer)
        if new_answer:
            out.append(Content(new_answer))
        if self.reasoning.last_rewrite or self.answer.last_rewrite:
            out.append(Diagnostic("rewrite", "k2think: a snapshot changed text already sent"))
        self.seen_text = self.seen_text or bool(reasoning or answer)
        return out


class StreamDecoder:
    """One per streamed response. `keep_reasoning=False` drops the reasoning (nothink)."""

    def __init__(self, *, keep_reasoning: bool = True,
                 policy: RewritePolicy = "continue") -> None:
        self._sse = SSEDecoder()
        self._parts = _Parts(policy, keep_reasoning)
        self._last = ""
        self._finish: FinishReason = "stop"
        self._ended = False

    def feed(self, data: bytes) -> list[Event]:
        return self._payloads(self._sse.feed(data))

    def flush(self) -> list[Event]:
        out = self._payloads(self._sse.flush())
        if self._ended:
            return out
        self._ended = True
        if not self._parts.seen_text:
            error = upstream_error("protocol", "k2think: the stream ended without an answer")
            return [*out, Failure(error)]
        # K2Think: the connection is sometimes torn down after the last frame (IFM, 2026)
        return [*out, *self._final(None), Done(self._finish)]

    def _payloads(self, payloads: list[str]) -> list[Event]:
        out: list[Event] = []
        for payload in payloads:
            if self._ended:
                break
            out += self._payload(payload.strip())
        return out

    def _payload(self, payload: str) -> list[Event]:
        if payload in END_MARKERS:
            return self._end(None, None) if payload == "[DONE]" and self._parts.seen_text else []
        try:
            frame = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return [Diagnostic("unparsed_frame", payload[:200])]
        if not isinstance(frame, dict):
            return []
        if frame.get("done") is True:
            return self._end(frame.get("content"), usage_of(frame.get("usage")))
        content = frame.get("content")
        if isinstance(content, str):
            self._last = content
            return self._parts.feed(content, final=False)
        detail = frame.get("detail")
        if isinstance(detail, str):
            self._ended = True
            return [Failure(detail_error(detail))]
        if "task_id" in frame:
            return [Meta(message_id=str(frame["task_id"]))]
        return self._choices(frame)

    def _choices(self, frame: dict[str, Any]) -> list[Event]:
        """OpenAI-style chunks between the snapshots: only their finish reason counts (their
        delta is a short piece ZY wrongly took for a snapshot)."""
        choices = frame.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            reason = _FINISH.get(str(choices[0].get("finish_reason")))
            if reason is not None:
                self._finish = reason
        usage = usage_of(frame.get("usage"))
        return [usage] if usage is not None else []

    def _final(self, content: Any) -> list[Event]:
        text = content if isinstance(content, str) and content else self._last
        return self._parts.feed(text, final=True)

    def _end(self, content: Any, usage: Usage | None) -> list[Event]:
        self._ended = True
        out = self._final(content)
        if usage is not None:
            out.append(usage)
        return [*out, Done(self._finish)]


class BodyDecoder:
    """The `stream: false` JSON answer (§1.6): buffered, decoded at `flush`."""

    def __init__(self, *, keep_reasoning: bool = True) -> None:
        self._chunks: list[bytes] = []
        self._keep_reasoning = keep_reasoning

    def feed(self, data: bytes) -> list[Event]:
        self._chunks.append(data)
        return []

    def flush(self) -> list[Event]:
        try:
            body = orjson.loads(b"".join(self._chunks))
        except orjson.JSONDecodeError:
            return [Failure(upstream_error("protocol", "k2think: the answer is not JSON"))]
        if isinstance(body, dict) and isinstance(body.get("detail"), str):
            return [Failure(detail_error(body["detail"]))]
        choices = body.get("choices") if isinstance(body, dict) else None
        first = choices[0] if isinstance(choices, list) and choices else None
        message = first.get("message") if isinstance(first, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, str):
            return [Failure(upstream_error("protocol", "k2think: no message in the answer"))]
        reasoning, answer = split_markup(content, final=True)
        out: list[Event] = []
        if reasoning and self._keep_reasoning:
            out.append(Reasoning(reasoning))
        if answer:
            out.append(Content(answer))
        usage = usage_of(body.get("usage"))
        if usage is not None:
            out.append(usage)
        finish = _FINISH.get(str(first.get("finish_reason") if first else ""), "stop")
        return [*out, Done(finish)]
