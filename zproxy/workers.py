"""WORKERS=N: N server processes on one port, and a parent that keeps them running.

Each worker binds its own listening socket with SO_REUSEPORT, so the kernel spreads new
connections across them (no accept lock, no thundering herd) and a worker can be replaced
without closing the port. The parent serves nothing: it holds the port (bound, never
listening, so it takes no connections), restarts a worker that dies, and on SIGTERM or SIGINT
passes SIGTERM on and waits for every worker's graceful shutdown before it exits.

Where the platform has no SO_REUSEPORT (Windows), WORKERS>1 falls back to one process with a
warning. Without REDIS_URL each worker keeps its own runtime state (persisted chats, token
health, rate limits, dashboard); with it, workers share state exactly as instances do.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Final

import structlog

from zproxy.config import Settings

log = structlog.get_logger(__name__)

EXIT_STARTUP: Final = 2  # a worker that cannot start (busy port, bad setting): stop them all
RESTART_BACKOFF_S: Final = (0.0, 0.5, 1.0, 2.0, 5.0)  # after quick successive crashes
STABLE_AFTER_S: Final = 10.0  # a worker alive this long resets its crash count
KILL_MARGIN_S: Final = 5.0  # beyond the shutdown grace, before a worker is killed

Target = Callable[[Settings], int]


def reuse_port_supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT") and sys.platform != "win32"


def hold_port(host: str, port: int) -> socket.socket:
    """Bind (host, port) with SO_REUSEPORT, without listening: the port stays ours while
    workers come and go, PORT=0 resolves to one port for all, and a busy port fails here."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


@dataclass
class _Slot:
    """One worker position: its current process and how often it crashed lately."""

    index: int
    process: multiprocessing.process.BaseProcess | None = None
    started: float = 0.0
    crashes: int = 0
    due: float = 0.0  # when a crashed worker may be started again


@dataclass
class Supervisor:
    settings: Settings
    target: Target
    slots: list[_Slot] = field(default_factory=list)
    stopping: bool = False

    def __post_init__(self) -> None:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self._context = multiprocessing.get_context(method)
        self.slots = [_Slot(i) for i in range(self.settings.workers)]

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)
        for slot in self.slots:
            self._spawn(slot)
        log.info("workers.started", workers=len(self.slots), port=self.settings.port,
                 pids=[s.process.pid for s in self.slots if s.process])
        code = 0
        while not self.stopping:
            code = self._watch()
            if code:
                break
        self._stop_all()
        return code

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True

    def _spawn(self, slot: _Slot) -> None:
        process = self._context.Process(  # type: ignore[attr-defined]
            target=_worker_main, args=(self.target, self.settings),
            name=f"zproxy-worker-{slot.index}", daemon=False)
        process.start()
        slot.process, slot.started = process, time.monotonic()

    def _watch(self) -> int:
        """Wait for a worker to die (or a restart to fall due); 0, or the exit code for all."""
        alive = [s.process.sentinel for s in self.slots if s.process is not None]
        pending = [s.due for s in self.slots if s.process is None]
        timeout = max(0.0, min(pending) - time.monotonic()) if pending else 1.0
        multiprocessing.connection.wait(alive, timeout=min(timeout, 1.0))
        now = time.monotonic()
        for slot in self.slots:
            process = slot.process
            if process is not None and not process.is_alive():
                process.join()
                if self.stopping:
                    return 0
                if process.exitcode == EXIT_STARTUP:
                    log.error("workers.cannot_start", worker=slot.index)
                    return EXIT_STARTUP
                self._crashed(slot, process.exitcode, now)
            if slot.process is None and slot.due <= now and not self.stopping:
                self._spawn(slot)
                log.info("workers.restarted", worker=slot.index, pid=_pid(slot))
        return 0

    def _crashed(self, slot: _Slot, exitcode: int | None, now: float) -> None:
        slot.crashes = 1 if now - slot.started >= STABLE_AFTER_S else slot.crashes + 1
        delay = RESTART_BACKOFF_S[min(slot.crashes - 1, len(RESTART_BACKOFF_S) - 1)]
        log.warning("workers.crashed", worker=slot.index, exitcode=exitcode,
                    restart_in_s=delay)
        slot.process, slot.due = None, now + delay

    def _stop_all(self) -> None:
        running = [s.process for s in self.slots if s.process is not None and s.process.is_alive()]
        log.info("workers.stopping", workers=len(running), grace_s=self.settings.shutdown_grace_s)
        for process in running:
            if process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_grace_s + KILL_MARGIN_S
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("workers.killed", pid=process.pid)
                process.kill()
                process.join()


def _pid(slot: _Slot) -> int | None:
    return slot.process.pid if slot.process is not None else None


def _worker_main(target: Target, settings: Settings) -> None:
    # The parent's handlers were inherited through fork; the worker's server installs its own.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    sys.exit(target(settings))


def supervise(settings: Settings, target: Target) -> int:
    """Run `target(settings)` in `settings.workers` processes on one port until signalled."""
    try:
        held = hold_port(settings.host, settings.port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        print(f"zproxy: cannot listen on {settings.host}:{settings.port} (HOST, PORT): "
              f"{reason}", file=sys.stderr, flush=True)
        return EXIT_STARTUP
    with held:
        port = int(held.getsockname()[1])
        return Supervisor(settings.replace(port=port), target).run()
