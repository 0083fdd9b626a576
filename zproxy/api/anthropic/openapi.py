"""The OpenAPI 3.1 paths and schemas of the Anthropic routes, merged by `zproxy.openapi`. Pure."""

from __future__ import annotations

from typing import Any, Final

_STR: Final = {"type": "string"}
_INT: Final = {"type": "integer"}
_OBJ: Final = {"type": "object"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(name)}}


_ERRORS: Final = {str(status): {"description": kind, "content": _json("AnthropicError")}
                  for status, kind in ((400, "invalid_request_error"),
                                       (401, "authentication_error"), (404, "not_found_error"),
                                       (413, "request_too_large"), (429, "rate_limit_error"),
                                       (500, "api_error"), (502, "api_error"),
                                       (504, "timeout_error"), (529, "overloaded_error"))}
_HEADERS: Final = [{"name": "anthropic-version", "in": "header", "schema": _STR,
                    "description": "Any value is accepted (the SDKs send 2023-06-01)."},
                   {"name": "anthropic-beta", "in": "header", "schema": _STR,
                    "description": "Accepted and ignored."}]
_SECURITY: Final[list[dict[str, list[str]]]] = [{"bearerAuth": []}, {"apiKeyAuth": []}]

_MESSAGE_FIELDS: Final = {
    "model": {"type": "string", "description": "A Claude name (mapped by ANTHROPIC_MODEL_MAP) "
                                               "or a GLM model name."},
    "max_tokens": {"type": "integer", "minimum": 1},
    "messages": {"type": "array", "items": {"type": "object", "required": ["role", "content"],
                                            "properties": {
                                                "role": {"enum": ["user", "assistant"]},
                                                "content": {"oneOf": [_STR, {
                                                    "type": "array", "items": _OBJ}]}}}},
    "system": {"oneOf": [_STR, {"type": "array", "items": _OBJ}]},
    "stream": {"type": "boolean"},
    "temperature": {"type": "number", "minimum": 0, "maximum": 1},
    "top_p": {"type": "number", "minimum": 0, "maximum": 1},
    "top_k": {"type": "integer", "minimum": 0, "description": "Accepted, not sent upstream."},
    "stop_sequences": {"type": "array", "items": _STR},
    "tools": {"type": "array", "items": {"type": "object", "properties": {
        "name": _STR, "description": _STR, "input_schema": _OBJ}}},
    "tool_choice": {"type": "object", "properties": {
        "type": {"enum": ["auto", "any", "tool", "none"]}, "name": _STR,
        "disable_parallel_tool_use": {"type": "boolean"}}},
    "thinking": {"type": "object", "properties": {
        "type": {"enum": ["enabled", "adaptive", "disabled"]}, "budget_tokens": _INT}},
    "metadata": {"type": "object", "properties": {"user_id": _STR}},
}

SCHEMAS: Final[dict[str, Any]] = {
    "AnthropicMessageRequest": {"type": "object", "required": ["model", "max_tokens",
                                                               "messages"],
                                "properties": _MESSAGE_FIELDS, "additionalProperties": True},
    "AnthropicCountTokensRequest": {
        "type": "object", "required": ["model", "messages"], "additionalProperties": True,
        "properties": {k: v for k, v in _MESSAGE_FIELDS.items() if k not in {"max_tokens",
                                                                            "stream"}}},
    "AnthropicMessage": {
        "type": "object", "required": ["id", "type", "role", "model", "content", "stop_reason",
                                       "stop_sequence", "usage"],
        "properties": {
            "id": {"type": "string", "pattern": "^msg_"}, "type": {"const": "message"},
            "role": {"const": "assistant"}, "model": _STR,
            "content": {"type": "array", "items": {"type": "object", "required": ["type"],
                                                   "properties": {"type": {"enum": [
                                                       "thinking", "text", "tool_use"]}}}},
            "stop_reason": {"enum": ["end_turn", "max_tokens", "stop_sequence", "tool_use",
                                     "refusal"]},
            "stop_sequence": {"type": ["string", "null"]},
            "usage": {"type": "object", "required": ["input_tokens", "output_tokens"],
                      "properties": {k: _INT for k in (
                          "input_tokens", "output_tokens", "cache_creation_input_tokens",
                          "cache_read_input_tokens")}}}},
    "AnthropicTokenCount": {"type": "object", "required": ["input_tokens"],
                            "properties": {"input_tokens": _INT}},
    "AnthropicError": {"type": "object", "required": ["type", "error"], "properties": {
        "type": {"const": "error"}, "request_id": _STR,
        "error": {"type": "object", "required": ["type", "message"],
                  "properties": {"type": _STR, "message": _STR}}}},
}

PATHS: Final[dict[str, Any]] = {
    "/v1/messages": {"post": {
        "operationId": "createMessage", "summary": "Create a message (Anthropic Messages API)",
        "security": _SECURITY, "parameters": _HEADERS,
        "requestBody": {"required": True, "content": _json("AnthropicMessageRequest")},
        "responses": {"200": {
            "description": "One message; with `stream: true` Anthropic's SSE events.",
            "content": {**_json("AnthropicMessage"), "text/event-stream": {"schema": {
                "type": "string", "description": "`event: <type>` + `data: <JSON>`: "
                "message_start, content_block_start/delta/stop, message_delta, message_stop, "
                "ping; an error after the first event is one `error` event."}}}},
            **_ERRORS}}},
    "/v1/messages/count_tokens": {"post": {
        "operationId": "countMessageTokens", "summary": "Count the input tokens of a message",
        "security": _SECURITY, "parameters": _HEADERS,
        "requestBody": {"required": True, "content": _json("AnthropicCountTokensRequest")},
        "responses": {"200": {"description": "The count",
                              "content": _json("AnthropicTokenCount")}, **_ERRORS}}},
}

API_KEY_SCHEME: Final = {"type": "apiKey", "in": "header", "name": "x-api-key",
                         "description": "A client key, as the Anthropic SDKs send it."}
