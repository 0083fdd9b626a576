"""Shared fixtures: the fake Z.AI upstream and the real proxy, both on real sockets.

`make_proxy(**settings)` is the one settings factory for end-to-end tests (datasette's
`make_app_client(**kw)` pattern): it starts the real app with `zproxy.server.start` — the
same runner production uses, handler cancellation included — against the fake upstream.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpServer

from tests.fakes.zai import FakeZai
from tests.fakes.zai_script import resolve_fixtures_dir
from zproxy.app import create_app
from zproxy.config import Settings
from zproxy.core.models import ModelCatalog
from zproxy.server import start

pytest_plugins = ["tests.servers"]  # real redis-server and PostgreSQL fixtures

# Tests never read the developer's .env; settings are always built explicitly.
_ENV_PREFIXES = ("ZAI_", "AUTH_TOKEN", "API_KEY", "DEFAULT_KEY", "UPSTREAM_", "ANONYMOUS_MODE",
                 "TOOL", "DASHBOARD_", "HTTP_PROXY", "HTTPS_PROXY")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--fuzz-long", action="store_true",
                     help="run every fuzz test with 40x the examples (tests/fuzzing.py)")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--fuzz-long"):  # read by tests/fuzzing.py when test modules load
        os.environ["ZPROXY_FUZZ"] = "long"


def pytest_sessionstart(session: pytest.Session) -> None:
    fixtures = resolve_fixtures_dir(None)
    if not (fixtures / "manifest.json").is_file():
        pytest.exit(f"Z.AI fixtures not found at {fixtures}: the tests replay tests/fixtures/zai; "
                    "unset ZPROXY_FIXTURES_DIR or point it at a folder with manifest.json.",
                    returncode=2)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith(_ENV_PREFIXES):
            monkeypatch.delenv(name)


@dataclass
class Proxy:
    url: str
    app: web.Application
    settings: Settings

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"


MakeProxy = Callable[..., Awaitable[Proxy]]


@pytest.fixture
def fake() -> FakeZai:
    return FakeZai()


@pytest.fixture
async def fake_url(fake: FakeZai, aiohttp_server: AiohttpServer) -> str:
    server = await aiohttp_server(fake.app)
    return str(server.make_url("/")).rstrip("/")


def proxy_settings(upstream_base: str, **overrides: Any) -> Settings:
    base = Settings(upstream_base=upstream_base, host="127.0.0.1", port=0,
                    shutdown_grace_s=2.0, guest_pool_size=2, read_timeout_s=10.0,
                    tool_keepalive_s=10.0, db_path=":memory:")
    return base.replace(**overrides)


@pytest.fixture
async def make_proxy(fake_url: str) -> AsyncIterator[MakeProxy]:
    runners: list[web.AppRunner] = []

    async def factory(*, models: ModelCatalog | None = None, **overrides: Any) -> Proxy:
        settings = proxy_settings(overrides.pop("upstream_base", fake_url), **overrides)
        app = create_app(settings, models=models)
        runner = await start(app, "127.0.0.1", 0, settings.shutdown_grace_s)
        runners.append(runner)
        host, port = runner.addresses[0][:2]
        return Proxy(f"http://{host}:{port}", app, settings)

    yield factory
    for runner in reversed(runners):
        await runner.cleanup()


@pytest.fixture
async def proxy(make_proxy: MakeProxy) -> Proxy:
    return await make_proxy()
