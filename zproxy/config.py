"""Settings: read once at start-up into a frozen dataclass.

`VARIABLES` is the single table of every environment variable zproxy reads: its name, the
aliases earlier Z.AI proxies used, its default and a one-line description. The loader, the
`.env.example` check and the `/docs` page all read this table, so they cannot drift apart.

Sources, highest priority first: the process environment, `.env.local`, `.env`.
`load_dotenv()` is never called: the files are read with `dotenv_values` and os.environ is
left untouched.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from dotenv import dotenv_values

from zproxy.cpus import usable_cpus

# Z.AI: signing secret in use since 2025-10-21 (zai-protocol.md §4.1).
DEFAULT_SIGNING_SECRET: Final = "key-@@@@)))()((9))-xxxx&&&%%%%%"
DEFAULT_USER_AGENT: Final = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36"
)
# Claude Code's tiers: a strong model for opus and sonnet, a fast one for haiku.
DEFAULT_ANTHROPIC_MODEL_MAP: Final = "opus=GLM-4.6,sonnet=GLM-4.6,haiku=GLM-4.5-Air,*=GLM-4.6"
COMPLETION_PATHS: Final = {"v1": "/api/chat/completions", "v2": "/api/v2/chat/completions"}
_URL_CREDENTIALS: Final = re.compile(r"//[^/@\s]+@")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the variable."""


# --- value parsers -------------------------------------------------------------------------

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("expected true/false")


def _opt_bool(raw: str) -> bool | None:
    return None if raw.strip().lower() in {"", "auto", "default"} else _bool(raw)


def _int(raw: str) -> int:
    return int(raw.strip())


def _pos_int(raw: str) -> int:
    value = int(raw.strip())
    if value < 1:
        raise ValueError("expected a whole number of at least 1")
    return value


def _nonneg_int(raw: str) -> int:
    value = int(raw.strip())
    if value < 0:
        raise ValueError("expected a whole number of at least 0")
    return value


def _port(raw: str) -> int:
    value = int(raw.strip())
    if not 0 <= value < 65536:
        raise ValueError("expected a port number 1-65535 (0: any free port)")
    return value


def _seconds(raw: str) -> float:
    value = float(raw.strip())
    if value <= 0:
        raise ValueError("expected a positive number of seconds")
    return value


def _workers(raw: str) -> int:
    value = raw.strip().lower()
    return usable_cpus() if value == "auto" else _pos_int(value)


def _gc_thresholds(raw: str) -> tuple[int, int, int] | None:
    value = raw.strip().lower()
    if value in {"", "default"}:
        return None
    parts = tuple(int(part) for part in value.split(","))
    if len(parts) != 3 or min(parts) < 1:
        raise ValueError("expected three whole numbers of at least 1, like 3000,10,10, "
                         "or `default`")
    return parts[0], parts[1], parts[2]


def _redis_url(raw: str) -> str | None:
    value = raw.strip()
    if value and urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
        raise ValueError("expected a redis://, rediss:// or unix:// URL")
    return value or None


def _str(raw: str) -> str:
    return raw.strip()


def _opt_str(raw: str) -> str | None:
    return raw.strip() or None


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError("expected an http(s) URL")
    return value


def _opt_url(raw: str) -> str | None:
    return _url(raw) if raw.strip() else None


def _model_map(raw: str) -> dict[str, Any]:
    text = raw.strip()
    if not text:
        return {}
    if not text.startswith("{"):
        text = Path(text).read_text("utf-8")
    value = json.loads(text)
    if not isinstance(value, dict) or not all(
            isinstance(v, str | dict) for v in value.values()):
        raise ValueError("expected a JSON object of name -> name or object")
    return value


def _pairs(raw: str) -> tuple[tuple[str, str], ...]:
    """`key=value,key=value` in order (order matters: the first matching key wins)."""
    pairs = []
    for part in _csv(raw):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"expected key=value pairs, got {part!r}")
        pairs.append((key.strip().lower(), value.strip()))
    return tuple(pairs)


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return value

    return parse


def _completion_version(raw: str) -> str:
    value = raw.strip().lower()
    if value.startswith("/"):
        return value
    if value not in COMPLETION_PATHS:
        raise ValueError("expected v1, v2 or a path starting with /")
    return COMPLETION_PATHS[value]


@dataclass(frozen=True, slots=True)
class Var:
    """One environment variable: the field it fills, its names, default and meaning."""

    field: str
    names: tuple[str, ...]
    parse: Callable[[str], Any]
    default: str
    doc: str
    group: str = "core"
    secret: bool = False

    @property
    def name(self) -> str:
        return self.names[0]


def _v(field: str, names: str, parse: Callable[[str], Any], default: str, doc: str,
       group: str = "core", secret: bool = False) -> Var:
    return Var(field, tuple(names.split()), parse, default, doc, group, secret)


VARIABLES: Final[tuple[Var, ...]] = (
    # server
    _v("host", "HOST", _str, "127.0.0.1",
       "Interface to listen on: loopback by default, `0.0.0.0` for every interface (the "
       "container image sets it). Beyond loopback, set `AUTH_TOKEN`.", "server"),
    _v("port", "PORT LISTEN_PORT", _port, "8080", "Port to listen on (`0`: any free port).",
       "server"),
    _v("debug", "DEBUG_LOGGING DEBUG_MODE", _bool, "false", "Log at debug level.", "server"),
    _v("log_json", "LOG_JSON", _bool, "false",
       "Write logs as JSON lines instead of the console format.", "server"),
    _v("cors_origins", "CORS_ORIGINS", _csv, "*",
       "Comma-separated origins allowed by CORS (`*` for any).", "server"),
    _v("shutdown_grace_s", "SHUTDOWN_GRACE_SECONDS", _seconds, "8",
       "On shutdown, how long running streams may take to finish (kept under the 10 s "
       "`docker stop` waits before SIGKILL; raise both together).", "server"),
    _v("default_stream", "DEFAULT_STREAM", _bool, "false",
       "Stream when a request does not say `stream`.", "server"),
    _v("gc_thresholds", "GC_THRESHOLDS", _gc_thresholds, "3000,10,10",
       "Python's garbage-collector thresholds (`gc.set_threshold`), `default` for Python's "
       "700,10,10. The request path makes no reference cycles, so collections only cost: "
       "with 1,000 open streams a full collection paused every stream for 150 ms; these "
       "make collections rarer and keep each pause short.", "server"),
    # client auth
    _v("client_keys", "AUTH_TOKEN API_KEY DEFAULT_KEY", _csv, "",
       "Comma-separated API keys clients must send (Bearer or x-api-key). Empty: no auth.",
       "auth", secret=True),
    _v("skip_auth", "SKIP_AUTH_TOKEN", _bool, "false",
       "Accept every request even when keys are configured (local use only).", "auth"),
    # upstream
    _v("upstream_base", "ZAI_BASE_URL", _url, "https://chat.z.ai",
       "Base URL of the Z.AI web chat.", "upstream"),
    _v("upstream_endpoint", "API_ENDPOINT UPSTREAM_URL", _opt_url, "",
       "Legacy: full completions URL (sets base URL and completion path together).",
       "upstream"),
    _v("completion_path", "ZAI_COMPLETION_PATH UPSTREAM_COMPLETION_VERSION",
       _completion_version, "v2",
       "Completion endpoint: `v2` (/api/v2/chat/completions), `v1` (legacy) or a path.",
       "upstream"),
    _v("upstream_tokens", "ZAI_TOKEN UPSTREAM_TOKEN", _csv, "",
       "Comma-separated Z.AI user tokens (JWT from the browser's localStorage). "
       "Preferred over guest sessions.", "upstream", secret=True),
    _v("guest_enabled", "ANONYMOUS_MODE ENABLE_GUEST_TOKEN", _bool, "true",
       "Use guest sessions (no account) when no user token is free.", "upstream"),
    _v("guest_pool_size", "GUEST_POOL_SIZE", _pos_int, "3",
       "Guest sessions kept ready.", "upstream"),
    _v("guest_ttl_s", "GUEST_SESSION_TTL", _seconds, "480",
       "Lifetime of a guest session in seconds (±60 s jitter).", "upstream"),
    _v("fe_version", "ZAI_FE_VERSION FE_VERSION", _opt_str, "",
       "Force the X-FE-Version header (else scraped from the front page and cached).",
       "upstream"),
    _v("fe_version_fallback", "ZAI_FE_VERSION_FALLBACK", _str, "prod-fe-1.1.35",
       "X-FE-Version used when the front page cannot be scraped.", "upstream"),
    _v("fe_version_ttl_s", "ZAI_FE_VERSION_TTL", _seconds, "1800",
       "How long a scraped X-FE-Version is cached.", "upstream"),
    _v("signing_secret", "ZAI_SIGNING_SECRET", _str, DEFAULT_SIGNING_SECRET,
       "Secret of the X-Signature HMAC.", "upstream", secret=True),
    _v("user_agent", "ZAI_USER_AGENT", _str, DEFAULT_USER_AGENT,
       "User-Agent sent upstream.", "upstream"),
    _v("connect_timeout_s", "UPSTREAM_CONNECT_TIMEOUT", _seconds, "10",
       "Seconds to connect to the upstream.", "upstream"),
    _v("read_timeout_s", "UPSTREAM_READ_TIMEOUT UPSTREAM_TIMEOUT", _seconds, "180",
       "Seconds of upstream silence (no answer, or an idle stream) before an attempt fails: "
       "504 before the response started, an error event after.", "upstream"),
    _v("max_attempts", "UPSTREAM_MAX_ATTEMPTS", _pos_int, "3",
       "Upstream attempts per request, shared by retries before the upstream answers and "
       "recoveries after it, while the client has seen no output yet.",
       "upstream"),
    _v("connection_limit", "UPSTREAM_CONNECTION_LIMIT", _nonneg_int, "0",
       "Upstream connection pool size; 0: no limit besides MAX_CONCURRENT_REQUESTS (a "
       "smaller pool makes admitted streams wait for a connection).", "upstream"),
    _v("http_proxy", "HTTPS_PROXY HTTP_PROXY https_proxy http_proxy", _opt_url, "",
       "Proxy for outbound traffic.", "upstream"),
    _v("fingerprint", "ZAI_FINGERPRINT", _choice("auto", "always", "never"), "auto",
       "Browser-fingerprint query fields: `auto` sends them for persisted-chat models.",
       "upstream"),
    _v("edit_index_unit", "ZAI_EDIT_INDEX_UNIT", _choice("codepoint", "utf16"), "codepoint",
       "Unit of upstream `edit_index` (unsettled upstream; code points match all fixtures).",
       "upstream"),
    # other providers (providers.md): K2Think and LongCat web chats
    _v("k2think_tokens", "K2THINK_TOKEN", _csv, "",
       "Comma-separated K2Think account JWTs (the `token` cookie of www.k2think.ai); without "
       "one, K2Think guest mode is used when K2THINK_GUEST is on.", "providers", secret=True),
    _v("k2think_base", "K2THINK_BASE_URL", _url, "https://www.k2think.ai",
       "Base URL of the K2Think web chat (2026 guest clients report chat.ifm.ai).",
       "providers"),
    _v("k2think_guest", "K2THINK_GUEST", _bool, "true",
       "Use K2Think's guest endpoint when no K2THINK_TOKEN is set.", "providers"),
    _v("k2think_handshake", "K2THINK_HANDSHAKE", _bool, "false",
       "Before each guest completion, load /guest and create a guest chat (2025 ZY flow; "
       "other clients skip it: uncertain).", "providers"),
    _v("k2think_history_repair", "K2THINK_HISTORY_REPAIR", _bool, "true",
       "Add an empty `reasoning` to assistant turns (the 2026 backend rejects them without).",
       "providers"),
    _v("longcat_tokens", "LONGCAT_TOKEN LONGCAT_PASSPORT_TOKEN", _csv, "",
       "Comma-separated LongCat `passport_token_key` cookie values (longcat.chat, logged "
       "in). LongCat has no guest mode: without one its models answer 503.", "providers",
       secret=True),
    _v("longcat_base", "LONGCAT_BASE_URL", _url, "https://longcat.chat",
       "Base URL of the LongCat web chat.", "providers"),
    _v("longcat_api", "LONGCAT_API", _choice("v2", "v1"), "v2",
       "LongCat completion endpoint: `v2` (2026 event frames) or `v1` (2025 frames).",
       "providers"),
    _v("longcat_text_mode", "LONGCAT_TEXT_MODE", _choice("auto", "delta", "cumulative"),
       "auto", "How v2 `content`/`reason` events carry text (sources disagree): `auto` "
       "detects per stream.", "providers"),
    _v("longcat_delete_sessions", "LONGCAT_DELETE_SESSIONS", _bool, "true",
       "Delete each LongCat session after its answer (ephemeral conversations).",
       "providers"),
    _v("longcat_region", "LONGCAT_REGION", _str, "",
       "Sent as the `long_cat_region_key` cookie when set (2 for some overseas accounts).",
       "providers"),
    # models
    _v("enable_thinking", "ENABLE_THINKING", _opt_bool, "",
       "Force thinking on or off for every request (empty: the model's default).", "models"),
    _v("model_map", "MODEL_MAP MODEL_MAPPING", _model_map, "",
       "Rename, add or remap models: JSON object (or a path to a JSON file) mapping a "
       "public name to an existing name or to {upstream_id, thinking, search, vision, "
       "persisted, context_length}.", "models"),
    _v("alias_primary", "PRIMARY_MODEL", _opt_str, "",
       "Extra public name for GLM-4.5 (earlier proxies' variable).", "models"),
    _v("alias_thinking", "THINKING_MODEL", _opt_str, "",
       "Extra public name for GLM-4.5-Thinking.", "models"),
    _v("alias_search", "SEARCH_MODEL", _opt_str, "",
       "Extra public name for GLM-4.5-Search.", "models"),
    _v("alias_air", "AIR_MODEL", _opt_str, "", "Extra public name for GLM-4.5-Air.", "models"),
    _v("alias_glm46", "GLM46_MODEL GLM_46_MODEL", _opt_str, "",
       "Extra public name for GLM-4.6.", "models"),
    _v("alias_glm46_thinking", "GLM46_THINKING_MODEL GLM_46_THINKING_MODEL", _opt_str, "",
       "Extra public name for GLM-4.6-Thinking.", "models"),
    _v("alias_glm46_search", "GLM46_SEARCH_MODEL GLM_46_SEARCH_MODEL", _opt_str, "",
       "Extra public name for GLM-4.6-Search.", "models"),
    _v("model_discovery", "MODEL_DISCOVERY", _bool, "false",
       "Merge the upstream's GET /api/models list into /v1/models, refreshed periodically.",
       "models"),
    _v("model_discovery_interval_s", "MODEL_DISCOVERY_INTERVAL", _seconds, "300",
       "Seconds between model-list refreshes.", "models"),
    _v("search_sources_list", "SEARCH_SOURCES_LIST", _bool, "true",
       "Append a numbered source list to web-search answers.", "models"),
    _v("conversation_ttl_s", "CONVERSATION_TTL", _seconds, "3600",
       "How long a persisted upstream chat is remembered for follow-up requests.", "models"),
    _v("conversation_max", "CONVERSATION_MAX", _pos_int, "1024",
       "Persisted chats remembered at most (oldest forgotten first).", "models"),
    _v("response_store_ttl_s", "RESPONSE_STORE_TTL", _seconds, "3600",
       "How long a stored /v1/responses answer can be fetched or continued "
       "(previous_response_id).", "models"),
    _v("response_store_max", "RESPONSE_STORE_MAX", _pos_int, "1024",
       "Stored /v1/responses answers kept at most (least recently used forgotten first).",
       "models"),
    # vision
    _v("vision_fetch_remote", "VISION_FETCH_REMOTE", _bool, "false",
       "Fetch http(s) image URLs and upload them (else they are passed through).", "vision"),
    _v("vision_max_bytes", "VISION_MAX_BYTES", _pos_int, "10485760",
       "Largest image accepted, in bytes.", "vision"),
    _v("vision_allow_private", "VISION_ALLOW_PRIVATE", _bool, "false",
       "Allow fetching images from loopback, private and link-local addresses.", "vision"),
    # tools
    _v("tool_support", "TOOL_SUPPORT ENABLE_TOOLIFY", _bool, "true",
       "Emulate OpenAI tool calling over the web chat.", "tools"),
    _v("tool_custom_prompt", "TOOLIFY_CUSTOM_PROMPT", _opt_str, "",
       "Replace the tool prompt template (placeholders: {tools} {opener} {closer} "
       "{choice_rules}).", "tools"),
    _v("tool_retry_max", "TOOL_RETRY_MAX", _nonneg_int, "1",
       "Corrective retries when the model writes a broken tool call.", "tools"),
    _v("tool_keepalive_s", "TOOL_KEEPALIVE_SECONDS", _seconds, "10",
       "SSE keepalive interval while tool-call text is held.", "tools"),
    _v("tool_fixed_nonce", "TOOL_FIXED_NONCE", _opt_str, "",
       "Test hook: use this nonce instead of a random one. Never set in production.",
       "tools"),
    # limits
    _v("max_body_bytes", "MAX_REQUEST_BYTES", _pos_int, "67108864",
       "Largest request body in bytes (413 above it); base64 images make big bodies.",
       "limits"),
    _v("max_messages", "MAX_MESSAGES", _pos_int, "4096",
       "Most messages in one chat request (400 above it).", "limits"),
    _v("max_total_chars", "MAX_TOTAL_CHARS", _pos_int, "4000000",
       "Most characters of message text in one chat request (400 above it).", "limits"),
    _v("client_send_timeout_s", "CLIENT_SEND_TIMEOUT", _seconds, "60",
       "Seconds a client has for its request's headers and again for its body (408); "
       "also how long an idle keep-alive connection stays open.", "limits"),
    _v("max_concurrent_requests", "MAX_CONCURRENT_REQUESTS", _pos_int, "1024",
       "API requests served at once; more get 429 with Retry-After instead of a queue.",
       "limits"),
    # anthropic
    _v("anthropic_model_map", "ANTHROPIC_MODEL_MAP", _pairs, DEFAULT_ANTHROPIC_MODEL_MAP,
       "Claude model names on /v1/messages: comma list of `fragment=Model`; the first "
       "fragment found in the name wins, `*` catches any other `claude-*` name. GLM names "
       "are used as they are.", "anthropic"),
    # dashboard
    _v("stats_size", "STATS_BUFFER_SIZE", _pos_int, "100",
       "Requests kept in the dashboard's ring buffer.", "dashboard"),
    _v("dashboard_enabled", "DASHBOARD_ENABLED", _bool, "true",
       "Serve /dashboard and its JSON twins.", "dashboard"),
    _v("dashboard_public", "DASHBOARD_PUBLIC", _bool, "false",
       "Serve the dashboard without a key even when keys are configured.", "dashboard"),
    _v("trusted_proxies", "TRUSTED_PROXIES", _csv, "",
       "Peer addresses whose X-Forwarded-For is believed (comma list, `*` for any).",
       "dashboard"),
    # store and token pool
    _v("db_path", "DB_PATH", _str, "data/zproxy.db",
       "SQLite file holding tokens, client keys and pool events (`:memory:`: not kept).",
       "store"),
    _v("database_url", "DATABASE_URL", _opt_str, "",
       "SQLAlchemy URL of the store instead of DB_PATH: sqlite:///path.db, or "
       "postgresql://user:pass@host/db (several instances share one).", "store",
       secret=True),
    _v("tokens_file", "AUTH_TOKENS_FILE", _opt_str, "",
       "A tokens.txt imported into the store on start (one per line or comma-separated, "
       "`#` comments).", "store"),
    _v("token_failure_threshold", "TOKEN_FAILURE_THRESHOLD", _pos_int, "3",
       "Consecutive failures that rest a user token.", "store"),
    _v("token_recovery_s", "TOKEN_RECOVERY_TIMEOUT", _seconds, "1800",
       "Seconds a rested user token waits before one request probes it.", "store"),
    _v("store_flush_s", "STORE_FLUSH_INTERVAL", _seconds, "5",
       "Seconds between batched writes of pool counters to the store.", "store"),
    _v("admin_password", "ADMIN_PASSWORD", _opt_str, "",
       "Password of /admin and Bearer secret of /admin/api (else a client key from "
       "AUTH_TOKEN; with neither, the admin is off).", "store", secret=True),
    # scale: several processes and instances
    _v("workers", "WORKERS WEB_CONCURRENCY", _workers, "1",
       "Server processes sharing the port (`auto`: one per usable CPU, container CPU limits "
       "respected). Without REDIS_URL each "
       "keeps its own state.", "scale"),
    _v("redis_url", "REDIS_URL", _redis_url, "",
       "Redis shared by every worker and instance: persisted chats, token health, rate "
       "limits, the dashboard. Empty: in-process memory.", "scale", secret=True),
    _v("instance_name", "INSTANCE_NAME", _opt_str, "",
       "This instance's name on the shared dashboard (default: host name and pid).", "scale"),
)

_BY_FIELD: Final = {var.field: var for var in VARIABLES}


@dataclass(frozen=True, slots=True)
class Settings:
    """Every setting, typed. Build with `load_settings`, or `Settings()` for the defaults."""

    host: str = "127.0.0.1"
    port: int = 8080
    debug: bool = False
    log_json: bool = False
    cors_origins: tuple[str, ...] = ("*",)
    shutdown_grace_s: float = 8.0
    default_stream: bool = False
    client_keys: tuple[str, ...] = ()
    skip_auth: bool = False
    upstream_base: str = "https://chat.z.ai"
    upstream_endpoint: str | None = None
    completion_path: str = COMPLETION_PATHS["v2"]
    upstream_tokens: tuple[str, ...] = ()
    guest_enabled: bool = True
    guest_pool_size: int = 3
    guest_ttl_s: float = 480.0
    fe_version: str | None = None
    fe_version_fallback: str = "prod-fe-1.1.35"
    fe_version_ttl_s: float = 1800.0
    signing_secret: str = DEFAULT_SIGNING_SECRET
    user_agent: str = DEFAULT_USER_AGENT
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 180.0
    max_attempts: int = 3
    connection_limit: int = 0
    http_proxy: str | None = None
    fingerprint: str = "auto"
    edit_index_unit: str = "codepoint"
    k2think_tokens: tuple[str, ...] = ()
    k2think_base: str = "https://www.k2think.ai"
    k2think_guest: bool = True
    k2think_handshake: bool = False
    k2think_history_repair: bool = True
    longcat_tokens: tuple[str, ...] = ()
    longcat_base: str = "https://longcat.chat"
    longcat_api: str = "v2"
    longcat_text_mode: str = "auto"
    longcat_delete_sessions: bool = True
    longcat_region: str = ""
    enable_thinking: bool | None = None
    model_map: dict[str, Any] = dataclasses.field(default_factory=dict)
    alias_primary: str | None = None
    alias_thinking: str | None = None
    alias_search: str | None = None
    alias_air: str | None = None
    alias_glm46: str | None = None
    alias_glm46_thinking: str | None = None
    alias_glm46_search: str | None = None
    model_discovery: bool = False
    model_discovery_interval_s: float = 300.0
    search_sources_list: bool = True
    conversation_ttl_s: float = 3600.0
    conversation_max: int = 1024
    response_store_ttl_s: float = 3600.0
    response_store_max: int = 1024
    vision_fetch_remote: bool = False
    vision_max_bytes: int = 10 * 1024 * 1024
    vision_allow_private: bool = False
    tool_support: bool = True
    tool_custom_prompt: str | None = None
    tool_retry_max: int = 1
    tool_keepalive_s: float = 10.0
    tool_fixed_nonce: str | None = None
    max_body_bytes: int = 64 * 1024 * 1024
    max_messages: int = 4096
    max_total_chars: int = 4_000_000
    client_send_timeout_s: float = 60.0
    max_concurrent_requests: int = 1024
    gc_thresholds: tuple[int, int, int] | None = (3000, 10, 10)
    anthropic_model_map: tuple[tuple[str, str], ...] = (
        ("opus", "GLM-4.6"), ("sonnet", "GLM-4.6"), ("haiku", "GLM-4.5-Air"), ("*", "GLM-4.6"))
    stats_size: int = 100
    dashboard_enabled: bool = True
    dashboard_public: bool = False
    trusted_proxies: tuple[str, ...] = ()
    db_path: str = "data/zproxy.db"
    database_url: str | None = None
    tokens_file: str | None = None
    token_failure_threshold: int = 3
    token_recovery_s: float = 1800.0
    store_flush_s: float = 5.0
    admin_password: str | None = None
    workers: int = 1
    redis_url: str | None = None
    instance_name: str | None = None

    def __post_init__(self) -> None:
        if self.upstream_endpoint:  # legacy full URL wins over base + path
            parts = urlsplit(self.upstream_endpoint)
            object.__setattr__(self, "upstream_base", f"{parts.scheme}://{parts.netloc}")
            if parts.path not in {"", "/"}:
                object.__setattr__(self, "completion_path", parts.path)

    @property
    def model_aliases(self) -> dict[str, str]:
        """Extra public names set through the earlier proxies' variables."""
        pairs = ((self.alias_primary, "GLM-4.5"), (self.alias_thinking, "GLM-4.5-Thinking"),
                 (self.alias_search, "GLM-4.5-Search"), (self.alias_air, "GLM-4.5-Air"),
                 (self.alias_glm46, "GLM-4.6"), (self.alias_glm46_thinking, "GLM-4.6-Thinking"),
                 (self.alias_glm46_search, "GLM-4.6-Search"))
        return {alias: target for alias, target in pairs if alias}

    @property
    def auth_required(self) -> bool:
        return bool(self.client_keys) and not self.skip_auth

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


def read_env_files(paths: Sequence[str | os.PathLike[str]]) -> dict[str, str]:
    """Merge dotenv files; earlier paths win over later ones."""
    merged: dict[str, str] = {}
    for path in reversed(paths):
        if Path(path).is_file():
            merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    return merged


def load_settings(
    environ: Mapping[str, str] | None = None,
    env_files: Sequence[str | os.PathLike[str]] = (".env.local", ".env"),
) -> Settings:
    """Build Settings from `environ` (default os.environ) over the dotenv files.

    Raises ConfigError naming the variable when a value does not parse.
    """
    # Each source is searched for every alias before the next source: an alias in the
    # environment beats the primary name in a file.
    sources = [os.environ if environ is None else environ,
               *(read_env_files([path]) for path in env_files)]
    values: dict[str, Any] = {}
    for var in VARIABLES:
        name, raw = next(((n, src[n]) for src in sources for n in var.names if n in src),
                         (None, var.default))
        try:
            values[var.field] = var.parse(raw)
        except (ValueError, OSError) as exc:
            shown = "<hidden>" if var.secret else repr(_URL_CREDENTIALS.sub("//***@", raw))
            raise ConfigError(f"{name or var.name}={shown}: {exc}") from exc
    return Settings(**values)


def variable(field: str) -> Var:
    return _BY_FIELD[field]


def render_env_example() -> str:
    """The text of `.env.example`: every variable, its aliases and default, by group."""
    lines = ["# zproxy configuration. Copy to .env (or .env.local) and uncomment what you change.",
             "# The environment wins over .env.local, which wins over .env.",
             "# Aliases (names earlier Z.AI proxies used) are accepted too.", ""]
    group = None
    for var in VARIABLES:
        if var.group != group:
            group = var.group
            lines += [f"# --- {group} " + "-" * (70 - len(group)), ""]
        lines.append(f"# {var.doc}")
        if len(var.names) > 1:
            lines.append(f"# Aliases: {', '.join(var.names[1:])}")
        default = "" if var.secret and var.field != "signing_secret" else var.default
        if var.field == "signing_secret":
            default = "<built-in current secret>"
        lines += [f"# {var.name}={default}", ""]
    return "\n".join(lines)
