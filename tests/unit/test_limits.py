"""The chat-size limits are pure: counted without a server."""

from __future__ import annotations

import pytest

from zproxy.config import ConfigError, Settings, load_settings
from zproxy.errors import ClientRequestError, OverloadedError, to_openai_error
from zproxy.limits import check_chat_size

SETTINGS = Settings(max_messages=3, max_total_chars=20)


def test_within_limits_passes() -> None:
    check_chat_size([{"role": "user", "content": "x" * 6}] * 3, SETTINGS)


def test_counts_text_parts_and_tool_arguments_not_images() -> None:
    messages = [
        {"role": "user", "content": [
            {"type": "text", "text": "a" * 8},
            {"type": "image_url", "image_url": {"url": "data:" + "b" * 999}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{" * 12}}]},
    ]
    check_chat_size(messages, SETTINGS)  # 8 + 12 = 20: at the limit
    messages[1]["tool_calls"][0]["function"]["arguments"] += "}"
    with pytest.raises(ClientRequestError, match="21 characters.*MAX_TOTAL_CHARS") as caught:
        check_chat_size(messages, SETTINGS)
    assert caught.value.code == "context_length_exceeded"


def test_too_many_messages_names_the_limit() -> None:
    with pytest.raises(ClientRequestError, match="4 messages; the limit is 3") as caught:
        check_chat_size([{"role": "user", "content": ""}] * 4, SETTINGS)
    assert (caught.value.param, caught.value.code) == ("messages", "too_many_messages")


def test_overloaded_error_carries_retry_after() -> None:
    exc = OverloadedError("busy", retry_after_s=1)
    assert to_openai_error(exc)[0] == 429 and exc.headers() == {"Retry-After": "1"}


def test_limit_settings_parse_and_reject_bad_values() -> None:
    settings = load_settings({"MAX_CONCURRENT_REQUESTS": "7", "MAX_REQUEST_BYTES": "1024",
                              "CLIENT_SEND_TIMEOUT": "2.5", "UPSTREAM_CONNECTION_LIMIT": "0"},
                             env_files=())
    assert (settings.max_concurrent_requests, settings.max_body_bytes,
            settings.client_send_timeout_s, settings.connection_limit) == (7, 1024, 2.5, 0)
    with pytest.raises(ConfigError, match="MAX_MESSAGES"):
        load_settings({"MAX_MESSAGES": "0"}, env_files=())
