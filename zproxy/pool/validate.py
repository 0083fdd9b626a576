"""Asking Z.AI who a token belongs to: `GET /api/v1/auths/` with it as Bearer (§2.2).

Role `user` is a valid account; a guest token is refused with that reason; 401/403 means
invalid; anything else (network, 5xx, odd body) is `unknown`, never `invalid`, so an outage
cannot wipe out a fleet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from zproxy.errors import UpstreamError
from zproxy.providers.http import json_or_text, mapped_errors
from zproxy.providers.zai import wire

VALID: Final = "valid"
INVALID: Final = "invalid"
GUEST: Final = "guest"
UNKNOWN: Final = "unknown"
TIMEOUT: Final = aiohttp.ClientTimeout(total=15)


@dataclass(frozen=True, slots=True)
class Validation:
    status: str  # valid | invalid | guest | unknown
    detail: str
    user_id: str | None = None
    email: str | None = None
    name: str | None = None
    role: str | None = None


def judge(status: int, body: Any) -> Validation:
    """Pure: what an /api/v1/auths/ answer says about the token."""
    if status in (401, 403):
        return Validation(INVALID, f"the upstream refused the token ({status})")
    if status != 200 or not isinstance(body, dict) or not body.get("id"):
        return Validation(UNKNOWN, f"unexpected answer from the upstream ({status})")
    fields = {k: str(body[k]) if body.get(k) is not None else None
              for k in ("email", "name", "role")}
    user_id = str(body["id"])
    if body.get("role") == "guest":
        return Validation(GUEST, "a guest token, not an account: guest sessions are made "
                                 "automatically", user_id, **fields)
    return Validation(VALID, f"account {fields['email'] or user_id}", user_id, **fields)


class Validator:
    def __init__(self, session: Callable[[], aiohttp.ClientSession], *, base: str,
                 user_agent: str, proxy: str | None) -> None:
        self._session = session  # a getter: the store opens before the HTTP session exists
        self._url = f"{base}{wire.AUTHS_PATH}"
        self._user_agent = user_agent
        self._proxy = proxy

    async def __call__(self, token: str) -> Validation:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json",
                   "User-Agent": self._user_agent}
        try:
            with mapped_errors():
                async with self._session().get(self._url, headers=headers,
                                             proxy=self._proxy, timeout=TIMEOUT) as response:
                    return judge(response.status, json_or_text(await response.read()))
        except UpstreamError as exc:
            return Validation(UNKNOWN, f"could not reach the upstream: {exc.message}")
