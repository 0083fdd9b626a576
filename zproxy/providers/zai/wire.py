"""Z.AI wire format: paths, frames and error classification. Pure; no I/O.

Nothing outside `zproxy.upstream` knows Z.AI URLs, headers or frame JSON; `translate` sees
only the `Frame` values parsed here.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import orjson

from zproxy import errors

AUTHS_PATH: Final = "/api/v1/auths/"
CHATS_NEW_PATH: Final = "/api/v1/chats/new"
FILES_PATH: Final = "/api/v1/files/"
MODELS_PATH: Final = "/api/models"
ORIGIN_PAGE: Final = "/"


@dataclass(frozen=True, slots=True)
class Frame:
    """One upstream SSE event, reduced to the fields zai-protocol.md §8.2 defines."""

    phase: str = ""
    delta: str | None = None
    edit_index: int | None = None
    edit_content: str | None = None
    usage: dict[str, Any] | None = None
    done: bool = False
    error: dict[str, Any] | None = None

    @property
    def meaningful(self) -> bool:
        """True unless the frame carries nothing (e.g. the empty first answer delta)."""
        return bool(self.delta or self.edit_content is not None or self.usage
                    or self.done or self.error)


DONE_FRAME: Final = Frame(phase="done", done=True)


def _find_error(outer: dict[str, Any], data: dict[str, Any]) -> dict[str, Any] | None:
    # Z.AI: the error object sits at data.error, top-level error or data.data.error (§9).
    for holder in (data, outer, data.get("data")):
        if isinstance(holder, dict) and isinstance(holder.get("error"), dict):
            error: dict[str, Any] = holder["error"]
            return error
    return None


def parse_frame(payload: str) -> Frame | None:
    """Parse one SSE `data` payload; None for payloads that are not JSON objects."""
    if payload == "[DONE]":
        return DONE_FRAME
    try:
        outer = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return _frame(outer) if isinstance(outer, dict) else None


def parse_frames(payloads: Iterable[str]) -> list[Frame]:
    """The frames of one network read, with each run of plain text frames merged into one.

    Most Z.AI frames only append text: `{"type": …, "data": {"delta_content": str, "phase":
    str}}` and nothing else. Consecutive ones of the same phase whose text holds no markup
    (no `<`, so no block opens or closes inside the run and its events keep their order)
    become one `Frame` with their joined text, which the message buffer renders exactly as
    it renders them one by one (an append is an append): a read costs one frame, not one per
    upstream event. Every other payload goes through `parse_frame` and ends the run;
    payloads that are not JSON are skipped.
    """
    objects: list[Any] = []
    for payload in payloads:
        if payload == "[DONE]":
            objects.append(_DONE)
            continue
        try:
            objects.append(orjson.loads(payload))
        except orjson.JSONDecodeError:
            continue
    return _merged(objects)


def parse_joined(joined: bytes, count: int) -> list[Frame] | None:
    """`parse_frames` for the `count` payloads of one read joined by commas
    (`SSEDecoder.joined`): one JSON array parse instead of one parse per payload, and no
    text decoding. None unless that array holds exactly `count` values (a payload that is
    not JSON, or a `[DONE]` before the last): `parse_frames` then takes the read as usual."""
    done = joined.endswith(b"[DONE]") and (len(joined) == 6 or joined[-7:-6] == b",")
    if done:  # the optional end marker some upstreams add: never inside the array
        joined, count = joined[:-7], count - 1
    try:
        objects = orjson.loads(b"[" + joined + b"]") if count else []
    except orjson.JSONDecodeError:
        return None
    if type(objects) is not list or len(objects) != count:
        return None
    if done:
        objects.append(_DONE)
    return _merged(objects)


_DONE: Final = object()  # the `[DONE]` payload among parsed ones


def _merged(objects: list[Any]) -> list[Frame]:
    frames: list[Frame] = []
    run: list[str] = []
    phase = ""
    for outer in objects:
        try:  # the plain text frame first: no check costs anything until a key is missing
            data = outer["data"]
            delta, this_phase = data["delta_content"], data["phase"]
        except (KeyError, TypeError):
            pass
        else:
            if (type(delta) is str and type(this_phase) is str and type(outer) is dict
                    and type(data) is dict and len(data) == 2 and len(outer) == 2
                    and "type" in outer and this_phase != "done" and "<" not in delta):
                if this_phase != phase:
                    if run:
                        frames.append(Frame(phase=phase, delta="".join(run)))
                        run = []
                    phase = this_phase
                run.append(delta)
                continue
        if run:
            frames.append(Frame(phase=phase, delta="".join(run)))
            run = []
        if outer is _DONE:
            frames.append(DONE_FRAME)
        elif type(outer) is dict:
            frames.append(_frame(outer))
    if run:
        frames.append(Frame(phase=phase, delta="".join(run)))
    return frames


def _frame(outer: dict[str, Any]) -> Frame:
    data = outer.get("data") if isinstance(outer.get("data"), dict) else outer
    assert isinstance(data, dict)
    edit_index = data.get("edit_index")
    edit_content = data.get("edit_content")
    delta = data.get("delta_content")
    usage = data.get("usage")
    return Frame(
        phase=str(data.get("phase") or ""),
        delta=delta if isinstance(delta, str) else None,
        edit_index=edit_index if isinstance(edit_index, int) else None,
        edit_content=edit_content if isinstance(edit_content, str) else None,
        usage=usage if isinstance(usage, dict) else None,
        done=bool(data.get("done")) or data.get("phase") == "done",
        error=_find_error(outer, data),
    )


# --- errors ----------------------------------------------------------------------------------

_CONCURRENCY_HINTS: Final = ("concurrency", "too many requests", "并发")


def error_detail(body: Any) -> tuple[str | int | None, str]:
    """(code, message) from any of the error body shapes seen (§9, ZY's parser)."""
    if not isinstance(body, dict):
        return None, str(body)[:300] if body else ""
    for holder in (body.get("error"), body.get("detail"), body.get("data"), body):
        if not isinstance(holder, dict):
            continue
        code = holder.get("error_code") or holder.get("code")
        for key in ("detail", "message", "msg", "error"):
            text = holder.get(key)
            if isinstance(text, str) and text:
                return code, text
        if code is not None:
            return code, ""
    detail = body.get("detail")
    return None, detail if isinstance(detail, str) else ""


def classify_error(body: Any, http_status: int | None) -> errors.UpstreamError:
    """Map an upstream failure (HTTP status and/or error object) to the exception tree."""
    code, message = error_detail(body)
    text = f"{message}".lower()
    shown = message or (f"HTTP {http_status}" if http_status else "unknown error")
    prefix = "upstream: "
    if code == "FRONTEND_CAPTCHA_REQUIRED" or (isinstance(body, dict) and "captcha" in text):
        return errors.UpstreamCaptchaError(prefix + shown, upstream_status=http_status)
    if http_status == 426 or code == 426 or "client version" in text:
        return errors.UpstreamVersionError(prefix + shown, upstream_status=http_status)
    if http_status == 429 or code == 429 or any(h in text for h in _CONCURRENCY_HINTS):
        return errors.UpstreamRateLimitError(prefix + shown, upstream_status=http_status)
    if http_status == 401 or code == 401:
        return errors.UpstreamAuthError(prefix + shown, upstream_status=http_status)
    if http_status == 405:
        return errors.UpstreamBlockedError(prefix + "request blocked by the upstream WAF (405)",
                                           upstream_status=http_status)
    if code == "INTERNAL_ERROR":
        return errors.UpstreamInternalError(prefix + shown, upstream_status=http_status)
    if http_status is not None and http_status >= 500:
        return errors.UpstreamUnavailable(prefix + shown, upstream_status=http_status)
    return errors.UpstreamProtocolError(prefix + shown, upstream_status=http_status)


def jwt_user_id(token: str) -> str | None:
    """The user id in a JWT payload (`id`, `user_id`, `uid`, `sub`); not verified (§10)."""
    parts = token.split(".")
    if len(parts) < 2:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        payload = orjson.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, orjson.JSONDecodeError):
        return None
    if not isinstance(payload, dict):
        return None
    for key in ("id", "user_id", "uid", "sub"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
    return None
