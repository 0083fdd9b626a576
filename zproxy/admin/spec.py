"""The one table of admin API routes: registered from it, described in /openapi.json and
/docs from it, so the three cannot drift apart (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: str  # AdminApi method name, also the operationId
    summary: str
    body: str | None = None  # what the JSON request body holds


ADMIN_ROUTES: Final[tuple[Route, ...]] = (
    Route("GET", "/admin/api/tokens", "list_tokens",
          "Every upstream token, masked, with state, counters and validation."),
    Route("POST", "/admin/api/tokens", "add_tokens",
          "Add tokens: duplicates are skipped.",
          "`{\"tokens\": [..]}` or `{\"token\": \"..\"}`, optional label, priority, weight, "
          "max_concurrent"),
    Route("GET", "/admin/api/tokens/export", "export_tokens",
          "Export as JSON, masked; `?secrets=true` includes whole tokens."),
    Route("POST", "/admin/api/tokens/import", "import_tokens",
          "Import tokens.txt text or a JSON export (with secrets).",
          "`{\"text\": \"..\"}`, optional label, priority, weight"),
    Route("POST", "/admin/api/tokens/validate", "validate_all",
          "Validate every token, each with its provider's check."),
    Route("POST", "/admin/api/tokens/bulk", "bulk",
          "One action on many tokens.",
          "`{\"action\": \"enable|disable|delete|validate\", \"ids\": [..]}`"),
    Route("GET", "/admin/api/tokens/{id}", "get_token", "One token, masked."),
    Route("PATCH", "/admin/api/tokens/{id}", "edit_token",
          "Edit label, priority, weight, max_concurrent, enabled; clears cool-down and "
          "invalid marks.", "any of label, priority, weight, max_concurrent, enabled"),
    Route("DELETE", "/admin/api/tokens/{id}", "delete_token", "Delete one token."),
    Route("POST", "/admin/api/tokens/{id}/validate", "validate_token",
          "Validate one token with its provider's check: Z.AI GET /api/v1/auths/, K2Think "
          "the JWT's exp then GET /api/models, LongCat GET /api/v1/user-current."),
    Route("GET", "/admin/api/pool", "pool_status", "Pool counts by state."),
    Route("GET", "/admin/api/events", "list_events",
          "Pool events, newest first: added, disabled, cooled, recovered, invalid…"),
    Route("GET", "/admin/api/keys", "list_keys", "Client API keys (never the key itself)."),
    Route("POST", "/admin/api/keys", "create_key",
          "Create a client key: the response holds the key, shown this once.",
          "`{\"name\": \"..\"}`, optional rpm_limit, tpd_limit"),
    Route("PATCH", "/admin/api/keys/{id}", "edit_key",
          "Rename, enable/disable, change limits.", "any of name, enabled, rpm_limit, "
          "tpd_limit"),
    Route("DELETE", "/admin/api/keys/{id}", "delete_key", "Delete a client key."),
    Route("GET", "/v1/token-pool/status", "legacy_status",
          "Earlier proxies' pool status (admin secret)."),
    Route("POST", "/v1/token-pool/health-check", "legacy_health_check",
          "Validate every token (admin secret)."),
    Route("POST", "/v1/token-pool/update", "legacy_update",
          "Add a JSON list of tokens; `?replace=true` also removes the ones not listed.",
          "a JSON list of tokens, or `{\"tokens\": [..]}`"),
)

PAGE_DOCS: Final = {
    "/admin": "Admin pages: tokens, client keys, pool events (admin password).",
    "/admin/login": "Admin login form (throttled after 5 failures in 5 minutes).",
}


def endpoint_docs() -> dict[str, str]:
    docs = dict(PAGE_DOCS)
    for route in ADMIN_ROUTES:
        docs.setdefault(route.path, route.summary)
    return docs


def openapi_paths(error_ref: str = "#/components/responses/Error") -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in ADMIN_ROUTES:
        operation: dict[str, Any] = {
            "operationId": route.handler, "summary": route.summary, "tags": ["admin"],
            "security": [{"adminAuth": []}],
            "responses": {"200": {"description": "OK", "content": {"application/json": {
                "schema": {"type": "object"}}}},
                **{str(s): {"$ref": error_ref} for s in (400, 401, 403, 404)}}}
        if "{id}" in route.path:
            operation["parameters"] = [{"name": "id", "in": "path", "required": True,
                                        "schema": {"type": "integer"}}]
        if route.body:
            operation["requestBody"] = {"required": True, "description": route.body,
                                        "content": {"application/json": {
                                            "schema": {"type": ["object", "array"]}}}}
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return paths


SECURITY_SCHEME: Final = {
    "type": "http", "scheme": "bearer",
    "description": "ADMIN_PASSWORD (or, when unset, a client key from AUTH_TOKEN)."}
