"""Z.AI frames, error classification and JWT user ids (zai-protocol.md §8, §9, §10)."""

from __future__ import annotations

import pytest

from tests.unit.fixture_data import ERROR_FILES, STREAM_FILES, fixture_frames, load_json
from zproxy import errors
from zproxy.providers.zai.wire import DONE_FRAME, Frame, classify_error, jwt_user_id, parse_frame

# --- parse_frame -------------------------------------------------------------------------


def test_enveloped_delta_frame() -> None:
    frame = parse_frame('{"type":"chat:completion","data":{"delta_content":"hi",'
                        '"phase":"answer"}}')
    assert frame == Frame(phase="answer", delta="hi")
    assert frame.meaningful


def test_non_enveloped_frame() -> None:
    assert parse_frame('{"delta_content":"hi","phase":"thinking"}') == Frame(
        phase="thinking", delta="hi")


def test_edit_frame() -> None:
    frame = parse_frame('{"type":"chat:completion","data":{"edit_index":32,'
                        '"edit_content":"true\\">","phase":"answer"}}')
    assert frame is not None
    assert (frame.edit_index, frame.edit_content, frame.delta) == (32, 'true">', None)


def test_empty_edit_content_is_still_an_edit() -> None:
    frame = parse_frame('{"data":{"edit_index":3,"edit_content":"","phase":"other"}}')
    assert frame is not None and frame.edit_content == "" and frame.meaningful


def test_usage_frame() -> None:
    frame = parse_frame('{"type":"chat:completion","data":{"phase":"other","usage":'
                        '{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}}')
    assert frame is not None
    assert frame.usage == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    assert frame.phase == "other" and not frame.done


def test_done_frame_and_phase_done() -> None:
    assert parse_frame('{"type":"chat:completion","data":{"phase":"done","done":true}}'
                       ) == Frame(phase="done", done=True)
    frame = parse_frame('{"data":{"phase":"done"}}')
    assert frame is not None and frame.done
    frame = parse_frame('{"data":{"done":true,"phase":"answer"}}')
    assert frame is not None and frame.done


def test_done_sentinel() -> None:
    assert parse_frame("[DONE]") is DONE_FRAME
    assert DONE_FRAME.done


@pytest.mark.parametrize("payload", ["", "hello", "{not json", "[1,2]", '"str"', "42",
                                     "null"])
def test_non_json_or_non_object_is_none(payload: str) -> None:
    assert parse_frame(payload) is None


def test_empty_first_delta_is_not_meaningful() -> None:
    frame = parse_frame('{"type":"chat:completion","data":{"delta_content":"",'
                        '"phase":"answer"}}')
    assert frame is not None and not frame.meaningful


def test_unicode_escapes_equal_raw_utf8() -> None:
    raw = parse_frame('{"data":{"delta_content":"你好","phase":"answer"}}')
    escaped = parse_frame('{"data":{"delta_content":"\\u4f60\\u597d","phase":"answer"}}')
    assert raw == escaped


def test_wrong_field_types_are_dropped() -> None:
    frame = parse_frame('{"data":{"delta_content":5,"edit_index":"3","edit_content":7,'
                        '"usage":[1],"phase":"answer"}}')
    assert frame == Frame(phase="answer")


@pytest.mark.parametrize(("payload", "code"), [
    ('{"type":"chat:completion","data":{"error":{"code":"INTERNAL_ERROR","detail":"x"}}}',
     "INTERNAL_ERROR"),
    ('{"error":{"detail":"Your client version check is failed","code":426}}', 426),
    ('{"type":"chat:completion","data":{"data":{"error":{"code":429,"detail":"busy"}}}}',
     429),
    ('{"type":"chat:completion","error":{"code":401,"detail":"expired"},"data":{}}', 401),
])
def test_error_found_at_every_location(payload: str, code: object) -> None:
    frame = parse_frame(payload)
    assert frame is not None and frame.error is not None
    assert frame.error["code"] == code
    assert frame.meaningful


def test_fixture_streams_carry_no_error() -> None:
    for name in STREAM_FILES:
        frames = fixture_frames(name)
        assert all(f.error is None for f in frames), name
        assert frames[-1].done, name


@pytest.mark.parametrize("name", ERROR_FILES)
def test_error_fixtures_parse_to_an_error_frame(name: str) -> None:
    frames = fixture_frames(name)
    errs = [f.error for f in frames if f.error is not None]
    assert len(errs) == 1, name
    expected = load_json("manifest.json")[name]
    if "expected_error" in expected:
        assert errs[0]["code"] == expected["expected_error"]["code"]
        assert errs[0]["detail"] == expected["expected_error"]["detail"]
    else:
        assert errs[0]["error_code"] == expected["expected_error_code"]


# --- classify_error ----------------------------------------------------------------------

HTTP_EXPECTED = {426: errors.UpstreamVersionError, 401: errors.UpstreamAuthError,
                 429: errors.UpstreamRateLimitError, 405: errors.UpstreamBlockedError}


@pytest.mark.parametrize("entry", load_json("http_errors.json"),
                         ids=lambda e: str(e["status"]))
def test_http_error_fixtures(entry: dict[str, object]) -> None:
    exc = classify_error(entry["body"], entry["status"])  # type: ignore[arg-type]
    assert type(exc) is HTTP_EXPECTED[entry["status"]]  # type: ignore[index]
    assert exc.upstream_status == entry["status"]
    assert exc.message.startswith("upstream: ")


def test_http_426_body_message_is_kept() -> None:
    body = load_json("http_errors.json")[0]["body"]
    exc = classify_error(body, 426)
    assert "client version check is failed" in exc.message
    assert exc.retryable


def test_http_405_is_not_retryable() -> None:
    exc = classify_error(None, 405)
    assert isinstance(exc, errors.UpstreamBlockedError)
    assert not exc.retryable and exc.code == "waf_blocked"


IN_STREAM_EXPECTED = {"error_inline_internal.sse": errors.UpstreamInternalError,
                      "error_client_version.sse": errors.UpstreamVersionError,
                      "error_captcha_required.sse": errors.UpstreamCaptchaError}


def test_every_error_fixture_has_an_expectation() -> None:
    assert set(ERROR_FILES) == set(IN_STREAM_EXPECTED)


@pytest.mark.parametrize("name", sorted(IN_STREAM_EXPECTED))
def test_in_stream_error_fixtures(name: str) -> None:
    error = next(f.error for f in fixture_frames(name) if f.error is not None)
    exc = classify_error(error, None)
    assert type(exc) is IN_STREAM_EXPECTED[name]
    assert exc.retryable
    assert exc.upstream_status is None


def test_internal_error_is_a_retryable_protocol_error() -> None:
    exc = classify_error({"code": "INTERNAL_ERROR",
                          "detail": "Something went wrong. Please try again later."}, None)
    assert isinstance(exc, errors.UpstreamProtocolError)
    assert isinstance(exc, errors.UpstreamInternalError)
    assert exc.retryable
    assert "Something went wrong" in exc.message


@pytest.mark.parametrize("body", [
    {"code": 429, "detail": "slow down"},
    {"detail": "Too many requests, try later"},
    {"message": "user concurrency limit reached"},
    {"error": {"message": "并发数超限"}},
    {"detail": {"msg": "CONCURRENCY exceeded"}},
])
def test_rate_limit_in_stream_shapes(body: dict[str, object]) -> None:
    assert isinstance(classify_error(body, None), errors.UpstreamRateLimitError)
    assert isinstance(classify_error(body, 200), errors.UpstreamRateLimitError)


def test_rate_limit_maps_to_http_429() -> None:
    exc = classify_error(None, 429)
    assert exc.status == 429 and exc.type == "rate_limit_error"


def test_in_stream_code_401_is_auth() -> None:
    assert isinstance(classify_error({"code": 401, "detail": "token expired"}, None),
                      errors.UpstreamAuthError)


def test_in_stream_code_426_is_version() -> None:
    assert isinstance(classify_error({"code": 426, "detail": "x"}, None),
                      errors.UpstreamVersionError)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_unavailable(status: int) -> None:
    for body in (None, "<html>Bad gateway</html>", {"detail": "oops"}):
        exc = classify_error(body, status)
        assert type(exc) is errors.UpstreamUnavailable, (status, body)
        assert exc.retryable


def test_captcha_by_error_code_key() -> None:
    exc = classify_error({"code": "X", "error_code": "FRONTEND_CAPTCHA_REQUIRED",
                          "detail": "please verify"}, None)
    assert isinstance(exc, errors.UpstreamCaptchaError)


def test_unknown_error_is_protocol_error_not_retryable() -> None:
    exc = classify_error({"code": "WEIRD", "detail": "something odd"}, None)
    assert type(exc) is errors.UpstreamProtocolError
    assert not exc.retryable
    assert "something odd" in exc.message


def test_message_fallback_names_status() -> None:
    assert "HTTP 502" in classify_error(None, 502).message


# --- jwt_user_id -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["guest_auth_response.json", "user_auth_response.json"])
def test_jwt_user_id_of_fixture_tokens(name: str) -> None:
    auth = load_json(name)
    assert jwt_user_id(auth["token"]) == auth["id"]


def _jwt(payload: bytes) -> str:
    import base64

    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    return f"eyJhbGciOiJFUzI1NiJ9.{body}.sig"


@pytest.mark.parametrize(("payload", "expected"), [
    (b'{"id":"a","user_id":"b","uid":"c","sub":"d"}', "a"),
    (b'{"user_id":"b","uid":"c","sub":"d"}', "b"),
    (b'{"uid":"c","sub":"d"}', "c"),
    (b'{"sub":"d"}', "d"),
    (b'{"id":"","sub":"d"}', "d"),
    (b'{"id":5}', None),
    (b'{"email":"x@y"}', None),
    (b"[1,2]", None),
    (b"not json", None),
    (b"\xff\xfe", None),
])
def test_jwt_user_id_claims(payload: bytes, expected: str | None) -> None:
    assert jwt_user_id(_jwt(payload)) == expected


@pytest.mark.parametrize("token", ["", "nodots", "a.!!!.c", "a..c"])
def test_jwt_user_id_garbage_is_none(token: str) -> None:
    assert jwt_user_id(token) is None
