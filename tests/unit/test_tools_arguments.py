"""Argument judging (§3.5): name resolution, decoder stages s0–s3, refusals, coercion."""

from __future__ import annotations

import json
from typing import Any

import pytest

from zproxy.tools.arguments import (
    ToolIndex,
    coerce,
    decode_json,
    dump,
    judge_call,
    judge_native,
    strip_wrappers,
)
from zproxy.tools.fixes import safe_fixes

SCHEMA = {
    "type": "object",
    "properties": {
        "q": {"type": "string"}, "n": {"type": "integer"}, "limit": {"type": "integer"},
        "path": {"type": "string"}, "content": {"type": "string"},
        "type": {"type": "string"}, "filename": {"type": "string"},
        "element": {"type": "string"}, "command": {"type": "string"},
    },
}
TOOLS = [
    {"type": "function", "function": {"name": "t", "parameters": SCHEMA}},
    {"type": "function", "function": {"name": "Read", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "broken", "parameters": {"type": 12}}},
]
INDEX = ToolIndex(TOOLS)
ALL = frozenset(INDEX.names)
KEYS = INDEX.specs["t"].keys


def args_of(body: str, name: str = "t") -> Any:
    verdict = judge_call(INDEX, ALL, name, body)
    return None if verdict.arguments is None else json.loads(verdict.arguments)


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("t", "t"), ("functions.t", "t"), ("functions:Read", "Read"), ("default_api:Read", "Read"),
    ("tools.Read", "Read"), ("read", "Read"), ("READ", "Read"), (" Read ", "Read"),
    ("nope", None), ("functions.nope", None),
])
def test_name_resolution(raw: str, expected: str | None) -> None:
    assert INDEX.resolve(raw) == expected


def test_ambiguous_case_insensitive_name_is_unknown() -> None:
    index = ToolIndex([{"type": "function", "function": {"name": n}} for n in ("Ls", "LS")])
    assert index.resolve("ls") is None and index.resolve("LS") == "LS"


def test_unknown_and_not_allowed_names() -> None:
    unknown = judge_call(INDEX, ALL, "rm", "{}")
    assert not unknown.ok and unknown.problem == "unknown_name" and "t, Read" in unknown.detail
    blocked = judge_call(INDEX, frozenset({"Read"}), "t", "{}")
    assert not blocked.ok and blocked.problem == "not_allowed"


# --- stages ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "expected"), [
    ("", {}),
    ("   ", {}),
    ('```json\n{"q":"a"}\n```', {"q": "a"}),
    ('<![CDATA[{"q":"]]"}]]>', {"q": "]]"}),
    ('<arguments>{"q":"a"}</arguments>', {"q": "a"}),
    ('<parameters>\n```\n{"q":"a"}\n```\n</parameters>', {"q": "a"}),
])
def test_s0_wrappers(body: str, expected: dict[str, Any]) -> None:
    assert args_of(body) == expected


def test_s1_literal_newlines_and_double_encoding() -> None:
    assert decode_json('{"content":"a\nb\tc"}', KEYS).stage == "s1"
    assert args_of('{"content":"a\nb\tc"}') == {"content": "a\nb\tc"}
    assert args_of(json.dumps(json.dumps({"q": "x"}))) == {"q": "x"}  # A7


@pytest.mark.parametrize(("body", "expected"), [
    ('{"path"："a.py"，"limit"：5}', {"path": "a.py", "limit": 5}),  # A6
    ("{“path”：“a.py”}", {"path": "a.py"}),  # A6 curly quotes
    ('{"q":"x","n":1,}', {"q": "x", "n": 1}),  # A5 trailing comma
    ('{"q":None,"n":1}', {"n": 1}),  # A5 literal; optional null then dropped
    (r'{"path":"C:\Users\dev\Projects"}', {"path": "C:\\Users\\dev\\Projects"}),  # A4
    (r'{"path":"\\server\share\x"}', {"path": "\\server\\share\\x"}),  # UNC survives
])
def test_s2_safe_fixes(body: str, expected: dict[str, Any]) -> None:
    decoded = decode_json(body, KEYS)
    assert decoded.stage == "s2"
    assert args_of(body) == expected


def test_s2_full_width_inside_strings_untouched() -> None:
    assert safe_fixes('{"q":"a：b，c"，"n"：1}') == '{"q":"a：b，c","n":1}'


def test_s2_ambiguous_escape_left_as_newline() -> None:
    assert args_of(r'{"path":"C:\new"}') == {"path": "C:\new"}


def test_s3_unescaped_quotes_accepted() -> None:
    body = '{"command": "git commit -m "fix: bug" && git push"}'
    decoded = decode_json(body, KEYS)
    assert decoded.stage == "s3"
    assert decoded.value == {"command": 'git commit -m "fix: bug" && git push'}


def test_s3_key_merge_refused_a2() -> None:
    decoded = decode_json('{"q":"a "b" c"n":5}', KEYS)
    assert decoded.value is None and "char" in decoded.error
    assert args_of('{"q":"songs"limit":3}') is None


def test_s1_valid_json_with_merged_key_refused() -> None:
    """The z.ai2api payload is valid JSON whose one key swallowed two (key preservation)."""
    body = '{"type":"png","filename:\\"bilibili_homepage\\",\\"element":"x"}'
    assert decode_json(body, KEYS).value is None


def test_garbage_never_becomes_empty_object_a8() -> None:
    verdict = judge_call(INDEX, ALL, "t", "please run the thing")
    assert not verdict.ok and verdict.problem == "bad_json"


def test_non_object_json_is_invalid() -> None:
    assert args_of("[1, 2]") is None
    assert args_of('"just a string"') is None


def test_error_window_is_40_chars_each_side() -> None:
    error = decode_json('{"q":"' + "a" * 60 + ' "b" c"n":5}', KEYS).error
    assert "⟨HERE⟩" in error
    before, after = error.split("⟨HERE⟩")
    assert len(before.split("…", 1)[1]) == 40
    assert after.startswith('b" c"n":5}')


def test_truncated_text_is_completed_by_json_repair_so_parser_never_sends_it() -> None:
    """json-repair closes truncated strings (M6); only the parser can refuse truncation."""
    decoded = decode_json('{"content": "def f():\n    return 1', KEYS)
    assert decoded.value == {"content": "def f():\n    return 1"}


# --- coercion and validation -----------------------------------------------------------------


@pytest.mark.parametrize(("schema", "value", "expected"), [
    ({"type": "integer"}, "10", 10),
    ({"type": "integer"}, 3.0, 3),
    ({"type": "number"}, "2.5", 2.5),
    ({"type": "boolean"}, "true", True),
    ({"type": "boolean"}, "False", False),
    ({"type": "array", "items": {"type": "integer"}}, '["1", 2]', [1, 2]),
    ({"type": "object"}, '{"a": 1}', {"a": 1}),
    ({"type": "string"}, "10", "10"),
    ({"type": "integer"}, "ten", "ten"),
    ({"type": ["integer", "null"]}, None, None),
])
def test_coercion(schema: dict[str, Any], value: Any, expected: Any) -> None:
    assert coerce(value, schema, 0) == expected


def test_coercion_recurses_and_drops_optional_null_only() -> None:
    schema = {"type": "object", "required": ["a"], "properties": {
        "a": {"type": "string"}, "b": {"type": "string"},
        "items": {"type": "array", "items": {"type": "object", "properties": {
            "n": {"type": "integer"}}}}}}
    value = {"a": None, "b": None, "items": [{"n": "1"}, {"n": 2.0}]}
    assert coerce(value, schema, 0) == {"a": None, "items": [{"n": 1}, {"n": 2}]}


def test_schema_violation_pass_and_reject() -> None:
    passed = judge_call(INDEX, ALL, "t", '{"n": "many"}')
    assert passed.ok and "schema_violation" in passed.notes and "n" in passed.detail
    rejected = judge_call(INDEX, ALL, "t", '{"n": "many"}', schema_violation="reject")
    assert not rejected.ok and rejected.problem == "schema_violation"


def test_uncompilable_schema_skips_validation() -> None:
    assert INDEX.specs["broken"].validator is None
    assert args_of('{"anything": [1]}', "broken") == {"anything": [1]}


def test_format_checks_are_off() -> None:
    index = ToolIndex([{"type": "function", "function": {"name": "m", "parameters": {
        "type": "object", "properties": {"e": {"type": "string", "format": "email"}}}}}])
    verdict = judge_call(index, frozenset({"m"}), "m", '{"e": "not-an-email"}')
    assert verdict.ok and not verdict.notes


def test_dump_is_compact_and_keeps_non_ascii() -> None:
    assert dump({"q": "北京", "n": [1, 2]}) == '{"q":"北京","n":[1,2]}'


def test_child_elements_typed_by_schema() -> None:
    assert args_of("<q>42</q><n>42</n>") == {"q": "42", "n": 42}


def test_strip_wrappers_nested() -> None:
    assert strip_wrappers('<args>\n<![CDATA[{"a":1}]]>\n</args>') == '{"a":1}'


def test_native_pairs_and_hermes_json() -> None:
    pairs = judge_native(INDEX, ALL, "t", [("q", "7"), ("n", "7")], "")
    assert pairs.arguments == '{"q":"7","n":7}'
    hermes = judge_native(INDEX, ALL, "", None, '{"name": "t", "arguments": {"n": "3"}}')
    assert hermes.name == "t" and hermes.arguments == '{"n":3}'
