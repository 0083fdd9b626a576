"""Run zproxy's own commands as child processes, the way a user starts them."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
# variables a developer's shell may hold that would change what the child does
_DROP = ("ZAI_", "AUTH_TOKEN", "API_KEY", "DEFAULT_KEY", "UPSTREAM_", "HOST", "PORT",
         "LISTEN_PORT", "ANONYMOUS_MODE", "TOOL", "DASHBOARD_", "HTTP_PROXY", "HTTPS_PROXY",
         "SHUTDOWN_GRACE")


def child_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(_DROP)}
    # set, even empty, so a developer's .env in the checkout cannot change the test
    env.update({"AUTH_TOKEN": "", "HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1"})
    env.update(overrides)
    return env


def run(args: list[str], env: Mapping[str, str],
        timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=dict(env), capture_output=True,
                          text=True, timeout=timeout, check=False)


def error_line(stderr: str) -> str:
    """The one error line: the last on stderr, the only one from zproxy itself (start-up log
    events may come before it), never a traceback."""
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr, stderr
    mine = [line for line in lines if line.startswith("zproxy:")]
    assert mine == lines[-1:], stderr
    return mine[0]


@dataclass
class Child:
    """A running child whose output is read by threads, so waiting for a line can time out."""

    proc: subprocess.Popen[str]
    lines: queue.Queue[tuple[str, str]] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)

    def pump(self, name: str, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put((name, line))

    def wait_for(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        """The first new output line (stdout or stderr) matching `pattern`."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                _, line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no line matching {pattern!r} in:\n{''.join(self.seen)}")

    def interrupt(self, timeout: float = 15) -> int:
        """Stop the child as Ctrl-C would and return its exit code."""
        if sys.platform == "win32":
            self.proc.send_signal(signal.CTRL_BREAK_EVENT)
        else:
            self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout)


@contextmanager
def running(args: list[str], env: Mapping[str, str]) -> Iterator[Child]:
    """A child process, killed if it is still running when the block ends."""
    flags = subprocess.CREATE_NEW_PROCESS_GROUP if sys.platform == "win32" else 0
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=dict(env), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, creationflags=flags)
    child = Child(proc)
    assert proc.stdout is not None and proc.stderr is not None
    for name, stream in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        threading.Thread(target=child.pump, args=(name, stream), daemon=True).start()
    try:
        yield child
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
