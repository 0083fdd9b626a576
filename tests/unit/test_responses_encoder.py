"""The pure chunk → Responses event encoder, without a server, checked by the SDK's models."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from zproxy.api.responses.encoder import ResponseEncoder, encode_events
from zproxy.api.responses.objects import ResponseShell, response_usage
from zproxy.api.responses.request import ResponsesRequest
from zproxy.errors import UpstreamRateLimitError, UpstreamUnavailable

EVENT = TypeAdapter(ResponseStreamEvent)


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None,
          usage: dict[str, Any] | None = None) -> dict[str, Any]:
    base: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk",
                            "created": 1, "model": "GLM-4.6"}
    if usage is not None:
        return {**base, "choices": [], "usage": usage}
    return {**base, "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}]}


def encoder(**request: Any) -> ResponseEncoder:
    counter = itertools.count()
    shell = ResponseShell("resp_1", 100, ResponsesRequest(model="GLM-4.6", input=(),
                                                          **request))
    return ResponseEncoder(shell, lambda prefix: f"{prefix}_{next(counter)}", lambda: 200.0)


def run(chunks: list[dict[str, Any]], batch: int = 1,
        enc: ResponseEncoder | None = None) -> tuple[list[dict[str, Any]], ResponseEncoder]:
    enc = enc or encoder()
    events = enc.start()
    for i in range(0, len(chunks), batch):
        events += enc.feed(chunks[i:i + batch])
    events += enc.finish()
    for event in events:  # every event is one the SDK's union accepts, fields and all
        EVENT.validate_python(event)
    Response.model_validate(enc.response)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    return events, enc


USAGE = {"prompt_tokens": 7, "completion_tokens": 9, "total_tokens": 16,
         "prompt_tokens_details": {"cached_tokens": 4}}
TEXT = [chunk({"role": "assistant", "content": ""}), chunk({"content": "Hel"}),
        chunk({"content": "lo"}), chunk({}, "stop"), chunk(usage=USAGE)]


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def test_text_event_order_and_final_object() -> None:
    events, enc = run(TEXT)
    assert types(events) == [
        "response.created", "response.in_progress", "response.output_item.added",
        "response.content_part.added", "response.output_text.delta",
        "response.output_text.delta", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed"]
    assert events[0]["response"]["status"] == "in_progress"
    assert events[0]["response"]["output"] == []
    assert events[2]["item"] == {"type": "message", "id": "msg_0", "role": "assistant",
                                 "status": "in_progress", "content": []}
    final = enc.response
    assert final["status"] == "completed" and final["completed_at"] == 200
    assert final["output"] == [events[-2]["item"]]
    assert final["output"][0]["content"][0]["text"] == "Hello"
    assert final["usage"] == {"input_tokens": 7, "output_tokens": 9, "total_tokens": 16,
                              "input_tokens_details": {"cached_tokens": 4,
                                                       "cache_write_tokens": 0},
                              "output_tokens_details": {"reasoning_tokens": 0}}


@pytest.mark.parametrize("batch", [1, 2, 3, 100])
def test_batching_does_not_change_the_answer(batch: int) -> None:
    whole = run(TEXT, batch=100)[1].response
    assert run(TEXT, batch=batch)[1].response == whole


def test_reasoning_then_text_then_calls() -> None:
    events, enc = run([
        chunk({"reasoning_content": "think "}), chunk({"reasoning_content": "more"}),
        chunk({"content": "Checking."}),
        chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                               "function": {"name": "f", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"x": 1}'}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                               "function": {"name": "g", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}),
        chunk({}, "tool_calls"), chunk(usage={"prompt_tokens": 1, "completion_tokens": 20,
                                              "total_tokens": 21})])
    output = enc.response["output"]
    assert [(i["type"], i["id"]) for i in output] == [
        ("reasoning", "rs_0"), ("message", "msg_1"), ("function_call", "fc_2"),
        ("function_call", "fc_3")]
    assert output[0]["summary"] == [{"type": "summary_text", "text": "think more"}]
    assert output[2]["call_id"] == "call_a" and output[2]["arguments"] == '{"x": 1}'
    assert output[3]["name"] == "g" and output[3]["status"] == "completed"
    kinds = types(events)
    # each item is closed before the next one opens
    assert kinds.index("response.reasoning_summary_part.done") < kinds.index(
        "response.content_part.added")
    done_args = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    assert [(e["item_id"], e["arguments"], e["name"]) for e in done_args] == [
        ("fc_2", '{"x": 1}', "f"), ("fc_3", "{}", "g")]
    assert enc.response["usage"]["output_tokens_details"]["reasoning_tokens"] == 3


def _note(url: str, start: int, end: int) -> dict[str, Any]:
    return {"type": "url_citation", "url_citation": {"url": url, "title": "T",
                                                     "start_index": start, "end_index": end}}


def test_annotations_are_rebased_to_their_message_item() -> None:
    events, enc = run([
        chunk({"content": "Searching."}),  # 10 characters, then a second round
        chunk({"reasoning_content": "found it"}),
        chunk({"content": "See [1](u)."}),
        chunk({"annotations": [_note("u", 14, 20)]}), chunk({}, "stop")])
    added = [e for e in events if e["type"] == "response.output_text.annotation.added"]
    assert [(a["item_id"], a["annotation_index"]) for a in added] == [("msg_2", 0)]
    text = enc.response["output"][2]["content"][0]
    assert text["annotations"] == [{"type": "url_citation", "url": "u", "title": "T",
                                    "start_index": 4, "end_index": 10}]
    assert text["text"][4:10] == "[1](u)"
    assert enc.response["output"][0]["content"][0]["annotations"] == []


def test_annotation_for_an_already_closed_message() -> None:
    _, enc = run([chunk({"content": "abc"}), chunk({"reasoning_content": "r"}),
                  chunk({"annotations": [_note("u", 0, 3)]}), chunk({}, "stop")])
    assert enc.response["output"][0]["content"][0]["annotations"][0]["url"] == "u"


def test_length_finish_is_incomplete() -> None:
    events, enc = run([chunk({"content": "abc"}), chunk({}, "length")])
    assert events[-1]["type"] == "response.incomplete"
    assert enc.response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert enc.response["completed_at"] is None


def test_empty_answer_completes_with_no_output() -> None:
    events, enc = run([chunk({"role": "assistant", "content": ""}), chunk({}, "stop")])
    assert types(events) == ["response.created", "response.in_progress",
                             "response.completed"]
    assert enc.response["output"] == []


@pytest.mark.parametrize(("exc", "code", "response_code"), [
    (UpstreamUnavailable("gone"), "upstream_unavailable", "server_error"),
    (UpstreamRateLimitError("slow down"), "upstream_rate_limited", "rate_limit_exceeded"),
    (RuntimeError("bug"), "internal_error", "server_error"),
])
def test_failure_after_output(exc: Exception, code: str, response_code: str) -> None:
    enc = encoder()
    events = enc.start() + enc.feed([chunk({"content": "par"})]) + enc.fail(exc)
    for event in events:
        EVENT.validate_python(event)
    assert types(events)[-5:] == ["response.output_text.done", "response.content_part.done",
                                  "response.output_item.done", "error", "response.failed"]
    assert events[-3]["item"]["status"] == "incomplete"
    assert events[-2]["code"] == code and events[-2]["message"]
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == response_code
    assert failed["output"][0]["content"][0]["text"] == "par"
    Response.model_validate(failed)


def test_sse_framing() -> None:
    enc = encoder(metadata={"k": "v"}, instructions="sys")
    raw = encode_events(enc.start())
    frames = raw.decode().split("\n\n")
    assert frames[0].startswith("event: response.created\ndata: {")
    assert frames[-1] == "" and b"[DONE]" not in raw
    assert '"metadata":{"k":"v"}' in frames[0] and '"instructions":"sys"' in frames[0]


def test_usage_without_upstream_numbers() -> None:
    assert response_usage(None, 0)["total_tokens"] == 0
    capped = response_usage({"prompt_tokens": 1, "completion_tokens": 2,
                             "total_tokens": 3}, 4000)
    assert capped["output_tokens_details"]["reasoning_tokens"] == 2
