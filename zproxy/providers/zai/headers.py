"""The browser headers of every Z.AI call (zai-protocol.md §3), built the way aiohttp keeps them.

aiohttp copies a request's headers into a `CIMultiDict` that lives as long as the response
does (its `request_info`), so for a stream, as long as the stream. Given a plain dict it makes
a case-folded copy of every name: about 2.3 KiB per open stream for these sixteen headers.
Names that already are `multidict.istr` are kept as they are (about 0.5 KiB), so they are made
once, here, and each call only adds its values. The order is the browser's, as before. Pure.
"""

from __future__ import annotations

from typing import Final

from multidict import CIMultiDict, istr

_AUTHORIZATION: Final = istr("Authorization")
_REFERER: Final = istr("Referer")
_FE_VERSION: Final = istr("X-FE-Version")
_SIGNATURE: Final = istr("X-Signature")
# Z.AI: what Chrome 140 on Windows sends with the web UI's fetches (ZY's set, seen 2026-03).
_CLIENT_HINTS: Final = (
    ("sec-ch-ua", '"Chromium";v="140", "Not=A?Brand";v="24", "Google Chrome";v="140"'),
    ("sec-ch-ua-mobile", "?0"),
    ("sec-ch-ua-platform", '"Windows"'),
    ("Sec-Fetch-Dest", "empty"),
    ("Sec-Fetch-Mode", "cors"),
    ("Sec-Fetch-Site", "same-origin"),
)


class BrowserHeaders:
    """`headers(token, chat_id)`: the headers of one call as a `CIMultiDict` with shared
    names; a completion adds its `X-FE-Version` and `X-Signature`."""

    __slots__ = ("_base", "_head", "_tail")

    def __init__(self, base: str, user_agent: str) -> None:
        self._base = base
        self._head: tuple[tuple[istr, str], ...] = tuple(
            (istr(name), value) for name, value in (
                ("Content-Type", "application/json"), ("Accept", "*/*"),
                ("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.8"), ("User-Agent", user_agent),
                ("Origin", base)))
        self._tail = tuple((istr(name), value) for name, value in _CLIENT_HINTS)

    def __call__(self, token: str, chat_id: str | None = None, *, fe_version: str | None = None,
                 signature: str | None = None) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict()
        add = headers.add
        add(_AUTHORIZATION, f"Bearer {token}")
        for name, value in self._head:
            add(name, value)
        add(_REFERER, f"{self._base}/c/{chat_id}" if chat_id else f"{self._base}/")
        for name, value in self._tail:
            add(name, value)
        if fe_version is not None:
            add(_FE_VERSION, fe_version)
        if signature is not None:
            add(_SIGNATURE, signature)
        return headers
