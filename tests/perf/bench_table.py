"""The issue-14 table in one run: zproxy's cost per request and per frame, against the fake.

    .venv/bin/python -m tests.perf.bench_table [--quick] [--rows …] [--profile DIR]

The fake upstream (`harness.PromptFake`) runs in a process of its own pinned to one core, the
proxy (`python -m zproxy`, WORKERS=1) in another pinned to the other core, and this process
is the load generator. CPU figures are the proxy's own, read from /proc, so neither the fake,
the load generator nor the other tenants of a shared machine count in them; requests per
second are wall clock and do depend on them. Rows:

- c=1 time to first chunk, through the proxy and straight to the fake (signed by hand).
- c=64 streams of 200 content frames: proxy CPU per 1,000 upstream frames, requests/s.
- c=64 non-stream requests of 50 frames: proxy CPU per request, requests/s.
- c=64 thinking streams (100 reasoning + 100 answer frames): CPU per 1,000 frames.
- N concurrent slow streams (frames 0.5 s apart): time to first chunk p99, the spread of the
  first chunks (all should start within 1 s of the first), the inter-chunk gap added over the
  upstream's own 0.5 s (p99; the same figure measured straight to the fake is printed as the
  floor this machine adds by itself), and the proxy's RSS growth per stream: its peak over
  the burst (start-up garbage included) and its peak at the most streams open at once
  (past their first chunk, not ended; that count is printed too), divided by that count.
- The same N slow streams opened at a steady 1,000 a second (groups of 10 every 10 ms) on a
  fresh proxy: its RSS growth per open stream once all are open, the memory each stream
  holds without the garbage of N simultaneous starts.

A script, not a test: it prints figures and asserts only that every answer arrived whole.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.perf.harness import (
    PROMPT,
    Child,
    cpu_seconds,
    direct_request,
    fake_process,
    guest,
    proxy_process,
    rss_kib,
)

SLOW_DELAY_S = 0.5
SLOW_FRAMES = 10
PROXY_CPU, FAKE_CPU = 0, 1
CONCURRENCY = 64


@dataclass
class Row:
    label: str
    value: str
    target: str = ""


@dataclass
class Table:
    rows: list[Row] = field(default_factory=list)

    def add(self, label: str, value: str, target: str = "") -> None:
        self.rows.append(Row(label, value, target))
        print(f"  … {label}: {value}", flush=True)

    def print(self) -> None:
        width = max(len(r.label) for r in self.rows)
        print(f"\n{'scenario':{width}}  {'zproxy':>22}  target")
        for r in self.rows:
            print(f"{r.label:{width}}  {r.value:>22}  {r.target}")


def chat_body(content: str, *, stream: bool, model: str = "GLM-4.5") -> dict[str, Any]:
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": content}]}


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def first_chunk_ms(session: aiohttp.ClientSession, **kwargs: Any) -> float:
    start = time.perf_counter()
    async with session.post(**kwargs) as response:
        assert response.status == 200, response.status
        await response.content.readany()
        elapsed = (time.perf_counter() - start) * 1000
        await response.read()
    return elapsed


async def latency_row(proxy: Child, fake: Child, table: Table,
                      args: argparse.Namespace) -> None:
    async with aiohttp.ClientSession() as session:
        await _latency(session, proxy, fake, table, 10 if args.quick else 40)


async def _latency(session: aiohttp.ClientSession, proxy: Child, fake: Child, table: Table,
                   requests: int) -> None:
    chat = {"url": f"{proxy.url}/v1/chat/completions", "json": chat_body(PROMPT, stream=True)}
    token, user_id = await guest(session, fake.url)
    for _ in range(3):
        await first_chunk_ms(session, **chat)
        await first_chunk_ms(session, **direct_request(fake.url, token, user_id))
    proxied, direct = [], []
    for _ in range(requests):
        proxied.append(await first_chunk_ms(session, **chat))
        direct.append(await first_chunk_ms(session, **direct_request(fake.url, token, user_id)))
    p50, d50 = statistics.median(proxied), statistics.median(direct)
    table.add("c=1 time to first chunk, direct / proxied p50", f"{d50:.2f} / {p50:.2f} ms")
    table.add("c=1 proxy overhead on time to first chunk p50", f"{p50 - d50:.2f} ms")


async def post_read(session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> None:
    async with session.post(url, json=body) as response:
        data = await response.read()
        assert response.status == 200, (response.status, data[:300])
        assert data.endswith(b"data: [DONE]\n\n") if body["stream"] else b'"stop"' in data


@contextlib.contextmanager
def sampled(pid: int, out: Path | None) -> Iterator[None]:
    """py-spy (test extras) samples the proxy into `out` (collapsed stacks) when asked."""
    if out is None:
        yield
        return
    spy = subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record",
                            "--pid", str(pid), "--format", "raw", "--rate", "500",
                            "--output", str(out)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # attached before the load starts
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(30)
        print(f"  … profile written to {out}")


async def load(proxy: Child, body: dict[str, Any], requests: int, concurrency: int,
               profile: Path | None = None) -> tuple[float, float]:
    """(proxy CPU seconds, wall seconds) for `requests` posts, `concurrency` in flight."""
    url = f"{proxy.url}/v1/chat/completions"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        left = iter(range(requests))

        async def client() -> None:
            for _ in left:
                await post_read(session, url, body)

        warm = iter(range(concurrency))
        await asyncio.gather(*(post_read(session, url, body) for _ in warm))
        with sampled(proxy.pid, profile):
            cpu, start = cpu_seconds(proxy.pid), time.perf_counter()
            await asyncio.gather(*(client() for _ in range(concurrency)))
            return cpu_seconds(proxy.pid) - cpu, time.perf_counter() - start


def profile_path(args: argparse.Namespace, row: str) -> Path | None:
    return args.profile / f"{row}.txt" if args.profile else None


async def stream_row(proxy: Child, table: Table, args: argparse.Namespace) -> None:
    requests = 10 * args.scale
    cpu, wall = await load(proxy, chat_body("frames=200", stream=True), requests, CONCURRENCY,
                           profile_path(args, "stream"))
    table.add(f"stream c={CONCURRENCY}, 200 frames: CPU per 1,000 upstream frames",
              f"{cpu / (requests * 200) * 1e6:.1f} ms", "≤ 15 ms")
    table.add(f"stream c={CONCURRENCY}: requests/s", f"{requests / wall:.0f}", "Go peer 303")


async def non_stream_row(proxy: Child, table: Table, args: argparse.Namespace) -> None:
    requests = 20 * args.scale
    cpu, wall = await load(proxy, chat_body("frames=50", stream=False), requests, CONCURRENCY,
                           profile_path(args, "non_stream"))
    table.add(f"non-stream c={CONCURRENCY}, 50 frames: CPU per request",
              f"{cpu / requests * 1e3:.2f} ms", "≤ 0.75 ms")
    table.add(f"non-stream c={CONCURRENCY}: requests/s", f"{requests / wall:.0f}",
              "Go peer 1,143")


async def thinking_row(proxy: Child, table: Table, args: argparse.Namespace) -> None:
    requests = 10 * args.scale
    body = chat_body("think=100,100", stream=True, model="GLM-4.5-Thinking")
    cpu, wall = await load(proxy, body, requests, CONCURRENCY, profile_path(args, "thinking"))
    table.add(f"thinking stream c={CONCURRENCY} (100 + 100 frames): CPU per 1,000 frames",
              f"{cpu / (requests * 200) * 1e6:.1f} ms", "Go peer ≈ 27 ms")


@dataclass
class SlowStream:
    sent: float = 0.0
    arrivals: list[float] = field(default_factory=list)  # one per content event


async def slow_stream(session: aiohttp.ClientSession, marker: bytes, started: asyncio.Event,
                      record: SlowStream, **kwargs: Any) -> SlowStream:
    await started.wait()
    record.sent = time.perf_counter()
    async with session.post(**kwargs) as response:
        assert response.status == 200, response.status
        tail = b""
        async for piece in response.content.iter_any():
            now = time.perf_counter()
            events = (tail + piece).split(b"\n\n")
            tail = events.pop()
            record.arrivals += [now for event in events
                                if marker in event and marker + b'"' not in event]
    # one per upstream frame, unless a late frame was read together with the next one
    assert 0 < len(record.arrivals) <= SLOW_FRAMES, len(record.arrivals)
    return record


async def slow_burst(streams: int, marker: bytes, sample: Callable[[int], None],
                     request: Callable[[], dict[str, Any]]) -> list[SlowStream]:
    """`streams` slow streams at once; `sample(open_now)` runs every 0.1 s with how many
    streams have had their first chunk and not yet ended."""
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = asyncio.Event()
        records = [SlowStream() for _ in range(streams)]
        tasks = [asyncio.ensure_future(slow_stream(session, marker, started, r, **request()))
                 for r in records]
        await asyncio.sleep(0)
        started.set()
        while not all(t.done() for t in tasks):
            sample(sum(1 for r, t in zip(records, tasks, strict=True)
                       if r.arrivals and not t.done()))
            await asyncio.wait(tasks, timeout=0.1)
        return [t.result() for t in tasks]


@dataclass
class RssProbe:
    """The proxy's RSS: its peak during a burst, and at the most streams open at once."""

    pid: int
    base: int = 0
    peak: int = 0
    most_open: int = 0  # streams past their first chunk and not ended, at once
    open_peak: int = 0  # the RSS peak while `most_open` streams were open

    def __call__(self, open_now: int) -> None:
        rss = rss_kib(self.pid)
        self.peak = max(self.peak, rss)
        if open_now > self.most_open:
            self.most_open, self.open_peak = open_now, rss
        elif open_now == self.most_open:
            self.open_peak = max(self.open_peak, rss)

    def per_open_stream(self) -> float:
        return (self.open_peak - self.base) / max(1, self.most_open)


def first_p99(records: list[SlowStream]) -> float:
    return quantile([r.arrivals[0] - r.sent for r in records], 0.99) * 1000


def spread(records: list[SlowStream]) -> float:
    firsts = [r.arrivals[0] for r in records]
    return (max(firsts) - min(firsts)) * 1000


def gaps_ms(records: list[SlowStream]) -> list[float]:
    return [(b - a - SLOW_DELAY_S) * 1000 for r in records
            for a, b in zip(r.arrivals, r.arrivals[1:], strict=False)]


async def slow_row(proxy: Child, fake: Child, table: Table, args: argparse.Namespace) -> None:
    streams = args.slow_streams
    prompt = f"slow={SLOW_FRAMES}@{SLOW_DELAY_S}"
    async with aiohttp.ClientSession() as session:
        token, user_id = await guest(session, fake.url)
    direct = await slow_burst(streams, b'"delta_content":"', lambda _open: None,
                              lambda: direct_request(fake.url, token, user_id, prompt))
    chat = {"url": f"{proxy.url}/v1/chat/completions", "json": chat_body(prompt, stream=True)}
    await slow_burst(8, b'"content":"', lambda _open: None, lambda: chat)  # warm-up
    rss = RssProbe(proxy.pid, base=rss_kib(proxy.pid))
    proxied = await slow_burst(streams, b'"content":"', rss, lambda: chat)
    table.add(f"{streams} slow streams: time to first chunk p99 (direct)",
              f"{first_p99(proxied):.0f} ms ({first_p99(direct):.0f})")
    table.add(f"{streams} slow streams: last first chunk after the first (direct)",
              f"{spread(proxied):.0f} ms ({spread(direct):.0f})", "≤ 1,000 ms")
    table.add(f"{streams} slow streams: added inter-chunk gap p99 (direct)",
              f"{quantile(gaps_ms(proxied), 0.99):.1f} ms ({quantile(gaps_ms(direct), 0.99):.1f})",
              "≤ 40 ms")
    table.add(f"{streams} slow streams: most open at once (sampled every 0.1 s)",
              f"{rss.most_open}", f"{streams}")
    table.add(f"{streams} slow streams: proxy RSS per stream, burst peak (at most open)",
              f"{(rss.peak - rss.base) / streams:.1f} KiB ({rss.per_open_stream():.1f})",
              "≤ 44 KiB")


PACED_GROUP = 10
PACED_EVERY_S = 0.01


async def paced_rss(proxy: Child, streams: int) -> float:
    """RSS growth per stream of `streams` slow streams opened at a steady rate, all open."""
    body = chat_body(f"slow={SLOW_FRAMES}@{SLOW_DELAY_S}", stream=True)
    url = f"{proxy.url}/v1/chat/completions"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=600)) as session:
        async def stream(opened: asyncio.Event) -> None:
            async with session.post(url, json=body) as response:
                assert response.status == 200, response.status
                pieces = response.content.iter_any()
                await anext(pieces)
                opened.set()
                async for _ in pieces:
                    pass

        await asyncio.gather(*(stream(asyncio.Event()) for _ in range(8)))  # warm-up
        base = rss_kib(proxy.pid)
        opened = [asyncio.Event() for _ in range(streams)]
        tasks = []
        for index, event in enumerate(opened):
            tasks.append(asyncio.ensure_future(stream(event)))
            if index % PACED_GROUP == PACED_GROUP - 1:
                await asyncio.sleep(PACED_EVERY_S)
        await asyncio.gather(*(event.wait() for event in opened))
        grown = rss_kib(proxy.pid) - base
        await asyncio.gather(*tasks)
    return grown / streams


async def paced_row(fake: Child, table: Table, args: argparse.Namespace) -> None:
    env = {"MAX_CONCURRENT_REQUESTS": str(args.slow_streams + 200), "WORKERS": "1"}
    async with proxy_process(fake.url, cpu=PROXY_CPU, tree=args.proxy_tree, **env) as proxy:
        per_stream = await paced_rss(proxy, args.slow_streams)
    table.add(f"{args.slow_streams} slow streams opened 1,000/s: proxy RSS per open stream",
              f"{per_stream:.1f} KiB", "≤ 44 KiB")


async def main(args: argparse.Namespace) -> None:
    table = Table()
    args.scale = 8 if args.quick else 32
    async with fake_process(cpu=FAKE_CPU) as fake:
        env = {"MAX_CONCURRENT_REQUESTS": str(args.slow_streams + 200), "WORKERS": "1"}
        async with proxy_process(fake.url, cpu=PROXY_CPU, tree=args.proxy_tree, **env) as proxy:
            for row in args.rows:
                if row in WITH_FAKE:
                    await WITH_FAKE[row](proxy, fake, table, args)
                else:
                    await PROXY_ONLY[row](proxy, table, args)
        if "slow" in args.rows:
            await paced_row(fake, table, args)
    table.print()
    print(f"({os.cpu_count()} CPUs; proxy pinned to CPU {PROXY_CPU}, fake upstream to CPU "
          f"{FAKE_CPU}; proxy CPU from /proc/<pid>/stat)")


Row3 = Callable[[Child, Table, argparse.Namespace], Awaitable[None]]
Row4 = Callable[[Child, Child, Table, argparse.Namespace], Awaitable[None]]
PROXY_ONLY: dict[str, Row3] = {"stream": stream_row, "non-stream": non_stream_row,
                               "thinking": thinking_row}
WITH_FAKE: dict[str, Row4] = {"latency": latency_row, "slow": slow_row}
ROWS = ("latency", "stream", "non-stream", "thinking", "slow")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a quarter of the requests")
    parser.add_argument("--slow-streams", type=int, default=1000, metavar="N",
                        help="how many concurrent slow streams")
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS),
                        help="which rows to measure (default: all)")
    parser.add_argument("--proxy-tree", type=Path, default=None, metavar="CHECKOUT",
                        help="measure the proxy of another checkout (e.g. a `git worktree` of "
                             "an older commit) against this fake and load generator")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR",
                        help="sample the proxy with py-spy during the c=64 rows (its figures "
                             "then include the sampling cost): DIR/<row>.txt, collapsed stacks")
    try:
        from uvloop import run as run_loop
    except ImportError:  # Windows has no uvloop
        run_loop = asyncio.run  # type: ignore[assignment]
    run_loop(main(parser.parse_args()))
