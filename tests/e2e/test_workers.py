"""WORKERS=2: two real server processes on one port, restarted when one dies, all stopped by
SIGTERM. The proxy runs as `python -m zproxy`, as operators run it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no SO_REUSEPORT")


def ready(port: int) -> dict[str, object]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/health/ready",
                                     headers={"Connection": "close"})
    with urllib.request.urlopen(request, timeout=5) as response:
        found: dict[str, object] = orjson.loads(response.read())
        return found


def pids_answering(port: int, want: int, timeout_s: float = 20.0) -> set[int]:
    """Distinct worker pids seen over fresh connections, until `want` or the timeout."""
    seen: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while len(seen) < want and time.monotonic() < deadline:
        try:
            seen.add(int(str(ready(port)["pid"])))
        except OSError:
            time.sleep(0.05)
    return seen


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def start_workers(port: int, **env: str) -> subprocess.Popen[bytes]:
    environ = {**os.environ, "PORT": str(port), "HOST": "127.0.0.1", "WORKERS": "2",
               "ZAI_BASE_URL": "http://127.0.0.1:9", "LOG_JSON": "true",
               "SHUTDOWN_GRACE_SECONDS": "2", "PYTHONPATH": str(ROOT), **env}
    return subprocess.Popen([sys.executable, "-m", "zproxy"], cwd=ROOT, env=environ,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_two_workers_share_the_port_restart_and_stop_together() -> None:
    port = free_port()
    parent = start_workers(port)
    try:
        first = pids_answering(port, 2)
        assert len(first) == 2 and parent.pid not in first
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 20
        now: set[int] = set()
        while time.monotonic() < deadline:
            now = pids_answering(port, 2, timeout_s=2)
            if len(now) == 2 and victim not in now:
                break
        assert len(now) == 2 and victim not in now, now  # a new worker took its place
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(15) == 0
        assert not any(alive(pid) for pid in now)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_a_busy_port_stops_the_workers_with_one_line() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        parent = start_workers(taken.getsockname()[1])
        assert parent.wait(20) == 2
        assert parent.stderr is not None
        err = parent.stderr.read().decode()
        assert "cannot listen on 127.0.0.1" in err and "Traceback" not in err
