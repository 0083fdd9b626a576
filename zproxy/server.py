"""Serving: the same runner for `run.py`, `python -m zproxy`, tests and benchmarks.

Client disconnects cancel the handler (`handler_cancellation=True`), which closes the
upstream response; shutdown waits up to `SHUTDOWN_GRACE_SECONDS` for running streams.
A start-up failure (bad setting, busy port) is one line on stderr naming the variable to
change, exit code 2: a new user should never have to read a traceback to fix a typo.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ipaddress
import signal
import sys
from collections.abc import Callable
from typing import Final

import structlog
from aiohttp import web

from zproxy.app import create_app
from zproxy.config import ConfigError, Settings, load_settings
from zproxy.keys import SETTINGS
from zproxy.log import configure_logging
from zproxy.workers import reuse_port_supported, supervise

log = structlog.get_logger(__name__)

EXIT_STARTUP: Final = 2


class StartupError(Exception):
    """The server cannot start; the message names the setting to change."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_warning(settings: Settings) -> str | None:
    """The warning due when anyone on the network may use this server without a key."""
    if is_loopback(settings.host) or settings.auth_required:
        return None
    return (f"zproxy: WARNING: listening on {settings.host}:{settings.port} with no client "
            "key: anyone who can reach this port can use it. Set AUTH_TOKEN, or HOST=127.0.0.1.")


async def start(app: web.Application, host: str, port: int,
                grace_s: float, *, reuse_port: bool = False) -> web.AppRunner:
    # aiohttp arms the keep-alive timer when a connection opens and closes it if no full
    # request arrived by then: with CLIENT_SEND_TIMEOUT, slow headers are dropped too.
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=grace_s,
                           access_log=None,
                           keepalive_timeout=app[SETTINGS].client_send_timeout_s)
    try:
        await runner.setup()
    except BaseException:  # a start-up context failed: end the ones that had started
        await runner.cleanup()
        raise
    try:
        # A burst of connections up to the admission cap waits in the kernel's accept queue:
        # with aiohttp's default of 128, the rest of a burst of 1,000 is dropped and the
        # clients retry their SYN 1 s, 3 s, 7 s later (the kernel caps it at somaxconn).
        backlog = max(128, app[SETTINGS].max_concurrent_requests)
        await web.TCPSite(runner, host, port, reuse_port=reuse_port or None,
                          backlog=backlog).start()
    except OSError as exc:  # busy port, unknown or foreign address
        await runner.cleanup()
        reason = exc.strerror or str(exc)
        raise StartupError(f"cannot listen on {host}:{port} (HOST, PORT): {reason}") from exc
    return runner


def tune_gc(settings: Settings) -> None:
    """Everything alive once the server has started (modules, templates, settings, pools)
    lives as long as it: frozen out of the collector's sight, full collections stop walking
    it. The request path makes no reference cycles, so collections are pure cost, paid as a
    pause of every open stream: GC_THRESHOLDS makes them rarer (tests/perf/bench_table.py's
    slow-stream row shows the gap they add)."""
    gc.collect()
    gc.freeze()
    if settings.gc_thresholds is not None:
        gc.set_threshold(*settings.gc_thresholds)


async def serve(settings: Settings, on_started: Callable[[int], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM. `on_started` gets the bound port (PORT=0 picks one)."""
    runner = await start(create_app(settings), settings.host, settings.port,
                         settings.shutdown_grace_s, reuse_port=settings.workers > 1)
    tune_gc(settings)
    port = runner.addresses[0][1]
    mode = "user tokens" if settings.upstream_tokens else "guest sessions"
    log.info("server.started", url=f"http://{settings.host}:{port}",
             upstream=settings.upstream_base, credentials=mode)
    if on_started is not None:
        on_started(port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows
            loop.add_signal_handler(sig, stop.set)
    if sys.platform == "win32":  # no loop signal handlers; Ctrl-Break is the console's SIGTERM
        signal.signal(signal.SIGBREAK, lambda *_: loop.call_soon_threadsafe(stop.set))
    try:
        await stop.wait()
    finally:
        log.info("server.stopping", grace_s=settings.shutdown_grace_s)
        await runner.cleanup()


def startup_failed(message: str) -> int:
    print(f"zproxy: {message}", file=sys.stderr, flush=True)
    return EXIT_STARTUP


def startup_settings() -> Settings | int:
    """The settings with logging configured and any exposure warning printed, or the exit
    code after a configuration error was reported (shared by `main` and the demo)."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        return startup_failed(f"configuration error: {exc}")
    configure_logging(settings)
    warning = exposure_warning(settings)
    if warning is not None:
        print(warning, file=sys.stderr, flush=True)
    return settings


def main() -> int:
    settings = startup_settings()
    if isinstance(settings, int):
        return settings
    if settings.workers > 1:
        if reuse_port_supported():
            return supervise(settings, run)
        log.warning("workers.unsupported", workers=settings.workers,
                    reason="no SO_REUSEPORT on this platform: serving in one process")
        settings = settings.replace(workers=1)
    return run(settings)


def run(settings: Settings) -> int:
    """One server process until SIGINT/SIGTERM (a worker, when WORKERS > 1)."""
    try:
        import uvloop
    except ImportError:  # Windows has no uvloop
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        with contextlib.suppress(KeyboardInterrupt):
            runner(serve(settings))
    except StartupError as exc:
        return startup_failed(str(exc))
    except ConfigError as exc:  # found at start-up, e.g. a store that cannot be opened
        return startup_failed(f"configuration error: {exc}")
    return 0
