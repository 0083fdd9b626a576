"""The one mapping of aiohttp and timeout errors to `UpstreamError`s, and body decoding."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import aiohttp
import orjson

from zproxy import errors
from zproxy.sse import SSEDecodeError


class mapped_errors:  # noqa: N801 - used as `with mapped_errors():`, like a function
    """Raise `UpstreamError`s, `from` the original, for anything the network throws.

    A class, not `@contextmanager`: it wraps every network read, and entering a generator
    based context manager costs several times more."""

    __slots__ = ("_what",)

    def __init__(self, what: str = "") -> None:
        self._what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if exc is None:
            return
        prefix = f"upstream: {self._what}: " if self._what else "upstream: "
        if isinstance(exc, TimeoutError):
            raise errors.UpstreamTimeout(prefix + "timed out") from exc
        if isinstance(exc, aiohttp.ClientPayloadError):
            raise errors.UpstreamUnavailable(prefix + "connection lost mid-response") from exc
        if isinstance(exc, aiohttp.ClientError):
            raise errors.UpstreamUnavailable(f"{prefix}{type(exc).__name__}: {exc}") from exc
        if isinstance(exc, SSEDecodeError):
            raise errors.UpstreamProtocolError(f"{prefix}{exc}") from exc


def json_or_text(raw: bytes) -> Any:
    """A JSON body, or the start of a non-JSON one (for error messages)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")[:500]
