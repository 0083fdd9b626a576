"""The admin pages in a real headless Chromium: login, add, paste many, disable, validate,
delete, logout. Fails (never skips) when Chromium is missing."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from tests.conftest import MakeProxy, Proxy
from tests.e2e.cdp import INSTALL_HINT, Browser, Page, find_chromium
from tests.e2e.test_dashboard_browser import OUTPUT, foreign, text
from tests.fakes.zai import FakeZai

pytestmark = pytest.mark.browser

PASSWORD = "browser-admin-password-42"
ALICE = "tok-alice-browser-0123456789abcdef"
BOB, CAROL, DAVE = (f"tok-{n}-browser-0123456789abcdef" for n in ("bob", "carol", "dave"))


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if find_chromium() is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    async with Browser.launch() as launched:
        yield launched


async def submit(page: Page, script: str) -> None:
    async def act() -> None:
        await page.evaluate(script)

    await page.wait_event("Page.loadEventFired", act)


async def rows(page: Page) -> list[dict[str, str]]:
    found = await page.evaluate("""JSON.stringify([...document.querySelectorAll(
        '#tokens-table tbody tr[data-id]')].map(r => ({id: r.dataset.id, state: r.dataset.state,
        text: r.textContent})))""")
    return list(json.loads(found))


def row_script(label_or_fp: str, selector: str) -> str:
    return (f"[...document.querySelectorAll('#tokens-table tbody tr[data-id]')]"
            f".find(r => r.textContent.includes({label_or_fp!r}))"
            f".querySelector({selector!r}).click()")


async def test_admin_pages_in_a_browser(browser: Browser, fake: FakeZai,
                                        make_proxy: MakeProxy) -> None:
    fake.user_tokens.update({ALICE: "alice-id", BOB: "bob-id", DAVE: "dave-id"})
    proxy: Proxy = await make_proxy(admin_password=PASSWORD)
    url = proxy.url
    page = await browser.new_page(width=1400, height=900)

    # login
    await page.navigate(f"{url}/admin")
    assert await page.evaluate("location.pathname") == "/admin/login"
    await page.evaluate(f"document.getElementById('password').value = {PASSWORD!r}")
    await submit(page, "document.getElementById('admin-login-form').requestSubmit()")
    assert await page.evaluate("location.pathname") == "/admin/tokens"
    assert await page.evaluate("document.cookie") == ""  # HttpOnly
    assert "No user tokens yet" in await text(page, "#tokens-table tbody")

    # add one
    await page.evaluate(f"document.getElementById('tokens').value = {ALICE!r};"
                        "document.getElementById('add-label').value = 'alice'")
    await submit(page, "document.getElementById('add-form').requestSubmit()")
    assert await text(page, "#notice") == "Added 1 token(s)"
    assert len(await rows(page)) == 1

    # paste many (lines, commas, a comment, a duplicate)
    pasted = f"# the team\\n{BOB}\\n{CAROL}, {DAVE}\\n{ALICE}"
    await page.evaluate(f"document.getElementById('tokens').value = '{pasted}'")
    await submit(page, "document.getElementById('add-form').requestSubmit()")
    assert await text(page, "#notice") == "Added 3 token(s), 1 already known"
    assert len(await rows(page)) == 4

    # disable alice
    await submit(page, row_script("alice", "button.toggle"))
    assert "Disabled alice" in await text(page, "#notice")
    states = {r["text"].split("#")[1][:8] if "#" in r["text"] else "": r["state"]
              for r in await rows(page)}
    assert sorted(states.values()) == ["disabled", "healthy", "healthy", "healthy"]

    # validate all, with progress, through the admin API and the session's CSRF token
    await submit(page, "document.getElementById('validate-all').click()")
    assert await text(page, "#notice") == "Validated 4 token(s): 3 valid"
    by_state = sorted(r["state"] for r in await rows(page))
    assert by_state == ["disabled", "healthy", "healthy", "invalid"]  # carol is nobody
    carol = next(r for r in await rows(page) if r["state"] == "invalid")
    assert "bob-id" not in carol["text"]
    assert "@example.com" in await text(page, "#tokens-table tbody")

    # delete carol, after the confirmation page
    await submit(page, f"document.querySelector('tr[data-id=\"{carol['id']}\"] a.delete')"
                       ".click()")
    assert await page.evaluate("location.pathname") == f"/admin/tokens/{carol['id']}/delete"
    assert "Delete for good?" in await text(page, "#confirm-form")
    await submit(page, "document.getElementById('confirm-delete').click()")
    assert await text(page, "#notice") == "Deleted 1 token(s)"
    assert len(await rows(page)) == 3

    html = await page.evaluate("document.documentElement.outerHTML")
    for secret in (ALICE, BOB, CAROL, DAVE, PASSWORD):
        assert secret not in html
    await page.screenshot(OUTPUT / "admin-tokens.png")
    assert (OUTPUT / "admin-tokens.png").stat().st_size > 10_000

    await page.navigate(f"{url}/admin/events")
    events = await text(page, "#events-table tbody")
    assert all(word in events for word in ("added", "disabled", "invalid", "removed"))

    # logout: the session is gone
    await submit(page, "document.getElementById('logout-form').requestSubmit()")
    assert await page.evaluate("location.pathname") == "/admin/login"
    await page.navigate(f"{url}/admin/tokens")
    assert await page.evaluate("location.pathname") == "/admin/login"

    assert foreign(page.requested_urls, url) == []
    assert f"{url}/static/admin.js" in page.requested_urls
    assert page.console_errors == []
    page.close()
