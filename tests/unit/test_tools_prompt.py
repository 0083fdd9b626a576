"""Prompt contract, history re-rendering and prepare_tool_request (§3.2, §3.3, §3.7, §3.9)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from zproxy.core.events import ToolCall
from zproxy.errors import ClientRequestError
from zproxy.tools import (
    RetryInfo,
    ToolCallParser,
    ToolContext,
    corrective_messages,
    new_nonce,
    prepare_tool_request,
)
from zproxy.tools.prompt import NONCE_ALPHABET, TRUNCATED, render_catalog, render_tool_prompt

N = "K7XQ2P"
LOOKUP = {"type": "function", "function": {
    "name": "lookup", "description": "Find a record.",
    "parameters": {"type": "object", "properties": {"id": {"type": "integer"}},
                   "required": ["id"]}}}
TODO = {"type": "function", "function": {
    "name": "TodoWrite", "description": "Write todos.",
    "parameters": {"type": "object", "properties": {"todos": {"type": "array", "items": {
        "type": "object", "properties": {"content": {"type": "string"},
                                         "status": {"enum": ["pending", "done"]}}}}}}}}
TOOLS = [LOOKUP, TODO]


def prepare(messages: list[dict[str, Any]], **kw: Any) -> tuple[list[dict[str, Any]],
                                                              ToolContext | None]:
    kw.setdefault("tools", TOOLS)
    kw.setdefault("tool_choice", None)
    kw.setdefault("parallel_tool_calls", None)
    return prepare_tool_request(messages, nonce=N, **kw)


# --- nonce -----------------------------------------------------------------------------------


def test_nonce_alphabet_and_length() -> None:
    nonces = {new_nonce(random.Random(i)) for i in range(200)}
    assert len(nonces) > 190
    assert all(len(n) == 6 and set(n) <= set(NONCE_ALPHABET) for n in nonces)
    assert not set("01ILO") & set(NONCE_ALPHABET)
    assert new_nonce(random.Random(1)) == new_nonce(random.Random(1))


# --- catalog and rules -----------------------------------------------------------------------


def test_catalog_is_one_minified_json_object_per_tool_with_full_schema() -> None:
    lines = render_catalog(TOOLS).splitlines()
    assert lines[0] == "<tools>" and lines[-1] == "</tools>"
    entries = [json.loads(line) for line in lines[1:-1]]
    assert entries[0] == {"name": "lookup", "description": "Find a record.",
                          "parameters": LOOKUP["function"]["parameters"]}
    assert entries[1]["parameters"]["properties"]["todos"]["items"]["properties"]["status"] == {
        "enum": ["pending", "done"]}  # nested schema kept (V5)
    assert ", " not in lines[1] and ": " not in lines[1]


def test_catalog_budget_shortens_longest_descriptions_only() -> None:
    tools = [{"type": "function", "function": {"name": f"t{i}", "description": "d" * size,
                                               "parameters": {"type": "object"}}}
             for i, size in enumerate((5000, 3000, 50))]
    text = render_catalog(tools, budget=3000)
    entries = [json.loads(line) for line in text.splitlines()[1:-1]]
    assert len(text) <= 3100
    assert entries[0]["description"].endswith(TRUNCATED)
    assert entries[2]["description"] == "d" * 50
    assert [e["name"] for e in entries] == ["t0", "t1", "t2"]


def test_prompt_rules_use_current_opener_and_fake_example_tool() -> None:
    text = render_tool_prompt(TOOLS, "auto", True, N)
    assert text.startswith("# Tools")
    assert f"<tool_calls_{N}>" in text and f"</tool_calls_{N}>" in text
    assert 'name="example_tool"' in text and "does not exist" in text
    assert "must call" not in text and "at most one" not in text


@pytest.mark.parametrize(("choice", "parallel", "expected", "absent"), [
    ("required", True, "must call at least one tool", "at most one"),
    ({"type": "function", "function": {"name": "lookup"}}, True, "`lookup` exactly once",
     "TodoWrite"),
    ("auto", False, "at most one tool", "must call"),
])
def test_tool_choice_addenda(choice: Any, parallel: bool, expected: str, absent: str) -> None:
    text = render_tool_prompt(TOOLS, choice, parallel, N)
    assert expected in text and absent not in text


def test_custom_prompt_placeholders() -> None:
    template = 'Tools: {tools}\nOpen {opener} close {closer}. {"json": "kept"}\n{choice_rules}'
    text = render_tool_prompt(TOOLS, "required", True, N, custom_prompt=template)
    assert text.startswith("Tools: <tools>\n{")
    assert f"Open <tool_calls_{N}> close </tool_calls_{N}>." in text
    assert '{"json": "kept"}' in text and text.endswith("reply with only the block.")


# --- prepare_tool_request --------------------------------------------------------------------


def test_prompt_first_and_reminder_on_last_user_turn() -> None:
    out, ctx = prepare([{"role": "system", "content": "Be brief."},
                        {"role": "user", "content": "find 7"}])
    assert ctx is not None and ctx.active and ctx.nonce == N
    assert [m["role"] for m in out] == ["system", "user"]
    assert out[0]["content"].startswith("# Tools") and out[0]["content"].endswith("Be brief.")
    assert out[1]["content"].startswith("find 7\n\n(Reminder:")
    assert f"<tool_calls_{N}>" in out[1]["content"]


def test_no_tools_returns_messages_unchanged_except_developer() -> None:
    msgs = [{"role": "developer", "content": "x"}, {"role": "user", "content": "hi", "name": "b"}]
    out, ctx = prepare(msgs, tools=None)
    assert ctx is None
    assert out == [{"role": "system", "content": "x"}, {"role": "user", "content": "hi",
                                                         "name": "b"}]


def test_tool_choice_none_keeps_history_but_no_catalog() -> None:
    msgs = [{"role": "user", "content": "q"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "lookup", "arguments": "{\"id\":1}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"}]
    out, ctx = prepare(msgs, tool_choice="none")
    assert ctx is not None and not ctx.active
    assert "<tools>" not in out[0]["content"] and "disabled" in out[0]["content"]
    assert out[2]["content"] == (f'<tool_calls_{N}>\n<call name="lookup" id="c1">{{"id":1}}'
                                 f"</call>\n</tool_calls_{N}>")
    assert "(Reminder" not in out[-1]["content"]


def test_history_rendered_even_without_tools() -> None:
    msgs = [{"role": "user", "content": "q"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "x"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "r"}]
    out, ctx = prepare(msgs, tools=None)
    assert ctx is None
    assert all(set(m) == {"role", "content"} for m in out)
    assert out[-1]["content"] == '<tool_result call_id="c1" name="x">\nr\n</tool_result>'


def test_consecutive_tool_results_merged_with_following_user() -> None:
    msgs = [{"role": "user", "content": "q"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "lookup",
                                                             "arguments": '{"id": 1}'}},
                {"id": "b", "type": "function", "function": {"name": "TodoWrite",
                                                             "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "a", "content": "one </tool_result> x"},
            {"role": "tool", "tool_call_id": "b",
             "content": [{"type": "text", "text": "two"}], "is_error": True},
            {"role": "user", "content": "next"}]
    out, _ = prepare(msgs)
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert out[2]["content"].startswith("Checking.\n<tool_calls_")
    assert out[3]["content"].split("\n\n(Reminder")[0] == (
        '<tool_result call_id="a" name="lookup">\none <\\/tool_result> x\n</tool_result>\n'
        '<tool_result call_id="b" name="TodoWrite" status="error">\ntwo\n</tool_result>'
        "\n\nnext")


def test_stale_nonce_rewritten_in_assistant_text_only() -> None:
    stale = '<tool_calls_AAAAAA><call name="lookup">{}</call></tool_calls_AAAAAA>'
    msgs = [{"role": "user", "content": f"quote: {stale}"},
            {"role": "assistant", "content": stale},
            {"role": "user", "content": "again"}]
    out, _ = prepare(msgs)
    assert out[1]["content"].startswith(f"quote: {stale}")
    assert out[2]["content"] == stale.replace("AAAAAA", N)


def test_missing_ids_and_non_json_arguments_never_raise() -> None:
    msgs = [{"role": "user", "content": "q"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"type": "function", "function": {"name": "lookup", "arguments": "{id: 1"}},
                {"function": {"name": "TodoWrite", "arguments": {"todos": []}}}, "junk"]},
            {"role": "tool", "content": "orphan"},
            {"role": "tool", "tool_call_id": "missing", "name": "legacy", "content": None},
            {"role": "weird", "content": 3}, "not a message"]
    out, _ = prepare(msgs)  # type: ignore[arg-type]
    block = out[2]["content"]
    assert '<call name="lookup">{id: 1</call>' in block
    assert '<call name="TodoWrite">{"todos":[]}</call>' in block
    assert '<tool_result name="unknown">\norphan\n</tool_result>' in out[3]["content"]
    assert '<tool_result call_id="missing" name="legacy">' in out[3]["content"]


def test_image_parts_kept_and_reminder_added_as_text_part() -> None:
    parts = [{"type": "text", "text": "what is this"},
             {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}}]
    out, _ = prepare([{"role": "user", "content": parts}])
    assert out[1]["content"][:2] == parts
    assert out[1]["content"][2]["text"].startswith("(Reminder")


def test_legacy_functions_converted() -> None:
    out, ctx = prepare([{"role": "user", "content": "q"},
                        {"role": "assistant", "function_call": {"name": "lookup",
                                                                "arguments": '{"id":1}'}},
                        {"role": "function", "name": "lookup", "content": "r"}],
                       tools=None, functions=[LOOKUP["function"]],
                       function_call={"name": "lookup"})
    assert ctx is not None
    assert ctx.tool_choice == {"type": "function", "function": {"name": "lookup"}}
    assert '<call name="lookup">{"id":1}</call>' in out[2]["content"]
    assert out[3]["content"].startswith('<tool_result name="lookup">')


def test_named_tool_choice_unknown_is_400() -> None:
    with pytest.raises(ClientRequestError) as err:
        prepare([{"role": "user", "content": "q"}],
                tool_choice={"type": "function", "function": {"name": "nope"}})
    assert err.value.param == "tool_choice" and err.value.status == 400


@pytest.mark.parametrize("tools", [[{"type": "function", "function": {}}], ["x"], {"a": 1}])
def test_structurally_invalid_tools_is_400(tools: Any) -> None:
    with pytest.raises(ClientRequestError) as err:
        prepare([{"role": "user", "content": "q"}], tools=tools)
    assert err.value.param == "tools"


def test_odd_schemas_never_rejected() -> None:
    odd = {"type": "function", "function": {"name": "odd", "parameters": {
        "type": "object", "required": ["ghost"], "properties": {"x": {"type": 5}}}}}
    out, ctx = prepare([{"role": "user", "content": "q"}], tools=[odd])
    assert ctx is not None and ctx.active and '"ghost"' in out[0]["content"]


def test_allowed_tools_choice_narrows_the_set() -> None:
    choice = {"type": "allowed_tools", "allowed_tools": {
        "mode": "required", "tools": [{"type": "function", "function": {"name": "lookup"}}]}}
    _, ctx = prepare([{"role": "user", "content": "q"}], tool_choice=choice)
    assert ctx is not None and ctx.tool_choice == "required"
    assert [t["function"]["name"] for t in ctx.tools] == ["lookup"]


def test_context_drives_the_parser() -> None:
    _, ctx = prepare([{"role": "user", "content": "q"}], parallel_tool_calls=False)
    assert ctx is not None and not ctx.parallel_tool_calls
    p = ToolCallParser.for_context(ctx, id_factory=lambda: "call_1")
    text = f'<tool_calls_{N}><call name="lookup">{{"id":1}}</call>' \
           f'<call name="lookup">{{"id":2}}</call></tool_calls_{N}>'
    events = p.feed(text) + p.finish()[0]
    assert [e.arguments for e in events if isinstance(e, ToolCall)] == ['{"id":1}']


# --- corrective messages ---------------------------------------------------------------------


def test_corrective_messages_name_exactly_what_failed() -> None:
    from zproxy.tools import CallFailure

    info = RetryInfo("invalid_calls", (CallFailure(1, "lokup", "unknown_name", "", "<call/>"),),
                     "raw text", N, ("lookup", "TodoWrite"))
    assistant, user = corrective_messages(info)
    assert assistant == {"role": "assistant", "content": "raw text"}
    expected = "call #2 (`lokup`): unknown tool name. Valid names: lookup, TodoWrite."
    assert expected in user["content"]
    assert f"<tool_calls_{N}>" in user["content"]


@pytest.mark.parametrize(("reason", "phrase"), [
    ("truncated", "cut off"), ("call_in_reasoning", "inside your reasoning"),
    ("no_call", "must call the tool `lookup`"),
])
def test_corrective_headlines(reason: str, phrase: str) -> None:
    info = RetryInfo(reason, (), "", N, ("lookup",), "lookup")
    assistant, user = corrective_messages(info)
    assert phrase in user["content"] and assistant["content"] == "(no answer text)"
