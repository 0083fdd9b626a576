"""The completion query string: pre-encoded, yet byte for byte what urlencode makes of it."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

import pytest

from zproxy.config import DEFAULT_USER_AGENT
from zproxy.providers.zai.query import CompletionQuery, fingerprint

BASE, PATH = "https://chat.z.ai", "/api/v2/chat/completions"
NOW = datetime(2026, 3, 4, 5, 6, 7, 891000, tzinfo=UTC)


def reference(request_id: str, now_ms: int, user_id: str, token: str, chat_id: str,
              with_fingerprint: bool) -> str:
    """The query as the client built it before: one dict, urlencode'd per request."""
    query = {"requestId": request_id, "timestamp": str(now_ms), "user_id": user_id,
             "version": "0.0.1", "platform": "web", "token": token,
             "current_url": f"{BASE}/c/{chat_id}", "pathname": f"/c/{chat_id}",
             "signature_timestamp": str(now_ms)}
    if with_fingerprint:
        query |= fingerprint(DEFAULT_USER_AGENT, NOW)
    return f"{BASE}{PATH}?{urlencode(query)}"


@pytest.mark.parametrize("with_fingerprint", [False, True])
@pytest.mark.parametrize(("user_id", "token", "chat_id"), [
    ("u-1", "eyJhbGciOi.J9.sig_-", "0b9a4c2e-1f3d-4e5a-9b6c-7d8e9f0a1b2c"),
    ("用户 &=+/?", "tok en/+=&%", "chat id/#?"),  # everything quote_plus escapes
])
def test_same_text_as_urlencode(with_fingerprint: bool, user_id: str, token: str,
                                chat_id: str) -> None:
    query = CompletionQuery(BASE, PATH, DEFAULT_USER_AGENT)
    url = query.url(request_id="r-1", now_ms=1772600767891, user_id=user_id, token=token,
                    chat_id=chat_id, fingerprint_at=NOW if with_fingerprint else None)
    expected = reference("r-1", 1772600767891, user_id, token, chat_id, with_fingerprint)
    assert str(url) == expected
    assert dict(url.query)["token"] == token and dict(url.query)["user_id"] == user_id


def test_fingerprint_fields_keep_the_browser_order() -> None:
    url = CompletionQuery(BASE, PATH, "UA/1").url(request_id="r", now_ms=1, user_id="u",
                                                  token="t", chat_id="c", fingerprint_at=NOW)
    names = [name for name, _ in parse_qsl(url.query_string, keep_blank_values=True)]
    assert names[9:] == list(fingerprint("UA/1", NOW))
    assert dict(parse_qsl(url.query_string))["local_time"] == "2026-03-04T05:06:07.891Z"
