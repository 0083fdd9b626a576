"""The pure parts of the K2Think and LongCat token checks (providers.md §1.3, §2.2)."""

from __future__ import annotations

import base64

import pytest

from tests.fakes.k2think import fake_jwt
from zproxy.core.checks import INVALID, UNKNOWN, VALID
from zproxy.providers.k2think import check as k2
from zproxy.providers.longcat import check as lc


def test_jwt_expiry_reads_the_claim_without_a_key() -> None:
    assert k2.jwt_expiry(fake_jwt("u", 1_800_000_000)) == 1_800_000_000.0


@pytest.mark.parametrize("token", ["", "opaque-token", "a.b", "a.!!!.c",
                                   "x." + base64.urlsafe_b64encode(b"[1]").decode() + ".y",
                                   "x." + base64.urlsafe_b64encode(b'{"exp":"soon"}').decode()
                                   + ".y",
                                   "x." + base64.urlsafe_b64encode(b'{"exp":true}').decode()
                                   + ".y"])
def test_jwt_expiry_is_none_when_there_is_no_usable_claim(token: str) -> None:
    assert k2.jwt_expiry(token) is None


def test_an_expired_jwt_is_invalid_before_any_call() -> None:
    token = fake_jwt("u", 1000)
    verdict = k2.judge_expiry(token, now=1000.0)
    assert verdict is not None and verdict.status == INVALID
    assert "expired at 1970-01-01 00:16:40 UTC" in verdict.detail
    assert k2.judge_expiry(token, now=999.0) is None  # not yet: the call decides
    assert k2.judge_expiry("opaque-token", now=1e12) is None


@pytest.mark.parametrize(("status", "expected"), [(200, VALID), (401, INVALID), (403, INVALID),
                                                  (429, UNKNOWN), (500, UNKNOWN),
                                                  (502, UNKNOWN)])
def test_k2think_models_answer(status: int, expected: str) -> None:
    assert k2.judge(status).status == expected


def test_longcat_logged_in_is_valid_with_the_user() -> None:
    verdict = lc.judge(200, {"code": 0, "data": {"loginStatus": 1, "userId": 42,
                                                 "name": "cat"}})
    assert (verdict.status, verdict.user_id, verdict.name) == (VALID, "42", "cat")


@pytest.mark.parametrize("body", [
    {"code": 0, "data": {"loginStatus": 0, "userId": None}},  # what a dead cookie gets
    {"code": 401, "message": "请先登录"},
    {"code": 500, "message": "用户未登录"},  # the login-required message, whatever the code
])
def test_longcat_dead_cookie_is_invalid(body: object) -> None:
    assert lc.judge(200, body).status == INVALID


@pytest.mark.parametrize(("status", "body"), [
    (401, ""), (403, {"detail": "forbidden"})])
def test_longcat_refused_status_is_invalid(status: int, body: object) -> None:
    assert lc.judge(status, body).status == INVALID


@pytest.mark.parametrize(("status", "body"), [
    (500, {"code": 0, "data": {"loginStatus": 1}}), (502, "<html>bad gateway</html>"),
    (200, "not json"), (200, {"code": 0}), (200, {"code": 500, "message": "系统繁忙"}),
    (200, {"data": {"loginStatus": 1}})])
def test_longcat_anything_else_is_unknown(status: int, body: object) -> None:
    assert lc.judge(status, body).status == UNKNOWN
