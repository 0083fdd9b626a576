"""K2Think (MBZUAI's Open WebUI web chat): guest or user-token completions, snapshot streams.

`make_provider(session, settings)` is what the registry calls.
"""

from __future__ import annotations

import aiohttp

from zproxy.config import Settings
from zproxy.providers.k2think.client import K2ThinkOptions, K2ThinkProvider


def make_provider(session: aiohttp.ClientSession, settings: Settings) -> K2ThinkProvider:
    return K2ThinkProvider(session, K2ThinkOptions.from_settings(settings))
