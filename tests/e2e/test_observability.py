"""Stats, dashboard JSON twins, auth, /metrics, /openapi.json and /docs on real sockets.

The proxy runs with `zproxy.server.start` against the fake upstream; requests go through the
official `openai` SDK, and the /docs examples are extracted from the rendered page and run.
"""

from __future__ import annotations

import asyncio
import html
import re
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from html.parser import HTMLParser
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import MakeProxy, Proxy
from tests.e2e.helpers import MANIFEST, USER, async_client, collect_stream
from tests.fakes.zai import FakeZai, Script
from zproxy.config import DEFAULT_SIGNING_SECRET, VARIABLES
from zproxy.core.models import ModelCatalog, ModelSpec
from zproxy.dashboard import COOKIE
from zproxy.errors import ERROR_CODES, ProxyError
from zproxy.keys import MODELS
from zproxy.observability import METRICS, STATS
from zproxy.openapi import error_classes

PLAIN = MANIFEST["plain_answer.sse"]
KEY = "sk-dashboard-test-key"
StartProxy = Callable[..., Awaitable[Proxy]]
SDK = Callable[..., openai.AsyncOpenAI]


@pytest.fixture
def start_proxy(make_proxy: MakeProxy) -> StartProxy:
    return make_proxy


@pytest.fixture
async def sdk() -> AsyncIterator[Callable[..., openai.AsyncOpenAI]]:
    """async_client(), closed at teardown (while the loop still runs)."""
    clients: list[openai.AsyncOpenAI] = []

    def make(base_url: str, key: str = "sk-test") -> openai.AsyncOpenAI:
        clients.append(async_client(base_url, key))
        return clients[-1]

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def get_json(http: aiohttp.ClientSession, url: str, status: int = 200,
                   **kw: Any) -> Any:
    async with http.get(url, **kw) as resp:
        assert resp.status == status, await resp.text()
        assert resp.content_type == "application/json"
        return await resp.json()


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.05)


def metric_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


# --- JSON twins move with real traffic --------------------------------------------------

async def test_json_twins_change_after_sdk_requests(start_proxy: StartProxy,
                                                    http: aiohttp.ClientSession, sdk: SDK) -> None:
    proxy = await start_proxy()
    before = await get_json(http, f"{proxy.url}/dashboard/stats")
    assert before["totals"]["requests"] == 0
    assert (await get_json(http, f"{proxy.url}/dashboard/requests"))["data"] == []

    client = sdk(proxy.base_url)
    reply = await client.chat.completions.create(model="GLM-4.5", messages=USER)
    assert reply.choices[0].message.content == PLAIN["expected_answer"]
    stream = await client.chat.completions.create(model="GLM-4.5", messages=USER, stream=True,
                                                  stream_options={"include_usage": True})
    assert (await collect_stream(stream))["content"] == PLAIN["expected_answer"]
    await client.models.list()

    stats = await get_json(http, f"{proxy.url}/dashboard/stats")
    assert stats["totals"]["requests"] == 3
    assert stats["totals"]["successes"] == 3
    assert stats["totals"]["failures"] == 0
    assert stats["statuses"] == [{"status": 200, "requests": 3}]
    assert stats["clients"] == [{"name": "openai-python", "requests": 3}]
    assert stats["window"]["latency_ms"]["p50"] is not None
    assert stats["window"]["ttft_ms"]["p95"] is not None  # the stream had a first token
    assert sum(p["requests"] for p in stats["timeline"]) == 3

    recent = (await get_json(http, f"{proxy.url}/dashboard/requests"))["data"]
    assert [(r["method"], r["path"]) for r in recent] == [
        ("GET", "/v1/models"), ("POST", "/v1/chat/completions"),
        ("POST", "/v1/chat/completions")]
    streamed, plain = recent[1], recent[2]
    assert streamed["stream"] is True
    assert streamed["ttft_ms"] is not None and streamed["ttft_ms"] <= streamed["duration_ms"]
    assert plain["ttft_ms"] is None
    assert all(r["client_ip"] == "127.0.0.1" and r["ok"] for r in recent)


async def test_chat_handler_fills_model_tokens_and_attempts(
        start_proxy: StartProxy, http: aiohttp.ClientSession, sdk: SDK) -> None:
    """Needs the chat handler to fill `meter(request)` (see zproxy.observability)."""
    proxy = await start_proxy()
    client = sdk(proxy.base_url)
    await client.chat.completions.create(model="GLM-4.5", messages=USER)
    stream = await client.chat.completions.create(model="GLM-4.5", messages=USER, stream=True,
                                                  stream_options={"include_usage": True})
    await collect_stream(stream)
    recent = (await get_json(http, f"{proxy.url}/dashboard/requests"))["data"]
    usage = PLAIN["expected_usage"]
    for row, streamed in zip(recent, (True, False), strict=True):
        assert row["model"] == "GLM-4.5"
        assert row["stream"] is streamed
        assert (row["prompt_tokens"], row["completion_tokens"]) == (
            usage["prompt_tokens"], usage["completion_tokens"])
        assert row["attempts"] == 1
    stats = await get_json(http, f"{proxy.url}/dashboard/stats")
    assert stats["models"][0]["model"] == "GLM-4.5"
    assert stats["totals"]["prompt_tokens"] == 2 * usage["prompt_tokens"]
    async with http.get(f"{proxy.url}/metrics") as resp:
        values = metric_values(await resp.text())
    assert values[("zproxy_requests_total", (("model", "GLM-4.5"), ("status", "200")))] == 2
    assert values[("zproxy_tokens_total", (("kind", "completion"), ("model", "GLM-4.5")))] == (
        2 * usage["completion_tokens"])
    assert values[("zproxy_upstream_attempts_total", ())] == 2


async def test_in_stream_error_counts_as_failure(fake: FakeZai, start_proxy: StartProxy,
                                                 http: aiohttp.ClientSession) -> None:
    """Needs the SSE writer to set `meter(request).error_type` when it reports an error
    in-band (the status is already 200 by then)."""
    proxy = await start_proxy()
    fake.push(Script(text="partial answer that breaks " * 4, delta_size=4,
                     drop_after_frames=3))
    async with http.post(f"{proxy.base_url}/chat/completions",
                         json={"model": "GLM-4.5", "messages": USER, "stream": True}) as resp:
        assert resp.status == 200
        body = await resp.text()
    assert '"error"' in body
    row = (await get_json(http, f"{proxy.url}/dashboard/requests"))["data"][0]
    assert row["status"] == 200
    assert row["ok"] is False and row["error_type"]
    assert (await get_json(http, f"{proxy.url}/dashboard/stats"))["totals"]["failures"] == 1


async def test_errors_are_recorded_with_status_and_type(start_proxy: StartProxy,
                                                        http: aiohttp.ClientSession) -> None:
    proxy = await start_proxy()
    async with http.post(f"{proxy.base_url}/chat/completions",
                         json={"model": "no-such-model", "messages": USER}) as resp:
        assert resp.status == 404
    async with http.post(f"{proxy.base_url}/chat/completions", data=b"{not json",
                         headers={"User-Agent": "curl/8.5.0"}) as resp:
        assert resp.status == 400
    async with http.get(f"{proxy.base_url}/nothing-here") as resp:
        assert resp.status == 404
    recent = (await get_json(http, f"{proxy.url}/dashboard/requests"))["data"]
    assert [(r["status"], r["error_type"]) for r in recent] == [
        (404, "not_found"), (400, "invalid_json"), (404, "model_not_found")]
    assert recent[1]["client"] == "curl"
    stats = await get_json(http, f"{proxy.url}/dashboard/stats")
    assert stats["totals"]["failures"] == 3
    assert {e["name"] for e in stats["errors"]} == {"not_found", "invalid_json",
                                                    "model_not_found"}


async def test_upstream_failure_is_a_failed_request(fake: FakeZai, start_proxy: StartProxy,
                                                    http: aiohttp.ClientSession) -> None:
    proxy = await start_proxy(max_attempts=1)
    fake.push(Script(status=500))
    async with http.post(f"{proxy.base_url}/chat/completions",
                         json={"model": "GLM-4.5", "messages": USER}) as resp:
        assert resp.status >= 500
        status = resp.status
    row = (await get_json(http, f"{proxy.url}/dashboard/requests"))["data"][0]
    assert row["status"] == status
    assert row["ok"] is False and row["error_type"]


async def test_client_abort_is_recorded_as_499(fake: FakeZai, start_proxy: StartProxy,
                                               http: aiohttp.ClientSession) -> None:
    proxy = await start_proxy()
    fake.push(Script(text="a slow answer " * 20, delta_size=4, frame_delay=0.2))
    resp = await http.post(f"{proxy.base_url}/chat/completions",
                           json={"model": "GLM-4.5", "messages": USER, "stream": True})
    assert resp.status == 200
    await resp.content.readuntil(b"\n\n")  # the stream is live
    async with http.get(f"{proxy.url}/metrics") as m:
        assert metric_values(await m.text())[("zproxy_active_streams", ())] == 1
    resp.close()  # the client goes away mid-stream

    async def recorded() -> bool:
        return bool((await get_json(http, f"{proxy.url}/dashboard/requests"))["data"])

    await wait_for(recorded)
    row = (await get_json(http, f"{proxy.url}/dashboard/requests"))["data"][0]
    assert (row["status"], row["error_type"], row["ok"]) == (499, "client_abort", False)
    stats = await get_json(http, f"{proxy.url}/dashboard/stats")
    assert stats["totals"]["client_aborts"] == 1
    async with http.get(f"{proxy.url}/metrics") as m:
        values = metric_values(await m.text())
    assert values[("zproxy_active_streams", ())] == 0
    assert values[("zproxy_requests_in_flight", ())] == 0


async def test_only_api_requests_are_recorded(start_proxy: StartProxy,
                                              http: aiohttp.ClientSession) -> None:
    proxy = await start_proxy()
    for path in ("/health", "/", "/dashboard", "/docs", "/metrics", "/openapi.json",
                 "/static/dashboard.js", "/dashboard/stats"):
        async with http.get(f"{proxy.url}{path}") as resp:
            assert resp.status == 200, path
    assert (await get_json(http, f"{proxy.url}/dashboard/requests"))["data"] == []


async def test_forwarded_for_only_from_trusted_proxies(start_proxy: StartProxy,
                                                       http: aiohttp.ClientSession) -> None:
    headers = {"X-Forwarded-For": "203.0.113.9"}
    trusting = await start_proxy(trusted_proxies=("127.0.0.1",))
    distrusting = await start_proxy()
    for proxy, expected in ((trusting, "203.0.113.9"), (distrusting, "127.0.0.1")):
        async with http.get(f"{proxy.base_url}/models", headers=headers) as resp:
            assert resp.status == 200
        row = (await get_json(http, f"{proxy.url}/dashboard/requests"))["data"][0]
        assert row["client_ip"] == expected


async def test_stats_buffer_size_setting(start_proxy: StartProxy,
                                         http: aiohttp.ClientSession) -> None:
    proxy = await start_proxy(stats_size=2)
    for _ in range(4):
        async with http.get(f"{proxy.base_url}/models") as resp:
            assert resp.status == 200
    assert len((await get_json(http, f"{proxy.url}/dashboard/requests"))["data"]) == 2
    stats = await get_json(http, f"{proxy.url}/dashboard/stats")
    assert (stats["totals"]["requests"], stats["buffer_size"]) == (4, 2)
    assert proxy.app[STATS].size == 2


# --- access rules -----------------------------------------------------------------------

async def test_keys_configured_dashboard_needs_one(start_proxy: StartProxy,
                                                   http: aiohttp.ClientSession) -> None:
    proxy = await start_proxy(client_keys=(KEY, "other-key"))
    for path in ("/dashboard/stats", "/dashboard/requests", "/metrics"):
        body = await get_json(http, f"{proxy.url}{path}", status=401)
        assert body["error"]["type"] == "authentication_error"
        await get_json(http, f"{proxy.url}{path}", status=401,
                       headers={"Authorization": "Bearer wrong"})
        async with http.get(f"{proxy.url}{path}",
                            headers={"Authorization": f"Bearer {KEY}"}) as resp:
            assert resp.status == 200, path
        async with http.get(f"{proxy.url}{path}", headers={"x-api-key": "other-key"}) as resp:
            assert resp.status == 200, path
    async with http.get(f"{proxy.url}/dashboard", allow_redirects=False) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == "/dashboard/login"
    async with http.get(f"{proxy.url}/dashboard/login") as resp:
        assert resp.status == 200
        page = await resp.text()
    assert 'action="/dashboard/login"' in page and 'type="password"' in page


async def test_login_form_sets_a_signed_strict_cookie(start_proxy: StartProxy,
                                                      http: aiohttp.ClientSession) -> None:
    proxy = await start_proxy(client_keys=(KEY,))
    async with http.post(f"{proxy.url}/dashboard/login", data={"key": "nope"},
                         allow_redirects=False) as resp:
        assert resp.status == 401
        assert "not valid" in await resp.text()
        assert COOKIE not in resp.cookies
    async with http.post(f"{proxy.url}/dashboard/login", data={"key": KEY},
                         allow_redirects=False) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == "/dashboard"
        set_cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    assert KEY not in set_cookie
    # the session cookie now opens the page and the JSON twins, without any key
    async with http.get(f"{proxy.url}/dashboard", allow_redirects=False) as resp:
        assert resp.status == 200
        page = await resp.text()
    assert KEY not in page
    await get_json(http, f"{proxy.url}/dashboard/stats")
    async with http.get(f"{proxy.url}/metrics") as resp:
        assert resp.status == 200
    # a forged cookie does not
    async with aiohttp.ClientSession() as stranger:
        await get_json(stranger, f"{proxy.url}/dashboard/stats", status=401,
                       headers={"Cookie": f"{COOKIE}=1700000000.{'0' * 64}"})
    # logging out forgets it
    async with http.post(f"{proxy.url}/dashboard/logout", allow_redirects=False) as resp:
        assert resp.status == 303
    await get_json(http, f"{proxy.url}/dashboard/stats", status=401)


async def test_public_dashboard_mode(start_proxy: StartProxy,
                                     http: aiohttp.ClientSession) -> None:
    proxy = await start_proxy(client_keys=(KEY,), dashboard_public=True)
    await get_json(http, f"{proxy.url}/dashboard/stats")
    async with http.get(f"{proxy.url}/dashboard", allow_redirects=False) as resp:
        assert resp.status == 200
    async with http.get(f"{proxy.url}/metrics") as resp:
        assert resp.status == 200
    async with http.get(f"{proxy.base_url}/models") as resp:  # the API still needs the key
        assert resp.status == 401
    row = (await get_json(http, f"{proxy.url}/dashboard/requests"))["data"][0]
    assert (row["status"], row["error_type"]) == (401, "invalid_api_key")


async def test_no_keys_means_open_dashboard(start_proxy: StartProxy,
                                            http: aiohttp.ClientSession) -> None:
    proxy = await start_proxy()
    async with http.get(f"{proxy.url}/dashboard", allow_redirects=False) as resp:
        assert resp.status == 200
        assert "Log out" not in await resp.text()


async def test_dashboard_disabled_is_404(start_proxy: StartProxy,
                                         http: aiohttp.ClientSession) -> None:
    proxy = await start_proxy(dashboard_enabled=False)
    for path in ("/dashboard", "/dashboard/stats", "/dashboard/requests",
                 "/dashboard/login"):
        async with http.get(f"{proxy.url}{path}", allow_redirects=False) as resp:
            assert resp.status == 404, path
    async with http.post(f"{proxy.url}/dashboard/login", data={"key": "x"}) as resp:
        assert resp.status == 404
    async with http.get(f"{proxy.url}/docs") as resp:  # documentation stays
        assert resp.status == 200
        assert 'href="/dashboard"' not in await resp.text()


# --- /metrics ---------------------------------------------------------------------------

async def test_metrics_endpoint(start_proxy: StartProxy, http: aiohttp.ClientSession,
                                sdk: SDK) -> None:
    proxy = await start_proxy()
    client = sdk(proxy.base_url)
    await client.chat.completions.create(model="GLM-4.5", messages=USER)
    async with http.get(f"{proxy.url}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        values = metric_values(await resp.text())
    total = sum(v for (name, _), v in values.items() if name == "zproxy_requests_total")
    assert total == 1
    assert values[("zproxy_guest_sessions", ())] >= 1  # read from the live pool
    durations = [v for (name, _), v in values.items()
                 if name == "zproxy_request_duration_seconds_count"]
    assert sum(durations) == 1
    assert values[("zproxy_active_streams", ())] == 0
    # the app's own registry, not prometheus_client's global one
    from prometheus_client import REGISTRY
    assert proxy.app[METRICS].registry is not REGISTRY
    assert REGISTRY.get_sample_value("zproxy_requests_total") is None


# --- /openapi.json ----------------------------------------------------------------------

async def test_openapi_is_valid_31_and_describes_real_responses(
        start_proxy: StartProxy, http: aiohttp.ClientSession, sdk: SDK) -> None:
    proxy = await start_proxy()
    spec = await get_json(http, f"{proxy.url}/openapi.json")
    assert spec["openapi"].startswith("3.1")
    validate(spec, cls=OpenAPIV31SpecValidator)
    assert spec["servers"] == [{"url": proxy.url}]
    assert {"/v1/chat/completions", "/v1/models", "/v1/models/{model}", "/health"} <= set(
        spec["paths"])
    chat = spec["paths"]["/v1/chat/completions"]["post"]
    assert "text/event-stream" in chat["responses"]["200"]["content"]
    statuses = {cls.status for _, cls in error_classes(ProxyError) if cls.status >= 400}
    assert {str(s) for s in statuses} <= set(chat["responses"])
    assert {"enable_thinking", "web_search", "stream_options", "tools"} <= set(
        spec["components"]["schemas"]["ChatCompletionRequest"]["properties"])

    def check(instance: Any, name: str) -> None:
        schema = {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
        OAS31Validator(schema).validate(instance)

    client = sdk(proxy.base_url)
    reply = await client.chat.completions.create(model="GLM-4.5", messages=USER)
    check(reply.model_dump(exclude_none=True), "ChatCompletion")
    check(await get_json(http, f"{proxy.base_url}/models"), "ModelList")
    check(await get_json(http, f"{proxy.url}/health"), "Health")
    async with http.get(f"{proxy.base_url}/models/nope") as resp:
        check(await resp.json(), "Error")


# --- /docs ------------------------------------------------------------------------------

class _Blocks(HTMLParser):
    """Collects <code data-example="…"> blocks and every href/src."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.examples: dict[str, str] = {}
        self.links: list[str] = []
        self._current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("href", "src", "action"):
            if found.get(name):
                self.links.append(str(found[name]))
        if tag == "code" and found.get("data-example"):
            self._current = str(found["data-example"])
            self.examples[self._current] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "code":
            self._current = None

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self.examples[self._current] += data


def parse_page(page: str) -> _Blocks:
    parser = _Blocks()
    parser.feed(page)
    return parser


def assert_no_external_urls(page: str, own: str, *, strict: bool = True) -> None:
    """Links, scripts, styles and forms stay on this server; `strict` also bans URLs in text
    (the docs legitimately show defaults such as ZAI_BASE_URL's)."""
    for link in parse_page(page).links:
        assert link.startswith("/") or link.startswith("#") or link.startswith(own), link
    assert "url(" not in page and "@import" not in page
    if strict:
        for url in re.findall(r"""https?://[^\s"'<>)]+""", page):
            assert url.startswith(own), url


async def run(*argv: str, timeout: float = 60) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_docs_render_live_values(start_proxy: StartProxy,
                                       http: aiohttp.ClientSession) -> None:
    extra = ModelSpec("Custom-Model-X", "custom-x", description="only in this catalogue")
    catalog = ModelCatalog([extra, ModelSpec("GLM-4.6", "GLM-4-6-API-V1")])
    proxy = await start_proxy(models=catalog)
    async with http.get(f"{proxy.url}/docs") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        page = await resp.text()
    text = html.unescape(page)
    start = page.index('id="models-table"')
    models_table = page[start:page.index("</table>", start)]
    assert models_table.count("<tr>") == len(proxy.app[MODELS]) + 1  # + header
    for spec in proxy.app[MODELS]:
        assert f"<code>{spec.id}</code>" in models_table
    assert "GLM-4.5-Air" not in models_table  # the live catalogue, not the defaults
    for var in VARIABLES:
        for name in var.names:
            assert f"<code>{name}</code>" in page, name
        if not var.secret and var.default and len(var.default) > 1:
            assert var.default in text, var.name
    assert DEFAULT_SIGNING_SECRET not in text  # secret defaults are never shown
    start = page.index('id="errors-table"')
    errors_table = page[start:page.index("</table>", start)]
    for row in ERROR_CODES:  # the codes clients get, with their status
        assert re.search(rf'id="error-{row.code}"><td><code>{row.code}</code></td>'
                         rf"<td>{row.status}</td>", errors_table), row.code
    assert errors_table.count("<tr") == len(ERROR_CODES) + 1
    outside_examples = re.sub(r"<pre.*?</pre>", "", page, flags=re.DOTALL)
    assert "`" not in html.unescape(outside_examples)  # markup rendered, never raw backticks
    for param in ("enable_thinking", "web_search", "stream_options", "include_usage", "tools"):
        assert param in text
    for path in ("/v1/chat/completions", "/v1/models", "/health", "/dashboard/stats",
                 "/metrics", "/openapi.json", "/v1/messages", "/v1/messages/count_tokens"):
        assert f"<code>{path}</code>" in page, path
    assert 'href="/openapi.json"' in page
    assert f"{proxy.url}/v1" in text
    assert_no_external_urls(page, proxy.url, strict=False)


async def test_docs_examples_run_against_the_live_server(
        start_proxy: StartProxy, http: aiohttp.ClientSession) -> None:
    proxy = await start_proxy()
    async with http.get(f"{proxy.url}/docs") as resp:
        examples = parse_page(await resp.text()).examples
    assert {"python", "python-stream", "python-tools", "javascript", "curl", "curl-stream",
            "curl-models"} <= set(examples)
    for name, code in examples.items():
        if name == "javascript":
            assert f'baseURL: "{proxy.base_url}"' in code
            assert 'from "openai"' in code
            continue
        # the Anthropic SDK takes the server root: it appends /v1/messages itself
        assert (proxy.url if name == "python-anthropic" else proxy.base_url) in code, name
        if name.startswith("python"):
            status, out, err = await run(sys.executable, "-c", code)
        else:
            assert shutil.which("curl"), "curl is needed to run the curl examples"
            status, out, err = await run("bash", "-c", code)
        assert status == 0, f"{name} failed:\n{code}\n{err}"
        assert out.strip(), name
        if name == "python":
            assert out.strip() == PLAIN["expected_answer"]
        if name == "curl":
            assert orjson.loads(out)["choices"][0]["message"]["content"] == (
                PLAIN["expected_answer"])
        if name == "curl-stream":
            assert out.rstrip().endswith("data: [DONE]")
    stats = await get_json(http, f"{proxy.url}/dashboard/stats")
    clients = {c["name"] for c in stats["clients"]}
    assert {"openai-python", "curl", "anthropic-sdk"} <= clients
    assert stats["totals"]["failures"] == 0


async def test_docs_with_keys_show_a_placeholder_that_works_once_replaced(
        start_proxy: StartProxy, http: aiohttp.ClientSession) -> None:
    proxy = await start_proxy(client_keys=(KEY,))
    async with http.get(f"{proxy.url}/docs") as resp:
        assert resp.status == 200  # the documentation itself is public
        page = await resp.text()
    assert KEY not in page
    code = parse_page(page).examples["curl"]
    assert "YOUR_ZPROXY_KEY" in code
    status, out, _ = await run("bash", "-c", code.replace("YOUR_ZPROXY_KEY", KEY))
    assert status == 0 and orjson.loads(out)["object"] == "chat.completion"


async def test_docs_base_url_follows_trusted_forwarded_headers(
        start_proxy: StartProxy, http: aiohttp.ClientSession) -> None:
    proxy = await start_proxy(trusted_proxies=("127.0.0.1",))
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "llm.example.org"}
    async with http.get(f"{proxy.url}/docs", headers=headers) as resp:
        assert "https://llm.example.org/v1" in html.unescape(await resp.text())
    spec = await get_json(http, f"{proxy.url}/openapi.json", headers=headers)
    assert spec["servers"] == [{"url": "https://llm.example.org"}]
    untrusting = await start_proxy()
    async with http.get(f"{untrusting.url}/docs", headers=headers) as resp:
        assert "llm.example.org" not in await resp.text()


async def test_dashboard_page_is_self_contained(start_proxy: StartProxy,
                                                http: aiohttp.ClientSession) -> None:
    proxy = await start_proxy()
    async with http.get(f"{proxy.base_url}/models",
                        headers={"User-Agent": "<script>alert(1)</script>"}) as resp:
        assert resp.status == 200
    async with http.get(f"{proxy.url}/dashboard") as resp:
        page = await resp.text()
    assert "<script>alert(1)</script>" not in page  # autoescaped
    assert 'src="/static/dashboard.js"' in page
    assert_no_external_urls(page, proxy.url)
    for asset in ("/static/dashboard.js", "/static/dashboard.css"):
        async with http.get(f"{proxy.url}{asset}") as resp:
            assert resp.status == 200
            body = await resp.text()
        # the SVG namespace is an identifier, not a request
        assert set(re.findall(r"https?://[^\s\"'`]+", body)) <= {"http://www.w3.org/2000/svg"}
        assert "innerHTML" not in body
