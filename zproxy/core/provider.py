"""The provider interface: what the engine needs of Z.AI, K2Think, LongCat (providers.md §3.2).

Two layers:

- **What the engine calls.** `Provider.info` describes the provider (name, models,
  capabilities, conversation mode, the variables that configure its credentials);
  `available()` says whether it can serve at all (a credential or a guest mode);
  `prepare(request)` (pure, at plan time) refuses what the provider cannot do with a
  `ClientRequestError` and returns a `Prepared` call; `call(prepared, trace)` returns a
  `ProviderCall` whose `events()` yields the decoded events of each upstream read and whose
  `recover(error)` says whether a failed attempt may be replaced by another (only while
  nothing reached the client: `zproxy.api.recovery`).
- **What a provider is built from.** Pure parts, tested without a network: `build(...)` turns
  a `NormalizedRequest` into an `UpstreamCall` (method, URL, headers, body), a `Decoder`
  (`feed(bytes)`/`flush()` → events, ending with exactly one `Done`), `classify(status,
  headers, body)` → a classified `UpstreamError` (`zproxy.core.failures`), and a
  `CredentialSource` (`acquire` / `report(outcome)` / `refresh`) with an injected clock.

Nothing here imports aiohttp or any provider; providers import this, never each other.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from zproxy.core.events import Event
from zproxy.core.failures import Outcome
from zproxy.core.models import ModelSpec
from zproxy.core.plan import NormalizedRequest
from zproxy.core.trace import Trace
from zproxy.errors import UpstreamError

ConversationMode = Literal["stateless", "ephemeral", "sticky"]
"""`stateless`: the full history goes with every call; `ephemeral`: a conversation is created
(and deleted) per request; `sticky`: an upstream conversation is kept and continued."""

CredentialKind = Literal["user", "guest", "anonymous"]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a provider (or one of its models) can do; shown in `/v1/models` and `/docs`."""

    reasoning: bool = False
    search: bool = False
    native_tools: bool = False   # the upstream emits tool calls itself (else: emulated)
    vision: bool = False
    usage: bool = False          # the upstream reports token usage (else: estimated)


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """The descriptor of one upstream. `credential_env` are the variables that give it
    credentials, first the one to name in errors; `guest` says it can answer without any."""

    name: str                          # "zai", "k2think", "longcat": ModelSpec.provider
    label: str                         # "Z.AI", "K2Think", "LongCat"
    owned_by: str                      # `/v1/models` owned_by
    models: tuple[ModelSpec, ...]
    capabilities: Capabilities
    conversation_mode: ConversationMode = "stateless"
    credential_env: tuple[str, ...] = ()
    guest: bool = False
    token_help: str = ""               # how a user gets a token, for /docs and the 503
    cites_inline: bool = False         # answers cite results with markers (Z.AI 【turn0search0】)
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 120.0


@dataclass(slots=True)
class Credential:
    """One credential of a provider: opaque to everything but the provider that minted it.
    `secret` never leaves the provider except inside a request's headers or body."""

    key: str                           # log-safe identity (a hash), for pools and stats
    secret: str
    kind: CredentialKind = "user"
    user_id: str = ""
    expires_at: float = float("inf")
    cookies: dict[str, str] = field(default_factory=dict)


class CredentialSource(Protocol):
    """Where a provider's credentials come from; the pool behind it applies failure
    thresholds and cool-downs (a provider's 401 disables that credential only)."""

    def available(self) -> bool:
        """Whether `acquire` can succeed at all (a token is configured, or guests are on)."""
        ...

    async def acquire(self, model: ModelSpec, exclude: tuple[str, ...] = ()) -> Credential:
        """A usable credential not in `exclude` (keys); raises `NoUpstreamCredential`."""
        ...

    def report(self, credential: Credential, outcome: Outcome,
               retry_after_s: float | None = None) -> None: ...

    async def refresh(self, credential: Credential) -> Credential | None:
        """A fresh credential replacing `credential` (guest re-login), or None if the
        source cannot mint one."""
        ...


class StoredTokens(Protocol):
    """The admin store's tokens of one provider (`zproxy.pool`): priority, weight, health
    and cool-downs are the pool's, shared by every provider. A failure reported here rests
    that token only; `report` must follow every successful `acquire`."""

    def available(self) -> bool:
        """Whether any enabled token of this provider is stored (healthy or resting)."""
        ...

    def acquire(self, exclude: Collection[str] = ()) -> Credential | None:
        """The next usable stored token whose key is not in `exclude`, or None."""
        ...

    def report(self, credential: Credential, error: UpstreamError | None) -> None:
        """How the use went: None for success, else the classified failure (only one whose
        `outcome_of` is not `ok` counts against the token)."""
        ...

    def count(self) -> int:
        """How many tokens of this provider are stored, in any state."""
        ...

    def standing(self, secret: str) -> str | None:
        """How the store holds this secret: "serving" (enabled, not invalid: the store
        serves it), "invalid" (the upstream refused it and validation confirmed), or None
        (not stored, deleted or disabled there). Env tokens are configuration: the
        provider's own ring serves them whenever the store does not."""
        ...


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request a provider accepted, ready to run. `prompt_chars` is what the usage
    estimate counts when the upstream reports none; `native` is the provider's own built
    request (opaque to the engine, read back by the same provider's `call`)."""

    request: NormalizedRequest
    prompt_chars: int
    native: Any = None


def prompt_chars(messages: Any) -> int:
    """Characters of text in OpenAI-shaped messages (string content or text parts)."""
    total = 0
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            total += len(content)
        elif isinstance(content, list):
            total += sum(len(p.get("text", "")) for p in content if isinstance(p, dict))
    return total


@dataclass(frozen=True, slots=True)
class UpstreamCall:
    """One HTTP request to an upstream, ready to send."""

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes = b""
    stream: bool = True


class Decoder(Protocol):
    """Incremental: bytes of the response body in, events out (house-style rule 7).
    `flush()` at EOF returns what was held back and, if the stream did not end cleanly, the
    provider's rule for that (a `Done` or a protocol `Failure`)."""

    def feed(self, data: bytes) -> list[Event]: ...

    def flush(self) -> list[Event]: ...


class ProviderCall(Protocol):
    """The upstream attempts of one client request under one attempt budget."""

    def events(self) -> AsyncGenerator[list[Event], None]:
        """Events per upstream read. Failures before the first events are retried inside
        (another credential); a `Failure` event or an `UpstreamError` ends the attempt."""
        ...

    def recover(self, error: UpstreamError) -> bool:
        """After `events()` failed with nothing shown to the client: record the failure and
        say whether `events()` may run another attempt."""
        ...

    def abandon(self) -> None:
        """The request is over, answered or not: drop conversation state the upstream
        refused. Always called."""
        ...

    async def remember(self, reply: Mapping[str, Any]) -> None:
        """The answer the client got (an OpenAI assistant message): providers that continue
        conversations keep it, before the client's next turn can arrive."""
        ...


class Provider(Protocol):
    """One upstream, as the engine sees it."""

    @property
    def info(self) -> ProviderInfo: ...

    def available(self) -> bool:
        """False when it has no credential and no guest mode: its models answer 503."""
        ...

    def prepare(self, request: NormalizedRequest, *, now: float,
                new_id: Callable[[], str]) -> Prepared:
        """Check and build, without I/O (time and ids injected); raises
        `ClientRequestError` for what this provider cannot take."""
        ...

    def call(self, prepared: Prepared, trace: Trace) -> ProviderCall: ...

    def classify(self, status: int | None, headers: Mapping[str, str],
                 body: Any) -> UpstreamError: ...

    async def close(self) -> None:
        """Stop background work (guest refresh, conversation clean-up)."""
        ...
