"""The Anthropic stream encoder, without a server.

Chunks come from the real `ResponseTranslator` (fixture frames, the real tool-call parser) or,
for shapes a fixture cannot produce, from generated chunk sequences; the events go through the
official SDK's own stream accumulator, whose result must equal the non-streaming builder's.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from anthropic.lib.streaming._messages import accumulate_event
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.fixture_data import ZaiTranslator, fixture_frames
from zproxy.api.anthropic.encoder import MessageEncoder
from zproxy.api.anthropic.response import build_message
from zproxy.api.anthropic.wire import encode_events, signature
from zproxy.providers.zai.wire import Frame
from zproxy.tools import ParserOptions, ToolCallParser, prepare_tool_request
from zproxy.translate.response import ResponseTranslator, StopFilter

FAST = settings(max_examples=80, deadline=None)
BASE = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}


def encoder() -> MessageEncoder:
    return MessageEncoder(message_id="msg_1", model="claude-sonnet-4-5", input_tokens=42)


def check_grammar(events: list[dict[str, Any]]) -> None:
    """anthropic-api.md §5.2 / checklist 29-41, as one executable statement."""
    assert events[0]["type"] == "message_start"
    assert [e["type"] for e in events].count("message_start") == 1
    assert events[0]["message"]["content"] == [] and events[0]["message"]["usage"]
    assert [e["type"] for e in events[-2:]] == ["message_delta", "message_stop"]
    open_block: dict[str, Any] | None = None
    next_index, last_delta = 0, None
    for event in events[1:-2]:
        kind = event["type"]
        if kind == "content_block_start":
            assert open_block is None and event["index"] == next_index
            open_block, next_index = event["content_block"], next_index + 1
            assert open_block in ({"type": "text", "text": ""},
                                  {"type": "thinking", "thinking": "", "signature": ""}) or (
                open_block["type"] == "tool_use" and open_block["input"] == {})
        elif kind == "content_block_delta":
            assert open_block is not None and event["index"] == next_index - 1
            delta = event["delta"]["type"]
            allowed = {"text": {"text_delta"}, "thinking": {"thinking_delta", "signature_delta"},
                       "tool_use": {"input_json_delta"}}[open_block["type"]]
            assert delta in allowed
            assert event["delta"].get("partial_json", "x") != ""
            last_delta = delta
        elif kind == "content_block_stop":
            assert open_block is not None and event["index"] == next_index - 1
            if open_block["type"] == "thinking":
                assert last_delta == "signature_delta"
            open_block = None
        else:
            assert kind == "ping"
    assert open_block is None and next_index >= 1
    assert events[-2]["delta"]["stop_reason"] is not None
    assert isinstance(events[-2]["usage"]["output_tokens"], int)


def accumulate(events: list[dict[str, Any]]) -> dict[str, Any]:
    """What `messages.stream(...).get_final_message()` would return, via the SDK itself."""
    snapshot = None
    buffers: dict[int, bytes] = {}
    for event in events:
        if event["type"] != "ping":
            snapshot = accumulate_event(event=event, current_snapshot=snapshot,  # type: ignore
                                        json_bufs=buffers)
    assert snapshot is not None
    message = snapshot.to_dict()
    message["content"] = [{k: v for k, v in b.items() if k not in {"parsed_output", "citations"}}
                          for b in message["content"]]
    return message


def run_translator(translator: ResponseTranslator, frames: list[Frame]
                   ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    chunks: list[dict[str, Any]] = []
    for frame in frames:
        chunks += translator.feed([frame])
    chunks += translator.end() + translator.finish()
    return chunks, translator.completion()


def same_answer(chunks: list[dict[str, Any]], completion: dict[str, Any]) -> list[Any]:
    enc = encoder()
    events = enc.feed(chunks[:3]) + enc.feed(chunks[3:]) + enc.finish()
    check_grammar(events)
    streamed = accumulate(events)
    whole = build_message(completion, message_id="msg_1", model="claude-sonnet-4-5",
                          input_estimate=42)
    for key in ("id", "model", "content", "stop_reason", "stop_sequence", "usage"):
        assert streamed[key] == whole[key], key
    return events


# --- from real translator output -------------------------------------------------------------

def test_thinking_fixture_gives_thinking_first_then_text() -> None:
    translator = ZaiTranslator(ResponseTranslator(completion_id="c", created=1, model="m",
                                                  include_usage=True))
    chunks, completion = run_translator(translator, fixture_frames("thinking_answer.sse"))
    events = same_answer(chunks, completion)
    starts = [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"]
    assert starts == ["thinking", "text"]
    sig = [e for e in events if e["type"] == "content_block_delta"
           and e["delta"]["type"] == "signature_delta"]
    thinking = completion["choices"][0]["message"]["reasoning_content"]
    assert [e["delta"]["signature"] for e in sig] == [signature(thinking)]


def test_parallel_tool_calls_from_the_real_parser() -> None:
    tools = [{"type": "function", "function": {"name": n, "parameters": {
        "type": "object", "properties": {"q": {"type": "string"}}}}} for n in ("a", "b")]
    _, context = prepare_tool_request([{"role": "user", "content": "x"}], tools=tools,
                                      tool_choice=None, parallel_tool_calls=None, nonce="N0NCE1")
    assert context is not None
    parser = ToolCallParser.for_context(context, ParserOptions())
    translator = ZaiTranslator(ResponseTranslator(completion_id="c", created=1, model="m",
                                                  parser=parser, include_usage=True))
    text = ('Let me look.\n<tool_calls_N0NCE1>\n<call name="a">{"q": "ü \\"1\\""}</call>\n'
            '<call name="b">{"q": "2"}</call>\n</tool_calls_N0NCE1>')
    frames = [Frame(phase="answer", delta=text[i:i + 4])
              for i in range(0, len(text), 4)] + [Frame(phase="done", done=True)]
    chunks, completion = run_translator(translator, frames)
    events = same_answer(chunks, completion)
    inputs: dict[int, str] = {}
    for e in events:
        if e["type"] == "content_block_delta" and e["delta"]["type"] == "input_json_delta":
            inputs[e["index"]] = inputs.get(e["index"], "") + e["delta"]["partial_json"]
    assert [json.loads(v) for _, v in sorted(inputs.items())] == [{"q": 'ü "1"'}, {"q": "2"}]
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


def test_stop_sequence_is_reported_with_the_sequence() -> None:
    translator = ZaiTranslator(ResponseTranslator(
        completion_id="c", created=1, model="m", filters=[StopFilter(["###", "END"])],
        include_usage=True))
    frames = [Frame(phase="answer", delta=p) for p in ("one E", "ND two")]
    chunks, completion = run_translator(translator, frames)
    events = same_answer(chunks, completion)
    assert events[-2]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}


# --- shapes a fixture cannot produce ---------------------------------------------------------

def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {**BASE, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def test_reasoning_after_text_opens_a_new_thinking_block() -> None:
    enc = encoder()
    events = enc.feed([chunk({"reasoning_content": "a"}), chunk({"content": "b"}),
                       chunk({"reasoning_content": "c"}), chunk({"content": "d"}),
                       chunk({}, "stop")]) + enc.finish()
    check_grammar(events)
    starts = [(e["index"], e["content_block"]["type"]) for e in events
              if e["type"] == "content_block_start"]
    assert starts == [(0, "thinking"), (1, "text"), (2, "thinking"), (3, "text")]


def test_one_chunk_with_reasoning_and_text_splits_into_two_blocks() -> None:
    enc = encoder()
    events = enc.feed([chunk({"reasoning_content": "think", "content": "say"})]) + enc.finish()
    check_grammar(events)
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    assert deltas[0] == {"type": "thinking_delta", "thinking": "think"}
    assert deltas[-1] == {"type": "text_delta", "text": "say"}  # the first text is not lost


def test_empty_answer_is_one_empty_text_block_and_usage_is_mapped() -> None:
    enc = encoder()
    usage = {"prompt_tokens": 30, "completion_tokens": 0, "total_tokens": 30,
             "prompt_tokens_details": {"cached_tokens": 10}}
    events = enc.feed([chunk({"role": "assistant", "content": ""}), chunk({}, "stop"),
                       {**BASE, "choices": [], "usage": usage}]) + enc.finish()
    check_grammar(events)
    assert events[2] == {"type": "content_block_start", "index": 0,
                         "content_block": {"type": "text", "text": ""}}
    assert events[-2]["usage"] == {"input_tokens": 20, "output_tokens": 0,
                                   "cache_creation_input_tokens": 0,
                                   "cache_read_input_tokens": 10}
    assert events[0]["message"]["usage"]["input_tokens"] == 42
    assert enc.finish() == []


def test_length_maps_to_max_tokens_and_wire_framing() -> None:
    enc = encoder()
    events = enc.feed([chunk({"content": "x"}, "length")]) + enc.finish()
    assert events[-2]["delta"]["stop_reason"] == "max_tokens"
    raw = encode_events(events)
    frames = raw.decode().split("\n\n")[:-1]
    assert len(frames) == len(events) and b"[DONE]" not in raw
    for frame, event in zip(frames, events, strict=True):
        name, data = frame.split("\n")
        assert name == f"event: {event['type']}"
        assert orjson.loads(data[len("data: "):])["type"] == event["type"]


_PIECE = st.one_of(
    st.tuples(st.just("reasoning_content"), st.text(min_size=1, max_size=5)),
    st.tuples(st.just("content"), st.text(min_size=1, max_size=5)),
    st.tuples(st.just("call"), st.dictionaries(st.text(max_size=3),
                                               st.integers(-10**6, 10**6), max_size=3)))


@FAST
@given(st.lists(_PIECE, max_size=12), st.integers(min_value=1, max_value=5))
def test_any_chunk_sequence_keeps_the_grammar(pieces: list[tuple[str, Any]], split: int) -> None:
    chunks, calls = [], []
    for kind, value in pieces:
        if kind == "call":
            index, arguments = len(calls), orjson.dumps(value).decode()
            calls.append(value)
            chunks += [chunk({"tool_calls": [{"index": index, "id": f"call_{index}",
                                              "type": "function",
                                              "function": {"name": "f", "arguments": ""}}]}),
                       chunk({"tool_calls": [{"index": index,
                                              "function": {"arguments": arguments}}]})]
        else:
            chunks.append(chunk({kind: value}))
    chunks.append(chunk({}, "tool_calls" if calls else "stop"))
    enc = encoder()
    events = [e for i in range(0, len(chunks), split) for e in enc.feed(chunks[i:i + split])]
    events += enc.finish()
    check_grammar(events)
    message = accumulate(events)
    assert [b["input"] for b in message["content"] if b["type"] == "tool_use"] == calls
    texts = "".join(v for k, v in pieces if k == "content")
    assert "".join(b.get("text", "") for b in message["content"]) == texts
    assert message["stop_reason"] == ("tool_use" if calls else "end_turn")
