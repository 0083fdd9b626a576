"""Serving: the same runner for `run.py`, `python -m zproxy`, tests and benchmarks.

Client disconnects cancel the handler (`handler_cancellation=True`), which closes the
upstream response; shutdown waits up to `SHUTDOWN_GRACE_SECONDS` for running streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import structlog
from aiohttp import web

from zproxy.app import create_app
from zproxy.config import ConfigError, Settings, load_settings
from zproxy.keys import SETTINGS
from zproxy.log import configure_logging

log = structlog.get_logger(__name__)


async def start(app: web.Application, host: str, port: int,
                grace_s: float) -> web.AppRunner:
    # aiohttp arms the keep-alive timer when a connection opens and closes it if no full
    # request arrived by then: with CLIENT_SEND_TIMEOUT, slow headers are dropped too.
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=grace_s,
                           access_log=None,
                           keepalive_timeout=app[SETTINGS].client_send_timeout_s)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def serve(settings: Settings) -> None:
    runner = await start(create_app(settings), settings.host, settings.port,
                         settings.shutdown_grace_s)
    mode = "user tokens" if settings.upstream_tokens else "guest sessions"
    log.info("server.started", url=f"http://{settings.host}:{settings.port}",
             upstream=settings.upstream_base, credentials=mode)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("server.stopping", grace_s=settings.shutdown_grace_s)
        await runner.cleanup()


def main() -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"zproxy: configuration error: {exc}")
        return 2
    configure_logging(settings)
    try:
        import uvloop
    except ImportError:  # Windows has no uvloop
        runner = asyncio.run
    else:
        runner = uvloop.run
    try:
        with contextlib.suppress(KeyboardInterrupt):
            runner(serve(settings))
    except ConfigError as exc:  # found at start-up, e.g. a store that cannot be opened
        print(f"zproxy: configuration error: {exc}")
        return 2
    return 0
