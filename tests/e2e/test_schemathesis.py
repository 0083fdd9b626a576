"""schemathesis against the proxy's own /openapi.json: every operation it lists, valid and
malformed input alike (house rule: bad input gets a clear error, never a 5xx).

The schema is read from the running proxy at test time (`from_fixture`), so operations other
front doors add are fuzzed as soon as /openapi.json lists them. The proxy and the fake
upstream run on their own event loop in a thread, because schemathesis calls them through
blocking `requests`. A client key is configured and sent, so auth is exercised and the
bodies get past it. Examples per operation: a bounded number, or 40x with
`ZPROXY_FUZZ=long` / `--fuzz-long` (tests/fuzzing.py).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.conftest import proxy_settings
from tests.fakes.k2think import FakeK2Think
from tests.fakes.longcat import FakeLongCat
from tests.fakes.zai import FakeZai
from tests.fuzzing import examples
from zproxy.app import create_app
from zproxy.server import start

KEY = "sk-fuzz"
AUTH = {"Authorization": f"Bearer {KEY}"}
# Front doors with their own error shape (their modules own it); everything else is OpenAI's.
ANTHROPIC_PATHS = ("/v1/messages",)


class LiveProxy:
    """The fake upstream and the proxy on a private loop in a daemon thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runners: list[web.AppRunner] = []
        self.url = ""

    def __enter__(self) -> LiveProxy:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _serve(self, app: web.Application) -> str:
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._runners.append(runner)
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    async def _start(self) -> str:
        # every provider's models are in the schema's enum: each gets its fake
        settings = proxy_settings(
            await self._serve(FakeZai().app), client_keys=(KEY,),
            k2think_base=await self._serve(FakeK2Think().app),
            longcat_base=await self._serve(FakeLongCat(tokens=["fuzz"]).app),
            longcat_tokens=("fuzz",))
        proxy = await start(create_app(settings), "127.0.0.1", 0, 2.0)
        self._runners.append(proxy)
        host, port = proxy.addresses[0][:2]
        return f"http://{host}:{port}"

    async def _stop(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()


@pytest.fixture(scope="module")
def live_proxy() -> Iterator[LiveProxy]:
    with LiveProxy() as live:
        yield live


def operations(live: LiveProxy) -> list[Any]:
    """Every operation the running proxy's /openapi.json lists, read now (not at import)."""
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    schema.config.update(base_url=live.url)
    return [result.ok() for result in schema.get_all_operations()]


def assert_error_shape(path: str, body: Any) -> None:
    if path.startswith(ANTHROPIC_PATHS):
        assert body.get("type") == "error", body
        assert isinstance(body["error"]["type"], str) and body["error"]["message"], body
        return
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, body
    assert isinstance(error["message"], str) and error["message"], body
    assert isinstance(error["type"], str), body


def check(case: Any) -> int:
    response = case.call(headers=AUTH, timeout=30)
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    content_type = response.headers.get("Content-Type", "")
    assert response.status_code < 500, f"{where}: {response.text[:500]}"
    if response.status_code >= 400 and "json" in content_type:
        assert_error_shape(case.formatted_path, response.json())
    if content_type.startswith("text/event-stream") and \
            not case.formatted_path.startswith(ANTHROPIC_PATHS):
        assert response.text.rstrip().endswith("data: [DONE]"), where
    return int(response.status_code)


def _with_model(drawn: tuple[Any, str, bool]) -> Any:
    """Bodies that name a model get a real one when `swap` (always for valid input), so they
    reach the upstream path (streams, tools, thinking) instead of 404 model_not_found."""
    case, model, swap = drawn
    if swap and isinstance(case.body, dict) and "model" in case.body:
        case.body = {**case.body, "model": model}
    return case


def fuzz_operation(operation: Any, mode: GenerationMode, ran: Counter[str],
                   models: list[str]) -> None:
    label = f"{operation.method.upper()} {operation.path}"

    swap = st.just(True) if mode is GenerationMode.POSITIVE else st.booleans()
    @given(case=st.tuples(operation.as_strategy(generation_mode=mode), st.sampled_from(models),
                          swap).map(_with_model))
    @settings(max_examples=examples(30), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        ran[f"{label} {check(case)}"] += 1

    try:
        run()
    except Unsatisfiable:  # nothing to break: no parameters, no body (GET /health)
        assert mode is GenerationMode.NEGATIVE


# The pytest plugin's lazy schemas (`from_fixture`) break on pytest 9.2 (Function._nodeid),
# so each operation's strategy is driven by hypothesis directly: same cases, same shrinking.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_without_5xx_and_errors_in_shape(
        live_proxy: LiveProxy, mode: GenerationMode) -> None:
    found = operations(live_proxy)
    assert {op.path for op in found} >= {"/v1/chat/completions", "/v1/models"}
    ran: Counter[str] = Counter()  # "METHOD /path status" -> cases
    models = [m["id"] for m in requests.get(f"{live_proxy.url}/v1/models", headers=AUTH,
                                            timeout=10).json()["data"]]
    for operation in found:
        fuzz_operation(operation, mode, ran, models)
    print(f"\nschemathesis {mode.value}: {ran.total()} cases over {len(found)} operations:",
          dict(sorted(ran.items())))
