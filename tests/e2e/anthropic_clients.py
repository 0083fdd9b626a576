"""The `anthropic` SDK clients and shared data of the Anthropic e2e tests."""

from __future__ import annotations

from typing import Any

import anthropic

from tests.conftest import Proxy

QUESTION: list[Any] = [{"role": "user", "content": "Weather and time in Paris?"}]


def dumped(message: anthropic.types.Message) -> list[dict[str, Any]]:
    """Content blocks as dicts (the stream helper's `Parsed…` blocks add `parsed_output`)."""
    return [{k: v for k, v in b.model_dump().items() if k != "parsed_output"}
            for b in message.content]


def sync_client(proxy: Proxy, key: str = "sk-test") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.url, api_key=key, max_retries=0, timeout=20)


def async_client(proxy: Proxy, key: str = "sk-test") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=proxy.url, api_key=key, max_retries=0,
                                    timeout=20)
