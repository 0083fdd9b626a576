"""OpenAPI 3.1 description of zproxy's own API, built from live values (pure).

`CHAT_PARAMETERS` is the one table of the chat-completions request fields; `/docs` renders the
same table, so the page and the schema cannot disagree. The error responses come from the
exception tree in `zproxy.errors`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from zproxy import __version__
from zproxy.admin import spec as admin_spec
from zproxy.api.anthropic import openapi as anthropic
from zproxy.errors import ProxyError
from zproxy.openapi_params import Param
from zproxy.openapi_responses import RESPONSES_SCHEMAS, responses_paths

_STR: Final = {"type": "string"}
_BOOL: Final = {"type": "boolean"}
_OBJ: Final = {"type": "object"}

CHAT_PARAMETERS: Final[tuple[Param, ...]] = (
    Param("model", _STR, "Model name from /v1/models (case-insensitive). Suffixes stack: "
          "`-thinking`, `-search`, `-advanced-search`.", required=True),
    Param("messages", {"type": "array", "items": {"$ref": "#/components/schemas/Message"},
                       "minItems": 1},
          "Conversation. Roles: system, developer, user, assistant, tool, function. "
          "Content is a string or an array of parts (`text`, `image_url`).", required=True),
    Param("stream", _BOOL, "Stream Server-Sent Events (`chat.completion.chunk` objects, then "
          "`data: [DONE]`). Default: the server's `DEFAULT_STREAM`."),
    Param("stream_options", {"type": "object", "properties": {"include_usage": _BOOL}},
          "`{\"include_usage\": true}` adds a last chunk with `usage` and no choices."),
    Param("temperature", {"type": "number", "minimum": 0, "maximum": 2}, "Sampling "
          "temperature, 0-2."),
    Param("top_p", {"type": "number", "minimum": 0, "maximum": 1}, "Nucleus sampling, 0-1."),
    Param("max_tokens", {"type": "integer", "minimum": 1},
          "Enforced by zproxy (the web chat has no limit): answer and reasoning are cut at "
          "this many tokens of the local estimate (4 characters a token), and only a cut "
          "answer ends with finish_reason `length`. `max_completion_tokens` is accepted "
          "as well."),
    Param("stop", {"oneOf": [_STR, {"type": "array", "items": _STR, "maxItems": 4}]},
          "Up to 4 strings that end the answer."),
    Param("tools", {"type": "array", "items": {"$ref": "#/components/schemas/Tool"}},
          "Function tools. Tool calling is emulated over the web chat (`TOOL_SUPPORT`); "
          "answers carry `tool_calls` exactly as OpenAI's do."),
    Param("tool_choice", {"oneOf": [_STR, _OBJ]},
          "`auto`, `none`, `required` or `{\"type\": \"function\", \"function\": {\"name\"}}`."),
    Param("parallel_tool_calls", _BOOL, "Allow several tool calls in one answer."),
    Param("response_format", _OBJ, "`{\"type\": \"json_object\"}` or `json_schema` asks for "
          "JSON; `text` is the default."),
    Param("enable_thinking", _BOOL, "Turn reasoning on or off (overrides the model name). The "
          "reasoning streams as `reasoning_content`. Also accepted: "
          "`thinking: {\"type\": \"enabled\"}` and `reasoning_effort`.", extension=True),
    Param("web_search", _BOOL, "Let the model search the web; citations come back in the "
          "answer.", extension=True),
)

UNSUPPORTED: Final = ("n > 1", "logprobs", "top_logprobs", "logit_bias", "prediction",
                      "audio output")


def error_classes(root: type[ProxyError] = ProxyError) -> list[tuple[int, type[ProxyError]]]:
    """The exception tree, depth-first, with each class's depth."""
    out: list[tuple[int, type[ProxyError]]] = []

    def walk(cls: type[ProxyError], depth: int) -> None:
        out.append((depth, cls))
        for sub in cls.__subclasses__():
            walk(sub, depth + 1)

    walk(root, 0)
    return out


def _error_statuses() -> list[int]:
    return sorted({cls.status for _, cls in error_classes() if cls.status >= 400})


_ERROR_SCHEMA: Final = {
    "type": "object", "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["message", "type", "param", "code"],
        "properties": {"message": _STR, "type": _STR, "param": {"type": ["string", "null"]},
                       "code": {"type": ["string", "null"]}}}},
}

_MESSAGE_SCHEMA: Final = {
    "type": "object", "required": ["role"],
    "properties": {
        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool",
                                            "function"]},
        "content": {"oneOf": [_STR, {"type": "array", "items": _OBJ}, {"type": "null"}]},
        "name": _STR, "tool_call_id": _STR,
        "tool_calls": {"type": "array", "items": {"$ref": "#/components/schemas/ToolCall"}},
    },
}

_TOOL_CALL: Final = {
    "type": "object", "required": ["id", "type", "function"],
    "properties": {"index": {"type": "integer"}, "id": _STR,
                   "type": {"type": "string", "const": "function"},
                   "function": {"type": "object", "properties": {
                       "name": _STR, "arguments": {"type": "string",
                                                   "description": "JSON text"}}}},
}

_USAGE: Final = {
    "type": "object",
    "properties": {"prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"},
                   "total_tokens": {"type": "integer"}},
}

_ASSISTANT: Final = {
    "type": "object",
    "properties": {"role": {"type": "string", "const": "assistant"},
                   "content": {"type": ["string", "null"]},
                   "reasoning_content": {"type": "string", "description": "zproxy extension"},
                   "tool_calls": {"type": "array",
                                  "items": {"$ref": "#/components/schemas/ToolCall"}}},
}


def _completion(chunk: bool) -> dict[str, Any]:
    choice_key = "delta" if chunk else "message"
    choice = {"type": "object", "properties": {
        "index": {"type": "integer"}, choice_key: {"$ref": "#/components/schemas/Assistant"},
        "finish_reason": {"type": ["string", "null"],
                          "enum": ["stop", "length", "tool_calls", "content_filter", None]}}}
    kind = "chat.completion.chunk" if chunk else "chat.completion"
    return {"type": "object", "required": ["id", "object", "created", "model", "choices"],
            "properties": {"id": _STR, "object": {"type": "string", "const": kind},
                           "created": {"type": "integer"}, "model": _STR,
                           "choices": {"type": "array", "items": choice},
                           "usage": {"oneOf": [{"$ref": "#/components/schemas/Usage"},
                                               {"type": "null"}]}}}


def _chat_request(model_ids: Sequence[str]) -> dict[str, Any]:
    properties = {p.name: dict(p.schema, description=p.doc) for p in CHAT_PARAMETERS}
    properties["model"] = dict(properties["model"], examples=list(model_ids[:5]))
    return {"type": "object", "required": [p.name for p in CHAT_PARAMETERS if p.required],
            "properties": properties, "additionalProperties": True}


def _json_content(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _errors(statuses: Iterable[int]) -> dict[str, Any]:
    return {str(s): {"$ref": "#/components/responses/Error"} for s in statuses}


def _paths(statuses: list[int]) -> dict[str, Any]:
    secured: list[dict[str, list[str]]] = [{"bearerAuth": []}]
    chat_responses = {"200": {
        "description": "The completion; with `stream: true` an SSE stream of chunks.",
        "content": {**_json_content("ChatCompletion"), "text/event-stream": {
            "schema": {"type": "string", "description":
                       "`data: <ChatCompletionChunk JSON>` events, ended by `data: [DONE]`. "
                       "An error after the first event arrives as `data: <Error JSON>`."}}}},
        **_errors(statuses)}
    return {
        "/v1/chat/completions": {"post": {
            "operationId": "createChatCompletion", "summary": "Create a chat completion",
            "security": secured,
            "requestBody": {"required": True, "content": _json_content("ChatCompletionRequest")},
            "responses": chat_responses}},
        "/v1/models": {"get": {
            "operationId": "listModels", "summary": "List models", "security": secured,
            "responses": {"200": {"description": "Every public model name",
                                  "content": _json_content("ModelList")},
                          **_errors([401])}}},
        "/v1/models/{model}": {"get": {
            "operationId": "retrieveModel", "summary": "One model", "security": secured,
            "parameters": [{"name": "model", "in": "path", "required": True, "schema": _STR}],
            "responses": {"200": {"description": "The model",
                                  "content": _json_content("Model")},
                          **_errors([401, 404])}}},
        **responses_paths(secured, _errors, statuses),
        "/health": {"get": {
            "operationId": "health", "summary": "Liveness", "security": [],
            "responses": {"200": {"description": "Alive", "content": _json_content("Health")}}}},
        **admin_spec.openapi_paths(),
        "/health/ready": {"get": {
            "operationId": "ready", "summary": "Readiness: upstream, store, Redis, rate limits",
            "security": [],
            "responses": {"200": {"description": "Ready, or `degraded` (Redis or the store "
                                                 "unreachable: serving from local state; "
                                                 "per-key limits then per instance)",
                                  "content": _json_content("Ready")}}}},
    }


def build_openapi(base_url: str, model_ids: Sequence[str]) -> dict[str, Any]:
    statuses = _error_statuses()
    return {
        "openapi": "3.1.0",
        "info": {"title": "zproxy", "version": __version__,
                 "description": "OpenAI-compatible gateway to Z.AI GLM web chat. "
                                "Human-readable docs: /docs."},
        "servers": [{"url": base_url}],
        "paths": {**_paths(statuses), **anthropic.PATHS},
        "components": {
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "A client key (AUTH_TOKEN). Not needed when none is set."},
                "apiKeyAuth": anthropic.API_KEY_SCHEME,
                "adminAuth": admin_spec.SECURITY_SCHEME},
            "responses": {"Error": {"description": "OpenAI-shaped error",
                                    "content": _json_content("Error")}},
            "schemas": {
                "ChatCompletionRequest": _chat_request(model_ids),
                "Message": _MESSAGE_SCHEMA,
                "Tool": {"type": "object", "required": ["type", "function"], "properties": {
                    "type": {"type": "string", "const": "function"},
                    "function": {"type": "object", "required": ["name"], "properties": {
                        "name": _STR, "description": _STR, "parameters": _OBJ}}}},
                "ToolCall": _TOOL_CALL, "Usage": _USAGE, "Assistant": _ASSISTANT,
                "ChatCompletion": _completion(chunk=False),
                "ChatCompletionChunk": _completion(chunk=True),
                "Model": {"type": "object", "required": ["id", "object"], "properties": {
                    "id": {"type": "string", "enum": list(model_ids)} if model_ids else _STR,
                    "object": {"type": "string", "const": "model"},
                    "created": {"type": "integer"}, "owned_by": _STR, "upstream_id": _STR,
                    "context_length": {"type": "integer"}, "description": _STR,
                    "provider": _STR, "available": {"type": "boolean"},
                    "unavailable_reason": _STR,
                    "capabilities": {"type": "object",
                                     "additionalProperties": {"type": "boolean"}}}},
                "ModelList": {"type": "object", "properties": {
                    "object": {"type": "string", "const": "list"},
                    "data": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}}}},
                "Ready": {"type": "object", "required": ["status", "degraded", "checks"],
                          "properties": {
                              "status": {"type": "string", "enum": ["ready", "degraded"]},
                              "degraded": {"type": "array", "items": _STR},
                              "instance": _STR, "pid": {"type": "integer"},
                              "time": {"type": "integer"},
                              "checks": {"type": "object", "additionalProperties": {
                                  "type": "object", "required": ["ok"],
                                  "properties": {"ok": {"type": "boolean"}}}}}},
                "Health": {"type": "object", "properties": {"status": _STR,
                                                            "time": {"type": "integer"}}},
                "Error": _ERROR_SCHEMA,
                **RESPONSES_SCHEMAS,
                **anthropic.SCHEMAS,
            },
        },
    }
