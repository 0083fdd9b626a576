"""Small helpers shared by the end-to-end tests."""

from __future__ import annotations

import json
from typing import Any

import openai

from tests.fakes.zai_script import resolve_fixtures_dir

FIXTURES = resolve_fixtures_dir(None)  # tests/fixtures/zai, or ZPROXY_FIXTURES_DIR
MANIFEST: dict[str, Any] = json.loads((FIXTURES / "manifest.json").read_text("utf-8"))


def async_client(base_url: str, key: str = "sk-test") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=20)


def sync_client(base_url: str, key: str = "sk-test") -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=20)


async def collect_stream(stream: Any) -> dict[str, Any]:
    """Accumulate an SDK chat stream into content, reasoning, finish reason and usage."""
    out: dict[str, Any] = {"content": "", "reasoning": "", "finish": None, "usage": None,
                           "chunks": 0, "usage_chunks": 0}
    async for chunk in stream:
        out["chunks"] += 1
        if chunk.usage is not None:
            out["usage"] = chunk.usage
            out["usage_chunks"] += 1
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        delta = choice.delta
        out["content"] += delta.content or ""
        out["reasoning"] += (delta.model_extra or {}).get("reasoning_content") or ""
        out["finish"] = choice.finish_reason or out["finish"]
    return out


USER = [{"role": "user", "content": "你好，1+1等于几？"}]
