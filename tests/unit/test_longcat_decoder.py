"""LongCat decoders on the reconstructed transcripts (providers.md §2.12) and the fake's
frames of both generations, with awkward chunk boundaries. Pure: no server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.fakes.longcat import DEFAULT_RESULTS, LCScript, frames_a, frames_b
from zproxy import errors
from zproxy.core.events import (
    Content,
    Diagnostic,
    Done,
    Event,
    Failure,
    Meta,
    Reasoning,
    SearchResults,
    Usage,
)
from zproxy.providers.longcat.decoder import DecoderA, DecoderB
from zproxy.providers.longcat.failures import classify
from zproxy.providers.longcat.lines import LineReader

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "longcat"
SIZES = (None, 1, 2, 3, 11)


def decode(decoder: DecoderA | DecoderB, raw: bytes, size: int | None = None) -> list[Event]:
    size = size or len(raw) or 1
    out: list[Event] = []
    for i in range(0, len(raw), size):
        out += decoder.feed(raw[i:i + size])
    return out + decoder.flush()


def texts(events: list[Event]) -> tuple[str, str]:
    return ("".join(e.text for e in events if isinstance(e, Reasoning)),
            "".join(e.text for e in events if isinstance(e, Content)))


def one_done(events: list[Event]) -> Done:
    done = [e for e in events if isinstance(e, Done)]
    assert len(done) == 1 and events[-1] is done[0]
    return done[0]


@pytest.mark.parametrize("size", SIZES)
def test_l1_generation_a(size: int | None) -> None:
    events = decode(DecoderA(), (FIXTURES / "l1_gen_a.sse").read_bytes(), size)
    assert texts(events) == ("", "你好！有什么可以帮你？")
    assert Usage(8, 9, 17) in events
    assert Meta("LongCat-Flash", "c1731258-…", "2") in events
    assert one_done(events) == Done("stop")


@pytest.mark.parametrize("size", SIZES)
def test_l2_generation_b_reasoning(size: int | None) -> None:
    events = decode(DecoderB(), (FIXTURES / "l2_gen_b.sse").read_bytes(), size)
    assert texts(events) == ("Adding one and one.", "1 + 1 = 2")
    assert Usage(10, 12, 22) in events
    assert one_done(events) == Done("stop")


def script(**kw: Any) -> LCScript:
    base = {"text": "Grüße – 你好, world!", "reasoning": "Think… then answer.", "step": 3}
    return LCScript(**{**base, **kw})


@pytest.mark.parametrize("size", SIZES)
def test_fake_generation_a_with_reasoning_and_search(size: int | None) -> None:
    raw = b"".join(frames_a({"content": "hi", "searchEnabled": 1}, script(
        search=list(DEFAULT_RESULTS)), "conv"))
    events = decode(DecoderA(), raw, size)
    assert texts(events) == ("Think… then answer.", "Grüße – 你好, world!")
    found = [e for e in events if isinstance(e, SearchResults)]
    assert len(found) == 1 and [i.url for i in found[0].items] == [
        r["url"] for r in DEFAULT_RESULTS]
    assert one_done(events) == Done("stop")


@pytest.mark.parametrize("cumulative", [False, True])
@pytest.mark.parametrize("mode", ["auto", "delta", "cumulative"])
def test_fake_generation_b_text_modes(cumulative: bool, mode: str) -> None:
    raw = b"".join(frames_b({"content": "hi"}, script(search=list(DEFAULT_RESULTS)), "c",
                            cumulative))
    events = decode(DecoderB(text_mode=mode), raw, 2)  # type: ignore[arg-type]
    right = mode == "auto" or (mode == "cumulative") == cumulative
    if right:
        assert texts(events) == ("Think… then answer.", "Grüße – 你好, world!")
    search = [e for e in events if isinstance(e, SearchResults)]
    assert search and search[0].query == "longcat" and len(search[0].items) == 2
    assert one_done(events) == Done("stop")


def test_generation_b_finish_content_fills_in_when_no_content_events() -> None:
    raw = (b'data: {"event":{"type":"create"},"lastOne":false}\n\n'
           b'data: {"event":{"type":"finish","finalContent":"All of it"},"lastOne":true}\n\n')
    assert texts(decode(DecoderB(), raw)) == ("", "All of it")


def test_sensitive_is_content_filter_in_both_generations() -> None:
    a = decode(DecoderA(), b"".join(frames_a({"content": "x"}, script(sensitive=True), "c")))
    b = decode(DecoderB(), b"".join(frames_b({"content": "x"}, script(sensitive=True), "c",
                                             False)))
    assert one_done(a) == Done("content_filter") and one_done(b) == Done("content_filter")


@pytest.mark.parametrize("size", [None, 1])
def test_bare_json_error_line_is_a_failure(size: int | None) -> None:
    raw = orjson.dumps({"code": 401, "message": "请求cookie信息为空"}) + b"\n"
    for decoder in (DecoderA(), DecoderB()):
        events = decode(decoder, raw, size)
        assert len(events) == 1 and isinstance(events[0], Failure)
        assert isinstance(events[0].error, errors.UpstreamAuthError)


def test_bare_error_without_newline_at_eof() -> None:
    raw = orjson.dumps({"code": 42900, "message": "操作太快啦，请稍后再试～"})
    events = decode(DecoderB(), raw)
    assert isinstance(events[0], Failure)
    assert isinstance(events[0].error, errors.UpstreamRateLimitError)


def test_code_429_data_frame_and_event_error() -> None:
    a = decode(DecoderA(), b"".join(frames_a({"content": "x"}, script(code_after=2), "c")))
    assert isinstance(a[-1], Failure) and isinstance(a[-1].error, errors.UpstreamRateLimitError)
    assert not any(isinstance(e, Done) for e in a)
    b = decode(DecoderB(), b"".join(frames_b({"content": "x"}, script(error_after=1), "c",
                                             False)))
    assert isinstance(b[-1], Failure) and "服务繁忙" in b[-1].error.message
    assert texts(b)[1] == "Grü"


def test_eof_before_last_frame_is_a_protocol_failure() -> None:
    raw = b"".join(frames_b({"content": "x"}, script(), "c", False)[:-1])
    events = decode(DecoderB(), raw)
    assert isinstance(events[-1], Failure)
    assert isinstance(events[-1].error, errors.UpstreamProtocolError)


def test_done_marker_ends_and_later_frames_are_ignored() -> None:
    raw = (b'data: {"event":{"type":"content","content":"a"},"lastOne":false}\n\n'
           b"data: [DONE]\n\n"
           b'data: {"event":{"type":"content","content":"b"},"lastOne":false}\n\n')
    events = decode(DecoderB(), raw)
    assert texts(events) == ("", "a") and one_done(events) == Done("stop")


def test_no_reasoning_when_not_asked() -> None:
    raw = (FIXTURES / "l2_gen_b.sse").read_bytes()
    assert texts(decode(DecoderB(keep_reasoning=False), raw)) == ("", "1 + 1 = 2")


def test_line_reader_skips_comments_and_event_lines() -> None:
    reader = LineReader()
    got = reader.feed(b": ping\r\nevent: message\r\ndata: {}\r\n\r\n{\"code\":1}")
    assert got == [("data", "{}")] and reader.flush() == [("bare", '{"code":1}')]


def test_unparsed_and_bare_noise_are_diagnostics() -> None:
    events = DecoderA().feed(b"data: {oops\n\nhello\n\n")
    assert [e.kind for e in events if isinstance(e, Diagnostic)] == ["unparsed_frame"] * 2


@pytest.mark.parametrize(("status", "body", "kind"), [
    (200, {"code": 401, "message": "请求cookie信息为空"}, errors.UpstreamAuthError),
    (200, {"code": 40100, "message": "登录后才能继续对话哦~"}, errors.UpstreamAuthError),
    (200, {"code": 42900, "message": "操作太快啦，请稍后再试～"}, errors.UpstreamRateLimitError),
    (429, {"code": 429, "message": "请求过于频繁"}, errors.UpstreamRateLimitError),
    (401, "", errors.UpstreamAuthError),
    (403, {"code": 403, "message": "请求签名校验失败"}, errors.UpstreamBlockedError),
    (200, {"code": 404, "message": "会话不存在或已删除"}, errors.UpstreamInternalError),
    (502, "bad gateway", errors.UpstreamUnavailable),
])
def test_classify(status: int, body: object, kind: type[errors.UpstreamError]) -> None:
    error = classify(status, {}, body)
    assert type(error) is kind and error.message.startswith("longcat:")


def test_classify_auth_names_the_variable() -> None:
    assert "LONGCAT_TOKEN" in classify(401, {}, "").message
