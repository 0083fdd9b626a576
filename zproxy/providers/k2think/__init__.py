"""K2Think (MBZUAI's Open WebUI web chat): guest or user-token completions, snapshot streams.

The registry calls `provider_info(settings)` (no I/O: the catalogue exists before the app
starts) and `make_provider(session, settings)` once the shared ClientSession exists.
"""

from __future__ import annotations

import aiohttp

from zproxy.config import Settings
from zproxy.core.provider import ProviderInfo, StoredTokens
from zproxy.providers.k2think import models
from zproxy.providers.k2think.client import K2ThinkOptions, K2ThinkProvider


def provider_info(settings: Settings) -> ProviderInfo:
    return models.provider_info(guest=K2ThinkOptions.from_settings(settings).guest)


def make_provider(session: aiohttp.ClientSession, settings: Settings,
                  stored: StoredTokens | None = None) -> K2ThinkProvider:
    """`stored`: the admin store's tokens of this provider, served after the env ones."""
    return K2ThinkProvider(session, K2ThinkOptions.from_settings(settings), stored)
