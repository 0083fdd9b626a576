"""Judging one tool call: name resolution, staged decoding, coercion, validation (§3.5).

Each call is judged alone (M2). Decoding stops at the first stage that yields an object:
s0 wrappers stripped, s1 lenient `json.loads`, s2 deterministic safe fixes, s3 json-repair
guarded by key preservation. Nothing here invents arguments (A8).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import json_repair

# jsonschema ships no stubs in this venv (types-jsonschema is not installed).
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]
from jsonschema.validators import validator_for  # type: ignore[import-untyped]

from zproxy.tools.coerce import coerce, schema_types
from zproxy.tools.fixes import safe_fixes

_PREFIXES: Final = ("functions.", "functions:", "default_api:", "default_api.", "tools.")
_WRAPPERS: Final = ("arguments", "args", "args_json", "parameters", "input")
_KEY_TOKEN: Final = re.compile(r'"([^"\\\n]{1,200})"\s*[:：]')
_CHILD: Final = re.compile(r"<([A-Za-z_][\w.-]*)(?:\s[^>]*)?>(.*?)</\1\s*>", re.S)
_MAX_DEPTH: Final = 8


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    schema: Mapping[str, Any]
    validator: Any  # a jsonschema Validator, or None when the schema does not compile
    keys: frozenset[str]  # every property name anywhere in the schema


@dataclass(frozen=True, slots=True)
class Decoded:
    value: dict[str, Any] | None
    stage: str = ""  # "s0".."s3" for a success
    error: str = ""  # why nothing parsed, with a ±40-character window


@dataclass(frozen=True, slots=True)
class Verdict:
    """The judgement of one call. `arguments` is set exactly when the call is valid."""

    name: str
    arguments: str | None
    problem: str = ""  # unknown_name | not_allowed | bad_json | schema_violation
    detail: str = ""
    notes: tuple[str, ...] = ()  # diagnostics kinds, e.g. "arguments_repaired:s3"

    @property
    def ok(self) -> bool:
        return self.arguments is not None


class ToolIndex:
    """Declared tools by name, with compiled validators (built once per request)."""

    def __init__(self, tools: Sequence[Mapping[str, Any]]) -> None:
        self.specs: dict[str, ToolSpec] = {}
        for tool in tools:
            fn = tool.get("function") if "function" in tool else tool
            if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
                self.specs[fn["name"]] = _spec(fn["name"], fn.get("parameters"))
        self._folded: dict[str, list[str]] = {}
        for name in self.specs:
            self._folded.setdefault(name.casefold(), []).append(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.specs)

    def resolve(self, raw: str) -> str | None:
        """Exact name, then known prefixes stripped, then a unique case-insensitive match."""
        name = raw.strip()
        if name in self.specs:
            return name
        for prefix in _PREFIXES:
            if name.startswith(prefix) and name[len(prefix):] in self.specs:
                return name[len(prefix):]
        for candidate in (name, _strip_prefix(name)):
            found = self._folded.get(candidate.casefold(), [])
            if len(found) == 1:
                return found[0]
        return None


def _strip_prefix(name: str) -> str:
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def _spec(name: str, schema: Any) -> ToolSpec:
    if not isinstance(schema, Mapping):
        schema = {"type": "object", "properties": {}}
    return ToolSpec(name, schema, _compile(schema), frozenset(_schema_keys(schema, 0)))


def _compile(schema: Mapping[str, Any]) -> Any:
    """A validator, or None when the schema does not compile (never block, V2)."""
    try:
        cls = validator_for(schema, default=Draft202012Validator)
        cls.check_schema(schema)
        return cls(schema)
    except (SchemaError, Exception):  # unknown $schema, bad keywords…: skip validation
        return None


def _schema_keys(schema: Any, depth: int) -> set[str]:
    keys: set[str] = set()
    if depth > _MAX_DEPTH or not isinstance(schema, Mapping):
        return keys
    props = schema.get("properties")
    if isinstance(props, Mapping):
        keys.update(k for k in props if isinstance(k, str))
        for sub in props.values():
            keys |= _schema_keys(sub, depth + 1)
    for word in ("items", "additionalProperties"):
        keys |= _schema_keys(schema.get(word), depth + 1)
    for word in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(word) or ():
            keys |= _schema_keys(sub, depth + 1)
    return keys


# --- judging ---------------------------------------------------------------------------------


def judge_call(index: ToolIndex, allowed: frozenset[str], raw_name: str, body: str,
               *, schema_violation: str = "pass") -> Verdict:
    """Judge a `<call>` whose body is JSON text, child elements or empty."""
    name = index.resolve(raw_name)
    if name is None or name not in allowed:
        return _bad_name(index, allowed, raw_name, name)
    spec = index.specs[name]
    decoded = decode_body(body, spec)
    if decoded.value is None:
        return Verdict(name, None, "bad_json", decoded.error)
    notes = (f"arguments_repaired:{decoded.stage}",) if decoded.stage in ("s2", "s3") else ()
    return finish_args(spec, decoded.value, notes, schema_violation)


def judge_decoded(index: ToolIndex, allowed: frozenset[str], raw_name: str,
                  args: dict[str, Any], *, schema_violation: str = "pass") -> Verdict:
    """Judge a call whose arguments are already a mapping (native GLM syntax)."""
    name = index.resolve(raw_name)
    if name is None or name not in allowed:
        return _bad_name(index, allowed, raw_name, name)
    return finish_args(index.specs[name], args, (), schema_violation)


def judge_native(index: ToolIndex, allowed: frozenset[str], raw_name: str,
                 pairs: list[tuple[str, str]] | None, body: str,
                 *, schema_violation: str = "pass") -> Verdict:
    """Judge a native GLM call: arg_key/arg_value pairs, a JSON body, or nothing."""
    if pairs is not None:
        spec = index.specs.get(index.resolve(raw_name) or "")
        props = spec.schema.get("properties") if spec else None
        props = props if isinstance(props, Mapping) else {}
        args = {k: typed_value(v, props.get(k)) for k, v in pairs}
        return judge_decoded(index, allowed, raw_name, args, schema_violation=schema_violation)
    if not raw_name:
        return _judge_named_json(index, allowed, body, schema_violation)
    return judge_call(index, allowed, raw_name, body, schema_violation=schema_violation)


def _judge_named_json(index: ToolIndex, allowed: frozenset[str], body: str,
                      schema_violation: str) -> Verdict:
    """`<tool_call>{"name": "x", "arguments": {...}}</tool_call>` (Hermes-style drift)."""
    value = decode_json(body, frozenset()).value or {}
    name = value.get("name")
    args = value.get("arguments", value.get("parameters", {}))
    if isinstance(args, str):
        args = decode_json(args, frozenset()).value
    if not isinstance(name, str) or not isinstance(args, dict):
        return Verdict(str(name or ""), None, "bad_json", "no tool name in the call")
    return judge_decoded(index, allowed, name, args, schema_violation=schema_violation)


def _bad_name(index: ToolIndex, allowed: frozenset[str], raw: str,
              name: str | None) -> Verdict:
    valid = ", ".join(n for n in index.names if n in allowed)
    if name is None:
        return Verdict(raw, None, "unknown_name", f"unknown tool {raw!r}; valid: {valid}")
    return Verdict(name, None, "not_allowed", f"tool {name!r} not allowed; valid: {valid}")


def finish_args(spec: ToolSpec, args: dict[str, Any], notes: tuple[str, ...],
                schema_violation: str) -> Verdict:
    value = coerce(args, spec.schema, 0)
    error = validation_error(spec, value)
    if error:
        if schema_violation == "reject":
            return Verdict(spec.name, None, "schema_violation", error, notes)
        notes = (*notes, "schema_violation")
    return Verdict(spec.name, dump(value), "", error, notes)


def dump(value: Any) -> str:
    """Compact JSON with non-ASCII kept as is (A9)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def validation_error(spec: ToolSpec, value: Any) -> str:
    if spec.validator is None:
        return ""
    try:
        err = next(iter(spec.validator.iter_errors(value)), None)
    except Exception:  # a broken $ref and the like: skip validation, never block
        return ""
    if err is None:
        return ""
    where = "/".join(str(p) for p in err.absolute_path) or "(root)"
    return f"{where}: {err.message}"[:300]


# --- decoding --------------------------------------------------------------------------------


def decode_body(body: str, spec: ToolSpec) -> Decoded:
    text = strip_wrappers(body)
    if not text:
        return Decoded({}, "s0")
    if text[0] == "<":
        children = decode_children(text, spec.schema)
        if children is not None:
            return Decoded(children, "s0")
    return decode_json(text, spec.keys)


def strip_wrappers(body: str) -> str:
    """s0: fences, CDATA and argument wrapper tags around the JSON."""
    text = body.strip()
    for _ in range(4):
        before = text
        text = _strip_fence(text)
        text = _strip_cdata(text)
        text = _strip_wrapper_tag(text)
        if text == before:
            break
    return text


def _strip_fence(text: str) -> str:
    if not text.startswith("```"):
        return text
    nl = text.find("\n")
    inner = text[nl + 1:] if nl >= 0 else text[3:]
    inner = inner.rstrip()
    return inner[:-3].strip() if inner.endswith("```") else inner.strip()


def _strip_cdata(text: str) -> str:
    if not text.startswith("<![CDATA["):
        return text
    inner = text[9:]
    return (inner[:-3] if inner.endswith("]]>") else inner).strip()


def _strip_wrapper_tag(text: str) -> str:
    for tag in _WRAPPERS:
        if text.startswith(f"<{tag}>"):
            inner = text[len(tag) + 2:]
            close = f"</{tag}>"
            return (inner[: -len(close)] if inner.endswith(close) else inner).strip()
    return text


def decode_json(text: str, keys: frozenset[str]) -> Decoded:
    """Stages s1–s3. Every result must keep the schema keys written in the text."""
    value, error = _loads(text)
    if value is not None and _keys_kept(text, value, keys, strict=False):
        return Decoded(value, "s1")
    fixed = safe_fixes(text)
    if fixed != text:
        value, _ = _loads(fixed)
        if value is not None and _keys_kept(text, value, keys, strict=False):
            return Decoded(value, "s2")
    repaired = _repair(text, keys)
    if repaired is not None:
        return Decoded(repaired, "s3")
    return Decoded(None, error=error or "keys written in the text were lost when parsing")


def _loads(text: str) -> tuple[dict[str, Any] | None, str]:
    """s1: lenient loads (A3); a string holding an object is decoded once more (A7)."""
    try:
        value = json.loads(text, strict=False)
    except json.JSONDecodeError as exc:
        return None, _error_window(text, exc)
    if isinstance(value, str):
        try:
            value = json.loads(value, strict=False)
        except json.JSONDecodeError as exc:
            return None, "a JSON string that does not hold an object: " + _error_window(value, exc)
    if isinstance(value, dict):
        return value, ""
    return None, f"arguments must be a JSON object, got {type(value).__name__}"


def _error_window(text: str, exc: json.JSONDecodeError) -> str:
    lo, hi = max(0, exc.pos - 40), exc.pos + 40
    return f"{exc.msg} at char {exc.pos}: …{text[lo:exc.pos]}⟨HERE⟩{text[exc.pos:hi]}…"


def _repair(text: str, keys: frozenset[str]) -> dict[str, Any] | None:
    """s3: json-repair, accepted only when every schema key written in `text` survives."""
    try:
        value = json_repair.loads(safe_fixes(text))
    except Exception:
        return None
    if not isinstance(value, dict) or not value:
        return None  # never substitute {} for text that said something (A8)
    return value if _keys_kept(text, value, keys, strict=True) else None


def _keys_kept(text: str, value: dict[str, Any], keys: frozenset[str], *, strict: bool) -> bool:
    """Key preservation: every `"key":` token naming a schema property is still a key.

    This refuses merges such as `"…songs"limit":3` (A2). Without schema keys, `strict`
    checks every written key instead (json-repair), else nothing (a strict JSON parse).
    """
    if not keys and not strict:
        return True
    written = {m.group(1) for m in _KEY_TOKEN.finditer(text)}
    must_keep = written & keys if keys else written
    return must_keep <= _all_keys(value, 0)


def _all_keys(value: Any, depth: int) -> set[str]:
    keys: set[str] = set()
    if depth > _MAX_DEPTH:
        return keys
    if isinstance(value, dict):
        for k, v in value.items():
            keys.add(k)
            keys |= _all_keys(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            keys |= _all_keys(v, depth + 1)
    return keys


def decode_children(text: str, schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """Child-element parameters: `<command>ls</command><timeout>30</timeout>`."""
    pairs = [(m.group(1), m.group(2)) for m in _CHILD.finditer(text)]
    if not pairs or _CHILD.sub("", text).strip():
        return None
    props = schema.get("properties")
    props = props if isinstance(props, Mapping) else {}
    return {key: typed_value(raw, props.get(key)) for key, raw in pairs}


def typed_value(raw: str, schema: Any) -> Any:
    """A raw text value typed by its schema: strings stay raw, others are JSON-decoded."""
    if schema_types(schema) == {"string"}:
        return raw
    try:
        return json.loads(raw.strip(), strict=False)
    except (json.JSONDecodeError, ValueError):
        return raw
