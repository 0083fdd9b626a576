"""Every typed application key of the core app. Importing it does no work."""

from __future__ import annotations

from aiohttp import ClientSession, web

from zproxy.config import Settings
from zproxy.models import ModelCatalog
from zproxy.upstream.client import UpstreamClient

SETTINGS = web.AppKey("settings", Settings)
MODELS = web.AppKey("models", ModelCatalog)
HTTP = web.AppKey("http", ClientSession)
UPSTREAM = web.AppKey("upstream", UpstreamClient)
