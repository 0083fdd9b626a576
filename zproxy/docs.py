"""/docs and /openapi.json: built at request time from the live app, never from a copy.

Endpoints come from the router, models from `app[MODELS]`, errors from `errors.ERROR_CODES`,
configuration from `zproxy.config.VARIABLES`, and the examples use the base URL the browser
used to reach this server (X-Forwarded-Proto/Host are believed only from trusted proxies).
"""

from __future__ import annotations

import re
from typing import Any, Final

import aiohttp_jinja2
import orjson
from aiohttp import web

from zproxy import __version__
from zproxy.admin.spec import endpoint_docs
from zproxy.config import VARIABLES, Settings
from zproxy.core.models import ModelCatalog, model_object
from zproxy.errors import ERROR_CODES
from zproxy.keys import MODELS, PROVIDERS, SETTINGS
from zproxy.openapi import CHAT_PARAMETERS, UNSUPPORTED, build_openapi
from zproxy.openapi_params import Param
from zproxy.openapi_responses import RESPONSES_PARAMETERS, RESPONSES_UNSUPPORTED
from zproxy.stats import is_trusted

ENDPOINTS: Final = {
    "/": "Service information: version, base URL, model names.",
    "/health": "Liveness probe: `{\"status\": \"ok\"}`.",
    "/health/ready": "Readiness for load balancers: upstream, store, Redis and rate-limit "
                     "state; `degraded` (still 200) while serving from local state.",
    "/v1/chat/completions": "OpenAI chat completions, streaming or not, with tools.",
    "/v1/responses": "OpenAI Responses API (Codex, Agents SDK): streaming or not, tools, "
                     "reasoning items, `previous_response_id`.",
    "/v1/responses/{response_id}": "A stored response (GET) or its removal (DELETE); "
                                   "404 `response_not_found` when unknown or expired.",
    "/v1/responses/{response_id}/cancel": "Cancel a background response; every response "
                                          "here runs in the foreground, so a stored id gets "
                                          "OpenAI's 400 and an unknown one 404.",
    "/v1/responses/{response_id}/input_items": "The stored response's input items, as a "
                                               "cursor page (`order`, `limit`, `after`).",
    "/v1/models": "Every public model name, as OpenAI `model` objects (Anthropic `ModelInfo` "
                  "pages when the request sends `anthropic-version`).",
    "/v1/models/{model}": "One model object (404 `model_not_found` otherwise).",
    "/v1/messages": "Anthropic Messages API (Claude Code, the `anthropic` SDKs), streaming or "
                    "not, with tools and thinking; errors in Anthropic's shape.",
    "/v1/messages/count_tokens": "Anthropic token count: `{\"input_tokens\": n}`, the same "
                                 "count as the usage estimate.",
    "/dashboard": "Live request statistics (HTML; refreshes itself).",
    "/dashboard/stats": "JSON twin of the dashboard: totals, percentiles, per model/status.",
    "/dashboard/requests": "JSON: the most recent requests, newest first.",
    "/dashboard/login": "Dashboard login form (only when client keys are configured).",
    "/dashboard/logout": "Ends the dashboard session.",
    "/docs": "This page.",
    "/openapi.json": "OpenAPI 3.1 description of the API.",
    "/metrics": "Prometheus metrics (text exposition format).",
    **endpoint_docs(),
}
PLACEHOLDER_KEY: Final = "YOUR_ZPROXY_KEY"
NO_KEY: Final = "no-key-needed"
_CODE: Final = re.compile(r"`([^`]*)`")


def segments(text: str) -> list[dict[str, Any]]:
    """Split `a `b` c` into text and code runs, so templates never need `|safe`."""
    parts = _CODE.split(text)
    return [{"text": part, "code": i % 2 == 1} for i, part in enumerate(parts) if part]


def base_url(request: web.Request, settings: Settings) -> str:
    scheme, host = request.scheme, request.host
    if request.remote and is_trusted(request.remote, settings.trusted_proxies):
        scheme = request.headers.get("X-Forwarded-Proto", scheme).split(",")[0].strip()
        host = request.headers.get("X-Forwarded-Host", host).split(",")[0].strip()
    return f"{scheme}://{host}"


def example_model(catalog: ModelCatalog) -> str:
    specs = list(catalog)
    preferred = catalog.get("GLM-4.6")
    if preferred is not None:
        return preferred.id
    plain = [s for s in specs if not s.persisted and not s.vision]
    return (plain or specs)[0].id if specs else "GLM-4.6"


def anthropic_example(root: str, key: str) -> dict[str, str]:
    code = f'''import anthropic

# The Anthropic SDKs (and Claude Code) take the server root, without /v1.
client = anthropic.Anthropic(base_url="{root}", api_key="{key}")

with client.messages.stream(
    model="claude-sonnet-4-5",  # Claude names map to GLM models (ANTHROPIC_MODEL_MAP)
    max_tokens=1024,
    messages=[{{"role": "user", "content": "Hello! What can you do?"}}],
) as stream:
    for text in stream.text_stream:
        print(text, end="")
print()
'''
    return {"id": "python-anthropic", "lang": "python", "title": "Python (anthropic)",
            "code": code}


def examples(api_base: str, key: str, model: str) -> list[dict[str, str]]:
    python = f'''from openai import OpenAI

client = OpenAI(base_url="{api_base}", api_key="{key}")

reply = client.chat.completions.create(
    model="{model}",
    messages=[{{"role": "user", "content": "Hello! What can you do?"}}],
)
print(reply.choices[0].message.content)
'''
    python_stream = f'''from openai import OpenAI

client = OpenAI(base_url="{api_base}", api_key="{key}")

stream = client.chat.completions.create(
    model="{model}",
    messages=[{{"role": "user", "content": "Explain TCP slow start briefly."}}],
    stream=True,
    stream_options={{"include_usage": True}},
    extra_body={{"enable_thinking": True, "web_search": False}},  # zproxy extensions
)
for chunk in stream:
    if chunk.choices:
        delta = chunk.choices[0].delta
        print(getattr(delta, "reasoning_content", None) or delta.content or "", end="")
    elif chunk.usage:
        print(f"\\n[{{chunk.usage.total_tokens}} tokens]")
'''
    python_tools = f'''from openai import OpenAI

client = OpenAI(base_url="{api_base}", api_key="{key}")

tools = [{{
    "type": "function",
    "function": {{
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {{"type": "object", "properties": {{"city": {{"type": "string"}}}},
                       "required": ["city"]}},
    }},
}}]
reply = client.chat.completions.create(
    model="{model}",
    messages=[{{"role": "user", "content": "What is the weather in Paris?"}}],
    tools=tools,
)
message = reply.choices[0].message
print(message.tool_calls or message.content)
'''
    javascript = f'''import OpenAI from "openai";

const client = new OpenAI({{ baseURL: "{api_base}", apiKey: "{key}" }});

const stream = await client.chat.completions.create({{
  model: "{model}",
  messages: [{{ role: "user", content: "Hello! What can you do?" }}],
  stream: true,
}});
for await (const chunk of stream) {{
  process.stdout.write(chunk.choices[0]?.delta?.content ?? "");
}}
'''
    body = orjson.dumps({"model": model, "messages": [
        {"role": "user", "content": "Hello! What can you do?"}]}).decode()
    stream_body = orjson.dumps({"model": model, "stream": True,
                                "stream_options": {"include_usage": True},
                                "messages": [{"role": "user", "content": "Count to 5"}]}).decode()
    auth = f'  -H "Authorization: Bearer {key}" \\\n'
    curl = (f"curl {api_base}/chat/completions \\\n"
            f'  -H "Content-Type: application/json" \\\n{auth}'
            f"  -d '{body}'\n")
    curl_stream = (f"curl -N {api_base}/chat/completions \\\n"
                   f'  -H "Content-Type: application/json" \\\n{auth}'
                   f"  -d '{stream_body}'\n")
    curl_models = f'curl {api_base}/models \\\n  -H "Authorization: Bearer {key}"\n'
    return [
        {"id": "python", "lang": "python", "title": "Python (openai)", "code": python},
        {"id": "python-stream", "lang": "python",
         "title": "Python: streaming, reasoning and usage", "code": python_stream},
        {"id": "python-tools", "lang": "python", "title": "Python: tools", "code": python_tools},
        {"id": "python-responses", "lang": "python", "title": "Python: Responses API",
         "code": python_responses(api_base, key, model)},
        {"id": "javascript", "lang": "javascript", "title": "JavaScript (openai for Node)",
         "code": javascript},
        {"id": "curl", "lang": "shell", "title": "curl", "code": curl},
        {"id": "curl-stream", "lang": "shell", "title": "curl: streaming", "code": curl_stream},
        {"id": "curl-models", "lang": "shell", "title": "curl: list models",
         "code": curl_models},
    ]


def python_responses(api_base: str, key: str, model: str) -> str:
    return f'''from openai import OpenAI

client = OpenAI(base_url="{api_base}", api_key="{key}")
first = client.responses.create(model="{model}", input="Name three prime numbers.")
print(first.output_text)
with client.responses.stream(model="{model}", input="And their sum?",
                             previous_response_id=first.id) as stream:
    for event in stream:
        if event.type == "response.output_text.delta":
            print(event.delta, end="")
print(f"\\n[{{stream.get_final_response().usage.total_tokens}} tokens]")
'''


def _parameters(table: tuple[Param, ...]) -> list[dict[str, Any]]:
    return [{"name": p.name, "type": p.type_label, "required": p.required,
             "extension": p.extension, "doc": segments(p.doc)} for p in table]


def _endpoints(app: web.Application, settings: Settings) -> list[dict[str, Any]]:
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        hidden = path.startswith("/static") or (path.endswith("/") and path != "/")
        if route.method == "HEAD" or hidden:
            continue
        if path.startswith(("/admin", "/v1/token-pool/")):
            access = "open" if path == "/admin/login" else "admin password"
        elif path.startswith("/v1/"):
            access = "client key" if settings.auth_required else "open"
        elif path in {"/dashboard", "/dashboard/stats", "/dashboard/requests", "/metrics"}:
            private = settings.auth_required and not settings.dashboard_public
            access = "client key or dashboard login" if private else "open"
        else:
            access = "open"
        rows[(path, route.method)] = {"method": route.method, "path": path, "access": access,
                                      "doc": segments(ENDPOINTS.get(path, ""))}
    return sorted(rows.values(), key=lambda r: (r["path"], r["method"]))


def _errors() -> list[dict[str, Any]]:
    """The codes clients get, by status: what `error.code` says and what it means."""
    return [{"code": row.code, "status": row.status, "type": row.type,
             "meaning": segments(row.meaning)}
            for row in sorted(ERROR_CODES, key=lambda row: row.status)]


def _variables() -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for var in VARIABLES:
        groups.setdefault(var.group, []).append({
            "name": var.name, "aliases": list(var.names[1:]), "secret": var.secret,
            "default": None if var.secret else var.default, "doc": segments(var.doc)})
    return [{"group": group, "variables": rows} for group, rows in groups.items()]


def docs_context(request: web.Request) -> dict[str, Any]:
    app, settings = request.app, request.app[SETTINGS]
    root = base_url(request, settings)
    api_base = f"{root}/v1"
    catalog = app[MODELS]
    key = PLACEHOLDER_KEY if settings.auth_required else NO_KEY
    return {
        "title": "API documentation", "page": "docs", "version": __version__,
        "base_url": root, "api_base": api_base, "auth_required": settings.auth_required,
        "dashboard_enabled": settings.dashboard_enabled,
        "endpoints": _endpoints(app, settings),
        "parameters": _parameters(CHAT_PARAMETERS),
        "unsupported": UNSUPPORTED,
        "responses_parameters": _parameters(RESPONSES_PARAMETERS),
        "responses_unsupported": RESPONSES_UNSUPPORTED,
        "models": [{**model_object(spec), **app[PROVIDERS].describe(spec)} for spec in catalog],
        "providers": [{**p, "token_help": segments(p["token_help"])}
                      for p in app[PROVIDERS].overview()],
        "errors": _errors(),
        "config": _variables(),
        "examples": [*examples(api_base, key, example_model(catalog)),
                     anthropic_example(root, key)],
    }


class DocsViews:
    def routes(self) -> list[web.RouteDef]:
        return [web.get("/docs", self.page), web.get("/openapi.json", self.openapi)]

    async def page(self, request: web.Request) -> web.StreamResponse:
        return aiohttp_jinja2.render_template("docs.html", request, docs_context(request))

    async def openapi(self, request: web.Request) -> web.Response:
        settings = request.app[SETTINGS]
        spec = build_openapi(base_url(request, settings),
                             [spec.id for spec in request.app[MODELS]])
        return web.Response(body=orjson.dumps(spec), content_type="application/json")
