"""Model names → providers: the one routing table (providers.md §3.2).

Every provider lists its models (`ProviderInfo.models`, `ModelSpec.provider`); the catalogue
joins them with the operator's MODEL_MAP (which may point any name at any provider's model,
or define a new one with `"provider": "k2think"`) and the alias variables. An unknown model
is a 404 `model_not_found`, never a silent fallback; a known model whose provider has no
credential is a 503 `provider_unavailable` naming the variable to set.

`FACTORIES` lists the providers besides Z.AI (which `create_app` builds itself, since its
client also serves the token pool, model discovery and readiness): each gives its descriptor
without I/O (the catalogue exists before the app starts) and builds the provider once the
shared ClientSession exists. The registry is the only module that imports provider
packages; front doors and the engine see it and `core` only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from zproxy.config import Settings
from zproxy.core.checks import TokenCheck
from zproxy.core.models import ModelCatalog, ModelSpec, ResolvedModel, spec_from_mapping
from zproxy.core.provider import Provider, ProviderInfo, StoredTokens
from zproxy.errors import NotFoundError, ProviderUnavailableError
from zproxy.providers.k2think import check as k2think_check
from zproxy.providers.k2think import provider as k2think
from zproxy.providers.longcat import check as longcat_check
from zproxy.providers.longcat import provider as longcat
from zproxy.providers.webchat import WebChatProvider

DEFAULT_PROVIDER: Final = "zai"



@dataclass(frozen=True, slots=True)
class ProviderFactory:
    """`info(settings)` without I/O; `make(session, settings, stored)` where `stored` is
    the admin store's tokens of that provider (`zproxy.pool.views.StoredTokenSource`)."""

    info: Callable[[Settings], ProviderInfo]
    make: Callable[[aiohttp.ClientSession, Settings, StoredTokens], Provider]


# Providers besides Z.AI: `ProviderFactory(package.provider_info, package.make_provider)`.
FACTORIES: Final[tuple[ProviderFactory, ...]] = (
    ProviderFactory(k2think.provider_info, k2think.make_provider),
    ProviderFactory(longcat.provider_info, longcat.make_provider),
)

# Each provider's token check (`<package>.check.token_check`) for the pool's validation.
CHECKS: Final[Mapping[str, Callable[[Callable[[], aiohttp.ClientSession], Settings],
                                    TokenCheck]]] = {
    "k2think": k2think_check.token_check,
    "longcat": longcat_check.token_check,
}


def provider_env_tokens(settings: Settings) -> dict[str, tuple[str, ...]]:
    """The env tokens of the providers besides Z.AI: imported into the admin store at start-up,
    so the providers then serve them from there (`make_provider` with a store ignores them)."""
    return {"k2think": settings.k2think_tokens, "longcat": settings.longcat_tokens}


def token_checks(session: Callable[[], aiohttp.ClientSession],
                 settings: Settings) -> dict[str, TokenCheck]:
    """The token checks of the providers besides Z.AI, by name. `session` is a getter: the
    store opens before the HTTP session exists."""
    return {name: make(session, settings) for name, make in CHECKS.items()}


def provider_infos(settings: Settings, first: Iterable[ProviderInfo] = ()) -> list[ProviderInfo]:
    return [*first, *(factory.info(settings) for factory in FACTORIES)]


def build_catalog(infos: Iterable[ProviderInfo], model_map: Mapping[str, Any],
                  aliases: Mapping[str, str]) -> ModelCatalog:
    """Every provider's models plus the operator's MODEL_MAP and alias variables."""
    specs: list[ModelSpec] = [spec for info in infos for spec in info.models]
    extra = [spec_from_mapping(name, entry) for name, entry in model_map.items()
             if isinstance(entry, Mapping)]
    renames = {name: target for name, target in model_map.items() if isinstance(target, str)}
    return ModelCatalog(specs).with_overrides(extra, {**renames, **aliases})


def unavailable_message(info: ProviderInfo, model: str) -> str:
    variable = info.credential_env[0] if info.credential_env else "its token variable"
    also = (f" (or {', '.join(info.credential_env[1:])})"
            if len(info.credential_env) > 1 else "")
    return (f"The model `{model}` is served by {info.label}, which has no credential: set "
            f"{variable}{also}, or add a {info.label} token in /admin, then retry.")


def _why_unavailable(provider: Provider, model: str) -> str:
    """Tokens that exist but are all refused say so; none at all names the variable."""
    reason = provider.tokens.unavailable_reason() if isinstance(provider, WebChatProvider) \
        else None
    if reason is None:
        return unavailable_message(provider.info, model)
    return (f"The model `{model}` is served by {provider.info.label}, which cannot serve "
            f"now: {reason}.")


class ProviderRegistry:
    """The providers by name, and the catalogue that routes to them. Providers join with
    `add` once the app's HTTP session exists; until then routing finds none."""

    def __init__(self, catalog: ModelCatalog, providers: Iterable[Provider] = ()) -> None:
        self.catalog = catalog
        self._providers: dict[str, Provider] = {}
        for provider in providers:
            self.add(provider)

    def add(self, provider: Provider) -> None:
        self._providers[provider.info.name] = provider

    def __iter__(self) -> Iterator[Provider]:
        return iter(self._providers.values())

    def get(self, name: str) -> Provider | None:
        return self._providers.get(name or DEFAULT_PROVIDER)

    def provider_of(self, spec: ModelSpec) -> Provider | None:
        return self.get(spec.provider)

    def route(self, name: str, *, enable_thinking: bool | None = None,
              web_search: bool | None = None) -> tuple[Provider, ResolvedModel]:
        """The provider and resolved model for a request's `model`; 404 or 503 if none."""
        model = self.catalog.resolve(name, enable_thinking=enable_thinking,
                                     web_search=web_search)
        provider = self.provider_of(model.spec)
        if provider is None:
            raise NotFoundError(
                f"The model `{name}` names provider `{model.spec.provider}`, which this "
                "zproxy does not have", param="model", code="model_not_found")
        if not provider.available():
            raise ProviderUnavailableError(_why_unavailable(provider, name))
        return provider, model

    def describe(self, spec: ModelSpec) -> dict[str, Any]:
        """`/v1/models` extras for a model: who serves it and whether it can now."""
        provider = self.provider_of(spec)
        if provider is None:
            return {"provider": spec.provider, "owned_by": spec.owned_by or spec.provider,
                    "available": False}
        info = provider.info
        extra: dict[str, Any] = {"provider": info.name,
                                 "owned_by": spec.owned_by or info.owned_by,
                                 "available": provider.available()}
        if not extra["available"]:
            extra["unavailable_reason"] = _why_unavailable(provider, spec.id)
        return extra

    def overview(self) -> list[dict[str, Any]]:
        """Every provider for /docs: what it serves, what it can do, how to give it a token."""
        rows = []
        for provider in self._providers.values():
            info = provider.info
            caps = info.capabilities
            rows.append({"name": info.name, "label": info.label, "owned_by": info.owned_by,
                         "available": provider.available(), "guest": info.guest,
                         "variables": list(info.credential_env), "token_help": info.token_help,
                         "models": [s.id for s in self.catalog if (s.provider or
                                                                    DEFAULT_PROVIDER) == info.name],
                         "capabilities": {"reasoning": caps.reasoning, "search": caps.search,
                                          "vision": caps.vision, "native_tools": caps.native_tools,
                                          "usage": caps.usage},
                         "conversation_mode": info.conversation_mode})
        return rows

    async def close(self) -> None:
        for provider in self._providers.values():
            await provider.close()


def extra_providers(session: aiohttp.ClientSession, settings: Settings,
                    stored: Callable[[str], StoredTokens]) -> list[Provider]:
    """The providers `FACTORIES` builds (all but Z.AI), each with its stored tokens."""
    return [factory.make(session, settings, stored(factory.info(settings).name))
            for factory in FACTORIES]
