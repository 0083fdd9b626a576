"""K2Think decoders on the reconstructed transcripts (providers.md §1.11) and the fake's
frames, with awkward chunk boundaries. Pure: no server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes.k2think import FakeK2Think, K2Script, StreamShape, non_stream_content
from zproxy import errors
from zproxy.core.events import Content, Diagnostic, Done, Event, Failure, Meta, Reasoning, Usage
from zproxy.providers.k2think.decoder import BodyDecoder, StreamDecoder, classify

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "k2think"


def chunked(raw: bytes, size: int) -> list[bytes]:
    return [raw[i:i + size] for i in range(0, len(raw), size)] or [b""]


def decode(raw: bytes, size: int | None = None, **kwargs: object) -> list[Event]:
    decoder = StreamDecoder(**kwargs)  # type: ignore[arg-type]
    out: list[Event] = []
    for piece in chunked(raw, size or len(raw) or 1):
        out += decoder.feed(piece)
    return out + decoder.flush()


def texts(events: list[Event]) -> tuple[str, str]:
    return ("".join(e.text for e in events if isinstance(e, Reasoning)),
            "".join(e.text for e in events if isinstance(e, Content)))


SIZES = (None, 1, 2, 3, 7, 64)  # 1 and 2 split the UTF-8 of "…" and every line


@pytest.mark.parametrize("size", SIZES)
def test_k1_2025_snapshots_stream_reasoning_then_answer(size: int | None) -> None:
    events = decode((FIXTURES / "k1_guest_2025.sse").read_bytes(), size)
    assert texts(events) == ("The user asks for 2+2. That is 4.", "2 + 2 = 4")
    assert events[-1] == Done("stop")
    assert sum(isinstance(e, Done) for e in events) == 1
    assert not [e for e in events if isinstance(e, Diagnostic)]  # no false rewrites


def test_k1_reasoning_arrives_before_the_block_closes() -> None:
    """Unlike ZY's regexes (whole reasoning at `</details>`), the first snapshot already
    yields its reasoning."""
    raw = (FIXTURES / "k1_guest_2025.sse").read_bytes()
    first_frame = raw.split(b"\n\n")[0] + b"\n\n"
    decoder = StreamDecoder()
    assert texts(decoder.feed(first_frame)) == ("The user asks for 2+2.", "")


@pytest.mark.parametrize("size", SIZES)
def test_k4_2026_task_id_choices_done_content(size: int | None) -> None:
    events = decode((FIXTURES / "k4_guest_2026.sse").read_bytes(), size)
    assert texts(events) == ("Simple arithmetic.", "4")
    assert Meta(message_id="9f2…") in events
    assert events[-1] == Done("stop")


def test_nothink_drops_reasoning() -> None:
    events = decode((FIXTURES / "k4_guest_2026.sse").read_bytes(), keep_reasoning=False)
    assert texts(events) == ("", "4")


def test_k2_non_stream_body_think_answer_and_usage() -> None:
    decoder = BodyDecoder()
    raw = (FIXTURES / "k2_user_nonstream.json").read_bytes()
    assert [e for piece in chunked(raw, 5) for e in decoder.feed(piece)] == []
    events = decoder.flush()
    assert texts(events) == ("Add 2 and 2.", "4")
    assert Usage(12, 20, 32) in events and events[-1] == Done("stop")


def test_eof_without_done_after_text_is_a_normal_end() -> None:
    raw = b'data: {"content":"<details type=\\"reasoning\\">\\n> x\\n</details>\\nHi"}\n\n'
    events = decode(raw)
    assert texts(events) == ("x", "Hi") and events[-1] == Done("stop")


def test_eof_without_any_text_is_a_protocol_failure() -> None:
    events = decode(b'data: {"task_id":"t"}\n\n')
    assert isinstance(events[-1], Failure)
    assert isinstance(events[-1].error, errors.UpstreamProtocolError)


def test_in_stream_detail_is_a_terminal_failure() -> None:
    raw = (b'data: {"content":"Hel"}\n\ndata: {"detail":"Model overloaded"}\n\n'
           b'data: {"content":"Hello"}\n\n')
    events = decode(raw, 4)
    assert texts(events) == ("", "Hel")
    assert isinstance(events[-1], Failure) and "Model overloaded" in events[-1].error.message
    assert not any(isinstance(e, Done) for e in events)


def test_end_markers_and_noise_are_skipped() -> None:
    raw = (b'data: {"content":"A"}\n\ndata: -1\n\ndata: \n\ndata: not json\n\n'
           b'data: {"content":"AB"}\n\ndata: [DONE]\n\ndata: {"content":"ABC"}\n\n')
    events = decode(raw)
    assert texts(events) == ("", "AB") and events[-1] == Done("stop")
    assert Diagnostic("unparsed_frame", "not json") in events


def test_a_rewriting_snapshot_is_reported_and_continues() -> None:
    raw = b'data: {"content":"Hello there"}\n\ndata: {"content":"Hello world!"}\n\n'
    events = decode(raw)
    assert texts(events)[1] == "Hello thereworld!"
    assert any(isinstance(e, Diagnostic) and e.kind == "rewrite" for e in events)


def test_done_usage_and_length_finish() -> None:
    raw = (b'data: {"content":"ok"}\n\ndata: {"choices":[{"delta":{},"finish_reason":"length"}]}'
           b'\n\ndata: {"done":true,"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n')
    events = decode(raw)
    assert Usage(3, 1, 4) in events and events[-1] == Done("length")


@pytest.mark.parametrize("markup", ["2025", "2026"])
@pytest.mark.parametrize("size", [1, 5, None])
def test_fake_frames_round_trip_both_markups(markup: str, size: int | None) -> None:
    """The fake's own snapshots, every knob on, decode to the scripted texts."""
    fake = FakeK2Think(markup=markup, shape=StreamShape(  # type: ignore[arg-type]
        task_id=True, choices_frames=True, done_content=True, done_usage=True,
        done_marker=True, minus_one=True))
    script = K2Script(text="Zwei plus zwei ist vier – 4 ✓", reasoning="Sum.\nCheck: 2+2=4.")
    raw = b"".join(fake.stream_frames({"messages": []}, script))
    events = decode(raw, size)
    assert texts(events) == ("Sum.\nCheck: 2+2=4.", "Zwei plus zwei ist vier – 4 ✓")
    assert sum(isinstance(e, Done) for e in events) == 1


@pytest.mark.parametrize("markup", ["2025", "2026"])
def test_fake_non_stream_content_both_markups(markup: str) -> None:
    script = K2Script(text="four", reasoning="2+2")
    content = non_stream_content(script, markup)  # type: ignore[arg-type]
    body = {"choices": [{"message": {"content": content}, "finish_reason": "stop"}]}
    decoder = BodyDecoder()
    decoder.feed(json.dumps(body).encode())
    assert texts(decoder.flush()) == ("2+2", "four")


@pytest.mark.parametrize(("status", "body", "kind"), [
    (400, {"detail": "Model not found"}, errors.UpstreamModelNotFound),
    (401, {"detail": "Not authenticated"}, errors.UpstreamAuthError),
    (403, {"detail": "Forbidden"}, errors.UpstreamAuthError),
    (429, "slow down", errors.UpstreamRateLimitError),
    (400, {"detail": "This endpoint is no longer available"}, errors.UpstreamBadRequest),
    (502, "<html>bad gateway</html>", errors.UpstreamUnavailable),
])
def test_classify(status: int, body: object, kind: type[errors.UpstreamError]) -> None:
    error = classify(status, {"Retry-After": "7"}, body)
    assert type(error) is kind and error.message.startswith("k2think:")
    assert error.upstream_status == status


def test_classify_codes_and_hints() -> None:
    assert classify(400, {}, {"detail": "Model not found"}).code == "upstream_model_not_found"
    assert "MODEL_MAP" in classify(400, {}, {"detail": "Model not found"}).message
    assert "K2THINK_BASE_URL" in classify(400, {}, {"detail": "gone"}).message
    assert classify(429, {"Retry-After": "7"}, None).retry_after_s == 7.0
