"""Every typed application key of the core app. Importing it does no work."""

from __future__ import annotations

from aiohttp import ClientSession, web

from zproxy.api.responses.store import ResponseStore
from zproxy.clientkeys.ring import KeyRing
from zproxy.config import Settings
from zproxy.core.models import ModelCatalog
from zproxy.pool.pool import UserPool
from zproxy.pool.service import TokenService
from zproxy.providers.registry import ProviderRegistry
from zproxy.providers.zai.client import UpstreamClient
from zproxy.providers.zai.conversations import ConversationStore
from zproxy.state.bus import LocalState
from zproxy.state.fleet import FleetSync
from zproxy.store import Store

SETTINGS = web.AppKey("settings", Settings)
MODELS = web.AppKey("models", ModelCatalog)  # the routing table; PROVIDERS routes with it
PROVIDERS = web.AppKey("providers", ProviderRegistry)  # model name → provider
HTTP = web.AppKey("http", ClientSession)
UPSTREAM = web.AppKey("upstream", UpstreamClient)
CONVERSATIONS = web.AppKey("conversations", ConversationStore)
RESPONSES = web.AppKey("responses", ResponseStore)  # stored /v1/responses answers
IMAGE_HTTP = web.AppKey("image_http", ClientSession)  # fetches client image URLs, guarded
USER_POOL = web.AppKey("user_pool", UserPool)  # user tokens, in memory, for the request path
TOKEN_SERVICE = web.AppKey("token_service", TokenService)  # store + pool, for the admin
CLIENT_KEYS = web.AppKey("client_keys", KeyRing)  # client API keys from the store
STORE = web.AppKey("store", Store)
STATE = web.AppKey("state", LocalState)  # runtime state: local, or shared through Redis
FLEET_SYNC = web.AppKey("fleet_sync", FleetSync)  # admin changes announced to other instances
