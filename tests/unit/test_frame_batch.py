"""`parse_frames`: one read's frames with the plain text frames merged, rendered exactly as the
frames one by one (the fast path must never change what a client gets); `parse_joined`, the
same read parsed as one JSON array, gives the very same frames or declines."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.fuzzing import fuzz
from tests.unit.fixture_data import STREAM_FILES, decode, sse_bytes
from zproxy.core.events import Diagnostic, Event
from zproxy.providers.zai.buffer import MessageRenderer
from zproxy.providers.zai.wire import (
    DONE_FRAME,
    Frame,
    parse_frame,
    parse_frames,
    parse_joined,
)
from zproxy.sse import SSEDecoder


def delta(text: str, phase: str = "answer") -> str:
    return orjson.dumps({"type": "chat:completion",
                         "data": {"delta_content": text, "phase": phase}}).decode()


def rendered(frames: list[Frame]) -> list[Event]:
    renderer = MessageRenderer()
    events: list[Event] = []
    for frame in frames:
        events += renderer.apply(frame)
        if frame.done or frame.error is not None:
            break
    return events + renderer.finish()


def merged_text(events: list[Event]) -> list[tuple[str, Any]]:
    """Events with consecutive text of one kind joined: what the chunks carry."""
    out: list[tuple[str, Any]] = []
    for event in events:
        kind = type(event).__name__
        text = getattr(event, "text", None)
        if text is not None and out and out[-1][0] == kind:
            out[-1] = (kind, out[-1][1] + text)
        else:
            out.append((kind, text if text is not None else event))
    return out


def test_a_run_of_text_frames_is_one_frame() -> None:
    frames = parse_frames([delta("Hel"), delta("lo"), delta(" there")])
    assert frames == [Frame(phase="answer", delta="Hello there")]


def test_a_phase_change_starts_a_new_frame() -> None:
    frames = parse_frames([delta("think", "thinking"), delta("more", "thinking"),
                           delta("answer")])
    assert frames == [Frame(phase="thinking", delta="thinkmore"),
                      Frame(phase="answer", delta="answer")]


def test_other_frames_end_the_run_and_keep_their_place() -> None:
    usage = '{"type":"chat:completion","data":{"phase":"other","usage":{"prompt_tokens":1}}}'
    edit = '{"type":"chat:completion","data":{"edit_index":1,"edit_content":"X","phase":"a"}}'
    done = '{"type":"chat:completion","data":{"phase":"done","done":true}}'
    frames = parse_frames([delta("a"), delta("b"), edit, delta("c"), usage, "junk", done,
                           "[DONE]"])
    assert frames == [Frame(phase="answer", delta="ab"), parse_frame(edit),
                      Frame(phase="answer", delta="c"), parse_frame(usage), parse_frame(done),
                      DONE_FRAME]


def test_frames_with_more_fields_take_the_full_parser() -> None:
    odd = [
        '{"type":"chat:completion","data":{"delta_content":"x","phase":"done"}}',
        '{"type":"chat:completion","data":{"delta_content":"x","phase":"answer","done":true}}',
        '{"type":"chat:completion","data":{"delta_content":"x","error":{"code":"E"}}}',
        '{"type":"chat:completion","error":{"code":"E"},"data":{"delta_content":"x",'
        '"phase":"answer"}}',
        '{"delta_content":"x","phase":"answer"}',
        '{"type":"chat:completion","data":{"delta_content":1,"phase":"answer"}}',
    ]
    for payload in odd:
        assert parse_frames([payload]) == [parse_frame(payload)], payload


def test_recorded_streams_render_the_same() -> None:
    for name in STREAM_FILES:
        payloads = decode([sse_bytes(name)])
        one_by_one = [f for f in map(parse_frame, payloads) if f is not None]
        assert merged_text(rendered(parse_frames(payloads))) == merged_text(
            rendered(one_by_one)), name


PIECES = st.sampled_from(["", "a", "b ", "\n", "> ", "<", "<det", "ails", ' type="reasoning"',
                          ">", "</details>", "<glm_block>", "{}", "</glm_block>", "你好",
                          "<summary>", "</summary>", "  "])


@st.composite
def payloads(draw: st.DrawFn) -> list[str]:
    out = []
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.sampled_from(["delta", "delta", "delta", "thinking", "edit", "usage",
                                     "junk", "flat"]))
        text = "".join(draw(st.lists(PIECES, max_size=4)))
        if kind in ("delta", "thinking"):
            out.append(delta(text, "thinking" if kind == "thinking" else "answer"))
        elif kind == "edit":
            out.append(orjson.dumps({"type": "chat:completion", "data": {
                "edit_index": draw(st.integers(0, 40)), "edit_content": text,
                "phase": "answer"}}).decode())
        elif kind == "usage":
            out.append('{"type":"chat:completion","data":{"phase":"other","usage":'
                       '{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}}')
        elif kind == "flat":
            out.append(orjson.dumps({"delta_content": text, "phase": "answer"}).decode())
        else:
            out.append("not json")
    return out


@fuzz(300)
@given(payloads())
def test_merged_frames_render_like_single_frames(stream: list[str]) -> None:
    reference = rendered([f for f in map(parse_frame, stream) if f is not None])
    # An edit that takes back text the client already has cannot be undone: the renderer
    # reports it and carries on as best it can, and that best effort depends on where the
    # frames were cut either way. Everything else must be identical.
    assume(not any(isinstance(e, Diagnostic) and e.kind == "edit_rewrote_sent_text"
                   for e in reference))
    assert merged_text(rendered(parse_frames(stream))) == merged_text(reference)


# --- one JSON array per read ---------------------------------------------------------------

def as_read(payloads: list[str]) -> bytes:
    return b"".join(b"data: " + p.encode() + b"\n\n" for p in payloads)


def joined_frames(read: bytes) -> list[Frame] | None:
    joined = SSEDecoder().joined(read, b",")
    return None if joined is None else parse_joined(*joined)


def test_a_read_of_whole_events_is_parsed_as_one_array() -> None:
    usage = '{"type":"chat:completion","data":{"phase":"other","usage":{"total_tokens":1}}}'
    payloads = [delta("Hel"), delta("lo"), usage, delta("你好"), "[DONE]"]
    frames = joined_frames(as_read(payloads))
    assert frames == parse_frames(payloads)
    assert frames == [Frame(phase="answer", delta="Hello"), parse_frame(usage),
                      Frame(phase="answer", delta="你好"), DONE_FRAME]


def test_recorded_streams_take_the_array_when_read_whole() -> None:
    for name in STREAM_FILES:
        payloads = decode([sse_bytes(name)])
        frames = joined_frames(as_read(payloads))
        assert frames is not None, name
        assert frames == parse_frames(payloads), name


def test_reads_the_array_cannot_take_are_declined() -> None:
    declined = [
        as_read([delta("a"), "not json"]),  # one payload that is not JSON: skipped as usual
        as_read([delta("a"), "[DONE]", delta("b")]),
        as_read(['{"a":1},{"b":2}']),  # two values in one payload: not one frame each
        as_read([delta("a"), ""]),
        b"data: " + delta("a").encode() + b"\n\ndata: {\xff}\n\n",  # not UTF-8
    ]
    for read in declined:
        assert joined_frames(read) is None, read


def test_reads_that_are_not_plain_data_lines_are_left_to_the_decoder() -> None:
    one = delta("a").encode()
    for read in (b"data: " + one + b"\n",  # the event is not complete
                 b"data: " + one + b"\r\n\r\n", b"event: x\ndata: " + one + b"\n\n",
                 b": ping\n\ndata: " + one + b"\n\n", b"data:" + one + b"\n\n",
                 b"data: " + one + b"\ndata: " + one + b"\n\n",
                 b"data: " + one + b"\n\n\n\ndata: " + one + b"\n\n"):
        assert SSEDecoder().joined(read, b",") is None, read
    pending = SSEDecoder()
    pending.feed(b"data: " + one[:5])
    assert pending.joined(b"data: " + one + b"\n\n", b",") is None


def test_null_is_no_frame_either_way() -> None:
    assert parse_frames(["null"]) == [] == joined_frames(as_read(["null"]))


@fuzz(300)
@given(payloads())
def test_the_array_gives_the_frames_of_the_payloads(stream: list[str]) -> None:
    read = as_read(stream)
    frames = joined_frames(read)
    assert frames is None or frames == parse_frames(SSEDecoder().feed(read))
    if "not json" not in stream and stream:
        assert frames is not None
