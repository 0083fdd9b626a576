"""Image upload for Z.AI vision models (zai-protocol.md §2.4, §6).

The engine has decoded or fetched the client's images (`zproxy.images`); here they go to
`POST /api/v1/files/` and become the completion body's `files` entries and image parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from zproxy import errors
from zproxy.images import ImageInput
from zproxy.providers.http import json_or_text, mapped_errors
from zproxy.providers.zai.wire import FILES_PATH, classify_error

# --- upload ---------------------------------------------------------------------------------


async def upload_image(session: aiohttp.ClientSession, *, base_url: str,
                       headers: Mapping[str, str], image: ImageInput,
                       proxy: str | None = None) -> dict[str, Any]:
    """`POST /api/v1/files/` (multipart field `file`); the upload reply (§2.4)."""
    form = aiohttp.FormData()
    form.add_field("file", image.data, filename=image.filename,
                   content_type=image.content_type)
    sent = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    with mapped_errors("file upload"):
        async with session.post(base_url.rstrip("/") + FILES_PATH, data=form,
                                headers=sent, proxy=proxy) as resp:
            status, body = resp.status, json_or_text(await resp.read())
    if status != 200:
        raise classify_error(body, status)
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise errors.UpstreamProtocolError("upstream: file upload reply has no id",
                                           upstream_status=status)
    return body


def file_descriptor(upload: Mapping[str, Any], *, item_id: str,
                    ref_user_msg_id: str | None = None) -> dict[str, Any]:
    """The completion body's `files` entry for an uploaded image (§6)."""
    file_id = str(upload["id"])
    meta = upload.get("meta")
    meta = meta if isinstance(meta, Mapping) else {}
    descriptor: dict[str, Any] = {
        "type": "image", "file": dict(upload), "id": file_id,
        "url": f"/api/v1/files/{file_id}/content",
        "name": meta.get("name") or upload.get("filename") or "", "status": "uploaded",
        "size": meta.get("size") or 0, "error": "", "itemId": item_id, "media": "image"}
    if ref_user_msg_id is not None:
        descriptor["ref_user_msg_id"] = ref_user_msg_id
    return descriptor


def image_part(upload: Mapping[str, Any]) -> dict[str, Any]:
    """The message part referring to an uploaded image: its file id as the URL (§6)."""
    return {"type": "image_url", "image_url": {"url": str(upload["id"])}}
