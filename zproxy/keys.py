"""Every typed application key of the core app. Importing it does no work."""

from __future__ import annotations

from aiohttp import ClientSession, web

from zproxy.api.responses.store import ResponseStore
from zproxy.config import Settings
from zproxy.models import ModelCatalog
from zproxy.upstream.client import UpstreamClient
from zproxy.upstream.conversations import ConversationStore

SETTINGS = web.AppKey("settings", Settings)
MODELS = web.AppKey("models", ModelCatalog)
HTTP = web.AppKey("http", ClientSession)
UPSTREAM = web.AppKey("upstream", UpstreamClient)
CONVERSATIONS = web.AppKey("conversations", ConversationStore)
RESPONSES = web.AppKey("responses", ResponseStore)  # stored /v1/responses answers
IMAGE_HTTP = web.AppKey("image_http", ClientSession)  # fetches client image URLs, guarded
