"""Is a K2Think JWT still good (providers.md §1.3, §4.1 item 4).

First the `exp` claim, read without verifying (we hold no key; an expired token is dead
whatever its signature), then one cheap authenticated call, `GET /api/models` with
`Authorization: Bearer`: 200 valid, 401/403 invalid, anything else unknown.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable

import aiohttp
import orjson

from zproxy.config import Settings
from zproxy.core.checks import INVALID, UNKNOWN, VALID, TokenCheck, Verdict
from zproxy.errors import UpstreamError
from zproxy.providers.http import mapped_errors
from zproxy.providers.k2think import wire

TIMEOUT = aiohttp.ClientTimeout(total=15)


def jwt_expiry(token: str) -> float | None:
    """Pure: the `exp` claim of a JWT (seconds since the epoch), None when there is none."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = orjson.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None


def judge_expiry(token: str, now: float) -> Verdict | None:
    """Pure: INVALID for an expired JWT, None when the call must decide."""
    exp = jwt_expiry(token)
    if exp is not None and exp <= now:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(exp))
        return Verdict(INVALID, f"the k2think token expired at {stamp}")
    return None


def judge(status: int) -> Verdict:
    """Pure: what the /api/models answer says about the token."""
    if status == 200:
        return Verdict(VALID, "k2think accepted the token")
    if status in (401, 403):
        return Verdict(INVALID, f"k2think refused the token ({status})")
    return Verdict(UNKNOWN, f"unexpected answer from k2think ({status})")


def make_check(session: Callable[[], aiohttp.ClientSession], *, base: str,
               proxy: str | None = None,
               clock: Callable[[], float] = time.time) -> TokenCheck:
    base = base.rstrip("/")
    url = f"{base}{wire.MODELS}"

    async def check(token: str) -> Verdict:
        expired = judge_expiry(token, clock())
        if expired is not None:
            return expired
        headers = {**wire.headers(base, bearer=token), "Accept": "application/json"}
        try:
            with mapped_errors():
                async with session().get(url, headers=headers, proxy=proxy,
                                         timeout=TIMEOUT) as response:
                    await response.read()
                    return judge(response.status)
        except UpstreamError as exc:
            return Verdict(UNKNOWN, f"could not reach k2think: {exc.message}")
    return check


def token_check(session: Callable[[], aiohttp.ClientSession], settings: Settings) -> TokenCheck:
    return make_check(session, base=settings.k2think_base, proxy=settings.http_proxy)
