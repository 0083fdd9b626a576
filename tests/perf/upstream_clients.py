"""The candidate upstream HTTP clients of `bench_clients`, each doing zproxy's upstream job.

The job (`Job.next`) is what `zproxy.providers.zai.client.UpstreamClient._signed` does per
completion: a fresh request id and timestamp, the `X-Signature`, the browser-like header set,
the query string from zproxy's own `CompletionQuery` (a `yarl.URL` marked as encoded) and an
orjson body. Every candidate gets the same job and only differs in how it sends it and reads
the SSE body back: `Upstream.chunks` yields the body's network reads as they arrive and, on
cancellation or any early exit, must close the connection rather than pool it half-read.

`CANDIDATES` maps a name to a factory `make(proxy) -> Upstream`; one whose library is not
installed is listed in `MISSING` instead (`pip install -e '.[perf]'` installs all but niquests,
whose urllib3-future would replace the urllib3 that `requests` needs: see pyproject.toml).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import aiohttp
import orjson
from multidict import CIMultiDict
from yarl import URL

from zproxy.config import COMPLETION_PATHS, DEFAULT_SIGNING_SECRET, DEFAULT_USER_AGENT
from zproxy.ids import random_uuid
from zproxy.providers.zai.query import CompletionQuery
from zproxy.providers.zai.signing import signature

FE_VERSION = "prod-fe-1.1.35"
READ_TIMEOUT_S, CONNECT_TIMEOUT_S = 180.0, 10.0  # zproxy's defaults


@dataclass(frozen=True)
class Request:
    url: URL
    static: Mapping[str, str]  # the headers that never change for one credential
    dynamic: dict[str, str]  # Authorization, Referer, X-FE-Version, X-Signature
    body: bytes

    def headers(self) -> dict[str, str]:
        """The whole set, built anew per request as zproxy does today."""
        return {**self.static, **self.dynamic}


class Job:
    """One signed completion, as zproxy builds it (see the module doc)."""

    def __init__(self, base: str, token: str, user_id: str, frames: int) -> None:
        """`frames`: how many content frames the fake is asked for (`harness.PromptFake`)."""
        self.base, self.token, self.user_id, self.frames = base, token, user_id, frames
        self.prompt = f"frames={frames}"
        self._query = CompletionQuery(base, COMPLETION_PATHS["v2"], DEFAULT_USER_AGENT)
        self.static: Mapping[str, str] = {
            "Content-Type": "application/json", "Accept": "*/*",
            "Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8", "User-Agent": DEFAULT_USER_AGENT,
            "Origin": base,
            "sec-ch-ua": '"Chromium";v="140", "Not=A?Brand";v="24", "Google Chrome";v="140"',
            "sec-ch-ua-mobile": "?0", "sec-ch-ua-platform": '"Windows"',
            "Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin",
        }

    def next(self) -> Request:
        now_ms, request_id, chat_id = int(time.time() * 1000), random_uuid(), random_uuid()
        body = {"stream": True, "model": "0727-360B-API", "chat_id": chat_id, "id": random_uuid(),
                "signature_prompt": self.prompt, "features": {"enable_thinking": False},
                "messages": [{"role": "user", "content": self.prompt}]}
        dynamic = {
            "Authorization": f"Bearer {self.token}", "Referer": f"{self.base}/c/{chat_id}",
            "X-FE-Version": FE_VERSION,
            "X-Signature": signature(DEFAULT_SIGNING_SECRET, request_id=request_id,
                                     user_id=self.user_id, timestamp_ms=now_ms,
                                     prompt=self.prompt)}
        url = self._query.url(request_id=request_id, now_ms=now_ms, user_id=self.user_id,
                              token=self.token, chat_id=chat_id)
        return Request(url, self.static, dynamic, orjson.dumps(body))


class UpstreamStatusError(Exception):
    pass


class Upstream(Protocol):
    def chunks(self, request: Request) -> AsyncGenerator[bytes, None]: ...

    async def aclose(self) -> None: ...


# (proxy URL or None, the job's static headers) -> a ready client
Factory = Callable[[str | None, Mapping[str, str]], Awaitable[Upstream]]


# --- aiohttp, as zproxy uses it, and its knobs ---------------------------------------------

@dataclass(frozen=True)
class AiohttpKnobs:
    skip_auto_headers: bool = False  # no Accept-Encoding (aiohttp's only auto header here)
    session_headers: bool = False  # the static headers as the session's default headers
    prepared: bool = False  # the static headers as one CIMultiDict, copied per request
    auto_decompress: bool = True
    str_url: bool = False  # a plain str, parsed and quoted by aiohttp per request
    sock_read: bool = True  # the per-read timeout (a timer rescheduled on every read)
    read_bufsize: int = 2**16
    cleanup_closed: bool = True


class AiohttpUpstream:
    """`session.post(...)`, then `response.content.iter_any()`; closed unless read to EOF,
    exactly as `UpstreamClient._attempt` / `_relay` do."""

    def __init__(self, knobs: AiohttpKnobs, proxy: str | None, static: Mapping[str, str]) -> None:
        self.knobs, self.proxy = knobs, proxy
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=60,
                                         enable_cleanup_closed=knobs.cleanup_closed)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S,
                                        sock_read=READ_TIMEOUT_S if knobs.sock_read else None)
        self.session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=knobs.auto_decompress, read_bufsize=knobs.read_bufsize,
            headers=dict(static) if knobs.session_headers else None,
            skip_auto_headers=("Accept-Encoding",) if knobs.skip_auto_headers else None)
        self._prepared = CIMultiDict(static)

    def _headers(self, request: Request) -> Mapping[str, str]:
        if self.knobs.session_headers:
            return request.dynamic
        if self.knobs.prepared:
            headers = self._prepared.copy()
            headers.extend(request.dynamic)
            return headers
        return request.headers()

    async def chunks(self, request: Request) -> AsyncGenerator[bytes, None]:
        url = str(request.url) if self.knobs.str_url else request.url
        response = await self.session.post(url, data=request.body,
                                           headers=self._headers(request), proxy=self.proxy)
        try:
            if response.status != 200:
                raise UpstreamStatusError(response.status)
            async for chunk in response.content.iter_any():
                yield chunk
        finally:
            if response.content.is_eof():
                response.release()
            else:
                response.close()

    async def aclose(self) -> None:
        await self.session.close()


def aiohttp_factory(**knobs: Any) -> Factory:
    async def make(proxy: str | None, static: Mapping[str, str]) -> Upstream:
        return AiohttpUpstream(replace(AiohttpKnobs(), **knobs), proxy, static)
    return make


# --- other libraries ------------------------------------------------------------------------

class HttpxUpstream:
    """httpx / httpx2 `AsyncClient.stream(...)` and `aiter_bytes()` (HTTP/1.1)."""

    def __init__(self, module: Any, proxy: str | None) -> None:
        limits = module.Limits(max_connections=None, max_keepalive_connections=None)
        timeout = module.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
        self.client = module.AsyncClient(proxy=proxy, limits=limits, timeout=timeout,
                                         trust_env=False)

    async def chunks(self, request: Request) -> AsyncGenerator[bytes, None]:
        async with self.client.stream("POST", str(request.url), content=request.body,
                                      headers=request.headers()) as response:
            if response.status_code != 200:
                raise UpstreamStatusError(response.status_code)
            async for chunk in response.aiter_bytes():
                yield chunk

    async def aclose(self) -> None:
        await self.client.aclose()


class CurlUpstream:
    """curl_cffi `AsyncSession.stream(...)` and `aiter_content()` (libcurl, HTTP/1.1)."""

    def __init__(self, proxy: str | None) -> None:
        from curl_cffi import CurlHttpVersion
        from curl_cffi.requests import AsyncSession
        self.proxy = proxy
        self.session: Any = AsyncSession(max_clients=256, timeout=(CONNECT_TIMEOUT_S,
                                                                   READ_TIMEOUT_S),
                                         http_version=CurlHttpVersion.V1_1, trust_env=False)

    async def chunks(self, request: Request) -> AsyncGenerator[bytes, None]:
        async with self.session.stream("POST", str(request.url), data=request.body,
                                       headers=request.headers(), proxy=self.proxy) as response:
            if response.status_code != 200:
                raise UpstreamStatusError(response.status_code)
            async for chunk in response.aiter_content():
                yield chunk

    async def aclose(self) -> None:
        await self.session.close()


class NiquestsUpstream:
    """niquests `AsyncSession.post(stream=True)` and `iter_raw()` (urllib3-future)."""

    def __init__(self, proxy: str | None) -> None:
        import niquests  # type: ignore[import-not-found,unused-ignore]
        self.proxies = {"http": proxy, "https": proxy} if proxy else None
        self.session: Any = niquests.AsyncSession(pool_connections=4, pool_maxsize=256,
                                                  disable_http2=True, disable_http3=True)
        self.session.trust_env = False

    async def chunks(self, request: Request) -> AsyncGenerator[bytes, None]:
        response = await self.session.post(str(request.url), data=request.body,
                                           headers=request.headers(), stream=True,
                                           proxies=self.proxies,
                                           timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
        try:
            if response.status_code != 200:
                raise UpstreamStatusError(response.status_code)
            async for chunk in await response.iter_raw():
                yield chunk
        finally:
            await response.close()

    async def aclose(self) -> None:
        await self.session.close()


class PyreqwestUpstream:
    """pyreqwest (Rust reqwest on a Tokio runtime) `build_streamed()` and `read_chunk()`."""

    def __init__(self, proxy: str | None) -> None:
        from datetime import timedelta

        from pyreqwest.client import ClientBuilder
        from pyreqwest.proxy import ProxyBuilder
        builder = (ClientBuilder().http1_only().max_connections(None)
                   .connect_timeout(timedelta(seconds=CONNECT_TIMEOUT_S))
                   .read_timeout(timedelta(seconds=READ_TIMEOUT_S)))
        builder = builder.proxy(ProxyBuilder.http(proxy)) if proxy else builder.no_proxy()
        self.client: Any = builder.build()
        self.buffer = 0

    async def chunks(self, request: Request) -> AsyncGenerator[bytes, None]:
        stream = (self.client.post(str(request.url)).headers(request.headers())
                  .body_bytes(request.body).streamed_read_buffer_limit(self.buffer)
                  .build_streamed())
        async with stream as response:
            if response.status != 200:
                raise UpstreamStatusError(response.status)
            reader = response.body_reader
            while (chunk := await reader.read_chunk()) is not None:
                yield bytes(chunk)

    async def aclose(self) -> None:
        await self.client.close()


class AiosonicUpstream:
    """aiosonic `HTTPClient.post(...)` and `read_chunks()`."""

    def __init__(self, proxy: str | None) -> None:
        import aiosonic  # type: ignore[import-untyped]
        from aiosonic.connectors import TCPConnector  # type: ignore[import-untyped]
        from aiosonic.pools import PoolConfig  # type: ignore[import-untyped]
        from aiosonic.proxy import Proxy  # type: ignore[import-untyped]
        connector = TCPConnector(pool_configs={":default": PoolConfig(size=256)})
        self.client: Any = aiosonic.HTTPClient(connector=connector,
                                               proxy=Proxy(proxy) if proxy else None)

    async def chunks(self, request: Request) -> AsyncGenerator[bytes, None]:
        response = await self.client.post(str(request.url), data=request.body,
                                          headers=request.headers())
        try:
            if response.status_code != 200:
                raise UpstreamStatusError(response.status_code)
            async for chunk in response.read_chunks():
                yield chunk
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self.client.aclose()


def _wrap(build: Callable[[str | None], Upstream]) -> Factory:
    async def make(proxy: str | None, static: Mapping[str, str]) -> Upstream:
        return build(proxy)
    return make


def _httpx(name: str) -> Factory:
    return _wrap(lambda proxy: HttpxUpstream(importlib.import_module(name), proxy))


# name -> (module that must be importable, factory, what it is)
_ALL: dict[str, tuple[str, Factory, str]] = {
    "aiohttp today": ("aiohttp", aiohttp_factory(), "zproxy's session and call, as in main"),
    "aiohttp str URL": ("aiohttp", aiohttp_factory(str_url=True),
                        "a str URL, quoted by aiohttp per request (zproxy before query.py)"),
    "aiohttp skip_auto_headers": ("aiohttp", aiohttp_factory(skip_auto_headers=True),
                                  "no Accept-Encoding header"),
    "aiohttp prepared CIMultiDict": ("aiohttp", aiohttp_factory(prepared=True),
                                     "static headers in one CIMultiDict, copied per request"),
    "aiohttp session headers": ("aiohttp", aiohttp_factory(session_headers=True),
                                "static headers as session defaults, 4 per request"),
    "aiohttp auto_decompress=False": ("aiohttp", aiohttp_factory(auto_decompress=False), ""),
    "aiohttp read_bufsize=256K": ("aiohttp", aiohttp_factory(read_bufsize=2**18), ""),
    "aiohttp no cleanup_closed": ("aiohttp", aiohttp_factory(cleanup_closed=False), ""),
    "aiohttp no sock_read timeout": ("aiohttp", aiohttp_factory(sock_read=False),
                                     "cost of the read timer; not a candidate"),
    "aiohttp tuned": ("aiohttp", aiohttp_factory(skip_auto_headers=True, session_headers=True,
                                                 auto_decompress=False),
                      "skip_auto_headers + session headers + auto_decompress=False"),
    "httpx": ("httpx", _httpx("httpx"), "AsyncClient, HTTP/1.1"),
    "httpx2": ("httpx2", _httpx("httpx2"), "the httpx fork the openai SDK uses"),
    "curl_cffi": ("curl_cffi", _wrap(CurlUpstream), "AsyncSession, libcurl"),
    "niquests": ("niquests", _wrap(NiquestsUpstream), "AsyncSession, urllib3-future"),
    "pyreqwest": ("pyreqwest", _wrap(PyreqwestUpstream), "Rust reqwest + Tokio"),
    "aiosonic": ("aiosonic", _wrap(AiosonicUpstream), ""),
}

CANDIDATES: dict[str, Factory] = {
    name: factory for name, (module, factory, _) in _ALL.items()
    if importlib.util.find_spec(module) is not None}
MISSING: dict[str, str] = {name: module for name, (module, _, _) in _ALL.items()
                           if name not in CANDIDATES}
NOTES: dict[str, str] = {name: note for name, (_, _, note) in _ALL.items()}
