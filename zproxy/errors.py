"""One exception tree, one mapping to the OpenAI error shape.

    ProxyError                      status  type
    ├── ClientRequestError            400   invalid_request_error
    │   ├── AuthenticationError       401   authentication_error
    │   ├── PermissionDeniedError     403   permission_error
    │   ├── RateLimitedError          429   rate_limit_error
    │   ├── NotFoundError             404   invalid_request_error (code model_not_found…)
    │   ├── RequestTimeoutError       408   invalid_request_error (body sent too slowly)
    │   └── PayloadTooLargeError      413   invalid_request_error (MAX_REQUEST_BYTES)
    ├── OverloadedError               429   rate_limit_error     (MAX_CONCURRENT_REQUESTS)
    └── UpstreamError                 502   upstream_error
        ├── UpstreamAuthError         502   upstream_error       (token rejected, 401)
        │   └── NoUpstreamCredential  503   upstream_error       (no token, guests off)
        ├── UpstreamRateLimitError    429   rate_limit_error     (429 / concurrency)
        ├── UpstreamVersionError      502   upstream_error       (426 client version)
        ├── UpstreamBlockedError      502   upstream_error       (405 WAF)
        ├── UpstreamCaptchaError      502   upstream_error       (captcha required)
        ├── UpstreamTimeout           504   timeout_error
        ├── UpstreamUnavailable       502   upstream_error       (connect / 5xx)
        └── UpstreamProtocolError     502   upstream_error       (in-stream error, bad frames)

Every non-2xx JSON body and every in-stream SSE error event is
`{"error": {"message", "type", "param", "code"}}`, built only by `error_body`.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ProxyError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    default_code: ClassVar[str | None] = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code

    def headers(self) -> dict[str, str]:
        """Extra response headers the error needs (Retry-After)."""
        return {}


class ClientRequestError(ProxyError):
    status = 400
    type = "invalid_request_error"


class AuthenticationError(ClientRequestError):
    status = 401
    type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDeniedError(ClientRequestError):
    """Authenticated or not, this may not be done (admin off, CSRF token missing)."""

    status = 403
    type = "permission_error"
    default_code = "forbidden"


class RateLimitedError(ClientRequestError):
    """Too many attempts from this client (admin logins)."""

    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class NotFoundError(ClientRequestError):
    status = 404
    default_code = "not_found"


class RequestTimeoutError(ClientRequestError):
    """The request body did not arrive within CLIENT_SEND_TIMEOUT."""

    status = 408
    default_code = "request_timeout"


class PayloadTooLargeError(ClientRequestError):
    """The request body is larger than MAX_REQUEST_BYTES."""

    status = 413
    default_code = "request_too_large"


class OverloadedError(ProxyError):
    """The process is at its concurrent-request cap; the client should come back soon."""

    status = 429
    type = "rate_limit_error"
    default_code = "too_many_concurrent_requests"

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class UpstreamError(ProxyError):
    """The upstream failed. `retryable` says whether another session may succeed."""

    status = 502
    type = "upstream_error"
    default_code = "upstream_error"
    retryable: ClassVar[bool] = False
    cause: ClassVar[str] = "error"

    def __init__(self, message: str, *, code: str | None = None,
                 upstream_status: int | None = None):
        super().__init__(message, code=code)
        self.upstream_status = upstream_status


class UpstreamAuthError(UpstreamError):
    default_code = "upstream_auth_failed"
    retryable = True
    cause = "auth"


class NoUpstreamCredential(UpstreamAuthError):
    """No user token can serve and guest sessions are off: the operator must act."""

    status = 503
    default_code = "no_upstream_credential"
    retryable = False
    cause = "no_credential"


class UpstreamRateLimitError(UpstreamError):
    status = 429
    type = "rate_limit_error"
    default_code = "upstream_rate_limited"
    retryable = True
    cause = "rate_limit"


class UpstreamVersionError(UpstreamError):
    default_code = "upstream_client_version"
    retryable = True  # after the FE version is re-scraped
    cause = "fe_version"


class UpstreamBlockedError(UpstreamError):
    default_code = "waf_blocked"
    cause = "waf"


class UpstreamCaptchaError(UpstreamError):
    default_code = "upstream_captcha_required"
    retryable = True  # another guest session may not need one
    cause = "captcha"


class UpstreamTimeout(UpstreamError):
    status = 504
    type = "timeout_error"
    default_code = "upstream_timeout"
    retryable = True
    cause = "timeout"


class UpstreamUnavailable(UpstreamError):
    default_code = "upstream_unavailable"
    retryable = True
    cause = "unavailable"


class UpstreamProtocolError(UpstreamError):
    default_code = "upstream_error"
    cause = "protocol"


class UpstreamInternalError(UpstreamProtocolError):
    """`INTERNAL_ERROR` inside a 200 stream; retried once on a fresh chat."""

    default_code = "upstream_internal_error"
    retryable = True
    cause = "internal"


def error_body(message: str, type_: str, *, param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def to_openai_error(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """Map any exception to (HTTP status, OpenAI error body). Unknown ones become 500."""
    if isinstance(exc, ProxyError):
        return exc.status, error_body(exc.message, exc.type, param=exc.param, code=exc.code)
    return 500, error_body("internal server error", "server_error", code="internal_error")
