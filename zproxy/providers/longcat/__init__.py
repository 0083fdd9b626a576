"""LongCat (Meituan's web chat): cookie credentials, one session per request, event streams.

`make_provider(session, settings)` is what the registry calls.
"""

from __future__ import annotations

import aiohttp

from zproxy.config import Settings
from zproxy.providers.longcat.client import LongCatOptions, LongCatProvider


def make_provider(session: aiohttp.ClientSession, settings: Settings) -> LongCatProvider:
    return LongCatProvider(session, LongCatOptions.from_settings(settings))
