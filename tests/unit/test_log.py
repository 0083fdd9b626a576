"""Secrets never reach the log: redact() and the structlog processor chain."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog

from tests.unit.fixture_data import load_json
from zproxy.config import Settings
from zproxy.log import _redact_processor, configure_logging, redact

GUEST_JWT = load_json("guest_auth_response.json")["token"]
USER_JWT = load_json("user_auth_response.json")["token"]


def test_bearer_token_masked() -> None:
    assert redact("Authorization: Bearer sk-abc.def_123") == "Authorization: Bearer ***"
    assert redact("bearer XYZ") == "bearer ***"


@pytest.mark.parametrize("jwt", [GUEST_JWT, USER_JWT])
def test_jwt_masked_anywhere(jwt: str) -> None:
    text = f"token is {jwt} (guest)"
    redacted = redact(text)
    assert jwt not in redacted
    assert jwt.split(".")[1] not in redacted
    assert redacted.startswith("token is ") and redacted.endswith(" (guest)")


def test_token_query_parameter_masked() -> None:
    url = "https://chat.z.ai/api/v2/chat/completions?timestamp=1&token=opaque-123&user_id=u"
    redacted = redact(url)
    assert "opaque-123" not in redacted
    assert "timestamp=1" in redacted and "user_id=u" in redacted
    assert redact("/x?token=abc") == "/x?token=***"


def test_plain_text_unchanged() -> None:
    text = "upstream.request_sent model=GLM-4.6 status=200 tokens=12"
    assert redact(text) == text


@pytest.mark.parametrize("key", ["token", "Authorization", "api_key", "X-API-Key", "password",
                                 "Cookie", "secret", "signing_secret", "access_token", "key"])
def test_secret_keys_masked_in_dicts(key: str) -> None:
    assert redact({key: "visible?", "other": "fine"}) == {key: "***", "other": "fine"}


def test_nested_structures() -> None:
    value = {"headers": {"Authorization": "Bearer a.b.c", "Accept": "*/*"},
             "urls": ["https://h/?token=t1", ("Bearer zzz",)],
             "n": 3, "none": None}
    assert redact(value) == {"headers": {"Authorization": "***", "Accept": "*/*"},
                             "urls": ["https://h/?token=***", ["Bearer ***"]],
                             "n": 3, "none": None}


def test_processor_masks_secret_keys_and_values() -> None:
    event = {"event": f"login ok Bearer {GUEST_JWT}", "token": "raw-token",
             "Authorization": "x", "url": "https://h/p?token=q", "count": 2}
    out = _redact_processor(None, "info", dict(event))
    assert out["token"] == "***" and out["Authorization"] == "***"
    assert out["url"] == "https://h/p?token=***"
    assert GUEST_JWT not in out["event"] and out["count"] == 2


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The processor chain of configure_logging, printing into a buffer."""
    out = io.StringIO()
    configure_logging(Settings(log_json=True))
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(out),
                        cache_logger_on_first_use=False)
    try:
        yield out
    finally:
        structlog.reset_defaults()


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def test_configured_logger_redacts(json_logs: io.StringIO) -> None:
    structlog.get_logger("test").info("upstream.request_sent", token=USER_JWT,
                                      url=f"https://chat.z.ai/x?token={USER_JWT}",
                                      headers={"Authorization": f"Bearer {USER_JWT}"})
    (line,) = _lines(json_logs)
    assert USER_JWT not in json.dumps(line)
    assert line["event"] == "upstream.request_sent"


def test_configured_logger_redacts_exception_text(json_logs: io.StringIO) -> None:
    # aiohttp errors carry the request URL, whose query holds the token (§2.1)
    try:
        raise ValueError(f"400, message='Bad Request', url='https://h/api?token={USER_JWT}'")
    except ValueError:
        structlog.get_logger("test").exception("upstream.failed")
    output = json.dumps(_lines(json_logs))
    assert "upstream.failed" in output
    assert USER_JWT not in output
    assert USER_JWT.split(".")[1] not in output
