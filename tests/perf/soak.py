"""Soak: the proxy under mixed traffic and random upstream faults for minutes.

    .venv/bin/python -m tests.perf.soak [--minutes 5] [--concurrency 32] [--fault-rate 0.05]

The fake upstream runs in this process and answers every request with a script chosen from
the request itself ("soak <n> <kind>"), so each reply's exact text is known. About
`--fault-rate` of upstream attempts fail: a dropped connection (anywhere in the stream), an
INTERNAL_ERROR frame, an HTTP 5xx or 429, or a hang. The proxy runs as a separate
`python -m zproxy` process, so its RSS and file descriptors are read from /proc. Traffic mixes
streams and non-streams of plain, thinking, tool-calling and web-search requests.

Every reply is classified: completed exactly (the full expected text / tool call), of which
recovered by retry (the fake saw more than one attempt for it); surfaced as an error (an
OpenAI-shaped error status, or an error event after partial text that is a prefix of the
expected one); or lost/garbled (anything else: must be 0). Prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.zai import FakeZai, Script
from tests.fakes.zai_script import last_user_text
from tests.perf.harness import fake_in_process, proxy_process, rss_kib

KINDS = ("plain", "thinking", "tools", "search")
MODELS = {"plain": "GLM-4.5", "thinking": "GLM-4.5-Thinking", "tools": "GLM-4.5",
          "search": "GLM-4.5-Search"}
TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}
ASK = re.compile(r"soak (\d+) (\w+)")


def answer(n: int) -> str:
    words = ("alpha", "beta", "gamma", "delta", "你好", "epsilon", "ünï", "zeta")
    return f"Answer {n}: " + " ".join(words[(n + i) % len(words)] for i in range(12 + n % 9))


def thought(n: int) -> str:
    return f"Thinking about request {n} step by step."


def tool_text(n: int) -> str:
    return ("<tool_calls_{nonce}>\n" f'<call name="get_weather">{{"city": "Paris-{n}"}}</call>'
            "\n</tool_calls_{nonce}>")


class Upstream:
    """The fake's responder: the request's script, with a fault on `rate` of attempts."""

    def __init__(self, rate: float, rng: random.Random) -> None:
        self.rate = rate
        self.rng = rng
        self.attempts: Counter[int] = Counter()
        self.faults: Counter[str] = Counter()

    def __call__(self, body: dict[str, Any]) -> Script:
        match = ASK.search(last_user_text(body.get("messages") or []))
        assert match is not None, "soak requests say which they are"
        n, kind = int(match.group(1)), match.group(2)
        self.attempts[n] += 1
        script = Script(text=tool_text(n) if kind == "tools" else answer(n), delta_size=6,
                        thinking=thought(n) if kind == "thinking" else None)
        return self._faulty(script) if self.rng.random() < self.rate else script

    def _faulty(self, script: Script) -> Script:
        fault = self.rng.choices(("drop", "error_frame", "http_5xx", "http_429", "hang"),
                                 (45, 20, 15, 10, 10))[0]
        self.faults[fault] += 1
        frames = self.rng.randint(0, 8)
        if fault == "drop":
            script.drop_after_frames = frames
        elif fault == "hang":
            script.hang_after_frames = frames
        elif fault == "error_frame":
            return Script(frames=[{"delta_content": "", "phase": "answer"},
                                  {"error": {"code": "INTERNAL_ERROR",
                                             "detail": "Something went wrong."}}])
        else:
            return Script(status=503 if fault == "http_5xx" else 429)
        return script


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # "status code" or "event code"
    garbled: list[str] = field(default_factory=list)


def request_body(n: int, kind: str, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": MODELS[kind], "stream": stream, "messages": [
        {"role": "user", "content": f"soak {n} {kind}: please answer"}]}
    if kind == "tools":
        body["tools"] = [TOOL]
    return body


def expected(n: int, kind: str) -> dict[str, Any]:
    if kind == "tools":
        return {"content": "", "reasoning": "", "calls": [("get_weather",
                                                           {"city": f"Paris-{n}"})]}
    return {"content": answer(n), "reasoning": thought(n) if kind == "thinking" else "",
            "calls": []}


def from_completion(body: dict[str, Any]) -> dict[str, Any]:
    message = body["choices"][0]["message"]
    calls = [(c["function"]["name"], orjson.loads(c["function"]["arguments"]))
             for c in message.get("tool_calls") or ()]
    return {"content": message.get("content") or "",
            "reasoning": message.get("reasoning_content") or "", "calls": calls}


def from_stream(raw: bytes) -> tuple[dict[str, Any], dict[str, Any] | None, bool]:
    """(what the chunks said, the error event if any, whether [DONE] ended it)."""
    got: dict[str, Any] = {"content": "", "reasoning": "", "calls": []}
    args: dict[int, list[str]] = {}
    names: dict[int, str] = {}
    error = None
    events = [line[6:] for line in raw.decode().split("\n") if line.startswith("data: ")]
    for data in events[:-1] if events and events[-1] == "[DONE]" else events:
        chunk = orjson.loads(data)
        if "error" in chunk:
            error = chunk["error"]
            continue
        for choice in chunk.get("choices") or ():
            delta = choice["delta"]
            got["content"] += delta.get("content") or ""
            got["reasoning"] += delta.get("reasoning_content") or ""
            for call in delta.get("tool_calls") or ():
                if call.get("id"):
                    names[call["index"]] = call["function"]["name"]
                args.setdefault(call["index"], []).append(call["function"]["arguments"])
    got["calls"] = [(names[i], orjson.loads("".join(args[i]))) for i in sorted(names)]
    return got, error, bool(events) and events[-1] == "[DONE]"


def classify(got: dict[str, Any], want: dict[str, Any], error: dict[str, Any] | None,
             done: bool) -> str:
    if error is None:
        return "exact" if got == want and done else "garbled"
    shown_ok = (want["content"].startswith(got["content"])
                and want["reasoning"].startswith(got["reasoning"]) and not got["calls"])
    shaped = set(error) == {"message", "type", "param", "code"}
    return "error" if shown_ok and shaped and done else "garbled"


async def one(session: aiohttp.ClientSession, url: str, n: int, kind: str, stream: bool,
              upstream: Upstream, tally: Tally) -> None:
    want = expected(n, kind)
    try:
        async with session.post(url, json=request_body(n, kind, stream)) as resp:
            raw = await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        tally.outcomes["garbled"] += 1
        tally.garbled.append(f"{n} {kind}: transport {exc!r}")
        return
    if status != 200:
        try:
            error = orjson.loads(raw)["error"]
            shaped = set(error) == {"message", "type", "param", "code"}
        except (orjson.JSONDecodeError, KeyError, TypeError):
            error, shaped = {}, False
        outcome = "error" if shaped else "garbled"
        tally.errors[f"{status} {error.get('code')}"] += 1
    elif stream:
        got, error, done = from_stream(raw)
        outcome = classify(got, want, error, done)
        if error is not None:
            tally.errors[f"event after content {error.get('code')}"] += 1
    else:
        outcome = classify(from_completion(orjson.loads(raw)), want, None, True)
    if outcome == "exact" and upstream.attempts[n] > 1:
        tally.outcomes["recovered"] += 1
    tally.outcomes[outcome] += 1
    if outcome == "garbled":
        tally.garbled.append(f"{n} {kind} stream={stream} status={status}: {raw[:300]!r}")


class Probe:
    """RSS and fds of the proxy process, sampled against the number of finished requests."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[int, int]] = []  # (requests done, RSS bytes)

    def rss(self) -> int:
        return rss_kib(self.pid) * 1024

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def sample(self, done: int) -> None:
        self.samples.append((done, self.rss()))

    def slope_per_1000(self) -> float:
        """Least-squares RSS growth per 1,000 requests over the samples."""
        xs, ys = zip(*self.samples, strict=True)
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        var = sum((x - mx) ** 2 for x in xs)
        return 0.0 if not var else sum((x - mx) * (y - my)
                                       for x, y in zip(xs, ys, strict=True)) / var * 1000


async def metrics(session: aiohttp.ClientSession, url: str) -> dict[str, float]:
    async with session.get(f"{url}/metrics") as resp:
        text = await resp.text()
    out: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name] += sample.value
    return dict(out)


async def drive(url: str, minutes: float, concurrency: int, upstream: Upstream,
                probe: Probe) -> Tally:
    tally = Tally()
    counter = iter(range(1, 10**9))
    deadline = time.monotonic() + minutes * 60
    rng = random.Random(7)
    timeout = aiohttp.ClientTimeout(total=120)

    async def worker(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < deadline:
            n = next(counter)
            await one(session, f"{url}/v1/chat/completions", n, rng.choice(KINDS),
                      rng.random() < 0.5, upstream, tally)

    async def sampler() -> None:
        while True:
            probe.sample(sum(tally.outcomes.values()) - tally.outcomes["recovered"])
            await asyncio.sleep(1.0)

    sampling = asyncio.create_task(sampler())
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    sampling.cancel()
    return tally


async def main(minutes: float, concurrency: int, rate: float) -> None:
    upstream = Upstream(rate, random.Random(42))
    fake = FakeZai()
    fake.responder = upstream
    env = {"UPSTREAM_READ_TIMEOUT": "2", "GUEST_POOL_SIZE": "4"}
    async with fake_in_process(fake) as fake_url, proxy_process(fake_url, **env) as proxy:
        await report(proxy.url, minutes, concurrency, upstream, Probe(proxy.pid))


async def report(url: str, minutes: float, concurrency: int, upstream: Upstream,
                 probe: Probe) -> None:
    warm = Upstream(0.0, random.Random(0))
    await drive_warmup(url, concurrency, warm)
    rss_start, fds_start = probe.rss(), probe.fds()
    started = time.monotonic()
    tally = await drive(url, minutes, concurrency, upstream, probe)
    wall = time.monotonic() - started
    await asyncio.sleep(1.0)  # let closed client connections leave the proxy
    rss_end, fds_end = probe.rss(), probe.fds()
    async with aiohttp.ClientSession() as session:
        final = await metrics(session, url)
    print_report(tally, upstream, probe, wall, concurrency, final,
                 (rss_start, rss_end), (fds_start, fds_end))


async def drive_warmup(url: str, concurrency: int, warm: Upstream) -> None:
    """Guest logins, FE-version scrape and connection pools, before the baseline is read."""
    fake_counter = iter(range(10**9, 2 * 10**9))
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            await asyncio.gather(*(one(session, f"{url}/v1/chat/completions", next(fake_counter),
                                       kind, True, warm, Tally())
                                   for kind in KINDS for _ in range(concurrency // 4)))


def print_report(tally: Tally, upstream: Upstream, probe: Probe, wall: float,
                 concurrency: int, final: dict[str, float], rss: tuple[int, int],
                 fds: tuple[int, int]) -> None:
    o = tally.outcomes
    total = o["exact"] + o["error"] + o["garbled"]
    attempts = sum(upstream.attempts.values())
    mb = 1024 * 1024
    print(f"soak: {wall / 60:.1f} min at concurrency {concurrency}, "
          f"fault rate {upstream.rate:.0%} of upstream attempts")
    print(f"requests:              {total} ({total / wall:.1f}/s)")
    print(f"completed exactly:     {o['exact']}")
    print(f"  recovered by retry:  {o['recovered']}")
    print(f"surfaced as errors:    {o['error']} {dict(tally.errors.most_common())}")
    print(f"lost or garbled:       {o['garbled']}")
    print(f"upstream attempts:     {attempts}; faults injected: {dict(upstream.faults)}")
    print(f"proxy counted:         recovered {final.get('zproxy_upstream_recovered_total', 0):.0f}"
          f", failed attempts {final.get('zproxy_upstream_retries_total', 0):.0f}")
    print(f"RSS start/peak/end:    {rss[0] / mb:.1f} / {max(r for _, r in probe.samples) / mb:.1f}"
          f" / {rss[1] / mb:.1f} MiB; slope {probe.slope_per_1000() / 1024:+.1f} KiB "
          "per 1,000 requests")
    print(f"fds start/end:         {fds[0]} / {fds[1]}")
    print(f"active-stream gauge:   {final.get('zproxy_active_streams', -1):.0f} at end")
    for line in tally.garbled[:10]:
        print("  garbled:", line)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--fault-rate", type=float, default=0.05)
    args = parser.parse_args()
    asyncio.run(main(args.minutes, args.concurrency, args.fault_rate))
