"""The completion URL's query string (zai-protocol.md §2.1), encoded once where it is static.

Every completion carries nine fields (ids, timestamps, the user id and token, the chat URL)
and, for persisted chats or `ZAI_FINGERPRINT=always`, some twenty browser-fingerprint
fields. All but a handful never change: `CompletionQuery` URL-encodes those once, when the
client is built, and each request encodes only its own values, into a `yarl.URL` marked as
already encoded so aiohttp does not parse and re-quote the long string again. The text is
exactly what `urllib.parse.urlencode` makes of the same fields in the same order. Pure.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Final
from urllib.parse import quote_plus, urlencode

from yarl import URL

# Z.AI: browser fields the web UI sends; ZY's values (zai-protocol.md §2.1, seen 2026-03).
# The two clock fields sit between these two groups.
_FINGERPRINT_HEAD: Final = (
    ("language", "zh-CN"), ("languages", "zh-CN"), ("timezone", "Asia/Shanghai"),
    ("cookie_enabled", "true"), ("screen_width", "1920"), ("screen_height", "1080"),
    ("screen_resolution", "1920x1080"), ("viewport_height", "919"), ("viewport_width", "944"),
    ("viewport_size", "944x919"), ("color_depth", "24"), ("pixel_ratio", "1.25"),
    ("search", ""), ("hash", ""), ("host", "chat.z.ai"), ("hostname", "chat.z.ai"),
    ("protocol", "https:"), ("referrer", ""), ("title", "Z.ai Chat Proxy"),
    ("timezone_offset", "-480"),
)
_FINGERPRINT_TAIL: Final = (
    ("is_mobile", "false"), ("is_touch", "false"), ("max_touch_points", "10"),
    ("browser_name", "Chrome"), ("os_name", "Windows"),
)


def fingerprint(user_agent: str, now: datetime) -> dict[str, str]:
    """The fingerprint fields as a dict (for reading; `CompletionQuery` encodes them)."""
    return {"user_agent": user_agent, **dict(_FINGERPRINT_HEAD), **_clock_fields(now),
            **dict(_FINGERPRINT_TAIL)}


def _clock_fields(now: datetime) -> dict[str, str]:
    return {"local_time": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
            "utc_time": now.strftime("%a, %d %b %Y %H:%M:%S GMT")}


# what `quote_plus` never changes: ids and JWTs are made of these alone
_UNRESERVED: Final = re.compile(r"[A-Za-z0-9_.~-]*")


def _quoted(value: str) -> str:
    """`quote_plus(value)`, without its three calls and an encode when nothing needs it."""
    return value if _UNRESERVED.fullmatch(value) else quote_plus(value)


class CompletionQuery:
    def __init__(self, base: str, path: str, user_agent: str) -> None:
        self._prefix = f"{base}{path}?requestId="
        self._chat_url = quote_plus(f"{base}/c/")
        self._chat_path = quote_plus("/c/")
        self._fingerprint_head = "&" + urlencode((("user_agent", user_agent),
                                                  *_FINGERPRINT_HEAD))
        self._fingerprint_tail = "&" + urlencode(_FINGERPRINT_TAIL)

    def url(self, *, request_id: str, now_ms: int, user_id: str, token: str, chat_id: str,
            fingerprint_at: datetime | None = None) -> URL:
        """The completion URL; with `fingerprint_at`, the browser fields at that time."""
        chat, now = _quoted(chat_id), str(now_ms)
        text = (f"{self._prefix}{_quoted(request_id)}&timestamp={now}"
                f"&user_id={_quoted(user_id)}&version=0.0.1&platform=web"
                f"&token={_quoted(token)}&current_url={self._chat_url}{chat}"
                f"&pathname={self._chat_path}{chat}&signature_timestamp={now}")
        if fingerprint_at is not None:
            text += (f"{self._fingerprint_head}&{urlencode(_clock_fields(fingerprint_at))}"
                     f"{self._fingerprint_tail}")
        return URL(text, encoded=True)
