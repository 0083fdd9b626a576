"""ToolCallParser: the §4.3 categories, the chunking invariant and the holdback rule."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zproxy.core.events import Content, Diagnostic, Reasoning, ToolCall
from zproxy.tools import ParserOptions, ToolCallParser, corrective_messages

N = "K7XQ2P"
OPEN, CLOSE = f"<tool_calls_{N}>", f"</tool_calls_{N}>"


def _tool(name: str, props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    schema = {"type": "object", "properties": props, "required": required or []}
    return {"type": "function", "function": {"name": name, "parameters": schema}}


TOOLS = [
    _tool("search_docs", {"q": {"type": "string"}, "n": {"type": "integer"}}, ["q"]),
    _tool("lookup", {"id": {"type": "integer"}}),
    _tool("write_file", {"path": {"type": "string"}, "content": {"type": "string"}},
          ["path", "content"]),
    _tool("run", {"command": {"type": "string"}, "timeout": {"type": "integer"},
                  "flags": {"type": "array", "items": {"type": "string"}},
                  "verbose": {"type": "boolean"}, "cwd": {"type": "string"}}),
    _tool("Grep", {"pattern": {"type": "string"}, "-i": {"type": "boolean"},
                   "-C": {"type": "integer"}}, ["pattern"]),
]


def call(name: str, args: str) -> str:
    return f'<call name="{name}">{args}</call>'


def block(*calls: str) -> str:
    return OPEN + "\n" + "\n".join(calls) + "\n" + CLOSE


@dataclass
class Result:
    content: str = ""
    reasoning: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    diags: list[str] = field(default_factory=list)
    finish: str = ""
    after_chunk: list[str] = field(default_factory=list)  # content released so far
    parser: ToolCallParser | None = None

    @property
    def named_args(self) -> list[tuple[str, Any]]:
        return [(c.name, json.loads(c.arguments)) for c in self.calls]


def run(chunks: list[Any], tools: list[dict[str, Any]] | None = None,
        upstream: str = "stop", **kw: Any) -> Result:
    ids = (f"call_{i:024x}" for i in itertools.count())
    p = ToolCallParser(TOOLS if tools is None else tools, nonce=N,
                       id_factory=lambda: next(ids), **kw)
    res = Result(parser=p)
    for chunk in chunks:
        if isinstance(chunk, dict):
            _collect(res, p.feed(chunk["reasoning"], "reasoning"))
        else:
            _collect(res, p.feed(chunk))
        res.after_chunk.append(res.content)
    events, res.finish = p.finish(upstream)
    _collect(res, events)
    return res


def _collect(res: Result, events: list[Any]) -> None:
    for e in events:
        if isinstance(e, Content):
            res.content += e.text
        elif isinstance(e, Reasoning):
            res.reasoning += e.text
        elif isinstance(e, ToolCall):
            res.calls.append(e)
        elif isinstance(e, Diagnostic):
            res.diags.append(e.kind)


def assert_same_any_chunking(text: str, **kw: Any) -> Result:
    whole = run([text], **kw)
    for chunks in ([text[i:i + 1] for i in range(len(text))],
                   [text[i:i + 7] for i in range(0, len(text), 7)]):
        other = run(chunks, **kw)
        assert other.content.strip() == whole.content.strip()
        assert other.named_args == whole.named_args
        assert other.finish == whole.finish
    return whole


# --- basic -----------------------------------------------------------------------------------


def test_passthrough_without_calls() -> None:
    res = assert_same_any_chunking("Hello <b>world</b>, 1 < 2 and `code`.")
    assert res.content == "Hello <b>world</b>, 1 < 2 and `code`."
    assert res.calls == [] and res.finish == "stop"


def test_prose_then_block() -> None:
    res = assert_same_any_chunking("Sure.\n" + block(call("search_docs", '{"q":"retry"}')))
    assert res.content.strip() == "Sure."
    assert res.named_args == [("search_docs", {"q": "retry"})]
    assert res.finish == "tool_calls"
    assert res.calls[0].index == 0 and res.calls[0].id == "call_" + "0" * 24


def test_block_only_with_leading_whitespace() -> None:
    res = assert_same_any_chunking("\n\n  " + block(call("lookup", '{"id": 7}')))
    assert res.content.strip() == ""
    assert res.named_args == [("lookup", {"id": 7})]


def test_default_ids_are_call_hex() -> None:
    p = ToolCallParser(TOOLS, nonce=N)
    events = p.feed(block(call("lookup", "{}"))) + p.finish()[0]
    ids = [e.id for e in events if isinstance(e, ToolCall)]
    assert len(ids) == 1 and ids[0].startswith("call_") and len(ids[0]) == 29
    int(ids[0][5:], 16)


# --- split / latency -------------------------------------------------------------------------


def test_trigger_split_is_held_not_leaked() -> None:
    res = run(["See <tool_", f"calls_{N}>", call("lookup", '{"id":1}'), CLOSE])
    assert res.after_chunk[0] == "See "
    assert "<tool_" not in res.after_chunk[1]
    assert res.named_args == [("lookup", {"id": 1})]


@pytest.mark.parametrize("cut", range(1, len(OPEN)))
def test_trigger_split_at_every_position(cut: int) -> None:
    text = "Okay " + block(call("lookup", '{"id":2}'))
    at = len("Okay ") + cut
    res = run([text[:at], text[at:]])
    assert res.after_chunk[0] == "Okay "
    assert res.named_args == [("lookup", {"id": 2})]


def test_lt_heavy_prose_and_cjk_released_immediately() -> None:
    chunks = ["if a < b and b<c:", " <div>x</div> ", "我来查一下。", " 3 <= 4 <"]
    res = run(chunks)
    assert res.after_chunk[0] == "if a < b and b<c:"
    assert res.after_chunk[1] == "if a < b and b<c: <div>x</div> "
    assert res.after_chunk[2].endswith("我来查一下。")
    # only the lone trailing "<" (a possible trigger start) is held
    assert res.after_chunk[3].endswith(" 3 <= 4 ")
    assert res.content.endswith("<")


def test_holdback_never_exceeds_a_trigger_prefix() -> None:
    """Measure: after every 1-char chunk, held text is a proper trigger prefix (≤ 18 chars)."""
    text = "Check <tool_calls_WRONG> and <tool_callback> or <tool_calls_K7X> then " + "好" * 5
    p = ToolCallParser(TOOLS, nonce=N)
    released, worst = "", 0
    for i, ch in enumerate(text):
        released += "".join(e.text for e in p.feed(ch) if isinstance(e, Content))
        held = text[len(released):i + 1]
        worst = max(worst, len(held))
        assert OPEN.startswith(held) or "<tool_call>".startswith(held)
    assert worst == len("<tool_calls_K7X")  # the longest real prefix in this text
    released += "".join(e.text for e in p.finish()[0] if isinstance(e, Content))
    assert released == text


def test_partial_trigger_at_end_of_stream_is_flushed() -> None:
    res = run(["All done. <tool_calls_K7"])
    assert res.after_chunk[0] == "All done. "
    assert res.content == "All done. <tool_calls_K7" and res.finish == "stop"


def test_json_escape_split_between_backslash_and_quote() -> None:
    text = block(call("search_docs", '{"q":"say \\"hi\\" </call> now"}'))
    cut = text.index('\\"') + 1
    res = run([text[:cut], text[cut:]])
    assert res.named_args == [("search_docs", {"q": 'say "hi" </call> now'})]


def test_big_argument_over_many_chunks() -> None:
    payload = "x" * 20_000 + '"quoted" </call> ' + "y" * 100
    args = json.dumps({"path": "a.txt", "content": payload})
    text = "Writing.\n" + block(call("write_file", args))
    res = run([text[i:i + 1000] for i in range(0, len(text), 1000)])
    assert res.named_args == [("write_file", {"path": "a.txt", "content": payload})]


# --- false positives -------------------------------------------------------------------------


def test_wrong_nonce_is_text_and_counted_as_near_miss() -> None:
    text = '<tool_calls_AAAAAA><call name="lookup">{}</call></tool_calls_AAAAAA>'
    res = assert_same_any_chunking(text)
    assert res.content == text and res.calls == [] and res.finish == "stop"
    for chunks in ([text], list(text)):
        assert run(chunks).diags.count("near_miss_trigger") == 1


def test_opener_in_backticks_is_text() -> None:
    text = f"Write `{OPEN}` to start a block."
    res = assert_same_any_chunking(text)
    assert res.content == text and res.finish == "stop"


def test_opener_then_long_prose_is_false_trigger() -> None:
    prose = "This opener starts a block in our format. " * 20
    text = f"The marker {OPEN} is special. {prose}"
    res = assert_same_any_chunking(text)
    assert res.content == text and res.calls == []
    assert "false_trigger" in res.diags


def test_false_trigger_then_real_block() -> None:
    text = f"Marker {OPEN} explained." + "." * 600 + "\n" + block(call("lookup", '{"id":5}'))
    res = assert_same_any_chunking(text)
    assert res.named_args == [("lookup", {"id": 5})]
    assert res.content.startswith(f"Marker {OPEN} explained.")


def test_openai_json_in_fence_never_executed() -> None:
    text = ('Example:\n```json\n{"tool_calls":[{"function":{"name":"lookup",'
            '"arguments":"{}"}}]}\n```')
    res = assert_same_any_chunking(text)
    assert res.content == text and res.calls == []


def test_opener_then_stream_end_before_any_call() -> None:
    res = run(["Here: ", OPEN, " hmm"])
    assert res.content == f"Here: {OPEN} hmm" and res.finish == "stop"


# --- fences ----------------------------------------------------------------------------------


def test_fenced_block_is_adopted_and_fence_dropped() -> None:
    text = "Calling:\n```xml\n" + block(call("lookup", '{"id":1}')) + "\n```\n"
    res = assert_same_any_chunking(text)
    assert res.content.strip() == "Calling:"
    assert res.named_args == [("lookup", {"id": 1})]


def test_fenced_block_with_emit_keeps_text_after_fence() -> None:
    text = "```\n" + block(call("lookup", '{"id":1}')) + "\n```\nThat is all."
    res = run([text], options=ParserOptions(after_block_text="emit"))
    assert res.content.strip() == "That is all."


def test_normal_code_blocks_untouched() -> None:
    text = "Code:\n```python\nprint('<b>')\n```\nand XML:\n```xml\n<a><b/></a>\n```\n"
    res = assert_same_any_chunking(text)
    assert res.content == text


def test_code_fence_released_one_line_late_at_most() -> None:
    res = run(["```python\n", "print(1)\n"])
    assert res.after_chunk[0] == ""
    assert res.after_chunk[1] == "```python\nprint(1)\n"


# --- think / reasoning -----------------------------------------------------------------------


def test_leading_think_holding_the_opener_is_reasoning() -> None:
    text = f"<think>I will call {OPEN}{call('lookup', '{}')}</think>\n\nChecking."
    res = assert_same_any_chunking(text)
    assert res.calls == [] and res.content == "Checking." and res.finish == "stop"
    assert OPEN in res.reasoning
    assert "call_in_reasoning" in res.diags


def test_call_only_in_reasoning_channel() -> None:
    res = run([{"reasoning": f"Let me {OPEN}<call name=\"lookup\">"},
               {"reasoning": "{}</call>"}, "Checking."])
    assert res.calls == [] and res.finish == "stop" and res.content == "Checking."
    assert res.reasoning.startswith("Let me <tool_calls_")
    assert "call_in_reasoning" in res.diags
    assert res.parser is not None and res.parser.retry_info is not None
    assert res.parser.retry_info.reason == "call_in_reasoning"


def test_think_mid_prose_does_not_disable_detection() -> None:
    text = "I used a <think> tag here. " + block(call("lookup", '{"id":3}'))
    res = assert_same_any_chunking(text)
    assert res.named_args == [("lookup", {"id": 3})]
    assert res.content.startswith("I used a <think> tag here.")


def test_reasoning_channel_passes_through_unchanged() -> None:
    res = run([{"reasoning": "a <tool_call"}, {"reasoning": " b"}, "answer"])
    assert res.reasoning == "a <tool_call b" and res.content == "answer"


# --- multiple calls --------------------------------------------------------------------------


def test_three_calls_in_one_block() -> None:
    text = block(call("lookup", '{"id":1}'), call("lookup", '{"id":2}'),
                 call("search_docs", '{"q":"x"}'))
    res = assert_same_any_chunking(text)
    assert [c.index for c in res.calls] == [0, 1, 2]
    assert len({c.id for c in res.calls}) == 3


def test_two_blocks_with_text_between() -> None:
    text = block(call("lookup", '{"id":1}')) + "\nAnd also:\n" + block(call("lookup", '{"id":2}'))
    res = assert_same_any_chunking(text)
    assert res.named_args == [("lookup", {"id": 1}), ("lookup", {"id": 2})]
    assert res.content.strip() == "And also:"


def test_repeated_opener_per_call() -> None:
    text = OPEN + call("lookup", '{"id":1}') + "\n" + OPEN + call("lookup", '{"id":2}') + CLOSE
    res = assert_same_any_chunking(text)
    assert res.named_args == [("lookup", {"id": 1}), ("lookup", {"id": 2})]
    assert res.content == ""


def test_trailing_made_up_result_dropped() -> None:
    text = block(call("lookup", '{"id":1}')) + "\n<tool_result>{\"name\": \"Bob\"}</tool_result>"
    res = assert_same_any_chunking(text)
    assert res.content == "" and "dropped_trailing_text" in res.diags


def test_parallel_false_keeps_first_call_only() -> None:
    text = block(call("lookup", '{"id":1}'), call("lookup", '{"id":2}'))
    res = run([text], parallel_tool_calls=False)
    assert res.named_args == [("lookup", {"id": 1})]
    assert "extra_call_dropped" in res.diags and res.content == ""
    assert res.parser is not None and res.parser.can_stop


def test_invalid_call_among_valid_ones() -> None:
    bad = call("unknown_tool", '{"a":1}')
    text = block(call("lookup", '{"id":1}'), bad, call("lookup", '{"id":2}'))
    res = assert_same_any_chunking(text)
    assert res.named_args == [("lookup", {"id": 1}), ("lookup", {"id": 2})]
    assert [c.index for c in res.calls] == [0, 1]
    assert res.content.strip() == bad and res.finish == "tool_calls"


def test_block_with_zero_valid_calls_is_text_in_place() -> None:
    text = "Before " + block(call("nope", "{}")) + " after"
    res = assert_same_any_chunking(text)
    assert res.content == text and res.finish == "stop" and "invalid_call" in res.diags


# --- nested / repair -------------------------------------------------------------------------


def test_closing_tags_and_opener_inside_json_strings() -> None:
    content = f"x</call>{CLOSE}{OPEN}]]></tool_calls> & <b>"
    res = assert_same_any_chunking(block(call("write_file",
                                              json.dumps({"path": "p", "content": content}))))
    assert res.named_args == [("write_file", {"path": "p", "content": content})]


def test_literal_newlines_in_strings() -> None:
    res = assert_same_any_chunking(block(call("write_file",
                                              '{"path":"a","content":"line1\nline2\tx"}')))
    assert res.named_args == [("write_file", {"path": "a", "content": "line1\nline2\tx"})]


def test_unescaped_inner_quotes_repaired() -> None:
    text = block(call("run", '{"command": "git commit -m "fix: bug" && git push"}'))
    res = assert_same_any_chunking(text)
    assert res.named_args == [("run", {"command": 'git commit -m "fix: bug" && git push'})]
    assert "arguments_repaired:s3" in res.diags


def test_unescaped_quote_odd_count_recovered_at_end() -> None:
    text = block(call("run", '{"command": "echo it"s fine"}'))
    res = run([text])
    assert len(res.calls) == 1 and res.calls[0].name == "run"
    assert json.loads(res.calls[0].arguments)["command"].startswith('echo it"s fine')


def test_key_merging_repair_refused() -> None:
    text = block(call("search_docs", '{"q":"a "b" c"n":5}'))
    res = assert_same_any_chunking(text)
    assert res.calls == [] and res.content == text and res.finish == "stop"


def test_python_literals_and_trailing_comma() -> None:
    res = assert_same_any_chunking(block(call("run", '{"command":"ls","verbose":True,}')))
    assert res.named_args == [("run", {"command": "ls", "verbose": True})]


def test_full_width_punctuation() -> None:
    res = assert_same_any_chunking(block(call("search_docs", '{"q"："a.py"，"n"：5}')))
    assert res.named_args == [("search_docs", {"q": "a.py", "n": 5})]


def test_windows_path() -> None:
    res = assert_same_any_chunking(block(call("run", r'{"cwd":"C:\Users\dev\Projects"}')))
    assert res.named_args == [("run", {"cwd": "C:\\Users\\dev\\Projects"})]
    assert "arguments_repaired:s2" in res.diags


def test_double_encoded_arguments() -> None:
    res = assert_same_any_chunking(block(call("lookup", json.dumps(json.dumps({"id": 4})))))
    assert res.named_args == [("lookup", {"id": 4})]


def test_cdata_and_json_fence_and_wrapper_inside_call() -> None:
    text = block(call("lookup", '<![CDATA[{"id":1}]]>'),
                 call("lookup", '\n```json\n{"id":2}\n```\n'),
                 call("lookup", '<args_json>{"id":3}</args_json>'))
    res = assert_same_any_chunking(text)
    assert res.named_args == [("lookup", {"id": i}) for i in (1, 2, 3)]


def test_child_element_params_typed_by_schema() -> None:
    text = block(call("run", "<command>ls -la</command><timeout>30</timeout>"))
    res = assert_same_any_chunking(text)
    assert res.named_args == [("run", {"command": "ls -la", "timeout": 30})]


def test_attribute_and_tag_variants() -> None:
    text = (OPEN + "<call name='lookup'>{\"id\":1}</call>" + "<call name=lookup>{\"id\":2}</call>"
            + '<invoke name="lookup">{"id":3}</invoke>' + "<call name=“lookup”>{\"id\":4}</call>"
            + '<call name="lookup" id="x"/>' + CLOSE)
    res = assert_same_any_chunking(text)
    assert res.named_args == [("lookup", {"id": i}) for i in (1, 2, 3, 4)] + [("lookup", {})]


def test_preamble_inside_block_is_content() -> None:
    text = OPEN + "\nI will call the tool now.\n" + call("lookup", '{"id":9}') + CLOSE
    res = assert_same_any_chunking(text)
    assert res.content.strip() == "I will call the tool now."
    assert res.named_args == [("lookup", {"id": 9})]


# --- structure / truncation ------------------------------------------------------------------


def test_missing_call_close() -> None:
    res = assert_same_any_chunking(OPEN + '<call name="lookup">{"id":1}\n' + CLOSE)
    assert res.named_args == [("lookup", {"id": 1})]


def test_missing_block_close_at_end_of_stream() -> None:
    res = assert_same_any_chunking(OPEN + call("lookup", '{"id":1}'))
    assert res.named_args == [("lookup", {"id": 1})]


def test_generic_close_tag() -> None:
    res = assert_same_any_chunking(OPEN + call("lookup", '{"id":1}') + "</tool_calls>")
    assert res.named_args == [("lookup", {"id": 1})] and res.content == ""


def test_truncated_arguments_never_completed() -> None:
    text = OPEN + '<call name="write_file">{"path":"a.py","content":"def f():\n    return 1'
    res = assert_same_any_chunking(text, upstream="length")
    assert res.calls == [] and res.content == text and res.finish == "length"
    assert "truncated_call" in res.diags
    assert res.parser is not None and res.parser.retry_info is not None
    assert res.parser.retry_info.reason == "truncated"


def test_second_call_truncated_keeps_first() -> None:
    second = '<call name="write_file">{"path":"b","content":"unfinished'
    res = assert_same_any_chunking(OPEN + call("lookup", '{"id":1}') + second, upstream="length")
    assert res.named_args == [("lookup", {"id": 1})]
    assert res.content == second and res.finish == "tool_calls"


def test_complete_calls_with_length_finish() -> None:
    res = run([block(call("lookup", '{"id":1}'))], upstream="length")
    assert res.finish == "tool_calls"


def test_block_too_large_is_text() -> None:
    text = OPEN + call("write_file", json.dumps({"path": "a", "content": "z" * 300}))
    res = run([text[:100], text[100:]], options=ParserOptions(max_block_chars=200))
    assert res.calls == [] and res.content == text and "block_too_large" in res.diags


# --- names / schema --------------------------------------------------------------------------


def test_unknown_tool_is_text() -> None:
    text = block(call("delete_everything", "{}"))
    res = assert_same_any_chunking(text)
    assert res.content == text and res.calls == []


def test_prefixed_and_case_variant_names_mapped() -> None:
    text = block(call("functions.lookup", '{"id":1}'), call("LOOKUP", '{"id":2}'),
                 call("default_api:search_docs", '{"q":"x"}'))
    res = assert_same_any_chunking(text)
    assert [n for n, _ in res.named_args] == ["lookup", "lookup", "search_docs"]


def test_coercion_null_optional_and_stringified_array() -> None:
    args = '{"command":"ls","timeout":"10","verbose":"true","cwd":null,"flags":"[\\"-a\\"]"}'
    res = assert_same_any_chunking(block(call("run", args)))
    assert res.named_args == [("run", {"command": "ls", "timeout": 10, "verbose": True,
                                       "flags": ["-a"]})]


def test_schema_violation_passed_with_diagnostic() -> None:
    res = run([block(call("search_docs", '{"n": 2}'))])
    assert res.named_args == [("search_docs", {"n": 2})]
    assert "schema_violation" in res.diags


def test_schema_violation_rejected_when_configured() -> None:
    res = run([block(call("search_docs", '{"n": 2}'))],
              options=ParserOptions(schema_violation="reject"))
    assert res.calls == [] and res.finish == "stop"


def test_hyphenated_keys_and_empty_args() -> None:
    text = block(call("Grep", '{"pattern":"TODO","-i":true,"-C":2}'), call("lookup", ""))
    res = assert_same_any_chunking(text)
    assert res.named_args == [("Grep", {"pattern": "TODO", "-i": True, "-C": 2}), ("lookup", {})]


def test_arguments_serialised_compact_non_ascii() -> None:
    res = run([block(call("search_docs", '{"q": "重试 策略"}'))])
    assert res.calls[0].arguments == '{"q":"重试 策略"}'


def test_sixty_tool_catalog() -> None:
    tools = [_tool(f"tool_{i}", {"x": {"type": "integer"}}) for i in range(60)]
    res = run([block(call("tool_59", '{"x":"3"}'))], tools=tools)
    assert res.named_args == [("tool_59", {"x": 3})]


# --- i18n ------------------------------------------------------------------------------------


def test_cjk_prose_streamed_before_block_completes() -> None:
    res = run(["我来查一下。", "\n" + OPEN, call("search_docs", '{"q":"天气 北京"}'), CLOSE])
    assert res.after_chunk[0] == "我来查一下。"
    assert res.named_args == [("search_docs", {"q": "天气 北京"})]


# --- native drift ----------------------------------------------------------------------------


def test_native_glm_call_accepted() -> None:
    text = ("Let me check.\n<tool_call>lookup<arg_key>id</arg_key><arg_value>7</arg_value>"
            "</tool_call>")
    res = assert_same_any_chunking(text)
    assert res.named_args == [("lookup", {"id": 7})]
    assert res.content.strip() == "Let me check."


def test_native_string_values_stay_raw() -> None:
    text = ("<tool_call>run\n<arg_key>command</arg_key>\n<arg_value>echo 42</arg_value>\n"
            "<arg_key>timeout</arg_key>\n<arg_value>5</arg_value>\n</tool_call>")
    res = assert_same_any_chunking(text)
    assert res.named_args == [("run", {"command": "echo 42", "timeout": 5})]


def test_native_no_arg_form() -> None:
    res = assert_same_any_chunking("<tool_call>lookup</tool_call>")
    assert res.named_args == [("lookup", {})]


def test_native_in_backticks_or_fence_is_text() -> None:
    text = ("Use `<tool_call>lookup</tool_call>` or\n```\n<tool_call>lookup</tool_call>\n```\n")
    res = assert_same_any_chunking(text)
    assert res.content == text and res.calls == []


def test_native_unknown_name_is_text() -> None:
    text = "<tool_call>rm_rf<arg_key>p</arg_key><arg_value>/</arg_value></tool_call>"
    res = assert_same_any_chunking(text)
    assert res.content == text and res.calls == []


def test_native_off_when_disabled() -> None:
    text = "<tool_call>lookup</tool_call>"
    res = run([text], options=ParserOptions(accept_glm_native=False))
    assert res.content == text and res.calls == []


# --- tool_choice -----------------------------------------------------------------------------


def test_tool_choice_none_block_is_text() -> None:
    text = block(call("lookup", "{}"))
    res = run([text], tool_choice="none")
    assert res.content == text and res.calls == [] and res.finish == "stop"


def test_no_tools_passthrough() -> None:
    res = run(["a <tool_call>", "lookup</tool_call>"], tools=[])
    assert res.after_chunk[0] == "a <tool_call>" and res.calls == []


def test_required_holds_content_until_first_call() -> None:
    res = run(["One moment", " please.\n", OPEN, call("lookup", '{"id":1}'), CLOSE],
              tool_choice="required")
    assert res.after_chunk[:3] == ["", "", ""]
    assert res.after_chunk[3] == "One moment please.\n"
    assert res.named_args == [("lookup", {"id": 1})]


def test_required_without_call_releases_text_at_end() -> None:
    res = run(["I cannot ", "do that."], tool_choice="required")
    assert res.after_chunk == ["", ""] and res.content == "I cannot do that."
    assert res.finish == "stop"
    assert res.parser is not None and res.parser.retry_info is not None
    assert res.parser.retry_info.reason == "no_call"


def test_named_tool_choice_respected() -> None:
    named = {"type": "function", "function": {"name": "lookup"}}
    res = run([block(call("lookup", '{"id":1}'))], tool_choice=named)
    assert res.named_args == [("lookup", {"id": 1})]
    other = block(call("search_docs", '{"q":"x"}'))
    res = run([other], tool_choice=named)
    assert res.calls == [] and res.content == other
    assert res.parser is not None and res.parser.retry_info is not None
    assert res.parser.retry_info.failures[0].problem == "not_allowed"


# --- retry information -----------------------------------------------------------------------


def test_no_retry_in_auto_without_opener() -> None:
    res = run(["just prose"])
    assert res.parser is not None and res.parser.retry_info is None


def test_retry_info_for_invalid_block_and_corrective_messages() -> None:
    text = "Sure. " + block(call("search_docs", '{"q":"a "b" c"n":5}')) + " trailing"
    res = run([text])
    assert res.parser is not None
    info = res.parser.retry_info
    assert info is not None and info.reason == "invalid_calls"
    assert info.raw_output == "Sure. " + block(call("search_docs", '{"q":"a "b" c"n":5}'))
    msgs = corrective_messages(info)
    assert [m["role"] for m in msgs] == ["assistant", "user"]
    assert msgs[0]["content"] == info.raw_output
    assert "call #1 (`search_docs`)" in msgs[1]["content"] and OPEN in msgs[1]["content"]
    assert "⟨HERE⟩" in msgs[1]["content"]


def test_deferred_failed_text_for_retry() -> None:
    text = block(call("nope", "{}"))
    p = ToolCallParser(TOOLS, nonce=N, options=ParserOptions(defer_failed_text=True))
    events = p.feed("Hi. ") + p.feed(text)
    more, reason = p.finish()
    shown = "".join(e.text for e in events + more if isinstance(e, Content))
    assert shown == "Hi. " and p.needs_retry and reason == "stop"
    assert "".join(e.text for e in p.deferred_events if isinstance(e, Content)) == text


def test_start_index_continues_numbering() -> None:
    p = ToolCallParser(TOOLS, nonce=N, start_index=2)
    events = p.feed(block(call("lookup", "{}"))) + p.finish()[0]
    assert [e.index for e in events if isinstance(e, ToolCall)] == [2]


# --- the chunking invariant (§3.4.1) ---------------------------------------------------------

SAMPLES = [
    "Sure.\n" + block(call("search_docs", '{"q":"retry"}')),
    "a < b, <div>ok</div> `x` 我来 " + block(call("lookup", '{"id":"3"}'),
                                           call("nope", "{}")) + " fake result",
    "```xml\n" + block(call("run", '{"command":"echo \\"hi\\" </call>"}')) + "\n```\nbye",
    f"<think>plan {OPEN}</think>\nText `{OPEN}` then\n<tool_call>lookup<arg_key>id</arg_key>"
    "<arg_value>2</arg_value></tool_call> after",
    OPEN + '<call name="write_file">{"path":"a","content":"x \\u00e9 \\\\ \n',
    OPEN + '<call name="run">{"command": "git commit -m "fix: bug" && ls"}</call>' + CLOSE,
    f"Marker {OPEN} talk " + "." * 530 + block(call("lookup", "{}")),
]


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    bounds = [0, *points, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@settings(max_examples=60, deadline=None)
@given(sample=st.sampled_from(range(len(SAMPLES))),
       cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=25))
def test_any_chunking_gives_the_same_result(sample: int, cuts: list[int]) -> None:
    text = SAMPLES[sample]
    whole = run([text])
    split = run(_split(text, cuts))
    assert split.content == whole.content
    assert split.named_args == whole.named_args
    assert split.finish == whole.finish
