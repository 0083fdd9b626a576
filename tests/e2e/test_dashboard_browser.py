"""The dashboard and docs in a real headless Chromium, driven over the DevTools protocol.

Fails (never skips) when Chromium is missing: the project's test script installs it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import proxy_settings
from tests.e2e.cdp import INSTALL_HINT, Browser, Page, find_chromium
from tests.e2e.helpers import USER, async_client, collect_stream
from zproxy.app import create_app
from zproxy.keys import MODELS
from zproxy.observability import setup_observability
from zproxy.server import start

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "test-output"
KEY = "sk-browser-test-key"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if find_chromium() is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    async with Browser.launch() as launched:
        yield launched


@pytest.fixture
async def proxy_app(fake_url: str) -> AsyncIterator[tuple[str, web.Application]]:
    settings = proxy_settings(fake_url, client_keys=(KEY,))
    app = create_app(settings)
    setup_observability(app)
    runner = await start(app, "127.0.0.1", 0, settings.shutdown_grace_s)
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}", app
    await runner.cleanup()


def foreign(urls: list[str], origin: str) -> list[str]:
    own = urlsplit(origin).netloc
    return [u for u in urls if urlsplit(u).scheme not in {"data", "about", "blob"}
            and urlsplit(u).netloc != own]


async def text(page: Page, selector: str) -> str:
    return str(await page.evaluate(f"document.querySelector({selector!r}).textContent.trim()"))


async def test_dashboard_updates_live_and_docs_render(
        browser: Browser, proxy_app: tuple[str, web.Application]) -> None:
    url, app = proxy_app
    page = await browser.new_page()

    # 1. the dashboard asks for a key: log in through the form
    await page.navigate(f"{url}/dashboard")
    assert await page.evaluate("location.pathname") == "/dashboard/login"
    await page.evaluate(f"document.getElementById('key').value = {KEY!r}")
    await page.wait_event("Page.loadEventFired", lambda: page.evaluate(
        "document.getElementById('login-form').requestSubmit()"))
    assert await page.evaluate("location.pathname") == "/dashboard"
    assert await page.evaluate("document.cookie") == ""  # HttpOnly: invisible to scripts

    # 2. open it with a fast refresh and mark this document
    await page.navigate(f"{url}/dashboard?refresh=1")
    await page.evaluate("window.__notReloaded = 'marker-' + Math.random()")
    marker = await page.evaluate("window.__notReloaded")
    loaded_at = await page.evaluate("window.zproxyDashboard.loadedAt")
    assert await text(page, '[data-stat="totals.requests"]') == "0"
    assert "No requests yet" in await text(page, "#recent-table tbody")

    # 3. traffic through the proxy with the official SDK
    client = async_client(f"{url}/v1", key=KEY)
    await client.chat.completions.create(model="GLM-4.5", messages=USER)
    stream = await client.chat.completions.create(model="GLM-4.5", messages=USER, stream=True)
    await collect_stream(stream)
    await client.close()
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/v1/chat/completions", json={"model": "nope",
                             "messages": USER}, headers={"Authorization": f"Bearer {KEY}"}
                             ) as resp:
            assert resp.status == 404

    # 4. the page catches up by itself
    await page.wait_for("document.querySelector('[data-stat=\"totals.requests\"]')"
                        ".textContent.trim() === '3'")
    await page.wait_for("document.querySelectorAll('#recent-table tbody tr:not(.empty)')"
                        ".length === 3")
    assert await text(page, '[data-stat="totals.failures"]') == "1"
    assert await text(page, '[data-stat="totals.successes"]') == "2"
    statuses = await text(page, "#statuses-table tbody")
    assert "200" in statuses and "404" in statuses
    assert "openai-python" in await text(page, "#clients-table tbody")
    assert "chat_completions" in await text(page, "#apis-table tbody")
    assert "chat_completions" in await text(page, "#recent-table tbody")
    assert await page.evaluate("document.querySelectorAll('#chart-requests rect').length") >= 1
    assert await page.evaluate("document.querySelectorAll('#chart-latency circle').length") >= 1
    assert await text(page, '[data-stat="window.latency_ms.p95"]') != "–"
    # …without a reload
    assert await page.evaluate("window.__notReloaded") == marker
    assert await page.evaluate("window.zproxyDashboard.loadedAt") == loaded_at
    assert await page.evaluate("window.zproxyDashboard.refreshes") >= 1
    assert await page.evaluate("window.zproxyDashboard.failures") == 0
    assert page.console_errors == []
    await page.screenshot(OUTPUT / "dashboard.png")
    assert (OUTPUT / "dashboard.png").stat().st_size > 10_000

    # 5. /docs in the same browser
    await page.navigate(f"{url}/docs")
    assert "API documentation" in await text(page, "h1")
    assert await text(page, "#api-base") == f"{url}/v1"
    rows = await page.evaluate("document.querySelectorAll('#models-table tbody tr').length")
    assert rows == len(app[MODELS])
    assert await page.evaluate("document.querySelectorAll('[data-example]').length") >= 5
    await page.screenshot(OUTPUT / "docs.png")

    # nothing was fetched from anywhere but the proxy
    assert page.requested_urls, "the network log is empty"
    assert foreign(page.requested_urls, url) == []
    assert f"{url}/static/dashboard.js" in page.requested_urls
    assert f"{url}/dashboard/stats" in page.requested_urls
    assert page.console_errors == []
    page.close()
