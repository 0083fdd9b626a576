"""The upstream HTTP client's own cost, per candidate, doing zproxy's upstream job.

    .venv/bin/python -m tests.perf.bench_clients [--clients NAME,…] [--scale N] [--repeat N]

(`pip install -e '.[perf]'` for the other libraries; a candidate not installed is skipped and
said so.) Each candidate (`tests/perf/upstream_clients.py`: aiohttp as zproxy uses it, aiohttp
with one knob changed at a time, aiohttp tuned, httpx, httpx2, curl_cffi, niquests, pyreqwest,
aiosonic) sends signed completions built by zproxy's own query and signing code to the fake
Z.AI (`harness.PromptFake`, its own process on CPU 1) and reads each SSE body incrementally.
The load generator for one candidate and one scenario is a child process of its own, pinned to
CPU 0 and on uvloop like the proxy; its CPU (all threads, from /proc) over the measured
requests, after a warm-up that opens the connections, is the figure (`getrusage`: the counters
of /proc/PID/stat, in microseconds rather than its 10 ms ticks). Scenarios:

- c=64, 50 frames: client CPU per request, requests/s (wall clock: it depends on the fake).
- c=64, 200 frames: client CPU per 1,000 frames.
- c=1, 50 frames: client CPU per request with no concurrency to amortise over.

Then, against a raw local probe (`client_checks.py`), whether the candidate streams, closes a
connection whose reader was cancelled mid-body (and does not reuse it), and speaks through an
HTTP proxy. Last, what the header and URL knobs could save at most: aiohttp's per-request
preparation timed alone. A script, not a test: it prints figures and asserts only that every
body arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import timeit
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.client_reqrep import ClientRequest
from multidict import CIMultiDict
from yarl import URL

from tests.perf.client_checks import check_proxy, check_streaming_and_cancel
from tests.perf.harness import ROOT, fake_process, guest, pin
from tests.perf.upstream_clients import CANDIDATES, MISSING, NOTES, Job, Upstream

CLIENT_CPU, FAKE_CPU = 0, 1
BASELINE = "aiohttp today"


def own_cpu_seconds() -> float:
    """User + system CPU of this process, all its threads (a Tokio or libcurl one too)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Scenario:
    key: str
    concurrency: int
    frames: int
    requests: int  # at --scale 1


SCENARIOS = (Scenario("c64_f50", 64, 50, 1500), Scenario("c64_f200", 64, 200, 600),
             Scenario("c1_f50", 1, 50, 300))


# --- the child: one candidate, one scenario ---------------------------------------------------

async def one_request(client: Upstream, job: Job) -> int:
    """Frames in one body, counted as SSE event ends across network reads."""
    frames, tail = 0, False
    async with aclosing(client.chunks(job.next())) as chunks:
        async for chunk in chunks:
            frames += chunk.count(b"\n\n") + (tail and chunk[:1] == b"\n")
            tail = chunk[-1:] == b"\n"
    return frames


async def block(client: Upstream, job: Job, concurrency: int, requests: int,
                seconds: float) -> dict[str, float]:
    """Up to `requests` bodies, `concurrency` at a time, started within `seconds` (a slow
    candidate does fewer: the figures are per request or per frame either way)."""
    loop, left, counts = asyncio.get_running_loop(), iter(range(requests)), []

    async def worker() -> None:
        for _ in left:
            counts.append(await one_request(client, job))
            if loop.time() > deadline:
                return

    cpu, start = own_cpu_seconds(), loop.time()
    deadline = start + seconds
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = loop.time() - start, own_cpu_seconds() - cpu
    assert min(counts) >= job.frames, min(counts)
    return {"cpu": cpu, "wall": wall, "requests": len(counts), "frames": sum(counts)}


async def drive(names: list[str], job: Job, concurrency: int, requests: int, rounds: int,
                seconds: float) -> dict[str, list[dict[str, float]]]:
    """`rounds` blocks per candidate, the candidates taking turns (in a rotating order) so
    that they share whatever the machine's other tenants do meanwhile."""
    clients = {name: await CANDIDATES[name](None, job.static) for name in names}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    try:
        for client in clients.values():  # opens the connections
            await asyncio.gather(*(one_request(client, job) for _ in range(concurrency)))
        for round_ in range(rounds):
            for name in names[round_ % len(names):] + names[:round_ % len(names)]:
                results[name].append(await block(clients[name], job, concurrency, requests,
                                                 seconds))
    finally:
        for client in clients.values():
            await client.aclose()
    return results


def child_main(argv: list[str]) -> None:
    names, fake, token, user_id, frames, concurrency, requests, rounds, seconds = argv
    pin(0, CLIENT_CPU)  # before any library starts a thread: its threads inherit the core
    try:
        import uvloop  # what the proxy runs on
        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    job = Job(fake, token, user_id, int(frames))
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        result = runner.run(drive(names.split(","), job, int(concurrency), int(requests),
                                  int(rounds), float(seconds)))
    print(json.dumps(result), flush=True)


# --- the parent ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fake:
    url: str
    token: str
    user_id: str


async def run_child(names: list[str], fake: Fake, scenario: Scenario, requests: int,
                    rounds: int, seconds: float) -> dict[str, list[dict[str, float]]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.perf.bench_clients", "--child", ",".join(names), fake.url,
        fake.token, fake.user_id, str(scenario.frames), str(scenario.concurrency),
        str(requests), str(rounds), str(seconds), cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{scenario.key}: child exited {proc.returncode}")
    result: dict[str, list[dict[str, float]]] = json.loads(out.splitlines()[-1])
    return result


def cost(scenario: Scenario, r: dict[str, float]) -> float:
    """ms of client CPU per request, or per 1,000 frames for the 200-frame scenario."""
    if scenario.frames == 200:
        return r["cpu"] / r["frames"] * 1e6
    return r["cpu"] / r["requests"] * 1e3


@dataclass
class Figures:
    costs: dict[str, list[float]] = field(default_factory=dict)  # scenario key -> runs
    requests_per_s: list[float] = field(default_factory=list)  # c=64, 50 frames
    checks: tuple[str, str, str] = ("", "", "")
    failed: str = ""

    def median(self, key: str) -> float:
        return statistics.median(self.costs[key])


async def measure(names: list[str], fake: Fake,
                  args: argparse.Namespace) -> dict[str, Figures]:
    """Each candidate alone in its own child, per scenario, `--repeat` times interleaved."""
    figures = {name: Figures() for name in names}
    for round_ in range(args.repeat):
        for scenario in SCENARIOS:
            for name in names if round_ % 2 == 0 else names[::-1]:
                f = figures[name]
                if f.failed:
                    continue
                requests = max(scenario.concurrency, int(scenario.requests * args.scale))
                try:
                    r = (await run_child([name], fake, scenario, requests, 1,
                                         args.seconds))[name][0]
                except RuntimeError as exc:
                    f.failed = str(exc)
                    continue
                f.costs.setdefault(scenario.key, []).append(cost(scenario, r))
                if scenario.key == "c64_f50":
                    f.requests_per_s.append(r["requests"] / r["wall"])
                print(f"  … {name} {scenario.key}: {json.dumps(r)}", flush=True)
    return figures


async def paired(names: list[str], fake: Fake,
                 args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """The aiohttp variants in ONE child, taking turns in blocks: per scenario and variant,
    its cost relative to "aiohttp today" in the same round (machine noise mostly cancels)."""
    ratios: dict[str, dict[str, list[float]]] = {}
    for scenario in SCENARIOS:
        requests = max(scenario.concurrency, int(scenario.requests * args.scale / 5))
        result = await run_child(names, fake, scenario, requests, args.rounds, 1e9)
        for name, runs in result.items():
            base = result[BASELINE]
            ratios.setdefault(name, {})[scenario.key] = [
                cost(scenario, r) / cost(scenario, b) for r, b in zip(runs, base, strict=True)]
        print(f"  … paired {scenario.key}: done", flush=True)
    return ratios


async def check_all(figures: dict[str, Figures]) -> None:
    for name, f in figures.items():
        if not f.failed:
            streaming, cancel = await check_streaming_and_cancel(CANDIDATES[name])
            f.checks = (streaming, cancel, await check_proxy(CANDIDATES[name]))


def print_table(figures: dict[str, Figures]) -> None:
    base = figures[BASELINE].median("c64_f50") if BASELINE in figures else None
    width = max(len(n) for n in figures)
    print(f"\n{'client':{width}}  {'CPU/req c=64':>12}  {'vs today':>8}  {'req/s':>6}  "
          f"{'CPU/1k frames':>13}  {'CPU/req c=1':>11}  streaming / cancel mid-body / proxy")
    for name, f in figures.items():
        if f.failed:
            print(f"{name:{width}}  failed: {f.failed}")
            continue
        cpu = f.median("c64_f50")
        rel = f"{(cpu / base - 1) * 100:+.1f}%" if base else ""
        print(f"{name:{width}}  {cpu:>9.3f} ms  {rel:>8}  "
              f"{statistics.median(f.requests_per_s):>6.0f}  "
              f"{f.median('c64_f200'):>10.2f} ms  {f.median('c1_f50'):>8.3f} ms  "
              f"{' / '.join(f.checks)}")
    print("(c=64 with 50 frames and 200 frames per body, c=1 with 50; medians of --repeat runs;"
          " CPU is the client process's own)")
    for name, note in NOTES.items():
        if note and name in figures:
            print(f"  {name}: {note}")


def print_paired(ratios: dict[str, dict[str, list[float]]]) -> None:
    width = max(len(n) for n in ratios)
    print(f"\n{'aiohttp, paired in one process':{width}}  "
          + "  ".join(f"{s.key + ' (min … max)':>24}" for s in SCENARIOS))
    for name, by_scenario in ratios.items():
        cells = []
        for s in SCENARIOS:
            values = by_scenario[s.key]
            cells.append(f"{(statistics.median(values) - 1) * 100:+6.1f}% "
                         f"({(min(values) - 1) * 100:+5.1f} … {(max(values) - 1) * 100:+5.1f})")
        print(f"{name:{width}}  " + "  ".join(f"{c:>24}" for c in cells))
    print(f"(CPU per request, per 1,000 frames for f200, against {BASELINE!r} in the same"
          " round: median and range over --rounds)")


async def preparation_costs() -> None:
    """What the header and URL knobs can save at most: aiohttp's per-request preparation
    (`ClientSession._prepare_headers` and the `ClientRequest`), timed alone in µs, next to
    zproxy's own request building (`Job.next`). Private aiohttp API: skipped if it moved."""
    job = Job("http://127.0.0.1:9", "t" * 300, "user-id", 50)
    request, prepared = job.next(), CIMultiDict(job.static)
    loop, text = asyncio.get_running_loop(), str(job.next().url)
    plain = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
    preset = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), headers=job.static)
    skip = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(),
                                 skip_auto_headers=("Accept-Encoding",))

    def copied() -> CIMultiDict[str]:
        headers = prepared.copy()
        headers.extend(request.dynamic)
        return headers

    def case(session: aiohttp.ClientSession, headers: Callable[[], Any],
             url: Callable[[], URL]) -> Callable[[], object]:
        return lambda: ClientRequest(
            "POST", url(), headers=session._prepare_headers(headers()), data=request.body,
            skip_auto_headers=session._skip_auto_headers, loop=loop, session=session)

    cases = {"today": case(plain, request.headers, lambda: request.url),
             "str URL": case(plain, request.headers, lambda: URL(text)),
             "skip_auto_headers": case(skip, request.headers, lambda: request.url),
             "prepared CIMultiDict": case(plain, copied, lambda: request.url),
             "session headers": case(preset, lambda: request.dynamic, lambda: request.url),
             "(Job.next: signing, URL, body)": job.next}
    try:
        print("\nper-request preparation, µs (best of 5 × 20,000):")
        for name, fn in cases.items():
            print(f"  {name}: {min(timeit.repeat(fn, number=20_000, repeat=5)) / 0.02:.2f}")
    except (AttributeError, TypeError) as exc:
        print(f"  skipped: aiohttp's internals moved ({exc})")
    finally:
        for session in (plain, preset, skip):
            await session.close()


async def main(args: argparse.Namespace) -> None:
    for name, module in MISSING.items():
        print(f"skipped {name}: {module} is not installed (see the perf extra in pyproject.toml)")
    chosen = CANDIDATES if args.clients is None else args.clients.split(",")
    names = [n for n in chosen if n in CANDIDATES]
    knobs = [n for n in CANDIDATES if n.startswith("aiohttp")]
    async with fake_process(cpu=FAKE_CPU) as child:
        async with aiohttp.ClientSession() as session:
            fake = Fake(child.url, *await guest(session, child.url))
        figures = await measure(names, fake, args) if names else {}
        ratios = await paired(knobs, fake, args) if args.rounds and knobs else {}
    await check_all(figures)
    if figures:
        print_table(figures)
    if ratios:
        print_paired(ratios)
    pin(0, CLIENT_CPU)
    await preparation_costs()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child_main(sys.argv[2:])
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", default=None,
                        help="comma-separated names (default: all installed; '' for none)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies request counts")
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure (median)")
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="longest measured phase per run; slow clients do fewer requests")
    parser.add_argument("--rounds", type=int, default=10,
                        help="turns of the paired aiohttp comparison (0: skip it)")
    asyncio.run(main(parser.parse_args()))
