"""MessageRenderer: the Z.AI buffer rebuilt and split into channels (zai-protocol.md §8).

The fixture streams are checked against manifest.json for every chunking of the SSE bytes
and for delta frames re-split at random points: the channels must come out identical
whatever the frame boundaries ("no spaces lost at chunk edges").
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.fixture_data import (
    STREAM_FILES,
    fixture_frames,
    frames_from,
    joined,
    last_blocks,
    manifest,
    render,
    split_at,
    sse_bytes,
    usages,
)
from zproxy.core.events import Content, Diagnostic, Event, Reasoning, ToolBlock
from zproxy.providers.zai.buffer import MessageRenderer
from zproxy.providers.zai.wire import Frame

FAST = settings(max_examples=50, deadline=None)
OPEN = '<details type="reasoning" done="false">'
OPEN_2026 = OPEN + "\n> \n> \n>"


def _naive_buffer(frames: Sequence[Frame]) -> str:
    """The reconstruction rule of the fixtures' README, written independently."""
    buf = ""
    for frame in frames:
        if frame.edit_index is not None and frame.edit_content is not None:
            buf = buf[:frame.edit_index] + frame.edit_content
        if frame.delta:
            buf += frame.delta
    return buf


def _check_fixture(name: str, frames: Sequence[Frame]) -> None:
    expected = manifest()[name]
    renderer, events = render(frames)
    assert renderer.text == expected["expected_final_buffer"] == _naive_buffer(frames)
    assert not [e for e in events if isinstance(e, Diagnostic)]
    reasoning, content = joined(events, Reasoning), joined(events, Content)
    for text in (reasoning, content):
        assert "<details" not in text and "</details>" not in text
        assert "<glm_block" not in text and "</glm_block>" not in text
    if "expected_reasoning_rounds" in expected:
        assert reasoning == "\n\n".join(expected["expected_reasoning_rounds"])
    else:
        assert reasoning == expected.get("expected_reasoning", "")
    if "expected_answer" in expected:
        assert content == expected["expected_answer"]
    if "expected_answer_after_last_details" in expected:
        assert content.endswith(expected["expected_answer_after_last_details"])
        assert content.startswith("Let me search for the latest information.")
    if "expected_answer_text_before_block" in expected:
        assert content == expected["expected_answer_text_before_block"]
    blocks = last_blocks(events)
    calls = expected.get("expected_tool_calls", [])
    results = expected.get("expected_search_results", [])
    assert len(blocks) == len(calls) + (1 if results else 0)
    for call in calls:
        block = blocks[call["id"]]
        assert block.name == call["function"]["name"]
        assert block.metadata["arguments"] == call["function"]["arguments"]
        assert block.metadata["result"] is None  # the `other` edit finished the block
        assert block.browser is None
    if results:
        (block,) = blocks.values()
        assert block.name == "search"
        found = block.browser["search_result"] if block.browser else []
        assert [(r["index"], r["title"], r["url"], r["ref_id"]) for r in found] == [
            (r["index"], r["title"], r["url"], r["ref_id"]) for r in results]
    (usage,) = usages(events)
    assert {"prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens} == expected["expected_usage"]


def _encode(frames: Sequence[Frame]) -> bytes:
    """Frames back to upstream SSE bytes (enveloped, compact, raw UTF-8)."""
    out = []
    for frame in frames:
        data: dict[str, object] = {}
        if frame.delta is not None:
            data["delta_content"] = frame.delta
        if frame.edit_index is not None:
            data["edit_index"] = frame.edit_index
            data["edit_content"] = frame.edit_content
        if frame.phase:
            data["phase"] = frame.phase
        if frame.usage is not None:
            data["usage"] = frame.usage
        if frame.done:
            data["done"] = True
        envelope = {"type": "chat:completion", "data": data}
        out.append(b"data: " + json.dumps(envelope, ensure_ascii=False,
                                          separators=(",", ":")).encode() + b"\n\n")
    return b"".join(out)


@st.composite
def _resplit(draw: st.DrawFn, name: str) -> list[Frame]:
    """Every delta frame of the fixture cut into several delta frames at random points."""
    out: list[Frame] = []
    for frame in fixture_frames(name):
        if frame.delta and frame.edit_content is None:
            cuts = draw(st.lists(st.integers(0, len(frame.delta)), max_size=6))
            pieces = split_at(frame.delta, cuts)
            out += [Frame(phase=frame.phase, delta=p) for p in pieces[:-1]]
            out.append(dataclasses.replace(frame, delta=pieces[-1]))
        else:
            out.append(frame)
    return out


# --- every fixture, every chunking -------------------------------------------------------


def test_all_stream_fixtures_are_covered() -> None:
    assert set(STREAM_FILES) == {n for n in manifest() if not n.startswith("error_")}


@pytest.mark.parametrize("name", STREAM_FILES)
def test_fixture_whole_body(name: str) -> None:
    _check_fixture(name, frames_from([sse_bytes(name)]))


@pytest.mark.parametrize("name", STREAM_FILES)
def test_fixture_one_byte_chunks(name: str) -> None:
    data = sse_bytes(name)
    _check_fixture(name, frames_from(data[i:i + 1] for i in range(len(data))))


@FAST
@given(name=st.sampled_from(STREAM_FILES), cuts=st.lists(st.integers(0, 5000), max_size=30))
def test_fixture_random_byte_chunks(name: str, cuts: list[int]) -> None:
    _check_fixture(name, frames_from(split_at(sse_bytes(name), cuts)))


@pytest.mark.parametrize("name", STREAM_FILES)
def test_fixture_every_delta_split_into_single_characters(name: str) -> None:
    frames: list[Frame] = []
    for frame in fixture_frames(name):
        if frame.delta and frame.edit_content is None:
            frames += [Frame(phase=frame.phase, delta=c) for c in frame.delta[:-1]]
            frames.append(dataclasses.replace(frame, delta=frame.delta[-1]))
        else:
            frames.append(frame)
    _check_fixture(name, frames)


@FAST
@given(data=st.data(), name=st.sampled_from(STREAM_FILES))
def test_fixture_deltas_resplit_at_random_points(data: st.DataObject, name: str) -> None:
    _check_fixture(name, data.draw(_resplit(name)))


@FAST
@given(data=st.data(), name=st.sampled_from(STREAM_FILES),
       cuts=st.lists(st.integers(0, 8000), max_size=20))
def test_fixture_resplit_frames_through_sse_round_trip(data: st.DataObject, name: str,
                                                        cuts: list[int]) -> None:
    frames = data.draw(_resplit(name))
    _check_fixture(name, frames_from(split_at(_encode(frames), cuts)))


@pytest.mark.parametrize("name", STREAM_FILES)
def test_text_after_each_frame_follows_the_splice_rule(name: str) -> None:
    renderer = MessageRenderer()
    frames = fixture_frames(name)
    for i, frame in enumerate(frames):
        renderer.apply(frame)
        assert renderer.text == _naive_buffer(frames[:i + 1])


def test_search_block_is_reemitted_when_its_result_arrives() -> None:
    _, events = render(fixture_frames("search_citations.sse"))
    blocks = [e for e in events if isinstance(e, ToolBlock)]
    assert [b.id for b in blocks] == ["call_xhbi7e39g3f", "call_xhbi7e39g3f"]
    assert blocks[0].browser is None and blocks[0].metadata["result"] == ""
    assert blocks[1].metadata["result"].startswith("【1†Redis 8 is now GA")


def test_native_tool_block_arguments_parse() -> None:
    _, events = render(fixture_frames("native_tool_call.sse"))
    (block,) = last_blocks(events).values()
    assert json.loads(block.metadata["arguments"]) == {"url": "https://www.google.com"}


def test_reasoning_comes_before_content_in_thinking_fixture() -> None:
    _, events = render(fixture_frames("thinking_answer.sse"))
    kinds = [type(e) for e in events if isinstance(e, Content | Reasoning)]
    first_content = kinds.index(Content)
    assert Reasoning not in kinds[first_content:]


# --- edits that split or rewind -----------------------------------------------------------


def _answer_edit_split(name: str, cut: int) -> list[Frame]:
    frames = fixture_frames(name)
    i = next(i for i, f in enumerate(frames) if f.edit_index == 32)
    edit = frames[i]
    assert edit.edit_content is not None
    return [*frames[:i],
            Frame(phase=edit.phase, edit_index=32, edit_content=edit.edit_content[:cut]),
            Frame(phase=edit.phase, delta=edit.edit_content[cut:]),
            *frames[i + 1:]]


@pytest.mark.parametrize("name", ["thinking_answer.sse", "search_citations.sse"])
@pytest.mark.parametrize("cut", [0, 5, 60, 200])
def test_answer_edit_split_into_edit_and_delta_gives_same_channels(name: str,
                                                                   cut: int) -> None:
    # buf[:i] + a + b == (buf[:i] + a) + b: the upstream may send an edit's text in pieces.
    # The intermediate buffer is shorter than what was already sent; once the buffer has
    # grown back, nothing may have been sent twice.
    frames = _answer_edit_split(name, cut)
    expected = manifest()[name]
    renderer, events = render(frames)
    assert renderer.text == expected["expected_final_buffer"]
    reasoning = joined(events, Reasoning)
    if "expected_reasoning_rounds" in expected:
        assert reasoning == "\n\n".join(expected["expected_reasoning_rounds"])
    else:
        assert reasoning == expected["expected_reasoning"]
        assert joined(events, Content) == expected["expected_answer"]


def test_edit_that_truncates_then_regrows_sends_nothing_twice() -> None:
    _, events = render([Frame(phase="answer", delta="abc def"),
                        Frame(phase="answer", edit_index=3, edit_content=""),
                        Frame(phase="answer", delta=" def ghi")])
    assert joined(events, Content) == "abc def ghi"


def test_edit_at_end_of_buffer_appends() -> None:
    renderer = MessageRenderer()
    events = renderer.apply(Frame(phase="answer", delta="Hello"))
    events += renderer.apply(Frame(phase="other", edit_index=5, edit_content=", world"))
    events += renderer.finish()
    assert joined(events, Content) == "Hello, world"
    assert not [e for e in events if isinstance(e, Diagnostic)]


def test_edit_index_past_end_is_clamped() -> None:
    renderer, events = render([Frame(delta="abc"), Frame(edit_index=99, edit_content="d")])
    assert renderer.text == "abcd"
    assert joined(events, Content) == "abcd"


def test_edit_rewriting_sent_text_is_diagnosed_and_not_duplicated() -> None:
    _, events = render([Frame(phase="answer", delta="Hello world"),
                        Frame(phase="answer", edit_index=0, edit_content="Jello world and more"),
                        Frame(phase="answer", delta=", then the end")])
    diagnostics = [e for e in events if isinstance(e, Diagnostic)]
    assert [d.kind for d in diagnostics] == ["edit_rewrote_sent_text"]
    assert diagnostics[0].detail == "content"
    content = joined(events, Content)
    assert content.count("world") == 1
    assert content.count("then the end") == 1
    assert content.startswith("Hello world") and content.endswith(", then the end")


def test_edit_rewriting_sent_reasoning_is_diagnosed() -> None:
    _, events = render([Frame(phase="thinking", delta=OPEN_2026 + " first idea"),
                        Frame(phase="answer", edit_index=32,
                              edit_content='true">\n> \n> \n> other idea\n</details>\nAnswer')])
    assert Diagnostic("edit_rewrote_sent_text", "reasoning") in events
    assert joined(events, Reasoning).count("idea") == 1
    assert joined(events, Content) == "Answer"


def test_edit_rewriting_only_held_whitespace_is_clean() -> None:
    _, events = render([Frame(delta="Hello  "), Frame(edit_index=5, edit_content="!")])
    assert joined(events, Content) == "Hello!"
    assert not [e for e in events if isinstance(e, Diagnostic)]


# --- edit_index units ---------------------------------------------------------------------


def test_utf16_edit_unit_with_emoji_before_edit_point() -> None:
    # "😀😀 ok  " is 9 UTF-16 units but 7 code points; unit 7 is just after "ok"
    frames = [Frame(delta="😀😀 ok  "), Frame(edit_index=7, edit_content="!")]
    renderer, events = render(frames, MessageRenderer(edit_index_unit="utf16"))
    assert renderer.text == "😀😀 ok!"
    assert joined(events, Content) == "😀😀 ok!"
    assert not [e for e in events if isinstance(e, Diagnostic)]


def test_codepoint_edit_unit_counts_characters() -> None:
    frames = [Frame(delta="😀😀 ok  "), Frame(edit_index=5, edit_content="!")]
    renderer, events = render(frames, MessageRenderer(edit_index_unit="codepoint"))
    assert renderer.text == "😀😀 ok!"
    assert joined(events, Content) == "😀😀 ok!"


def test_utf16_tail_edit_after_emoji_appends() -> None:
    # the LT tail edit: edit_index = current length, here in UTF-16 units (8, not 7)
    frames = [Frame(delta="Done 😀 "), Frame(phase="other", edit_index=8, edit_content="ok")]
    renderer, events = render(frames, MessageRenderer(edit_index_unit="utf16"))
    assert renderer.text == "Done 😀 ok"
    assert joined(events, Content) == "Done 😀 ok"


def test_utf16_unit_without_astral_characters_is_codepoints() -> None:
    for name in STREAM_FILES:
        renderer, _ = render(fixture_frames(name), MessageRenderer(edit_index_unit="utf16"))
        assert renderer.text == manifest()[name]["expected_final_buffer"]


# --- reasoning markup ---------------------------------------------------------------------


@pytest.mark.parametrize("deltas", [
    [OPEN_2026, " one", "\n>", " two", "\n", "> three"],
    [OPEN_2026, " one\n", ">", " two\n> ", "three"],
    [OPEN_2026 + " one\n> two\n> three"],
    [OPEN, "\n", "> ", "\n", ">", " \n", "> one", "\n> two\n", "> three"],
])
def test_quote_prefix_split_between_frames(deltas: list[str]) -> None:
    _, events = render([Frame(phase="thinking", delta=d) for d in deltas])
    assert joined(events, Reasoning) == "one\ntwo\nthree"
    assert joined(events, Content) == ""


def test_quote_without_space_is_still_removed() -> None:
    _, events = render([Frame(phase="thinking", delta=OPEN + "\n>one\n>two")])
    assert joined(events, Reasoning) == "one\ntwo"


def test_blank_quoted_line_keeps_paragraph_break() -> None:
    _, events = render([Frame(phase="thinking", delta=OPEN_2026 + " one\n> \n> two")])
    assert joined(events, Reasoning) == "one\n\ntwo"


def test_greater_than_inside_a_line_is_kept() -> None:
    _, events = render([Frame(phase="thinking", delta=OPEN_2026 + " a > b and c>d")])
    assert joined(events, Reasoning) == "a > b and c>d"


@pytest.mark.parametrize("deltas", [
    [OPEN + "\n<summary>Thinking…</summary>\n> idea one\n> idea two"],
    [OPEN + "\n<summ", "ary>Thinking…</sum", "mary>\n> idea one\n", "> idea two"],
    [OPEN, "\n", "<", "summary>Thinking…<", "/summary>", "\n>", " idea one", "\n> idea two"],
])
def test_2025_summary_line_is_removed(deltas: list[str]) -> None:
    frames = [Frame(phase="thinking", delta=d) for d in deltas]
    frames.append(Frame(phase="answer", edit_index=32, edit_content=(
        'true" duration="2">\n<summary>Thought for 2 seconds</summary>\n'
        "> idea one\n> idea two\n</details>\nAnswer.")))
    _, events = render(frames)
    assert joined(events, Reasoning) == "idea one\nidea two"
    assert joined(events, Content) == "Answer."
    assert not [e for e in events if isinstance(e, Diagnostic)]


def test_2025_closed_export_form() -> None:
    text = ('<details type="reasoning" done="true" duration="3">\n<summary>Thought for 3 '
            'seconds</summary>\n> Let me think.\n> Done.\n</details>\nThe answer is 4.')
    _, events = render([Frame(phase="answer", delta=text)])
    assert joined(events, Reasoning) == "Let me think.\nDone."
    assert joined(events, Content) == "The answer is 4."


@pytest.mark.parametrize("cut", range(1, 40))
def test_closing_tag_split_anywhere(cut: int) -> None:
    tail = "> last words\n</details>\nAnswer text"
    first = OPEN_2026 + " start\n" + tail[:cut]
    _, events = render([Frame(delta=first), Frame(delta=tail[cut:])])
    assert joined(events, Reasoning) == "start\nlast words"
    assert joined(events, Content) == "Answer text"


def test_reasoning_mentioning_tags_stays_reasoning() -> None:
    text = OPEN_2026 + " the <tools> section and </detail> and <glm_block> text\n</details>\nOk"
    for cut in range(len(OPEN_2026), len(text)):
        _, events = render([Frame(delta=text[:cut]), Frame(delta=text[cut:])])
        assert joined(events, Reasoning) == (
            "the <tools> section and </detail> and <glm_block> text"), cut
        assert joined(events, Content) == "Ok", cut


def test_stream_ending_inside_reasoning() -> None:
    _, events = render([Frame(phase="thinking", delta=OPEN_2026 + " half a thought")])
    assert joined(events, Reasoning) == "half a thought"
    assert joined(events, Content) == ""


def test_two_reasoning_rounds_are_separated_by_a_blank_line() -> None:
    text = (OPEN_2026 + " round one\n</details>\nfirst answer\n\n" + OPEN_2026
            + " round two\n</details>\nsecond answer")
    _, events = render([Frame(delta=text)])
    assert joined(events, Reasoning) == "round one\n\nround two"
    assert joined(events, Content) == "first answer\n\nsecond answer"


# --- content markup -----------------------------------------------------------------------


def test_details_without_reasoning_type_stays_content() -> None:
    text = "See <details><summary>More</summary>hidden</details> end"
    for cut in range(len(text) + 1):
        _, events = render([Frame(delta=text[:cut]), Frame(delta=text[cut:])])
        assert joined(events, Content) == text, cut
        assert joined(events, Reasoning) == "", cut


@pytest.mark.parametrize("tail", ["<", "<det", "<details", '<details type="reasoning"',
                                  "<glm_blo"])
def test_partial_tag_at_stream_end_is_released_as_content(tail: str) -> None:
    renderer = MessageRenderer()
    events = renderer.apply(Frame(delta="Answer " + tail))
    assert joined(events, Content) == "Answer"
    events += renderer.finish()
    assert joined(events, Content) == "Answer " + tail


@pytest.mark.parametrize("text", ["a < b", "x <= y", "<br> and <b>bold</b>",
                                  "use <detailsX> tag", "<glm_blockquote>"])
def test_angle_brackets_in_content_survive_every_split(text: str) -> None:
    for cut in range(len(text) + 1):
        _, events = render([Frame(delta=text[:cut]), Frame(delta=text[cut:])])
        assert joined(events, Content) == text, cut


@pytest.mark.parametrize("text", ["  leading", "trailing  ", "a  \n\n  b", "x\n"])
def test_channel_whitespace_leading_dropped_rest_kept(text: str) -> None:
    _, events = render([Frame(delta=c) for c in text])
    assert joined(events, Content) == text.lstrip()


def test_inner_whitespace_held_then_released() -> None:
    renderer = MessageRenderer()
    assert joined(renderer.apply(Frame(delta="one ")), Content) == "one"
    assert joined(renderer.apply(Frame(delta=" ")), Content) == ""
    assert joined(renderer.apply(Frame(delta="two")), Content) == "  two"


def test_unparsable_tool_block_is_a_diagnostic() -> None:
    _, events = render([Frame(delta="Hi\n\n<glm_block >{not json}</glm_block>\n\nBye")])
    assert [e.kind for e in events if isinstance(e, Diagnostic)] == ["unparsed_tool_block"]
    assert joined(events, Content) == "Hi\n\nBye"
    assert not [e for e in events if isinstance(e, ToolBlock)]


def test_unclosed_tool_block_is_reported_at_finish() -> None:
    _, events = render([Frame(delta='Hi\n\n<glm_block >{"type": "mcp", "data": {')])
    assert [e.kind for e in events if isinstance(e, Diagnostic)] == ["unclosed_tool_block"]
    assert joined(events, Content) == "Hi"


def test_text_after_tool_block_is_separated_once() -> None:
    block = ('<glm_block view="">{"type": "mcp", "data": {"metadata": {"id": "c1", '
             '"name": "search", "arguments": "{}", "result": "r"}}}</glm_block>')
    _, events = render([Frame(delta="Before.\n\n" + block + "\n\nAfter.")])
    assert joined(events, Content) == "Before.\n\nAfter."
    (tool,) = [e for e in events if isinstance(e, ToolBlock)]
    assert (tool.id, tool.name, tool.metadata["result"]) == ("c1", "search", "r")


def test_usage_event_from_frame() -> None:
    renderer = MessageRenderer()
    events = renderer.apply(Frame(phase="other", usage={"prompt_tokens": 3,
                                                         "completion_tokens": 4}))
    (usage,) = usages(events)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (3, 4, 7)


def test_empty_frames_emit_nothing() -> None:
    renderer = MessageRenderer()
    events: list[Event] = []
    for frame in [Frame(phase="answer", delta=""), Frame(phase="other"),
                  Frame(phase="done", done=True)]:
        events += renderer.apply(frame)
    assert events == [] and renderer.finish() == []
