"""Classifying upstream failures: one vocabulary for every provider (providers.md §3.2).

A provider's `classify(status, headers, body)` names a `kind`; `upstream_error` turns it into
the matching exception of the one tree in `zproxy.errors`, so retries, credential outcomes,
HTTP statuses and every client format's error shape follow from the kind alone. The exception
class carries `retryable` and `cause` (== the kind's cause name). Pure.
"""

from __future__ import annotations

from typing import Final, Literal

from zproxy import errors

ErrorKind = Literal[
    "auth",             # the credential was refused (401/403, "log in first")
    "rate_limit",       # 429, concurrency or "too fast" messages
    "captcha",          # the upstream wants a human check
    "blocked",          # a WAF or ban refused the request outright
    "version",          # the upstream wants a newer web client (Z.AI 426)
    "model_not_found",  # the upstream does not know the model id we sent
    "content_filter",   # the upstream refused the content
    "bad_request",      # the upstream refused the request as malformed
    "internal",         # a transient upstream-side error inside a 200 (Z.AI INTERNAL_ERROR)
    "upstream",         # 5xx and connection failures
    "timeout",          # no answer in time
    "protocol",         # an answer we cannot read
]

Outcome = Literal["ok", "auth_failed", "rate_limited", "captcha", "banned"]
"""What a credential pool learns from one use of a credential."""

_CLASSES: Final[dict[str, type[errors.UpstreamError]]] = {
    "auth": errors.UpstreamAuthError,
    "rate_limit": errors.UpstreamRateLimitError,
    "captcha": errors.UpstreamCaptchaError,
    "blocked": errors.UpstreamBlockedError,
    "version": errors.UpstreamVersionError,
    "model_not_found": errors.UpstreamModelNotFound,
    "content_filter": errors.UpstreamContentFilter,
    "bad_request": errors.UpstreamBadRequest,
    "internal": errors.UpstreamInternalError,
    "upstream": errors.UpstreamUnavailable,
    "timeout": errors.UpstreamTimeout,
    "protocol": errors.UpstreamProtocolError,
}

_OUTCOMES: Final[tuple[tuple[type[errors.UpstreamError], Outcome], ...]] = (
    (errors.NoUpstreamCredential, "ok"), (errors.UpstreamAuthError, "auth_failed"),
    (errors.UpstreamRateLimitError, "rate_limited"), (errors.UpstreamCaptchaError, "captcha"),
    (errors.UpstreamBlockedError, "banned"),
)


def upstream_error(kind: ErrorKind, message: str, *, http_status: int | None = None,
                   retry_after_s: float | None = None) -> errors.UpstreamError:
    """The exception for a classified failure; `message` should name the provider."""
    error = _CLASSES[kind](message, upstream_status=http_status)
    error.retry_after_s = retry_after_s
    return error


def outcome_of(error: errors.UpstreamError | None) -> Outcome:
    """What a failure says about the credential that met it (`ok` when it says nothing)."""
    for cls, outcome in _OUTCOMES:
        if isinstance(error, cls):
            return outcome
    return "ok"
