"""K2Think's catalogue entries and provider descriptor (providers.md §1.8). Pure.

Model ids churn (K2-Think → K2-Think-v2 in 2026-01, K2-Horizon on chat.ifm.ai): `MODEL_MAP`
can point any public name at another upstream id without a release.
"""

from __future__ import annotations

from typing import Final

from zproxy.core.models import ModelSpec
from zproxy.core.provider import Capabilities, ProviderInfo

NAME: Final = "k2think"
OWNED_BY: Final = "MBZUAI"
TOKEN_ENV: Final = ("K2THINK_TOKEN",)
TOKEN_HELP: Final = (
    "Optional: K2Think answers guests. For an account, sign up at "
    "https://www.k2think.ai/auth?mode=signup, sign in, and copy the `token` cookie (a JWT) "
    "from the browser's DevTools (Application → Cookies) into K2THINK_TOKEN; several "
    "accounts: comma-separated. The JWT expires (about an hour by one client's account).")


def _spec(public: str, upstream: str, description: str, *, thinking: bool = True,
          effort: str | None = None) -> ModelSpec:
    flags = {"reasoning_effort": effort} if effort else {}
    return ModelSpec(public, upstream, thinking=thinking, can_think=thinking, can_search=False,
                     context_length=32_768, description=description, created=1_757_030_400,
                     provider=NAME, owned_by=OWNED_BY, flags=flags)


MODELS: Final = (
    _spec("K2-Think", "MBZUAI-IFM/K2-Think-v2", "MBZUAI K2-Think reasoning model (web chat)"),
    _spec("K2-Think-nothink", "MBZUAI-IFM/K2-Think-v2",
          "K2-Think with the reasoning left out of the answer", thinking=False),
    _spec("K2-Horizon", "IFM/K2-Horizon-375B-A23B",
          "IFM K2 Horizon 375B reasoning model (chat.ifm.ai; set K2THINK_BASE_URL)",
          effort="medium"),
)

CAPABILITIES: Final = Capabilities(reasoning=True, search=False, native_tools=False,
                                   vision=False, usage=False)


def provider_info(*, guest: bool) -> ProviderInfo:
    return ProviderInfo(name=NAME, label="K2Think", owned_by=OWNED_BY, models=MODELS,
                        capabilities=CAPABILITIES, conversation_mode="stateless",
                        credential_env=TOKEN_ENV, guest=guest, token_help=TOKEN_HELP)
