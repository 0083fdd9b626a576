"""Pure parts of the fleet: validation verdicts, per-key limits, admin sessions and CSRF."""

from __future__ import annotations

import aiohttp
import pytest

from zproxy.admin.auth import LOGIN_FAILURES, LOGIN_WINDOW_S, SESSION_S, AdminAuth
from zproxy.clientkeys.limits import DAY_S, MemoryLimiter
from zproxy.config import Settings
from zproxy.pool.validate import Validator, judge


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("status", "body", "verdict"), [
    (200, {"id": "u1", "role": "user", "email": "a@b.c"}, "valid"),
    (200, {"id": "g1", "role": "guest", "email": "Guest-1@guest.com"}, "guest"),
    (401, {"detail": "expired"}, "invalid"),
    (403, "forbidden", "invalid"),
    (500, "oops", "unknown"),
    (200, "<html>captcha</html>", "unknown"),
    (200, {"role": "user"}, "unknown"),
])
def test_validation_verdicts(status: int, body: object, verdict: str) -> None:
    assert judge(status, body).status == verdict


async def test_a_network_failure_is_unknown_never_invalid() -> None:
    async with aiohttp.ClientSession() as session:
        check = Validator(lambda: session, base="http://127.0.0.1:9", user_agent="t", proxy=None)
        result = await check("tok-any")
    assert result.status == "unknown" and "could not reach" in result.detail


def test_requests_per_minute_slide() -> None:
    limiter, now = MemoryLimiter(), 1000.0
    assert limiter.check("k1", 2, None, now) is None
    assert limiter.check("k1", 2, None, now + 10) is None
    assert limiter.check("k1", 2, None, now + 20) == pytest.approx(40.0)
    assert limiter.check("k2", 2, None, now + 20) is None  # per key
    assert limiter.check("k1", 2, None, now + 60.5) is None  # the first one left the window


def test_tokens_per_day_reset_at_utc_midnight() -> None:
    limiter, day = MemoryLimiter(), 20_000 * DAY_S
    assert limiter.check("k1", None, 100, day + 10) is None
    limiter.add_tokens("k1", 150, day + 20)
    assert limiter.check("k1", None, 100, day + 30) == pytest.approx(DAY_S - 30)
    assert limiter.check("k1", None, 100, day + DAY_S + 1) is None


def test_admin_secret_falls_back_to_client_keys_and_is_off_without() -> None:
    assert not AdminAuth(Settings()).enabled
    keyed = AdminAuth(Settings(client_keys=("k1", "k2")))
    assert keyed.secret_ok("k2") and not keyed.secret_ok("k3") and not keyed.secret_ok(None)
    password = AdminAuth(Settings(client_keys=("k1",), admin_password="pw"))
    assert password.secret_ok("pw") and not password.secret_ok("k1")


def test_sessions_expire_and_resist_tampering() -> None:
    clock = Clock()
    auth = AdminAuth(Settings(admin_password="pw"), clock=clock)
    session = auth.new_session()
    assert auth.session_ok(session) and "pw" not in session
    issued, nonce, mac = session.split(".")
    assert not auth.session_ok(f"{int(issued) + 1000}.{nonce}.{mac}")
    assert not auth.session_ok(f"{issued}.{nonce}.{'0' * len(mac)}")
    assert not AdminAuth(Settings(admin_password="other"), clock=clock).session_ok(session)
    clock.now += SESSION_S + 1
    assert not auth.session_ok(session)


def test_csrf_is_bound_to_the_session() -> None:
    auth = AdminAuth(Settings(admin_password="pw"))
    one, two = auth.new_session(), auth.new_session()
    assert auth.csrf_ok(one, auth.csrf_token(one))
    assert not auth.csrf_ok(two, auth.csrf_token(one))
    assert not auth.csrf_ok(one, None) and not auth.csrf_ok(None, auth.csrf_token(one))


def test_login_throttle_window() -> None:
    clock = Clock()
    auth = AdminAuth(Settings(admin_password="pw"), clock=clock)
    for _ in range(LOGIN_FAILURES):
        assert auth.login_wait("1.2.3.4") == 0
        auth.login_failed("1.2.3.4")
    assert auth.login_wait("1.2.3.4") == pytest.approx(LOGIN_WINDOW_S)
    assert auth.login_wait("5.6.7.8") == 0
    clock.now += LOGIN_WINDOW_S + 1
    assert auth.login_wait("1.2.3.4") == 0
