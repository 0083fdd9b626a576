"""Schema-guided coercion of decoded arguments (§3.5 step 3).

Only where the value's type does not match the schema: numeric strings to numbers,
"true"/"false" to booleans, JSON text to objects/arrays, 3.0 to 3 for integers; optional
properties sent as null (where the schema does not allow null) are removed. Depth ≤ 8.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

_MAX_DEPTH: Final = 8



def schema_types(schema: Any) -> set[str]:
    if not isinstance(schema, Mapping):
        return set()
    t = schema.get("type")
    if isinstance(t, str):
        return {t}
    if isinstance(t, list):
        return {x for x in t if isinstance(x, str)}
    return set()


def coerce(value: Any, schema: Any, depth: int) -> Any:
    """Schema-guided coercion, only where the value's type does not match (§3.5 step 3)."""
    if depth > _MAX_DEPTH or not isinstance(schema, Mapping):
        return value
    types = schema_types(schema)
    if types and not _matches(value, types):
        value = _convert(value, types)
    if isinstance(value, dict):
        return _coerce_object(value, schema, depth)
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [coerce(v, schema["items"], depth + 1) for v in value]
    return value


def _coerce_object(value: dict[str, Any], schema: Mapping[str, Any], depth: int) -> Any:
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        return value
    required = schema.get("required")
    required = set(required) if isinstance(required, list) else set()
    out: dict[str, Any] = {}
    for key, item in value.items():
        sub = props.get(key)
        if item is None and key not in required and _drops_null(sub):
            continue
        out[key] = coerce(item, sub, depth + 1)
    return out


def _drops_null(schema: Any) -> bool:
    types = schema_types(schema)
    return bool(types) and "null" not in types


def _matches(value: Any, types: set[str]) -> bool:
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "null": lambda v: v is None,
    }
    return any(checks[t](value) for t in types if t in checks)


def _convert(value: Any, types: set[str]) -> Any:
    if isinstance(value, str):
        return _from_string(value, types)
    if isinstance(value, float) and value.is_integer() and "integer" in types:
        return int(value)
    return value


def _from_string(text: str, types: set[str]) -> Any:
    s = text.strip()
    if "integer" in types and re.fullmatch(r"-?\d+", s):
        return int(s)
    if "number" in types and re.fullmatch(r"-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s):
        number = float(s)
        return int(number) if re.fullmatch(r"-?\d+", s) else number
    if "boolean" in types and s.lower() in ("true", "false"):
        return s.lower() == "true"
    if types & {"object", "array"} and s[:1] in ("{", "["):
        try:
            decoded = json.loads(s, strict=False)
        except json.JSONDecodeError:
            return text
        if isinstance(decoded, dict | list):
            return decoded
    return text
