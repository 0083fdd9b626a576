"""X-Signature for Z.AI completions (zai-protocol.md §4.1). Pure; no I/O, no clock."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any, Final

BUCKET_MS: Final = 300_000  # the derived key changes every 5 minutes


def signature(secret: str, *, request_id: str, user_id: str, timestamp_ms: int,
              prompt: str) -> str:
    """Return the 64-char lowercase hex X-Signature.

    c = "requestId,<id>,timestamp,<ts>,user_id,<uid>" | base64(utf8(prompt)) | ts
    key = hex(HMAC-SHA256(secret, str(ts // 300000)))
    sig = hex(HMAC-SHA256(key, c))
    """
    metadata = f"requestId,{request_id},timestamp,{timestamp_ms},user_id,{user_id}"
    encoded = base64.b64encode(prompt.encode("utf-8")).decode("ascii")
    to_sign = f"{metadata}|{encoded}|{timestamp_ms}"
    key = _derived_key(secret, timestamp_ms // BUCKET_MS)
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


@functools.lru_cache(maxsize=8)
def _derived_key(secret: str, bucket: int) -> bytes:
    """The 5-minute key; every request of a window shares it, so it is derived once."""
    derived = hmac.new(secret.encode("utf-8"), str(bucket).encode("ascii"), hashlib.sha256)
    return derived.hexdigest().encode("ascii")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text", "") for p in content
                 if isinstance(p, dict) and p.get("type") == "text"]
        return " ".join(p for p in parts if isinstance(p, str)).strip()
    return ""


def signature_prompt(messages: Iterable[Mapping[str, Any]]) -> str:
    """The prompt that is signed: the text of the last user message with text (ZY HEAD)."""
    for message in reversed(list(messages)):
        if message.get("role") == "user":
            text = _text_of(message.get("content"))
            if text:
                return text
    return ""
