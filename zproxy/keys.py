"""Every typed application key. Imports nothing that does work at import time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import ClientSession, web

from zproxy.config import Settings
from zproxy.models import ModelCatalog

if TYPE_CHECKING:
    from zproxy.upstream.client import UpstreamClient

SETTINGS = web.AppKey("settings", Settings)
MODELS = web.AppKey("models", ModelCatalog)
HTTP = web.AppKey("http", ClientSession)
UPSTREAM = web.AppKey("upstream", "UpstreamClient")
