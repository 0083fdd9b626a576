"""The offline demo: the fake Z.AI upstream and the real proxy in one process.

``./start.sh demo`` (``start.bat demo``) runs ``python -m tests.fakes.demo``: the fake answers
with `tests/fakes/answers.py` (your prompt echoed, a tool call when tools are sent, reasoning
for thinking models) and prints one line per completion; the proxy is the real one, with your
settings (HOST, PORT, AUTH_TOKEN…) except that it talks to the fake and uses guest sessions.
Ctrl-C (or SIGTERM) stops both.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiohttp import web

from tests.fakes.zai import FakeZai
from zproxy.config import Settings
from zproxy.server import StartupError, serve, startup_failed, startup_settings

DEFAULT_FAKE_PORT = 9090


def _print(line: str) -> None:
    print(f"fake z.ai: {line}", flush=True)


def _banner(settings: Settings, port: int, fake_url: str) -> str:
    base = f"http://{settings.host}:{port}/v1"
    key = settings.client_keys[0] if settings.auth_required else "any"
    return (f"zproxy demo: {base} (fake upstream {fake_url}, nothing leaves this machine)\n"
            f"  try: curl {base}/chat/completions -H 'Authorization: Bearer {key}' "
            "-H 'Content-Type: application/json' "
            """-d '{"model": "GLM-4.6", "messages": [{"role": "user", "content": "Hi"}]}'""")


async def run_demo(settings: Settings, fake_port: int) -> None:
    fake = FakeZai(demo=True, log=_print)
    runner = web.AppRunner(fake.app, access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, "127.0.0.1", fake_port).start()
        except OSError as exc:
            raise StartupError(f"cannot listen on 127.0.0.1:{fake_port} for the fake upstream "
                               f"(--fake-port): {exc.strerror or exc}") from exc
        host, port = runner.addresses[0][:2]
        fake_url = f"http://{host}:{port}"
        proxy_settings = settings.replace(upstream_base=fake_url, upstream_endpoint=None,
                                          upstream_tokens=(), guest_enabled=True)
        await serve(proxy_settings, on_started=lambda bound: print(
            _banner(proxy_settings, bound, fake_url), flush=True))
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fake-port", type=int, default=DEFAULT_FAKE_PORT,
                        help="port of the fake upstream (0: any free port)")
    args = parser.parse_args(argv)
    settings = startup_settings()
    if isinstance(settings, int):
        return settings
    try:
        asyncio.run(run_demo(settings, args.fake_port))
    except StartupError as exc:
        return startup_failed(str(exc))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
