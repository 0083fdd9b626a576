"""The one mapping of aiohttp and timeout errors to `UpstreamError`s, and body decoding."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import orjson

from zproxy import errors
from zproxy.sse import SSEDecodeError


@contextmanager
def mapped_errors(what: str = "") -> Iterator[None]:
    """Raise `UpstreamError`s, `from` the original, for anything the network throws."""
    prefix = f"upstream: {what}: " if what else "upstream: "
    try:
        yield
    except TimeoutError as exc:
        raise errors.UpstreamTimeout(prefix + "timed out") from exc
    except aiohttp.ClientPayloadError as exc:
        raise errors.UpstreamUnavailable(prefix + "connection lost mid-response") from exc
    except aiohttp.ClientError as exc:
        raise errors.UpstreamUnavailable(f"{prefix}{type(exc).__name__}: {exc}") from exc
    except SSEDecodeError as exc:
        raise errors.UpstreamProtocolError(f"{prefix}{exc}") from exc


def json_or_text(raw: bytes) -> Any:
    """A JSON body, or the start of a non-JSON one (for error messages)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")[:500]
