"""What every benchmark under tests/perf shares: ports, /proc readings, the proxy and the fake.

- `fake_in_process(fake)`: serve a `FakeZai` from this process (scripts pushed with `push`).
- `fake_process(cpu=…)`: serve a `PromptFake` from its own process, so the upstream's CPU is
  neither the proxy's nor the load generator's; the prompt says what to answer (see
  `PromptFake`).
- `proxy_process(fake_url, cpu=…, **env)`: a real `python -m zproxy` pointed at the fake,
  waited for until `/health` answers; its pid is there for `cpu_seconds` / `rss_kib`.

`cpu=` pins a process to one core (`os.sched_setaffinity`, what `taskset -c` does) where the
machine has more than one, so proxy CPU per request is measured on a core of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from tests.fakes.zai import FakeZai, Script
from tests.fakes.zai_script import last_user_text
from zproxy.config import DEFAULT_SIGNING_SECRET
from zproxy.providers.zai.signing import signature

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "你好，1+1等于几？"
LOREM = "lorem ipsum dolor sit amet, 你好世界 "
# A prompt for `PromptFake`: "frames=200", "think=100,100", "slow=10@0.5" (frames @ seconds).
PROMPT_RE = re.compile(r"(frames|think|slow)=(\d+)(?:,(\d+))?(?:@([\d.]+))?")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds of `pid` and its live children (WORKERS>1 spawns them)."""
    total = cpu_seconds(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(FileNotFoundError):
                total += cpu_seconds(int(child))
    return total


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def pin(pid: int, cpu: int | None) -> None:
    if cpu is not None and (os.cpu_count() or 1) > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(pid, {cpu % (os.cpu_count() or 1)})


def lorem(chars: int) -> str:
    return (LOREM * (chars // len(LOREM) + 1))[:chars]


def prompt_script(prompt: str, delta_size: int = 8) -> Script | None:
    """The `Script` a `PromptFake` prompt asks for; None for any other prompt."""
    match = PROMPT_RE.fullmatch(prompt)
    if match is None:
        return None
    kind, first, second, delay = match.groups()
    if kind == "think":
        # " " + thinking is what the fake quotes: that many chars make `first` frames.
        return Script(text=lorem(int(second or first) * delta_size),
                      thinking=lorem(int(first) * delta_size - 1), delta_size=delta_size)
    return Script(text=lorem(int(first) * delta_size), delta_size=delta_size,
                  frame_delay=float(delay) if kind == "slow" and delay else None)


class PromptFake(FakeZai):
    """The fake upstream answering what the prompt asks: `frames=N` (N content frames),
    `think=N,M` (N reasoning then M answer frames), `slow=N@S` (N frames S seconds apart);
    any other prompt gets the fake's default replay."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.responder = lambda body: prompt_script(last_user_text(body.get("messages") or []))


@contextlib.asynccontextmanager
async def fake_in_process(fake: FakeZai, backlog: int = 4096) -> AsyncIterator[str]:
    runner = web.AppRunner(fake.app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=backlog).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def serve_prompt_fake(port: int) -> None:
    """The body of `fake_process`' child: `python -m tests.perf.harness --serve-fake PORT`."""
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    web.run_app(PromptFake().app, host="127.0.0.1", port=port, print=None, access_log=None,
                backlog=4096)


@dataclass
class Child:
    url: str
    pid: int


@contextlib.asynccontextmanager
async def fake_process(cpu: int | None = None) -> AsyncIterator[Child]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.perf.harness", "--serve-fake",
                             str(port)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    pin(proc.pid, cpu)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_for(f"{url}/api/v1/auths/", "fake upstream")
        yield Child(url, proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.asynccontextmanager
async def proxy_process(fake_url: str, cpu: int | None = None, cprofile: Path | None = None,
                        tree: Path | None = None, **env: str) -> AsyncIterator[Child]:
    """`python -m zproxy` against `fake_url`; `env` adds or overrides settings. With
    `cprofile`, the proxy runs under cProfile and writes its stats there when it stops; with
    `tree`, the proxy is the one in that checkout (another commit, for before/after)."""
    port = free_port()
    root = tree or ROOT
    full_env = {**os.environ, "ZAI_BASE_URL": fake_url, "PORT": str(port), "HOST": "127.0.0.1",
                "LOG_JSON": "true", "PYTHONPATH": str(root), **env}
    command = ["-m", "zproxy"] if cprofile is None else [
        "-m", "tests.perf.harness", "--cprofile", str(cprofile)]
    proc = subprocess.Popen([sys.executable, *command], cwd=root, env=full_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pin(proc.pid, cpu)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url)
        yield Child(url, proc.pid)
    finally:
        proc.terminate()
        proc.wait(20)


async def wait_ready(url: str) -> None:
    await wait_for(f"{url}/health", "proxy")


async def wait_for(url: str, what: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(400):
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{what} did not start ({url})")


async def guest(session: aiohttp.ClientSession, fake_url: str) -> tuple[str, str]:
    """A fresh guest (token, user id) from the fake, for requests sent straight to it."""
    async with session.get(f"{fake_url}/api/v1/auths/") as response:
        data = await response.json()
    return str(data["token"]), str(data["id"])


def direct_request(fake_url: str, token: str, user_id: str,
                   prompt: str = PROMPT) -> dict[str, Any]:
    """`session.post(**…)` arguments for one signed completion sent straight to the fake."""
    now, request_id = int(time.time() * 1000), str(uuid.uuid4())
    body = {"stream": True, "model": "0727-360B-API", "signature_prompt": prompt,
            "messages": [{"role": "user", "content": prompt}], "features": {}}
    query = {"requestId": request_id, "timestamp": str(now), "user_id": user_id,
             "token": token, "signature_timestamp": str(now)}
    sig = signature(DEFAULT_SIGNING_SECRET, request_id=request_id, user_id=user_id,
                    timestamp_ms=now, prompt=prompt)
    headers = {"Authorization": f"Bearer {token}", "X-FE-Version": "prod-fe-1.1.35",
               "X-Signature": sig, "Content-Type": "application/json"}
    return {"url": f"{fake_url}/api/v2/chat/completions", "params": query, "headers": headers,
            "data": orjson.dumps(body)}


def profiled_proxy(out: str) -> None:
    """The body of a `proxy_process(cprofile=…)` child: the proxy under cProfile."""
    import cProfile

    from zproxy.server import main

    profiler = cProfile.Profile(time.process_time)  # CPU time: preemption is not counted
    try:
        profiler.runcall(main)
    finally:
        profiler.dump_stats(out)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-fake"]:
        serve_prompt_fake(int(sys.argv[2]))
    elif sys.argv[1:2] == ["--cprofile"]:
        profiled_proxy(sys.argv[2])
    else:
        sys.exit(__doc__)
