"""ResponseTranslator and StopFilter: frames → OpenAI chunks / one completion."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.fixture_data import (
    ERROR_FILES,
    ZaiTranslator,
    fixture_frames,
    manifest,
    planning_registry,
    split_at,
)
from zproxy import errors
from zproxy.core.events import Content, Event, Reasoning, ToolBlock, ToolCall
from zproxy.providers.zai.wire import Frame
from zproxy.translate.response import ResponseTranslator, StopFilter, estimate_tokens

FAST = settings(max_examples=50, deadline=None)


def _translator(**kw: Any) -> Any:
    return ZaiTranslator(ResponseTranslator(completion_id="chatcmpl-1", created=1700000000,
                                            model="GLM-4.6", **kw))


def _deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c["choices"][0]["delta"] for c in chunks if c["choices"]]


def _text(chunks: list[dict[str, Any]], key: str = "content") -> str:
    return "".join(d.get(key) or "" for d in _deltas(chunks))


def _run(name: str, *, per_frame: bool = True, **kw: Any
         ) -> tuple[ResponseTranslator, list[dict[str, Any]]]:
    translator = _translator(**kw)
    frames = fixture_frames(name)
    chunks: list[dict[str, Any]] = []
    if per_frame:
        for frame in frames:
            chunks += translator.feed([frame])
    else:
        chunks += translator.feed(frames)
    chunks += translator.finish()
    return translator, chunks


# --- chunk stream ------------------------------------------------------------------------


@pytest.mark.parametrize("per_frame", [True, False])
def test_role_chunk_first_then_text_then_finish(per_frame: bool) -> None:
    _, chunks = _run("plain_answer.sse", per_frame=per_frame)
    assert chunks[0]["choices"] == [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                     "finish_reason": None}]
    assert sum("role" in d for d in _deltas(chunks)) == 1
    assert chunks[-1]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert _text(chunks) == manifest()["plain_answer.sse"]["expected_answer"]


def test_every_chunk_has_the_envelope() -> None:
    _, chunks = _run("thinking_answer.sse")
    for chunk in chunks:
        assert chunk["id"] == "chatcmpl-1"
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["created"] == 1700000000
        assert chunk["model"] == "GLM-4.6"


def test_one_feed_coalesces_consecutive_text() -> None:
    _, chunks = _run("plain_answer.sse", per_frame=False)
    assert [list(d) for d in _deltas(chunks)] == [["role", "content"], ["content"], []]


def test_coalescing_keeps_reasoning_and_content_apart() -> None:
    _, chunks = _run("thinking_answer.sse", per_frame=False)
    kinds = [next(iter(d)) if d else "finish" for d in _deltas(chunks)]
    assert kinds == ["role", "reasoning_content", "content", "finish"]
    expected = manifest()["thinking_answer.sse"]
    assert _text(chunks, "reasoning_content") == expected["expected_reasoning"]
    assert _text(chunks) == expected["expected_answer"]


def test_no_empty_text_chunks() -> None:
    _, chunks = _run("plain_answer.sse")  # starts with an empty delta frame
    for delta in _deltas(chunks)[1:-1]:
        assert any(v for v in delta.values()), delta


def test_include_usage_adds_a_final_usage_chunk() -> None:
    _, chunks = _run("plain_answer.sse", include_usage=True)
    last = chunks[-1]
    assert last["choices"] == []
    assert last["usage"] == {"prompt_tokens": 12, "completion_tokens": 38,
                             "total_tokens": 50, "prompt_tokens_details": {"cached_tokens": 0}}
    assert last["id"] == "chatcmpl-1" and last["object"] == "chat.completion.chunk"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert sum("usage" in c for c in chunks) == 1


def test_no_usage_anywhere_without_include_usage() -> None:
    _, chunks = _run("plain_answer.sse")
    assert not any("usage" in c for c in chunks)
    assert all(c["choices"] for c in chunks)


def test_usage_is_estimated_when_upstream_sends_none() -> None:
    translator = _translator(prompt_chars=10)
    frames = [f for f in fixture_frames("thinking_answer.sse") if f.usage is None]
    chunks = translator.feed(frames) + translator.finish()
    usage = translator.usage()
    out_chars = len(_text(chunks)) + len(_text(chunks, "reasoning_content"))
    assert usage == {"prompt_tokens": 3, "completion_tokens": math.ceil(out_chars / 4),
                     "total_tokens": 3 + math.ceil(out_chars / 4), "estimated": True}


def test_upstream_usage_is_not_flagged_estimated() -> None:
    translator, _ = _run("thinking_answer.sse")
    assert translator.usage() == {"prompt_tokens": 475, "completion_tokens": 231,
                                  "total_tokens": 706}


def test_estimate_tokens() -> None:
    assert [estimate_tokens(n) for n in (0, 1, 4, 5, 8)] == [0, 1, 1, 2, 2]


PLAIN = "plain_answer.sse"


@pytest.mark.parametrize("per_frame", [True, False])
def test_max_tokens_cuts_the_answer_at_the_estimate(per_frame: bool) -> None:
    translator, chunks = _run(PLAIN, per_frame=per_frame, max_tokens=3)
    answer = manifest()[PLAIN]["expected_answer"]
    assert _text(chunks) == answer[:12]  # 3 tokens ≈ 12 characters
    assert chunks[-1]["choices"][0]["finish_reason"] == "length" == translator.finish_reason
    assert translator.stopped  # the caller stops reading the upstream
    usage = translator.usage()
    assert usage["completion_tokens"] == 3 == estimate_tokens(len(answer[:12]))
    assert usage["total_tokens"] == usage["prompt_tokens"] + 3
    completion = translator.completion()
    assert completion["choices"][0]["message"]["content"] == answer[:12]
    assert completion["choices"][0]["finish_reason"] == "length"


def test_max_tokens_that_fit_the_whole_answer_is_a_normal_stop() -> None:
    answer = manifest()[PLAIN]["expected_answer"]
    exact = estimate_tokens(len(answer))
    translator, chunks = _run(PLAIN, max_tokens=exact)
    assert _text(chunks) == answer and translator.finish_reason == "stop"
    assert translator.usage()["completion_tokens"] == manifest()[PLAIN]["expected_usage"][
        "completion_tokens"]  # the upstream's own count when nothing was cut
    translator, chunks = _run(PLAIN, max_tokens=exact - 1)
    assert _text(chunks) == answer[:4 * (exact - 1)] and translator.finish_reason == "length"
    _, chunks = _run(PLAIN)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_max_tokens_counts_reasoning_too() -> None:
    expected = manifest()["thinking_answer.sse"]
    translator, chunks = _run("thinking_answer.sse", max_tokens=2)
    assert _text(chunks, "reasoning_content") == expected["expected_reasoning"][:8]
    assert _text(chunks) == ""
    assert translator.finish_reason == "length"


def test_done_frame_marks_translator_done_and_stops_reading_the_batch() -> None:
    translator = _translator()
    chunks = translator.feed([Frame(phase="answer", delta="a"), Frame(phase="done", done=True),
                              Frame(phase="answer", delta="IGNORED")])
    assert translator.done and translator.stopped
    assert "IGNORED" not in _text(chunks + translator.finish())


def test_tool_blocks_reach_totals_and_callback() -> None:
    translator, chunks = _run("native_tool_call.sse")
    seen = [e for e in translator.decoded if isinstance(e, ToolBlock)]
    assert [b.id for b in seen] == ["call_fyh97tn03ow", "call_fyh97tn03ow"]
    assert translator.totals.blocks["call_fyh97tn03ow"].metadata["result"] is None
    assert _text(chunks) == "Opening Google for you"
    assert not any("tool_calls" in d for d in _deltas(chunks))  # no parser: no client calls


# --- in-stream errors --------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind"), [
    ("error_inline_internal.sse", errors.UpstreamInternalError),
    ("error_client_version.sse", errors.UpstreamVersionError),
    ("error_captcha_required.sse", errors.UpstreamCaptchaError),
])
def test_in_stream_error_frame_raises_classified_error(name: str, kind: type) -> None:
    assert name in ERROR_FILES
    translator = _translator()
    with pytest.raises(kind):
        for frame in fixture_frames(name):
            translator.feed([frame])


# --- non-streaming -----------------------------------------------------------------------


def test_completion_shape_plain() -> None:
    translator, _ = _run("plain_answer.sse")
    completion = translator.completion()
    assert completion["object"] == "chat.completion"
    assert completion["id"] == "chatcmpl-1" and completion["model"] == "GLM-4.6"
    (choice,) = completion["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["logprobs"] is None
    assert choice["message"] == {"role": "assistant",
                                 "content": manifest()["plain_answer.sse"]["expected_answer"]}
    assert completion["usage"]["total_tokens"] == 50


def test_completion_with_reasoning() -> None:
    translator, _ = _run("thinking_answer.sse")
    message = translator.completion()["choices"][0]["message"]
    expected = manifest()["thinking_answer.sse"]
    assert message["reasoning_content"] == expected["expected_reasoning"]
    assert message["content"] == expected["expected_answer"]


def test_completion_and_stream_agree() -> None:
    translator, chunks = _run("search_citations.sse")
    message = translator.completion()["choices"][0]["message"]
    assert message["content"] == _text(chunks)
    assert message["reasoning_content"] == _text(chunks, "reasoning_content")


def test_empty_answer_gives_empty_string_content() -> None:
    translator = _translator()
    translator.feed([Frame(phase="done", done=True)])
    translator.finish()
    assert translator.completion()["choices"][0]["message"]["content"] == ""


class _SwallowingParser:
    """A stand-in ToolCallParser: content becomes one tool call, reasoning passes."""

    can_stop = False
    retry_info = None
    deferred_events: list[Event] = []

    def __init__(self) -> None:
        self.seen: list[str] = []

    def feed(self, text: str, channel: str = "content") -> list[Event]:
        if channel == "reasoning":
            return [Reasoning(text)]
        self.seen.append(text)
        return []

    def finish(self, upstream_finish_reason: str = "stop") -> tuple[list[Event], str]:
        call = ToolCall(index=0, id="call_1", name="get_weather", arguments='{"city":"Oslo"}')
        return [call], "tool_calls"


def test_tool_call_chunks_and_completion_with_calls_only() -> None:
    parser = _SwallowingParser()
    translator, chunks = _run("thinking_answer.sse", parser=parser)
    assert "".join(parser.seen) == manifest()["thinking_answer.sse"]["expected_answer"]
    calls = [d["tool_calls"] for d in _deltas(chunks) if "tool_calls" in d]
    assert calls == [
        [{"index": 0, "id": "call_1", "type": "function",
          "function": {"name": "get_weather", "arguments": ""}}],
        [{"index": 0, "function": {"arguments": '{"city":"Oslo"}'}}],
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    message = translator.completion()["choices"][0]["message"]
    assert message["content"] is None
    assert message["tool_calls"] == [{"id": "call_1", "type": "function", "function": {
        "name": "get_weather", "arguments": '{"city":"Oslo"}'}}]
    assert message["reasoning_content"] == manifest()["thinking_answer.sse"][
        "expected_reasoning"]
    assert translator.completion()["choices"][0]["finish_reason"] == "tool_calls"


# --- StopFilter --------------------------------------------------------------------------


def _filter_all(stops: list[str], pieces: list[str]) -> tuple[str, StopFilter]:
    stop = StopFilter(stops)
    out = "".join(stop.feed(p) for p in pieces)
    return out + stop.flush(), stop


def test_stop_cut_within_one_feed() -> None:
    out, stop = _filter_all(["END"], ["hello END world"])
    assert out == "hello " and stop.stopped


def test_stop_split_over_feeds() -> None:
    stop = StopFilter(["STOP"])
    assert stop.feed("abc ST") == "abc "
    assert stop.feed("O") == ""
    assert stop.feed("P tail") == ""
    assert stop.stopped
    assert stop.feed("more") == "" and stop.flush() == ""


def test_held_prefix_released_when_not_a_stop() -> None:
    stop = StopFilter(["STOP"])
    assert stop.feed("abc ST") == "abc "
    assert stop.feed("ART") == "START"
    assert not stop.stopped


def test_held_prefix_released_at_flush() -> None:
    stop = StopFilter(["STOP"])
    assert stop.feed("the end ST") == "the end "
    assert stop.flush() == "ST"
    assert not stop.stopped


def test_earliest_stop_wins() -> None:
    out, _ = _filter_all(["zzz", "b"], ["a zzz b"])
    assert out == "a "
    out, _ = _filter_all(["b", "zzz"], ["a zzz b"])
    assert out == "a "


def test_multiple_stops_split_over_feeds() -> None:
    out, stop = _filter_all(["\n\n", "Observation:"], ["Thought: x\nObs", "ervation: y"])
    assert out == "Thought: x\n" and stop.stopped


@FAST
@given(text=st.text(alphabet="abc", max_size=30),
       stops=st.lists(st.text(alphabet="abc", min_size=1, max_size=4), min_size=1, max_size=4),
       cuts=st.lists(st.integers(0, 30), max_size=8))
def test_stop_filter_equals_cut_at_earliest_match(text: str, stops: list[str],
                                                  cuts: list[int]) -> None:
    hits = [i for i in (text.find(s) for s in stops) if i != -1]
    expected = text[:min(hits)] if hits else text
    out, stop = _filter_all(stops, split_at(text, cuts))
    assert out == expected
    assert stop.stopped == bool(hits)


def test_translator_applies_stop_filter_across_frames() -> None:
    stop = StopFilter(["等于"])
    translator = _translator(filters=[stop])
    chunks: list[dict[str, Any]] = []
    for frame in fixture_frames("plain_answer.sse"):
        chunks += translator.feed([frame])
        if translator.stopped:
            break
    chunks += translator.finish()
    assert _text(chunks) == "你好！\n\n1 + 1 "
    assert translator.stopped
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert translator.completion()["choices"][0]["message"]["content"] == "你好！\n\n1 + 1 "


def test_translator_stop_split_between_frames() -> None:
    translator = _translator(filters=[StopFilter(["<END>"])])
    chunks: list[dict[str, Any]] = []
    for piece in ["Answer is 4 <E", "N", "D> trailing junk"]:
        chunks += translator.feed([Frame(phase="answer", delta=piece)])
    chunks += translator.finish()
    assert _text(chunks) == "Answer is 4 "


def test_translator_releases_held_stop_prefix_at_finish() -> None:
    translator = _translator(filters=[StopFilter(["<END>"])])
    chunks = translator.feed([Frame(phase="answer", delta="Answer <EN")])
    assert _text(chunks) == "Answer "
    chunks += translator.finish()
    assert _text(chunks) == "Answer <EN"
    assert translator.completion()["choices"][0]["message"]["content"] == "Answer <EN"


def test_content_events_only_reach_filters() -> None:
    # stop sequences apply to the answer only: reasoning that contains one is not cut
    translator = _translator(filters=[StopFilter(["real-time"])])
    chunks: list[dict[str, Any]] = []
    for frame in fixture_frames("thinking_answer.sse"):
        chunks += translator.feed([frame])
    chunks += translator.finish()
    expected = manifest()["thinking_answer.sse"]
    assert _text(chunks, "reasoning_content") == expected["expected_reasoning"]
    assert "real-time" in expected["expected_reasoning"]
    assert _text(chunks) == expected["expected_answer"][
        :expected["expected_answer"].index("real-time")]


def test_content_event_type_is_preserved() -> None:
    assert Content("x") != Reasoning("x")


class _HoldFromAngleParser:
    """A stand-in ToolCallParser that, like a real one, holds text from a possible opener
    (`<`) until it knows more; here it only learns at finish() that it was plain text."""

    can_stop = False
    retry_info = None
    deferred_events: list[Event] = []

    def __init__(self) -> None:
        self.held = ""

    def feed(self, text: str, channel: str = "content") -> list[Event]:
        if channel == "reasoning":
            return [Reasoning(text)]
        text, self.held = self.held + text, ""
        at = text.find("<")
        if at != -1:
            text, self.held = text[:at], text[at:]
        return [Content(text)] if text else []

    def finish(self, upstream_finish_reason: str = "stop") -> tuple[list[Event], str]:
        held, self.held = self.held, ""
        return ([Content(held)] if held else []), upstream_finish_reason


def test_stop_sequence_across_parser_hold_and_filter_hold() -> None:
    # the filter holds "\n" (a stop prefix) while the parser holds "</answer>…"; at finish
    # the parser's text must reach the filter before the filter lets its prefix go
    translator = _translator(parser=_HoldFromAngleParser(),
                             filters=[StopFilter(["\n</answer>"])])
    chunks = translator.feed([Frame(phase="answer", delta="Done.\n</answer> trailing")])
    chunks += translator.finish()
    assert _text(chunks) == "Done."
    assert translator.completion()["choices"][0]["message"]["content"] == "Done."


def test_parser_hold_released_at_finish_without_stops() -> None:
    translator = _translator(parser=_HoldFromAngleParser())
    chunks = translator.feed([Frame(phase="answer", delta="a <b> c")])
    assert _text(chunks) == "a "
    chunks += translator.finish()
    assert _text(chunks) == "a <b> c"


def test_the_edit_index_unit_setting_reaches_the_renderer() -> None:
    from zproxy.api.chat import plan_chat
    from zproxy.api.schema import parse_chat_request
    from zproxy.config import Settings

    chat = parse_chat_request(b'{"model":"GLM-4.5","messages":[{"role":"user","content":"hi"}]}')
    settings = Settings(edit_index_unit="utf16")
    plan = plan_chat(chat, planning_registry(settings), settings)
    # the Z.AI call builds its decoder from the setting (`ZaiProvider.call`)
    translator = ZaiTranslator(plan.translator(settings), settings.edit_index_unit)
    # "<det" is held (it may open a block), so the edit lands in unsent text. "😀" is two
    # UTF-16 units: unit 3 is code point 2, right after "a😀" (code points would keep "<").
    translator.feed([Frame(phase="answer", delta="a😀<det")])
    translator.feed([Frame(phase="answer", edit_index=3, edit_content="Z")])
    translator.end()
    translator.finish()
    assert translator.completion()["choices"][0]["message"]["content"] == "a😀Z"


def test_matched_stop_sequence_is_the_choice_stop_reason() -> None:
    translator = _translator(filters=[StopFilter(["###", "END"])])
    chunks = translator.feed([Frame(phase="answer", delta="one E"),
                              Frame(phase="answer", delta="ND two")]) + translator.finish()
    assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "stop",
                                        "stop_reason": "END"}
    assert translator.completion()["choices"][0]["stop_reason"] == "END"
    plain = _translator(filters=[StopFilter(["END"])])
    plain.feed([Frame(phase="answer", delta="no stop here")])
    plain.finish()
    assert "stop_reason" not in plain.completion()["choices"][0]


def test_a_longer_stop_that_starts_first_wins_over_a_shorter_one_completed_first() -> None:
    # "b" is complete at index 2 while "aba", which starts at 1, is still open: hold, then
    # the end of the answer decides (hypothesis found it: text "aaba", cut after "aab")
    out, stop = _filter_all(["b", "aba"], ["aab", "a"])
    assert (out, stop.matched) == ("a", "aba")
    out, stop = _filter_all(["b", "aba"], ["aab"])
    assert (out, stop.matched) == ("aa", "b")
