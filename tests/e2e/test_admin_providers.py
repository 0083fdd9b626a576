"""The admin token store's provider column over the admin API (issue 12)."""

from __future__ import annotations

from tests.conftest import Proxy
from tests.e2e.test_admin import ADMIN, ALICE, admin, call  # noqa: F401  (fixture)


async def test_tokens_are_added_for_a_named_provider(admin: Proxy) -> None:  # noqa: F811
    added = await call(admin, "POST", "/admin/api/tokens", headers=ADMIN, status=201,
                       json={"token": ALICE, "provider": "ZAI", "label": "a"})
    assert added["added"] == 1
    listing = (await call(admin, "GET", "/admin/api/tokens", headers=ADMIN))["data"]
    assert [(t["provider"], t["label"]) for t in listing] == [("zai", "a")]
    bad = await call(admin, "POST", "/admin/api/tokens", headers=ADMIN, status=400,
                     json={"token": "tok-other-0123456789abcdef", "provider": "openai"})
    assert bad["error"]["type"] == "invalid_request_error"
    assert "provider must be one of" in bad["error"]["message"]
    assert "zai" in bad["error"]["message"]
