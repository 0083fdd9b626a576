"""Property tests of the pure cores on generated input, beyond the fixtures.

The fixture-driven properties live beside each core (test_sse.py: fixtures and one-line text
under any split; test_buffer.py: fixture frames re-split; test_tools_parser.py: fixed samples
re-chunked). Here the input itself is generated:

- SSE decoder: arbitrary bytes and generated event streams (fields, comments, all three line
  endings, invalid UTF-8) split anywhere give what a whole-body reference parser, written
  from WHATWG HTML §9.2.6, gives.
- Message buffer: random delta/edit sequences over markup fragments; the buffer follows the
  splice rule, and the channels equal those of the final buffer rendered in one go unless
  an edit rewrote text already sent (which must then be reported, never doubled).
- Tool-call parser: arbitrary text around tool-call markup: never raises, any chunking gives
  the same result, and text without any call comes out exactly as it went in.
"""

from __future__ import annotations

import itertools
import re

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzzing import fuzz
from tests.unit.fixture_data import joined, split_at
from tests.unit.test_buffer import _naive_buffer
from tests.unit.test_tools_parser import CLOSE, OPEN, block, call, run
from zproxy.core.events import Content, Diagnostic, Event, Reasoning
from zproxy.providers.zai.buffer import MessageRenderer
from zproxy.providers.zai.wire import Frame
from zproxy.sse import SSEDecoder

# --- SSE decoder -----------------------------------------------------------------------------

_LINE_END = re.compile(r"\r\n|\r|\n")


def reference_sse(data: bytes) -> list[str]:
    """WHATWG event-stream interpretation of a whole body, `data` fields only, with the
    decoder's three documented leniencies: a last event left unterminated at the end of the
    body is still delivered, an event of empty data is delivered as "" (test_sse.py), and
    only `data:` lines count (a bare `data` line has no value to carry)."""
    lines = _LINE_END.split(data.decode("utf-8", "replace"))
    events, buffer = [], None
    for line in [*lines, ""]:
        if not line:
            if buffer is not None:
                events.append(buffer)
            buffer = None
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data" and colon:
            buffer = value if buffer is None else buffer + "\n" + value
    return events


def incremental(chunks: list[bytes]) -> list[str]:
    decoder = SSEDecoder()
    out = [payload for chunk in chunks for payload in decoder.feed(chunk)]
    return out + decoder.flush()


_FIELD_LINES = st.one_of(
    st.builds(lambda v: "data:" + v, st.text(max_size=12)),
    st.builds(lambda v: "data: " + v, st.text(max_size=12)),
    st.sampled_from(["data", "data:", "event: x", "id: 7", "retry: 100", ": comment", ":",
                     "datum: no", " data: leading space", "DATA: caps", ""]),
)
_EOL = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def event_streams(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(st.tuples(_FIELD_LINES, _EOL), max_size=25))
    body = "".join(line.replace("\r", "").replace("\n", "") + eol for line, eol in lines)
    raw = body.encode()
    if draw(st.booleans()):  # invalid UTF-8 in the middle
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xe4\xbd", b"\xc3", b"\x80"])) + \
            raw[at:]
    return raw


@fuzz(300)
@given(data=event_streams(), cuts=st.lists(st.integers(0, 2000), max_size=30))
def test_generated_streams_split_anywhere_match_the_reference(data: bytes,
                                                              cuts: list[int]) -> None:
    assert incremental(split_at(data, cuts)) == reference_sse(data)


@fuzz(300)
@given(data=st.binary(max_size=400), cuts=st.lists(st.integers(0, 400), max_size=20))
def test_arbitrary_bytes_split_anywhere_match_the_reference(data: bytes,
                                                           cuts: list[int]) -> None:
    assert incremental(split_at(data, cuts)) == reference_sse(data)


@fuzz(100)
@given(data=event_streams())
def test_one_byte_at_a_time_matches_the_reference(data: bytes) -> None:
    assert incremental([data[i:i + 1] for i in range(len(data))]) == reference_sse(data)


# --- message buffer --------------------------------------------------------------------------

_MARKUP = ['<details type="reasoning" done="false">', '<details type="reasoning" done="true">',
           "</details>", "\n> ", "> ", "\n", " ", "\n\n", "<summary>Thought</summary>",
           '<glm_block view="">{"type":"tool_call","data":{"metadata":{"id":"c1",'
           '"name":"search","arguments":"{}","result":null}}}</glm_block>', "<glm_block ",
           "</glm_block>", "<", "<det", "answer", "reason", "a < b", "你好", "🙂"]
_PIECE = st.one_of(st.sampled_from(_MARKUP), st.text(max_size=6))


@st.composite
def frame_sequences(draw: st.DrawFn) -> list[Frame]:
    """Deltas over markup, with edits: some replay the buffer's tail (the upstream's
    thinking→answer edit rewrites what it had), some truly rewrite it."""
    frames: list[Frame] = []
    buf = ""
    for _ in range(draw(st.integers(1, 14))):
        if buf and draw(st.integers(0, 3)) == 0:
            index = draw(st.integers(0, len(buf) + 2))
            replay = buf[index:] if draw(st.booleans()) else draw(_PIECE)
            content = replay + draw(_PIECE)
            frames.append(Frame(phase="answer", edit_index=index, edit_content=content))
            buf = buf[:index] + content
        else:
            delta = "".join(draw(st.lists(_PIECE, min_size=1, max_size=3)))
            frames.append(Frame(phase="answer", delta=delta))
            buf += delta
    return frames


def _channels(events: list[Event]) -> tuple[str, str]:
    return joined(events, Reasoning), joined(events, Content)


def _render_all(frames: list[Frame]) -> tuple[MessageRenderer, list[Event]]:
    renderer = MessageRenderer()
    events = [e for frame in frames for e in renderer.apply(frame)]
    return renderer, events + renderer.finish()


@fuzz(400)
@given(frames=frame_sequences())
def test_random_edits_keep_the_buffer_and_never_double_text(frames: list[Frame]) -> None:
    renderer, events = _render_all(frames)
    assert renderer.text == _naive_buffer(frames)
    _, once = _render_all([Frame(phase="answer", delta=renderer.text)])
    rewrote = any(isinstance(e, Diagnostic) and e.kind == "edit_rewrote_sent_text"
                  for e in events)
    if not rewrote:
        assert _channels(events) == _channels(once)


@fuzz(300)
@given(frames=frame_sequences(), data=st.data())
def test_deltas_resplit_give_the_same_channels(frames: list[Frame],
                                               data: st.DataObject) -> None:
    resplit: list[Frame] = []
    for frame in frames:
        if frame.delta and frame.edit_content is None:
            cuts = data.draw(st.lists(st.integers(0, len(frame.delta)), max_size=4))
            resplit += [Frame(phase="answer", delta=p) for p in split_at(frame.delta, cuts)]
        else:
            resplit.append(frame)
    whole, events = _render_all(frames)
    again, split_events = _render_all(resplit)
    assert again.text == whole.text
    if not any(isinstance(e, Diagnostic) for e in events + split_events):
        assert _channels(split_events) == _channels(events)


# --- tool-call parser ------------------------------------------------------------------------

_TOOL_TOKENS = [OPEN, CLOSE, OPEN[:8], CLOSE[:10], '<call name="lookup">', '<call name="nope">',
                '<call name="search_docs">', '{"id": 3}', '{"q": "x"}', '{"q":', '"x"}',
                "</call>", "```", "```xml\n", "`", "<tool_call>", "</tool_call>",
                "<arg_key>id</arg_key>", "<arg_value>2</arg_value>", "hello", " ", "\n",
                "<", ">", "你", "\\", '"', block(call("lookup", '{"id": 3}')),
                block(call("search_docs", '{"q": "a"}'), call("lookup", "{}")),
                block(call("nope", "{}"))]
_TOOL_TEXT = st.lists(st.one_of(st.sampled_from(_TOOL_TOKENS), st.text(max_size=5)),
                      max_size=30).map("".join)


def _chunked(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[a:b] for a, b in itertools.pairwise([0, *points, len(text)]) if b > a]


@fuzz(400)
@given(text=_TOOL_TEXT, cuts=st.lists(st.integers(0, 10_000), max_size=20))
def test_any_text_any_chunking_same_result(text: str, cuts: list[int]) -> None:
    whole, split = run([text]), run(_chunked(text, cuts))
    assert (split.content, split.reasoning, split.finish) == (
        whole.content, whole.reasoning, whole.finish)
    assert [(c.name, c.arguments) for c in split.calls] == [
        (c.name, c.arguments) for c in whole.calls]


@fuzz(400)
@given(text=_TOOL_TEXT)
def test_text_without_calls_comes_out_exactly(text: str) -> None:
    result = run([text])
    if not result.calls:  # `<think>` is not generated: it moves text to reasoning
        assert result.content == text
