"""LongCat (Meituan's web chat): cookie credentials, one session per request, event streams.

The registry calls `provider_info(settings)` (no I/O) and `make_provider(session, settings)`
once the shared ClientSession exists.
"""

from __future__ import annotations

import aiohttp

from zproxy.config import Settings
from zproxy.core.provider import ProviderInfo, StoredTokens
from zproxy.providers.longcat import models
from zproxy.providers.longcat.client import LongCatOptions, LongCatProvider


def provider_info(settings: Settings) -> ProviderInfo:
    return models.provider_info()


def make_provider(session: aiohttp.ClientSession, settings: Settings,
                  stored: StoredTokens | None = None) -> LongCatProvider:
    """`stored`: the admin store's tokens of this provider, served after the env ones."""
    return LongCatProvider(session, LongCatOptions.from_settings(settings), stored)
