"""LongCat failures → classified `UpstreamError`s (providers.md §2.10). Pure.

LongCat reports most errors as a JSON `{"code", "message"}` with any HTTP status, often 200,
so the message text decides as much as the status. The numeric codes for "log in first" and
"too fast" are unknown (§5); the messages are known.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from zproxy.core.failures import upstream_error
from zproxy.errors import UpstreamError

# LongCat: message fragments seen (PG docs and tests, 2026-07)
_AUTH: Final = ("cookie", "登录", "login", "未登录")
_RATE: Final = ("操作太快", "过于频繁", "too fast", "too many", "rate")
_SIGN: Final = ("签名", "mtgsig", "signature", "yoda")
_SESSION: Final = ("会话", "conversation", "session")


def _has(text: str, words: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in words)


def body_error(code: Any, message: str, http_status: int | None = None,
               retry_after_s: float | None = None) -> UpstreamError:
    """A `{"code", "message"}` body (or data frame), classified."""
    shown = f"longcat: {message or 'error'} (code {code})"
    if code in (401, 403) and _has(message, _SIGN):
        return upstream_error("blocked", shown + ": the upstream wants signed (mtgsig) "
                              "requests, which zproxy cannot make", http_status=http_status)
    if code == 401 or http_status in (401, 403) or _has(message, _AUTH):
        return upstream_error("auth", shown + ": the passport_token_key cookie is missing or "
                              "expired (LONGCAT_TOKEN)", http_status=http_status)
    if code == 429 or http_status == 429 or _has(message, _RATE):
        return upstream_error("rate_limit", shown, http_status=http_status,
                              retry_after_s=retry_after_s)
    if _has(message, _SESSION):  # the session vanished: a new one may work
        return upstream_error("internal", shown, http_status=http_status)
    if _has(message, ("sensitive", "敏感", "违规")):
        return upstream_error("content_filter", shown, http_status=http_status)
    if http_status is not None and http_status >= 500:
        return upstream_error("upstream", shown, http_status=http_status)
    return upstream_error("bad_request" if http_status and http_status < 500 else "internal",
                          shown, http_status=http_status)


def classify(status: int | None, headers: Mapping[str, str], body: Any) -> UpstreamError:
    """An answer that is not a stream: an HTTP error or a JSON body with `code` ≠ 0."""
    retry = headers.get("Retry-After", "")
    retry_after = float(retry) if retry.isdigit() else None
    if isinstance(body, Mapping) and "code" in body:
        message = body.get("message")
        return body_error(body.get("code"), message if isinstance(message, str) else "",
                          status, retry_after)
    text = body[:200] if isinstance(body, str) else ""
    if status in (401, 403):
        if status == 403 and _has(text, _SIGN):
            return body_error(403, text, status)
        return upstream_error("auth", f"longcat: cookie refused ({status}): the "
                              "passport_token_key cookie is missing or expired (LONGCAT_TOKEN)",
                              http_status=status)
    if status == 429:
        return upstream_error("rate_limit", f"longcat: rate limited (429) {text}".rstrip(),
                              http_status=status, retry_after_s=retry_after)
    if status is not None and 400 <= status < 500:
        return upstream_error("bad_request", f"longcat: request refused ({status}) {text}"
                              .rstrip(), http_status=status)
    return upstream_error("upstream", f"longcat: upstream error ({status}) {text}".rstrip(),
                          http_status=status)
