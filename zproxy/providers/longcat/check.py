"""Is a LongCat `passport_token_key` logged in: `GET /api/v1/user-current` (providers.md §2.2).

`code: 0` with `data.loginStatus == 1` is a live login; `code: 0` with another login status,
or a "log in first" code, is a dead cookie; anything else (network, 5xx, odd body) is unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from zproxy.config import Settings
from zproxy.core.checks import INVALID, UNKNOWN, VALID, TokenCheck, Verdict
from zproxy.core.failures import outcome_of
from zproxy.errors import UpstreamError
from zproxy.providers.http import json_or_text, mapped_errors
from zproxy.providers.longcat import wire
from zproxy.providers.longcat.failures import body_error

TIMEOUT = aiohttp.ClientTimeout(total=15)


def judge(status: int, body: Any) -> Verdict:
    """Pure: what a user-current answer says about the cookie."""
    if status in (401, 403):
        return Verdict(INVALID, f"longcat refused the cookie ({status})")
    if status != 200 or not isinstance(body, dict):
        return Verdict(UNKNOWN, f"unexpected answer from longcat ({status})")
    code, data = body.get("code"), body.get("data")
    if code == 0 and isinstance(data, dict):
        if data.get("loginStatus") == 1:
            user = data.get("userId")
            name = data.get("name")
            return Verdict(VALID, f"logged in as {name or user}",
                           str(user) if user is not None else None,
                           str(name) if name is not None else None)
        return Verdict(INVALID, "the cookie is not logged in (loginStatus "
                                f"{data.get('loginStatus')})")
    if code is not None and code != 0:
        message = body.get("message")
        error = body_error(code, message if isinstance(message, str) else "", status)
        if outcome_of(error) == "auth_failed":  # "log in first" (code 401 or its message)
            return Verdict(INVALID, error.message)
    return Verdict(UNKNOWN, f"unexpected answer from longcat (code {code})")


def make_check(session: Callable[[], aiohttp.ClientSession], *, base: str, region: str = "",
               proxy: str | None = None) -> TokenCheck:
    url = f"{base.rstrip('/')}{wire.USER_CURRENT}"

    async def check(token: str) -> Verdict:
        headers = wire.headers(base, token, region=region)
        try:
            with mapped_errors():
                async with session().get(url, headers=headers, proxy=proxy,
                                         timeout=TIMEOUT) as response:
                    return judge(response.status, json_or_text(await response.read()))
        except UpstreamError as exc:
            return Verdict(UNKNOWN, f"could not reach longcat: {exc.message}")
    return check


def token_check(session: Callable[[], aiohttp.ClientSession], settings: Settings) -> TokenCheck:
    return make_check(session, base=settings.longcat_base, region=settings.longcat_region,
                      proxy=settings.http_proxy)
