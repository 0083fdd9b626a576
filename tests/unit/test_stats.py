"""StatsRecorder, RequestMeter, client classification, X-Forwarded-For trust, cookie signing."""

from __future__ import annotations

import time
from typing import Any

import pytest

from zproxy.dashboard import session_secret, sign_session, verify_session
from zproxy.providers.zai.client import Trace
from zproxy.stats import (
    CLIENT_ABORT,
    MAX_MODELS,
    NO_MODEL,
    OTHER,
    UNKNOWN_MODEL,
    RequestMeter,
    RequestRecord,
    StatsRecorder,
    classify_client,
    client_ip,
    distribution,
    percentile,
)


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def rec(**kw: Any) -> RequestRecord:
    base: dict[str, Any] = {"time": 1_000_000.0, "method": "POST",
                            "path": "/v1/chat/completions", "status": 200, "duration_s": 1.0}
    return RequestRecord(**{**base, **kw})


# --- ring buffer and counters -----------------------------------------------------------

def test_ring_buffer_keeps_only_the_last_n_but_counts_everything() -> None:
    stats = StatsRecorder(size=3, clock=Clock())
    for i in range(10):
        stats.record(rec(duration_s=i, path=f"/v1/{i}"))
    recent = stats.recent()
    assert [r["path"] for r in recent] == ["/v1/9", "/v1/8", "/v1/7"]  # newest first
    snap = stats.snapshot()
    assert snap["totals"]["requests"] == 10
    assert snap["window"]["requests"] == 3
    assert snap["buffer_size"] == 3
    assert snap["totals"]["avg_latency_ms"] == 4500.0  # mean of 0..9 s, since start


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        StatsRecorder(size=0)


def test_percentiles_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([], 50) is None
    dist = distribution([0.3, 0.1, 0.2])
    assert dist == {"avg": 200.0, "p50": 200.0, "p95": 300.0, "max": 300.0}
    assert distribution([]) == {"avg": None, "p50": None, "p95": None, "max": None}


def test_window_percentiles_for_latency_and_ttft() -> None:
    stats = StatsRecorder(size=100, clock=Clock())
    for i in range(1, 101):
        stats.record(rec(duration_s=i / 100, ttft_s=i / 1000 if i % 2 == 0 else None))
    window = stats.snapshot()["window"]
    assert window["latency_ms"]["p50"] == 500.0
    assert window["latency_ms"]["p95"] == 950.0
    assert window["ttft_ms"]["p50"] == 50.0   # 50 TTFTs: 2,4,…,100 ms → 25th is 50 ms
    assert window["ttft_ms"]["p95"] == 96.0


def test_successes_failures_aborts_tokens() -> None:
    stats = StatsRecorder(size=10, clock=Clock())
    stats.record(rec(prompt_tokens=12, completion_tokens=38, model="GLM-4.5"))
    stats.record(rec(status=502, error_type="upstream_timeout", model="GLM-4.5"))
    stats.record(rec(status=200, error_type="upstream_error", model="GLM-4.6"))  # in-stream
    stats.record(rec(status=499, error_type=CLIENT_ABORT, model="GLM-4.6"))
    totals = stats.snapshot()["totals"]
    assert totals["requests"] == 4
    assert totals["successes"] == 1
    assert totals["failures"] == 3
    assert totals["client_aborts"] == 1
    assert (totals["prompt_tokens"], totals["completion_tokens"]) == (12, 38)


def test_per_model_and_per_status_breakdown() -> None:
    stats = StatsRecorder(size=10, clock=Clock())
    stats.record(rec(model="GLM-4.5", duration_s=1.0, prompt_tokens=1, completion_tokens=2))
    stats.record(rec(model="GLM-4.5", duration_s=3.0, status=429, error_type="rate"))
    stats.record(rec(model="GLM-4.6", ttft_s=0.5))
    stats.record(rec(model=None, path="/v1/models", method="GET", status=200))
    snap = stats.snapshot()
    models = {m["model"]: m for m in snap["models"]}
    assert models["GLM-4.5"]["requests"] == 2
    assert models["GLM-4.5"]["failures"] == 1
    assert models["GLM-4.5"]["avg_latency_ms"] == 2000.0
    assert models["GLM-4.5"]["prompt_tokens"] == 1
    assert models["GLM-4.6"]["avg_ttft_ms"] == 500.0
    assert models[NO_MODEL]["requests"] == 1
    assert snap["models"][0]["model"] == "GLM-4.5"  # most used first
    assert snap["statuses"] == [{"status": 200, "requests": 3}, {"status": 429, "requests": 1}]
    assert snap["errors"] == [{"name": "rate", "requests": 1}]


def test_model_names_are_capped() -> None:
    stats = StatsRecorder(size=5, clock=Clock())
    for i in range(MAX_MODELS + 20):
        stats.record(rec(model=f"made-up-{i}"))
    models = {m["model"]: m["requests"] for m in stats.snapshot()["models"]}
    assert len(models) == MAX_MODELS + 1
    assert models[OTHER] == 20


def test_timeline_buckets_fill_gaps_and_scroll() -> None:
    clock = Clock(1_000_000.0)
    stats = StatsRecorder(size=10, clock=clock, bucket_s=10, buckets=6)
    stats.record(rec(time=999_975.0, duration_s=2.0))   # bucket 999_970
    stats.record(rec(time=999_978.0, duration_s=4.0, status=500, error_type="x"))
    stats.record(rec(time=999_995.0, duration_s=1.0))   # bucket 999_990
    clock.now = 1_000_001.0
    points = stats.snapshot()["timeline"]
    assert [p["t"] for p in points] == [999_950.0, 999_960.0, 999_970.0, 999_980.0,
                                        999_990.0, 1_000_000.0]
    by_t = {p["t"]: p for p in points}
    assert by_t[999_970.0]["requests"] == 2
    assert by_t[999_970.0]["failures"] == 1
    assert by_t[999_970.0]["avg_latency_ms"] == 3000.0
    assert by_t[999_980.0]["requests"] == 0
    assert by_t[999_980.0]["avg_latency_ms"] is None
    assert by_t[999_990.0]["requests"] == 1


def test_snapshot_is_json_ready_and_holds_no_secret() -> None:
    import orjson

    stats = StatsRecorder(size=5, clock=Clock())
    stats.record(rec(model="GLM-4.5", client="curl", client_ip="10.0.0.1"))
    raw = orjson.dumps(stats.snapshot()) + orjson.dumps(stats.recent())
    assert b"Bearer" not in raw and b"token\"" not in raw


def test_clients_ranking() -> None:
    stats = StatsRecorder(size=5, clock=Clock())
    for client in ["curl", "openai-python", "openai-python"]:
        stats.record(rec(client=client))
    assert stats.snapshot()["clients"] == [{"name": "openai-python", "requests": 2},
                                           {"name": "curl", "requests": 1}]


# --- the meter --------------------------------------------------------------------------

def test_meter_turns_into_a_record() -> None:
    meter = RequestMeter(started=100.0, wall=1_000_000.0)
    meter.model, meter.stream = "GLM-4.5", True
    meter.prompt_tokens, meter.completion_tokens = 12, 38
    meter.first_token_at = 100.25
    trace = Trace()
    trace.attempts = 2
    trace.retries.append("timeout")
    meter.trace = trace
    record = meter.finish(method="POST", path="/v1/chat/completions", status=200, ended=101.5,
                          client_ip="1.2.3.4", client="curl")
    assert record.duration_s == 1.5
    assert record.ttft_s == 0.25
    assert (record.attempts, record.retries) == (2, ("timeout",))
    assert record.ok
    assert record.as_dict()["duration_ms"] == 1500.0
    bare = RequestMeter(started=5.0, wall=0.0).finish(method="GET", path="/v1/models",
                                                      status=200, ended=5.0, client_ip="",
                                                      client="other")
    assert (bare.attempts, bare.retries, bare.ttft_s, bare.model) == (0, (), None, None)


# --- client kinds -----------------------------------------------------------------------

@pytest.mark.parametrize(("user_agent", "kind"), [
    ("OpenAI/Python 1.54.3", "openai-python"),
    ("OpenAI/JS 4.77.0", "openai-node"),
    ("curl/8.5.0", "curl"),
    ("claude-cli/1.0.83 (external, cli)", "Claude Code"),
    ("Cline/3.4.0", "Cline"),
    ("RooCode/3.25.1", "Roo Code"),
    ("Kilo-Code/4.80.0", "Kilo Code"),
    ("Anthropic/Python 0.40.0", "anthropic-sdk"),
    ("Anthropic/JS 0.32.1", "anthropic-sdk"),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/140.0 Safari/537.36",
     "browser"),
    ("python-requests/2.32.3", "python-requests"),
    ("python-httpx/0.28.1", "python-httpx"),
    ("Python/3.12 aiohttp/3.14.5", "python-aiohttp"),
    ("SomethingElse/1.0", "other"),
    ("", "unknown"),
    (None, "unknown"),
])
def test_classify_client(user_agent: str | None, kind: str) -> None:
    assert classify_client(user_agent) == kind


def test_agents_win_over_the_sdk_they_embed() -> None:
    assert classify_client("OpenAI/JS 4.77.0", title="Cline") == "Cline"
    assert classify_client("RooCode/3.2 OpenAI/JS 4.0") == "Roo Code"


# --- X-Forwarded-For --------------------------------------------------------------------

def test_xff_ignored_without_trusted_proxies() -> None:
    assert client_ip("10.0.0.5", "6.6.6.6", ()) == "10.0.0.5"


def test_xff_ignored_from_untrusted_peer() -> None:
    assert client_ip("10.0.0.5", "6.6.6.6", ("10.0.0.1",)) == "10.0.0.5"


def test_xff_believed_from_trusted_peer() -> None:
    assert client_ip("10.0.0.1", "203.0.113.7", ("10.0.0.1",)) == "203.0.113.7"


def test_xff_rightmost_untrusted_hop_wins() -> None:
    # the client may forge the leftmost entries; only hops added by our proxies count
    header = "6.6.6.6, 203.0.113.7, 10.0.0.2"
    assert client_ip("10.0.0.1", header, ("10.0.0.1", "10.0.0.2")) == "203.0.113.7"


def test_xff_with_cidr_and_star() -> None:
    assert client_ip("10.1.2.3", "203.0.113.7, 10.9.9.9", ("10.0.0.0/8",)) == "203.0.113.7"
    assert client_ip("8.8.8.8", "203.0.113.7, 9.9.9.9", ("*",)) == "203.0.113.7"
    assert client_ip("10.0.0.1", "  ", ("*",)) == "10.0.0.1"
    assert client_ip(None, None, ("*",)) == ""
    assert client_ip("10.0.0.1", "10.0.0.2", ("10.0.0.1", "10.0.0.2")) == "10.0.0.2"


def test_bad_cidr_or_peer_is_not_trusted() -> None:
    assert client_ip("not-an-ip", "1.2.3.4", ("10.0.0.0/8",)) == "not-an-ip"


# --- dashboard session cookie -----------------------------------------------------------

def test_cookie_round_trip_and_tampering() -> None:
    secret = session_secret(("key-a", "key-b"))
    now = time.time()
    value = sign_session(secret, int(now))
    assert verify_session(secret, value, now)
    issued, mac = value.split(".")
    assert not verify_session(secret, f"{int(issued) + 1}.{mac}", now)
    assert not verify_session(secret, value[:-1] + ("0" if value[-1] != "0" else "1"), now)
    assert not verify_session(session_secret(("key-c",)), value, now)  # keys changed
    assert not verify_session(secret, value, now + 13 * 3600)          # expired
    assert not verify_session(secret, value, now - 3600)               # from the future
    for junk in (None, "", "abc", ".", "x.y", "12"):
        assert not verify_session(secret, junk, now)


def test_cookie_holds_no_key() -> None:
    value = sign_session(session_secret(("super-secret-key",)), 1_700_000_000)
    assert "super-secret-key" not in value
    assert session_secret(("a", "b")) == session_secret(("b", "a"))


def test_a_malformed_session_cookie_is_refused_not_a_crash() -> None:
    from zproxy.dashboard import verify_session

    secret = b"k" * 32
    for value in ("².abc", "9" * 5000 + ".x", "12.", ".", "abc.def"):
        assert verify_session(secret, value, now=1000.0) is False


def test_unknown_model_names_share_one_label_but_rows_keep_them() -> None:
    stats = StatsRecorder(10)
    for i in range(200):  # more than MAX_MODELS: invented names must not use up the cap
        stats.record(rec(model=f"invented-{i}", status=404, model_known=False))
    stats.record(rec(model="GLM-4.6"))
    models = {m["model"]: m["requests"] for m in stats.snapshot()["models"]}
    assert models == {UNKNOWN_MODEL: 200, "GLM-4.6": 1}
    assert stats.recent()[1]["model"] == "invented-199"
