"""What every fake upstream records of the requests it receives, so tests can assert on them.

One `Recorded` per request, appended by `recording_middleware` to the fake's list and left on
the request under `RECORD` for its handlers (which read the parsed JSON from it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from multidict import CIMultiDict


@dataclass
class Recorded:
    """One request as a fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDict[str]  # case-insensitive, so the proxy's header spelling doesn't matter
    cookies: dict[str, str]
    json: Any
    body: bytes


RECORD: Final = web.RequestKey("fake_record", Recorded)


async def record(request: web.Request) -> Recorded:
    body = await request.read()  # cached: handlers may read it again
    parsed: Any = None
    if body and not request.content_type.startswith("multipart/"):
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
    return Recorded(request.method, request.path, dict(request.query),
                    CIMultiDict(request.headers), dict(request.cookies), parsed, body)


def recording_middleware(requests: list[Recorded]) -> Middleware:
    """A middleware appending each request's record to `requests` before it is handled."""

    @web.middleware
    async def recording(request: web.Request, handler: Handler) -> web.StreamResponse:
        found = request[RECORD] = await record(request)
        requests.append(found)
        return await handler(request)

    return recording
