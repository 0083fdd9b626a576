"""OpenAPI paths and schemas of the Responses API front door (pure).

`RESPONSES_PARAMETERS` is the one table of the `POST /v1/responses` fields zproxy honours;
`/docs` renders the same table. `zproxy.openapi.build_openapi` merges `responses_paths` and
`RESPONSES_SCHEMAS` into the document.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from zproxy.openapi_params import Param

_STR: Final = {"type": "string"}
_BOOL: Final = {"type": "boolean"}
_OBJ: Final = {"type": "object"}
_INT: Final = {"type": "integer"}
_NULLABLE_STR: Final = {"type": ["string", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


RESPONSES_PARAMETERS: Final[tuple[Param, ...]] = (
    Param("model", _STR, "Model name from /v1/models, as for chat completions.", required=True),
    Param("input", {"oneOf": [_STR, {"type": "array", "items": _OBJ}]},
          "A string (one user message) or input items: `message` (roles user, system, "
          "developer, assistant; parts `input_text`, `input_image` with an `image_url`, "
          "`output_text`), `function_call` and `function_call_output`. `reasoning` items are "
          "accepted and skipped.", required=True),
    Param("instructions", _STR, "System text for this request only; not carried over by "
          "`previous_response_id`."),
    Param("stream", _BOOL, "Stream Responses events (`event:` + `data:` frames with "
          "increasing `sequence_number`, ending with `response.completed`; no `[DONE]`)."),
    Param("store", _BOOL, "Keep the response (default true) for `GET /v1/responses/{id}` and "
          "`previous_response_id`; kept in memory for `RESPONSE_STORE_TTL` seconds."),
    Param("previous_response_id", _STR, "Continue a stored response: its input and output "
          "items are sent before this request's input."),
    Param("tools", {"type": "array", "items": _OBJ},
          "Function tools `{type: function, name, description, parameters, strict}` "
          "(emulated, as for chat completions); `web_search` turns the model's search on."),
    Param("tool_choice", {"oneOf": [_STR, _OBJ]},
          "`auto`, `none`, `required` or `{\"type\": \"function\", \"name\"}`."),
    Param("parallel_tool_calls", _BOOL, "Allow several tool calls in one answer."),
    Param("max_output_tokens", {"type": "integer", "minimum": 1},
          "Cut the answer after this many tokens (`status: incomplete`)."),
    Param("temperature", {"type": "number", "minimum": 0, "maximum": 2}, "Sampling "
          "temperature, 0-2."),
    Param("top_p", {"type": "number", "minimum": 0, "maximum": 1}, "Nucleus sampling, 0-1."),
    Param("reasoning", _OBJ, "`{\"effort\": …}`: `none`/`minimal` turn thinking off, any "
          "other effort on; the thinking comes back as a `reasoning` item's summary."),
    Param("text", _OBJ, "`{\"format\": {\"type\": \"json_object\"}}` or `json_schema` asks "
          "for JSON, as `response_format` does for chat completions."),
    Param("metadata", _OBJ, "Up to 16 string values, echoed back and stored."),
)

RESPONSES_UNSUPPORTED: Final = ("background", "conversation", "prompt", "input_file parts",
                                "built-in tools other than web_search")

_ITEM: Final = {
    "type": "object", "required": ["type", "id"],
    "properties": {
        "type": {"type": "string", "enum": ["message", "reasoning", "function_call"]},
        "id": _STR, "status": _STR, "role": {"type": "string", "const": "assistant"},
        "content": {"type": "array", "items": {"type": "object", "properties": {
            "type": {"type": "string", "const": "output_text"}, "text": _STR,
            "annotations": {"type": "array", "items": {"type": "object", "properties": {
                "type": {"type": "string", "const": "url_citation"}, "url": _STR,
                "title": _STR, "start_index": _INT, "end_index": _INT}}}}}},
        "summary": {"type": "array", "items": {"type": "object", "properties": {
            "type": {"type": "string", "const": "summary_text"}, "text": _STR}}},
        "call_id": _STR, "name": _STR,
        "arguments": {"type": "string", "description": "JSON text"},
    },
}

_RESPONSE_USAGE: Final = {
    "type": "object",
    "required": ["input_tokens", "output_tokens", "total_tokens", "input_tokens_details",
                 "output_tokens_details"],
    "properties": {
        "input_tokens": _INT, "output_tokens": _INT, "total_tokens": _INT,
        "input_tokens_details": {"type": "object", "properties": {
            "cached_tokens": _INT, "cache_write_tokens": _INT}},
        "output_tokens_details": {"type": "object", "properties": {"reasoning_tokens": _INT}},
    },
}

_RESPONSE: Final = {
    "type": "object",
    "required": ["id", "object", "created_at", "status", "model", "output", "tools",
                 "tool_choice", "parallel_tool_calls"],
    "properties": {
        "id": {"type": "string", "pattern": "^resp_"},
        "object": {"type": "string", "const": "response"},
        "created_at": _INT, "completed_at": {"type": ["integer", "null"]},
        "status": {"type": "string", "enum": ["completed", "incomplete", "failed",
                                              "in_progress"]},
        "model": _STR, "output": {"type": "array", "items": _ref("ResponseItem")},
        "error": {"oneOf": [{"type": "null"}, {"type": "object", "properties": {
            "code": _STR, "message": _STR}}]},
        "incomplete_details": {"oneOf": [{"type": "null"}, {"type": "object", "properties": {
            "reason": _STR}}]},
        "instructions": _NULLABLE_STR, "previous_response_id": _NULLABLE_STR,
        "usage": {"oneOf": [_ref("ResponseUsage"), {"type": "null"}]},
        "store": _BOOL, "metadata": _OBJ, "tools": {"type": "array", "items": _OBJ},
        "tool_choice": {"oneOf": [_STR, _OBJ]}, "parallel_tool_calls": _BOOL,
    },
}


def _request() -> dict[str, Any]:
    return {"type": "object",
            "required": [p.name for p in RESPONSES_PARAMETERS if p.required],
            "properties": {p.name: dict(p.schema, description=p.doc)
                           for p in RESPONSES_PARAMETERS},
            "additionalProperties": True}


RESPONSES_SCHEMAS: Final = {
    "ResponseRequest": _request(), "Response": _RESPONSE, "ResponseItem": _ITEM,
    "ResponseUsage": _RESPONSE_USAGE,
    "ResponseItemList": {"type": "object", "required": ["object", "data", "has_more"],
                         "properties": {"object": {"type": "string", "const": "list"},
                                        "data": {"type": "array", "items": _OBJ},
                                        "has_more": _BOOL, "first_id": _NULLABLE_STR,
                                        "last_id": _NULLABLE_STR}},
    "ResponseDeleted": {"type": "object", "properties": {
        "id": _STR, "object": {"type": "string", "const": "response.deleted"},
        "deleted": _BOOL}},
}


def responses_paths(secured: list[dict[str, list[str]]],
                    errors: Callable[[list[int]], dict[str, Any]],
                    statuses: list[int]) -> dict[str, Any]:
    def content(ref: str) -> dict[str, Any]:
        return {"application/json": {"schema": _ref(ref)}}

    by_id = [{"name": "response_id", "in": "path", "required": True, "schema": _STR}]
    stream = {"schema": {"type": "string", "description":
                         "`event: <type>` + `data: <event JSON>` frames: response.created, "
                         "response.in_progress, output items and their deltas, then "
                         "response.completed (or response.incomplete; response.failed "
                         "after an `error` event when the upstream fails mid-stream)."}}
    return {
        "/v1/responses": {"post": {
            "operationId": "createResponse", "summary": "Create a response (Responses API)",
            "security": secured,
            "requestBody": {"required": True, "content": content("ResponseRequest")},
            "responses": {"200": {
                "description": "The response; with `stream: true` an SSE stream of events.",
                "content": {**content("Response"), "text/event-stream": stream}},
                **errors(statuses)}}},
        "/v1/responses/{response_id}": {
            "get": {"operationId": "retrieveResponse", "summary": "A stored response",
                    "security": secured, "parameters": by_id,
                    "responses": {"200": {"description": "The stored response",
                                          "content": content("Response")},
                                  **errors([401, 404])}},
            "delete": {"operationId": "deleteResponse", "summary": "Delete a stored response",
                       "security": secured, "parameters": by_id,
                       "responses": {"200": {"description": "Deleted",
                                             "content": content("ResponseDeleted")},
                                     **errors([401, 404])}}},
        "/v1/responses/{response_id}/cancel": {"post": {
            "operationId": "cancelResponse",
            "summary": "Cancel a background response",
            "description": "Only responses created with `background: true` can be cancelled; "
                           "this proxy runs every response in the foreground, so a stored id "
                           "gets 400 (as OpenAI answers for a foreground response) and an "
                           "unknown one 404 `response_not_found`.",
            "security": secured, "parameters": by_id,
            "responses": {"200": {"description": "The cancelled response",
                                  "content": content("Response")},
                          **errors([400, 401, 404])}}},
        "/v1/responses/{response_id}/input_items": {"get": {
            "operationId": "listInputItems", "summary": "The input items of a stored response",
            "security": secured,
            "parameters": [*by_id,
                           {"name": "order", "in": "query",
                            "schema": {"type": "string", "enum": ["asc", "desc"]}},
                           {"name": "limit", "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                           {"name": "after", "in": "query", "schema": _STR}],
            "responses": {"200": {"description": "A cursor page of input items",
                                  "content": content("ResponseItemList")},
                          **errors([400, 401, 404])}}},
    }
