"""The upstream HTTP client's own cost, per candidate, doing zproxy's upstream job.

    .venv/bin/python -m tests.perf.bench_clients [--clients NAME,…] [--scale N] [--repeat N]

(`pip install -e '.[perf]'` for the other libraries; a candidate not installed is skipped and
said so.) Each candidate (`tests/perf/upstream_clients.py`: aiohttp as zproxy uses it, aiohttp
with one knob changed at a time, aiohttp tuned, httpx, httpx2, curl_cffi, niquests, pyreqwest,
aiosonic) sends signed completions built by zproxy's own query and signing code to the fake
Z.AI (`harness.PromptFake`, its own process on CPU 1) and reads each SSE body incrementally.
The load generator for one candidate and one scenario is a child process of its own, pinned to
CPU 0 and on uvloop like the proxy; its CPU (all threads, from /proc) over the measured
requests, after a warm-up that opens the connections, is the figure. Scenarios:

- c=64, 50 frames: client CPU per request, requests/s (wall clock: it depends on the fake).
- c=64, 200 frames: client CPU per 1,000 frames.
- c=1, 50 frames: client CPU per request with no concurrency to amortise over.

Then, against a raw local probe (`client_checks.py`), whether the candidate streams, closes a
connection whose reader was cancelled mid-body (and does not reuse it), and speaks through an
HTTP proxy. A script, not a test: it prints figures and asserts only that every body arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass

import aiohttp

from tests.perf.client_checks import check_proxy, check_streaming_and_cancel
from tests.perf.harness import ROOT, cpu_seconds, fake_process, guest, pin
from tests.perf.upstream_clients import CANDIDATES, MISSING, NOTES, Job, Upstream

CLIENT_CPU, FAKE_CPU = 0, 1


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


async def drive(name: str, fake: str, token: str, user_id: str, frames: int, concurrency: int,
                requests: int, seconds: float) -> dict[str, float]:
    """Up to `requests` bodies, `concurrency` at a time, started within `seconds` (a slow
    candidate does fewer: the figures are per request or per frame either way)."""
    job = Job(fake, token, user_id, f"frames={frames}")
    client = await CANDIDATES[name](None, job.static)
    try:
        await asyncio.gather(*(one_request(client, job) for _ in range(concurrency)))
        loop, left, counts = asyncio.get_running_loop(), iter(range(requests)), []

        async def worker() -> None:
            for _ in left:
                counts.append(await one_request(client, job))
                if loop.time() > deadline:
                    return

        cpu, start = cpu_seconds(os.getpid()), loop.time()
        deadline = start + seconds
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = loop.time() - start
        cpu = cpu_seconds(os.getpid()) - cpu
    finally:
        await client.aclose()
    assert min(counts) >= frames, min(counts)
    return {"cpu": cpu, "wall": wall, "requests": len(counts), "frames": sum(counts)}


def child_main(argv: list[str]) -> None:
    name, fake, token, user_id, frames, concurrency, requests, seconds = argv
    pin(0, CLIENT_CPU)  # before any library starts a thread: its threads inherit the core
    try:
        import uvloop  # what the proxy runs on
        loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        result = runner.run(drive(name, fake, token, user_id, int(frames), int(concurrency),
                                  int(requests), float(seconds)))
    print(json.dumps(result), flush=True)


# --- the parent ---------------------------------------------------------------------------------

async def run_child(name: str, fake: str, token: str, user_id: str, scenario: Scenario,
                    scale: float, seconds: float) -> dict[str, float]:
    requests = max(scenario.concurrency, int(scenario.requests * scale))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.perf.bench_clients", "--child", name, fake, token, user_id,
        str(scenario.frames), str(scenario.concurrency), str(requests), str(seconds), cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{name} {scenario.key}: child exited {proc.returncode}")
    result: dict[str, float] = json.loads(out.splitlines()[-1])
    return result


@dataclass
class Figures:
    cpu_per_request_ms: list[float]
    requests_per_s: list[float]
    cpu_per_1000_frames_ms: list[float]
    c1_cpu_per_request_ms: list[float]
    checks: tuple[str, str, str] = ("", "", "")
    failed: str = ""


async def measure(names: list[str], fake: str, args: argparse.Namespace) -> dict[str, Figures]:
    async with aiohttp.ClientSession() as session:
        token, user_id = await guest(session, fake)
    figures = {name: Figures([], [], [], []) for name in names}
    for round_ in range(args.repeat):
        for scenario in SCENARIOS:
            for name in names if round_ % 2 == 0 else names[::-1]:  # interleaved A/B
                f = figures[name]
                if f.failed:
                    continue
                try:
                    r = await run_child(name, fake, token, user_id, scenario, args.scale,
                                        args.seconds)
                except RuntimeError as exc:
                    f.failed = str(exc)
                    continue
                if scenario.key == "c64_f50":
                    f.cpu_per_request_ms.append(r["cpu"] / r["requests"] * 1e3)
                    f.requests_per_s.append(r["requests"] / r["wall"])
                elif scenario.key == "c64_f200":
                    f.cpu_per_1000_frames_ms.append(r["cpu"] / r["frames"] * 1e6)
                else:
                    f.c1_cpu_per_request_ms.append(r["cpu"] / r["requests"] * 1e3)
                print(f"  … {name} {scenario.key}: {json.dumps(r)}", flush=True)
    return figures


async def check_all(names: list[str], figures: dict[str, Figures]) -> None:
    for name in names:
        if figures[name].failed:
            continue
        streaming, cancel = await check_streaming_and_cancel(CANDIDATES[name])
        figures[name].checks = (streaming, cancel, await check_proxy(CANDIDATES[name]))


def print_table(figures: dict[str, Figures]) -> None:
    base = statistics.median(figures["aiohttp today"].cpu_per_request_ms) \
        if "aiohttp today" in figures else None
    width = max(len(n) for n in figures)
    print(f"\n{'client':{width}}  {'CPU/req c=64':>12}  {'vs today':>8}  {'req/s':>6}  "
          f"{'CPU/1k frames':>13}  {'CPU/req c=1':>11}  streaming / cancel mid-body / proxy")
    for name, f in figures.items():
        if f.failed:
            print(f"{name:{width}}  failed: {f.failed}")
            continue
        cpu = statistics.median(f.cpu_per_request_ms)
        rel = f"{(cpu / base - 1) * 100:+.1f}%" if base else ""
        print(f"{name:{width}}  {cpu:>9.3f} ms  {rel:>8}  "
              f"{statistics.median(f.requests_per_s):>6.0f}  "
              f"{statistics.median(f.cpu_per_1000_frames_ms):>10.2f} ms  "
              f"{statistics.median(f.c1_cpu_per_request_ms):>8.3f} ms  {' / '.join(f.checks)}")
    print("\n(medians over --repeat runs; CPU is the client process's own, from /proc)")
    for name, note in NOTES.items():
        if note and name in figures:
            print(f"  {name}: {note}")


async def main(args: argparse.Namespace) -> None:
    for name, module in MISSING.items():
        print(f"skipped {name}: {module} is not installed (pip install -e '.[perf]')")
    names = [n for n in (args.clients.split(",") if args.clients else CANDIDATES)
             if n in CANDIDATES]
    async with fake_process(cpu=FAKE_CPU) as fake:
        figures = await measure(names, fake.url, args)
    await check_all(names, figures)
    print_table(figures)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child_main(sys.argv[2:])
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", help="comma-separated names (default: all installed)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies request counts")
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure (median)")
    parser.add_argument("--seconds", type=float, default=4.0,
                        help="longest measured phase per run; slow clients do fewer requests")
    asyncio.run(main(parser.parse_args()))
