"""Request statistics for the dashboard: a ring buffer of recent requests plus counters.

Pure: no aiohttp, no I/O, no locks. `StatsRecorder.record()` is O(1) and runs once per
request when it ends; everything costly (sorting for percentiles, building dicts) happens in
`snapshot()`, which only the dashboard's JSON twin calls. The clock is injected.

Percentiles (p50/p95) are exact over the ring buffer window; averages and counters cover
everything since start. Label-like values that clients control (model names) are capped so a
client inventing names cannot grow memory without bound.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

MAX_MODELS: Final = 64          # distinct model names tracked; the rest count as OTHER
OTHER: Final = "(other)"
NO_MODEL: Final = "(none)"
UNKNOWN_MODEL: Final = "(unknown)"  # a name the catalogue does not know: one label for all
CLIENT_ABORT: Final = "client_abort"
# Which front door (wire format) served a request: set by its handler, a bounded label.
API_CHAT: Final = "chat_completions"
API_ANTHROPIC: Final = "anthropic_messages"
API_RESPONSES: Final = "responses"
APIS: Final = frozenset({API_CHAT, API_ANTHROPIC, API_RESPONSES})
ABORT_STATUS: Final = 499       # nginx's "client closed request"
BUCKET_S: Final = 10.0          # timeline resolution
BUCKETS: Final = 60             # timeline length: 10 minutes


class TraceLike(Protocol):
    """What the meter reads from `zproxy.providers.zai.client.Trace`."""

    attempts: int
    retries: list[str]
    recovered: list[str]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One finished request. Holds no secret: no keys, no tokens, no message content."""

    time: float                    # wall clock, epoch seconds, when the request arrived
    method: str
    path: str
    status: int
    duration_s: float
    ttft_s: float | None = None    # time to first token (streams)
    client_ip: str = ""
    client: str = "other"
    model: str | None = None
    stream: bool | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    attempts: int = 0
    retries: tuple[str, ...] = ()
    recovered: tuple[str, ...] = ()  # retries after a 200 answer, unseen by the client
    error_type: str | None = None
    api: str | None = None         # one of APIS, or None for non-model routes
    model_known: bool = True       # False: `model` is not in the catalogue

    @property
    def model_label(self) -> str:
        """The name aggregates count under: client-invented names share one label."""
        if self.model is None:
            return NO_MODEL
        return self.model if self.model_known else UNKNOWN_MODEL

    @property
    def ok(self) -> bool:
        return self.status < 400 and self.error_type is None

    def as_dict(self) -> dict[str, Any]:
        return {"time": self.time, "method": self.method, "path": self.path,
                "status": self.status, "ok": self.ok,
                "duration_ms": _ms(self.duration_s), "ttft_ms": _ms(self.ttft_s),
                "client_ip": self.client_ip, "client": self.client, "model": self.model,
                "stream": self.stream, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "attempts": self.attempts,
                "retries": list(self.retries), "recovered": list(self.recovered),
                "error_type": self.error_type, "api": self.api}


@dataclass(slots=True)
class RequestMeter:
    """Per-request scratchpad. The middleware creates it; the chat handler fills it in."""

    started: float                  # time.monotonic() at arrival
    wall: float                     # time.time() at arrival
    model: str | None = None
    stream: bool | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    first_token_at: float | None = None   # time.monotonic()
    trace: TraceLike | None = None
    error_type: str | None = None
    stream_open: bool = False       # set when an SSE response was prepared
    api: str | None = None          # one of APIS, set by the handler

    def finish(self, *, method: str, path: str, status: int, ended: float, client_ip: str,
               client: str, model_known: bool = True) -> RequestRecord:
        ttft = None if self.first_token_at is None else max(0.0, self.first_token_at
                                                            - self.started)
        trace = self.trace
        return RequestRecord(
            time=self.wall, method=method, path=path, status=status,
            duration_s=max(0.0, ended - self.started), ttft_s=ttft, client_ip=client_ip,
            client=client, model=self.model, stream=self.stream,
            prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens,
            attempts=trace.attempts if trace is not None else 0,
            retries=tuple(trace.retries) if trace is not None else (),
            recovered=tuple(trace.recovered) if trace is not None else (),
            error_type=self.error_type, api=self.api, model_known=model_known)


@dataclass(slots=True)
class _Tally:
    requests: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    duration_s: float = 0.0
    ttft_s: float = 0.0
    ttft_count: int = 0

    def add(self, record: RequestRecord) -> None:
        self.requests += 1
        self.failures += not record.ok
        self.prompt_tokens += record.prompt_tokens or 0
        self.completion_tokens += record.completion_tokens or 0
        self.duration_s += record.duration_s
        if record.ttft_s is not None:
            self.ttft_s += record.ttft_s
            self.ttft_count += 1

    def as_dict(self) -> dict[str, Any]:
        return {"requests": self.requests, "successes": self.requests - self.failures,
                "failures": self.failures, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "avg_latency_ms": _ms(self.duration_s / self.requests if self.requests
                                      else None),
                "avg_ttft_ms": _ms(self.ttft_s / self.ttft_count if self.ttft_count
                                   else None)}


@dataclass(slots=True)
class _Bucket:
    start: float
    tally: _Tally = field(default_factory=_Tally)


class StatsRecorder:
    """Ring buffer of the last `size` requests plus counters since start."""

    def __init__(self, size: int = 100, clock: Callable[[], float] = time.time, *,
                 bucket_s: float = BUCKET_S, buckets: int = BUCKETS) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self.size = size
        self._clock = clock
        self._started = clock()
        self._recent: deque[RequestRecord] = deque(maxlen=size)
        self._total = _Tally()
        self._aborts = 0
        self._models: dict[str, _Tally] = {}
        self._statuses: dict[int, int] = {}
        self._clients: dict[str, int] = {}
        self._errors: dict[str, int] = {}
        self._apis: dict[str, int] = {}
        self._bucket_s = bucket_s
        self._timeline: deque[_Bucket] = deque(maxlen=buckets)

    def record(self, record: RequestRecord) -> None:
        self._recent.append(record)
        self._total.add(record)
        self._aborts += record.error_type == CLIENT_ABORT
        self._model_tally(record.model_label).add(record)
        self._statuses[record.status] = self._statuses.get(record.status, 0) + 1
        self._clients[record.client] = self._clients.get(record.client, 0) + 1
        if record.api is not None:
            self._apis[record.api] = self._apis.get(record.api, 0) + 1
        if record.error_type is not None:
            self._errors[record.error_type] = self._errors.get(record.error_type, 0) + 1
        self._bucket(record.time).tally.add(record)

    def _model_tally(self, name: str) -> _Tally:
        tally = self._models.get(name)
        if tally is None:
            if len(self._models) >= MAX_MODELS:
                name = OTHER
            tally = self._models.setdefault(name, _Tally())
        return tally

    def _bucket(self, when: float) -> _Bucket:
        start = when - when % self._bucket_s
        if self._timeline and self._timeline[-1].start >= start:
            # late arrivals (long requests recorded by start time) join the latest bucket
            return self._timeline[-1]
        bucket = _Bucket(start)
        self._timeline.append(bucket)
        return bucket

    def recent(self) -> list[dict[str, Any]]:
        """The ring buffer, newest first."""
        return [r.as_dict() for r in reversed(self._recent)]

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        window = list(self._recent)
        durations = [r.duration_s for r in window]
        ttfts = [r.ttft_s for r in window if r.ttft_s is not None]
        return {
            "now": now, "started_at": self._started, "uptime_s": round(now - self._started, 3),
            "buffer_size": self.size,
            "totals": {**self._total.as_dict(), "client_aborts": self._aborts},
            "window": {"requests": len(window),
                       "failures": sum(not r.ok for r in window),
                       "latency_ms": distribution(durations),
                       "ttft_ms": distribution(ttfts)},
            "models": [{"model": name, **tally.as_dict()} for name, tally
                       in sorted(self._models.items(), key=lambda kv: -kv[1].requests)],
            "statuses": [{"status": status, "requests": count} for status, count
                         in sorted(self._statuses.items())],
            "clients": _ranked(self._clients),
            "apis": _ranked(self._apis),
            "errors": _ranked(self._errors),
            "timeline": self._timeline_points(now),
        }

    def _timeline_points(self, now: float) -> list[dict[str, Any]]:
        """One point per bucket over the last BUCKETS × bucket_s seconds, gaps as zeros."""
        by_start = {b.start: b.tally for b in self._timeline}
        last = now - now % self._bucket_s
        count = self._timeline.maxlen or BUCKETS
        points = []
        for i in range(count - 1, -1, -1):
            start = last - i * self._bucket_s
            tally = by_start.get(start, _Tally())
            points.append({"t": start, "requests": tally.requests, "failures": tally.failures,
                           "avg_latency_ms": _ms(tally.duration_s / tally.requests
                                                 if tally.requests else None),
                           "avg_ttft_ms": _ms(tally.ttft_s / tally.ttft_count
                                              if tally.ttft_count else None)})
        return points


def _ranked(counts: dict[str, int]) -> list[dict[str, Any]]:
    return [{"name": name, "requests": n} for name, n
            in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile of already sorted values (p in 0..100)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def distribution(values: Iterable[float]) -> dict[str, float | None]:
    """avg, p50, p95 and max in milliseconds."""
    ordered = sorted(values)
    avg = sum(ordered) / len(ordered) if ordered else None
    return {"avg": _ms(avg), "p50": _ms(percentile(ordered, 50)),
            "p95": _ms(percentile(ordered, 95)), "max": _ms(ordered[-1] if ordered else None)}


# --- who is calling --------------------------------------------------------------------

# First match wins: coding agents embed the OpenAI/Anthropic SDKs, so they come first.
_CLIENT_PATTERNS: Final = (
    ("claude-cli", "Claude Code"), ("claude-code", "Claude Code"), ("claudecode", "Claude Code"),
    ("roo-code", "Roo Code"), ("roocode", "Roo Code"),
    ("kilo-code", "Kilo Code"), ("kilocode", "Kilo Code"),
    ("cline", "Cline"), ("continue", "Continue"), ("aider", "aider"),
    ("litellm", "LiteLLM"), ("open-webui", "Open WebUI"), ("langchain", "LangChain"),
    ("anthropic/", "anthropic-sdk"), ("anthropic-sdk", "anthropic-sdk"),
    ("openai/python", "openai-python"), ("openai/js", "openai-node"),
    ("openai-node", "openai-node"), ("openai", "openai-other"),
    ("curl/", "curl"), ("wget/", "wget"), ("httpie/", "httpie"),
    ("python-httpx", "python-httpx"), ("python-requests", "python-requests"),
    ("aiohttp/", "python-aiohttp"), ("node-fetch", "node"), ("undici", "node"),
    ("axios/", "node"), ("go-http-client", "go"), ("okhttp", "java"),
    ("postmanruntime", "postman"),
    ("mozilla/", "browser"),
)


def classify_client(user_agent: str | None, title: str | None = None) -> str:
    """A short client kind from the User-Agent (and the `X-Title` some agents send)."""
    text = f"{user_agent or ''} {title or ''}".lower()
    if not text.strip():
        return "unknown"
    for needle, kind in _CLIENT_PATTERNS:
        if needle in text:
            return kind
    return "other"


def is_trusted(peer: str, trusted: Sequence[str]) -> bool:
    """Is `peer` one of the trusted proxies (exact address, CIDR network, or `*`)?"""
    if "*" in trusted or peer in trusted:
        return True
    networks = [t for t in trusted if "/" in t]
    if not networks:
        return False
    try:
        address = ipaddress.ip_address(peer)
        return any(address in ipaddress.ip_network(n, strict=False) for n in networks)
    except ValueError:
        return False


def client_ip(peer: str | None, forwarded_for: str | None, trusted: Sequence[str]) -> str:
    """The client's address, believing X-Forwarded-For only from trusted peers.

    Walks the header from the right and returns the first hop that is not itself a trusted
    proxy (the leftmost one when every hop is trusted, or when `*` trusts everyone).
    """
    peer = peer or ""
    if not forwarded_for or not trusted or not is_trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    if not hops:
        return peer
    if "*" in trusted:
        return hops[0]
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            return hop
    return hops[0]
