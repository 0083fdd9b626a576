"""LongCat's catalogue entries and provider descriptor (providers.md §2.9). Pure.

The upstream picks the model itself (`session-create` sends `model: ""`); a public name only
sets the reasoning and search switches and the agent. The `-Thinking`/`-Search` suffix rules
of the catalogue apply, so `LongCat-Flash-Thinking-Search` turns both on.
"""

from __future__ import annotations

from typing import Final

from zproxy.core.models import ModelSpec
from zproxy.core.provider import Capabilities, ProviderInfo

NAME: Final = "longcat"
OWNED_BY: Final = "meituan"
UPSTREAM: Final = "LongCat"  # what session-create reports; the request names no model
TOKEN_ENV: Final = ("LONGCAT_TOKEN", "LONGCAT_PASSPORT_TOKEN")
TOKEN_HELP: Final = (
    "Log in at https://longcat.chat with a Meituan (or, outside China, Keeta passport) "
    "account, open the browser's DevTools (Application → Cookies → https://longcat.chat) and "
    "copy the value of the `passport_token_key` cookie into LONGCAT_TOKEN (several accounts: "
    "comma-separated). It lasts until you log out.")


def _spec(public: str, description: str, *, thinking: bool = False,
          search: bool = False) -> ModelSpec:
    return ModelSpec(public, UPSTREAM, thinking=thinking, search=search, context_length=128_000,
                     description=description, created=1_756_684_800, provider=NAME,
                     owned_by=OWNED_BY, flags={"agent_id": "1"})


MODELS: Final = (
    _spec("LongCat-Flash", "Meituan LongCat-Flash (web chat)"),
    _spec("LongCat", "Meituan LongCat: the model the web chat picks"),
    _spec("LongCat-Flash-Thinking", "LongCat with reasoning on (reasonEnabled)", thinking=True),
    _spec("LongCat-Search", "LongCat with web search on; results become citations",
          search=True),
)

CAPABILITIES: Final = Capabilities(reasoning=True, search=True, native_tools=False,
                                   vision=False, usage=True)


def provider_info() -> ProviderInfo:
    return ProviderInfo(name=NAME, label="LongCat", owned_by=OWNED_BY, models=MODELS,
                        capabilities=CAPABILITIES, conversation_mode="ephemeral",
                        credential_env=TOKEN_ENV, guest=False, token_help=TOKEN_HELP)
