"""structlog set-up: console or JSON lines, a request id on every event, secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Final

import orjson
import structlog

from zproxy.config import Settings

_SECRET_KEYS: Final = frozenset({
    "token", "authorization", "api_key", "x-api-key", "key", "password", "cookie",
    "secret", "signing_secret", "access_token",
})
_BEARER: Final = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_JWT: Final = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
_QUERY_TOKEN: Final = re.compile(r"(?i)([?&]token=)[^&\s]+")


def redact(value: Any) -> Any:
    """Mask bearer tokens, JWTs and token query parameters in strings."""
    if isinstance(value, str):
        value = _BEARER.sub(r"\1***", value)
        value = _JWT.sub("***", value)
        return _QUERY_TOKEN.sub(r"\1***", value)
    if isinstance(value, dict):
        return {k: "***" if str(k).lower() in _SECRET_KEYS else redact(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def _redact_processor(_: Any, __: str, event: MutableMapping[str, Any]) -> Any:
    for key, value in list(event.items()):
        event[key] = "***" if key.lower() in _SECRET_KEYS else redact(value)
    return event


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default or str).decode()


def configure_logging(settings: Settings) -> None:
    level = logging.DEBUG if settings.debug else logging.INFO
    renderer: Any = (structlog.processors.JSONRenderer(serializer=_orjson_dumps)
                     if settings.log_json else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
