"""X-FE-Version: numeric maximum, cache, override, fallback (zai-protocol.md §2.5)."""

from __future__ import annotations

import pytest

from zproxy.providers.zai.fe_version import FEVersion, extract_fe_version, version_key


@pytest.mark.parametrize(("html", "expected"), [
    ('<script src="/_app/prod-fe-1.0.99/x.js"></script> prod-fe-1.0.107', "prod-fe-1.0.107"),
    ("prod-fe-1.0.107 then prod-fe-1.0.99", "prod-fe-1.0.107"),
    ("prod-fe-1.0.271 prod-fe-1.1.35 prod-fe-1.0.241", "prod-fe-1.1.35"),
    ("old prod-fe-1.0.70, new prod-fe-1.0.94.", "prod-fe-1.0.94"),
    ("prod-fe-2.0.0 prod-fe-10.0.0 prod-fe-9.99.99", "prod-fe-10.0.0"),
    ('{"version":"prod-fe-1.0.241"}', "prod-fe-1.0.241"),
])
def test_extract_picks_numeric_maximum(html: str, expected: str) -> None:
    assert extract_fe_version(html) == expected


@pytest.mark.parametrize("html", ["", "<html>no version</html>", "prod-fe-", "prod-fe-x.y.z",
                                  "prod-fe-1"])
def test_extract_none_without_version(html: str) -> None:
    assert extract_fe_version(html) is None


def test_version_key_is_numeric() -> None:
    assert version_key("prod-fe-1.0.107") > version_key("prod-fe-1.0.99")
    assert version_key("1.1.35") > version_key("1.0.271")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Pages:
    def __init__(self, *pages: str | Exception) -> None:
        self.pages = list(pages)
        self.calls = 0

    async def __call__(self) -> str:
        page = self.pages[min(self.calls, len(self.pages) - 1)]
        self.calls += 1
        if isinstance(page, Exception):
            raise page
        return page


def _fe(pages: Pages, *, override: str | None = None, ttl: float = 1800.0
         ) -> tuple[FEVersion, Clock]:
    clock = Clock()
    return FEVersion(override=override, fallback="prod-fe-1.0.0", ttl_s=ttl, fetch=pages,
                     clock=clock), clock


async def test_override_never_fetches() -> None:
    pages = Pages("prod-fe-1.0.300")
    fe, _ = _fe(pages, override="prod-fe-9.9.9")
    assert await fe.get() == "prod-fe-9.9.9"
    fe.invalidate()
    assert await fe.get() == "prod-fe-9.9.9"
    assert pages.calls == 0


async def test_scraped_value_is_cached_for_ttl() -> None:
    pages = Pages("prod-fe-1.0.200", "prod-fe-1.0.201")
    fe, clock = _fe(pages, ttl=60)
    assert await fe.get() == "prod-fe-1.0.200"
    clock.now += 59
    assert await fe.get() == "prod-fe-1.0.200"
    assert pages.calls == 1
    clock.now += 1
    assert await fe.get() == "prod-fe-1.0.201"
    assert pages.calls == 2


async def test_invalidate_forces_a_new_scrape() -> None:
    pages = Pages("prod-fe-1.0.200", "prod-fe-1.0.250")
    fe, _ = _fe(pages)
    assert await fe.get() == "prod-fe-1.0.200"
    fe.invalidate()
    assert await fe.get() == "prod-fe-1.0.250"
    assert pages.calls == 2


async def test_fetch_error_falls_back() -> None:
    pages = Pages(OSError("connection refused"))
    fe, _ = _fe(pages)
    assert await fe.get() == "prod-fe-1.0.0"


async def test_page_without_version_falls_back() -> None:
    fe, _ = _fe(Pages("<html></html>"))
    assert await fe.get() == "prod-fe-1.0.0"


async def test_fetch_error_after_success_keeps_last_value() -> None:
    pages = Pages("prod-fe-1.0.200", RuntimeError("boom"), "<html></html>")
    fe, _ = _fe(pages)
    assert await fe.get() == "prod-fe-1.0.200"
    fe.invalidate()
    assert await fe.get() == "prod-fe-1.0.200"
    fe.invalidate()
    assert await fe.get() == "prod-fe-1.0.200"
    assert pages.calls == 3
