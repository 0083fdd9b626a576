"""Normalized request → Z.AI completion body (zai-protocol.md §5–§7). Pure: ids, time injected.

The per-attempt fields (requestId, timestamp, token, signature) are not set here: the
upstream client adds them to every attempt, so a retry is always freshly signed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final

from zproxy.core.models import ResolvedModel
from zproxy.core.plan import NormalizedRequest
from zproxy.providers.zai.conversations import PersistedPlan
from zproxy.providers.zai.signing import signature_prompt

if TYPE_CHECKING:
    from zproxy.images import ImageInput

# Z.AI: the web UI fills these template variables with the browser's locale (§5).
_SHANGHAI: Final = timezone(timedelta(hours=8))
_JSON_INSTRUCTION: Final = (
    "Respond with one valid JSON object only: no prose, no code fences."
)


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """A completion request ready for the upstream client, minus per-attempt signing."""

    body: dict[str, Any]
    prompt: str
    chat_id: str
    model: ResolvedModel
    # persisted-chat models: what to send, most preferred first (continue, then fresh chat)
    plans: tuple[PersistedPlan, ...] = ()
    # image URLs that must be uploaded, and their bytes once fetched or decoded
    image_urls: tuple[str, ...] = ()
    images: Mapping[str, ImageInput] = field(default_factory=dict)

    @property
    def persisted(self) -> bool:
        return self.model.spec.persisted


def _text_parts(parts: list[dict[str, Any]]) -> str:
    texts = [p.get("text") for p in parts if p.get("type") in {"text", "input_text"}]
    return "\n".join(t for t in texts if isinstance(t, str))


def convert_content(content: Any) -> str | list[dict[str, Any]]:
    """String content stays; parts become one text part first, then the image parts (§6)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    text = _text_parts(content)
    images = [p for p in content if p.get("type") == "image_url"]
    if not images:
        return text
    return [{"type": "text", "text": text}, *images]


def convert_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    converted = []
    for message in messages:
        role = message.get("role")
        if role == "developer":
            role = "system"
        converted.append({"role": role, "content": convert_content(message.get("content"))})
    return converted


def _with_json_instruction(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if messages and messages[0]["role"] == "system" and isinstance(messages[0]["content"], str):
        first = {"role": "system",
                 "content": f"{messages[0]['content']}\n\n{_JSON_INSTRUCTION}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": _JSON_INSTRUCTION}, *messages]


def _variables(now: datetime, user_name: str) -> dict[str, str]:
    return _variables_of_second(int(now.timestamp()), user_name)


@functools.lru_cache(maxsize=4)
def _variables_of_second(second: int, user_name: str) -> dict[str, str]:
    """The variables of one wall-clock second (they show nothing finer), made once for every
    request of that second: four strftime calls fewer per request, one dict for them all
    (read-only: bodies are only serialised)."""
    local = datetime.fromtimestamp(second, _SHANGHAI)
    return {
        "{{USER_NAME}}": user_name,
        "{{USER_LOCATION}}": "Unknown",
        "{{CURRENT_DATETIME}}": local.strftime("%Y-%m-%d %H:%M:%S"),
        "{{CURRENT_DATE}}": local.strftime("%Y-%m-%d"),
        "{{CURRENT_TIME}}": local.strftime("%H:%M:%S"),
        "{{CURRENT_WEEKDAY}}": local.strftime("%A"),
        "{{CURRENT_TIMEZONE}}": "Asia/Shanghai",
        "{{USER_LANGUAGE}}": "zh-CN",
    }


def _params(chat: NormalizedRequest) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if chat.temperature is not None:
        params["temperature"] = chat.temperature
    if chat.top_p is not None:
        params["top_p"] = chat.top_p
    if chat.max_tokens is not None:
        params["max_tokens"] = chat.max_tokens
    return params


def _features(model: ResolvedModel) -> dict[str, Any]:
    return _features_of(model.search, model.spec.preview_mode, model.thinking)


@functools.lru_cache(maxsize=8)
def _features_of(search: bool, preview_mode: bool, thinking: bool) -> dict[str, Any]:
    """One shared (read-only) dict per combination: bodies are only serialised."""
    return {
        "image_generation": False,
        "web_search": search,
        "auto_web_search": search,
        "preview_mode": preview_mode,
        "flags": [],
        "enable_thinking": thinking,
    }


def build_upstream_request(
    request: NormalizedRequest,
    *,
    new_id: Callable[[], str],
    now: datetime,
    plans: tuple[PersistedPlan, ...] = (),
    image_urls: tuple[str, ...] = (),
) -> UpstreamRequest:
    """`request.messages` are the client messages after tool rendering (roles system/user/
    assistant). For persisted-chat models only the current turn is sent (`plans[0].current`)."""
    model = request.model
    messages = [dict(m) for m in request.messages]
    upstream_messages = convert_messages([plans[0].current] if plans else messages)
    if request.json_mode:
        upstream_messages = _with_json_instruction(upstream_messages)
    prompt = signature_prompt(upstream_messages)
    chat_id = new_id()
    body: dict[str, Any] = {
        "stream": True,
        "model": model.spec.upstream_id,
        "messages": upstream_messages,
        "signature_prompt": prompt,
        "params": _params(request),
        "features": _features(model),
        "chat_id": chat_id,
        "id": new_id(),
        "current_user_message_id": new_id(),
        "current_user_message_parent_id": None,
        "variables": _variables(now, "User"),
        "background_tasks": {"title_generation": False, "tags_generation": False},
        "mcp_servers": list(model.mcp_servers),
        "model_item": {"id": model.spec.upstream_id, "name": model.spec.id,
                       "owned_by": "openai"},
        "tool_servers": [],
        "files": [],
        "extra": {},
    }
    if plans:
        body["background_tasks"] = {"title_generation": True, "tags_generation": True}
    return UpstreamRequest(body=body, prompt=prompt, chat_id=chat_id, model=model, plans=plans,
                           image_urls=image_urls)
