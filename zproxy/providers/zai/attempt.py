"""What one upstream attempt sends: the body with images uploaded and the persisted chat
entered (zai-protocol.md §2.3, §5, §6).

Both need the attempt's credential (files and chats belong to one token), so they run once
per attempt, after the credential is chosen and before the request is signed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import aiohttp
import orjson
import structlog

from zproxy.core.trace import ChatTurn, Trace
from zproxy.providers.http import json_or_text, mapped_errors
from zproxy.providers.zai import wire
from zproxy.providers.zai.chats import chat_id_from_response, chats_new_body
from zproxy.providers.zai.conversations import PersistedPlan
from zproxy.providers.zai.request import UpstreamRequest, convert_messages
from zproxy.providers.zai.signing import signature_prompt
from zproxy.providers.zai.tokens import Credential
from zproxy.providers.zai.vision import file_descriptor, image_part, upload_image

log = structlog.get_logger(__name__)

Headers = Callable[[Credential], Mapping[str, str]]


class AttemptBuilder:
    def __init__(self, session: aiohttp.ClientSession, *, base: str, proxy: str | None,
                 headers: Headers, new_id: Callable[[], str],
                 clock: Callable[[], float]) -> None:
        self._session = session
        self._base = base
        self._proxy = proxy
        self._headers = headers
        self._new_id = new_id
        self._clock = clock

    async def body(self, request: UpstreamRequest, plan: PersistedPlan | None,
                   credential: Credential, trace: Trace) -> dict[str, Any]:
        body = dict(request.body)
        if plan is not None:
            body["messages"] = convert_messages([plan.current])
            body["id"] = self._new_id()
        files: list[dict[str, Any]] = []
        if request.image_urls:
            body["messages"], files = await self._uploaded(body["messages"], request,
                                                           credential)
            body["files"] = files
        body["signature_prompt"] = signature_prompt(body["messages"])
        if plan is not None:
            await self._enter_chat(body, plan, request, credential, files, trace)
        return body

    async def _uploaded(self, messages: list[dict[str, Any]], request: UpstreamRequest,
                        credential: Credential,
                        ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Upload each image the request carries; refer to it by file id (§6)."""
        files: list[dict[str, Any]] = []
        done: dict[str, dict[str, Any]] = {}
        out = []
        for message in messages:
            content = message["content"]
            if isinstance(content, list):
                content = [await self._upload_part(p, request, credential, files, done)
                           for p in content]
            out.append({**message, "content": content})
        return out, files

    async def _upload_part(self, part: dict[str, Any], request: UpstreamRequest,
                           credential: Credential, files: list[dict[str, Any]],
                           done: dict[str, dict[str, Any]]) -> dict[str, Any]:
        image = part.get("image_url") if part.get("type") == "image_url" else None
        url = image.get("url") if isinstance(image, dict) else None
        if not isinstance(url, str) or url not in request.images:
            return part
        if url not in done:
            done[url] = await upload_image(self._session, base_url=self._base,
                                           headers=self._headers(credential),
                                           image=request.images[url], proxy=self._proxy)
            files.append(file_descriptor(done[url], item_id=self._new_id()))
        return image_part(done[url])

    async def _enter_chat(self, body: dict[str, Any], plan: PersistedPlan,
                          request: UpstreamRequest, credential: Credential,
                          files: list[dict[str, Any]], trace: Trace) -> None:
        """Continue the remembered chat, or create one holding the earlier turns (§2.3)."""
        user_message_id = self._new_id()
        if plan.binding is not None:
            chat_id, parent = plan.binding.chat_id, plan.parent_id
        else:
            chat_id, parent = await self._create_chat(body, plan, request, credential,
                                                      user_message_id, files), None
        body.update(chat_id=chat_id, current_user_message_id=user_message_id,
                    current_user_message_parent_id=parent)
        trace.chat = ChatTurn(chat_id, str(body["id"]), credential.key,
                              continued=plan.binding is not None)

    async def _create_chat(self, body: dict[str, Any], plan: PersistedPlan,
                           request: UpstreamRequest, credential: Credential,
                           user_message_id: str, files: list[dict[str, Any]]) -> str:
        features = body["features"]
        payload = chats_new_body(
            model_id=request.model.spec.upstream_id,
            history=convert_messages(plan.history), current=body["messages"][-1],
            user_message_id=user_message_id, new_id=self._new_id,
            now_ms=int(self._clock() * 1000), enable_thinking=features["enable_thinking"],
            web_search=features["web_search"], mcp_servers=body["mcp_servers"],
            vision=request.model.spec.vision, files=files)
        headers = {**self._headers(credential), "Accept": "application/json"}
        with mapped_errors("chats/new"):
            async with self._session.post(f"{self._base}{wire.CHATS_NEW_PATH}",
                                          data=orjson.dumps(payload), headers=headers,
                                          proxy=self._proxy) as response:
                reply, status = json_or_text(await response.read()), response.status
        chat_id = chat_id_from_response(reply) if status == 200 else None
        if chat_id is None:
            raise wire.classify_error(reply, status if status != 200 else 502)
        log.info("upstream.chat_created", model=request.model.spec.upstream_id)
        return chat_id
