"""Input items as `GET /v1/responses/{id}/input_items` lists them. Pure.

Stored input items get an id when the response is stored (`with_ids`), so the listing is
stable and pageable by `after`. `item_view` turns a normalised input item into the shape of
the SDK's `ResponseItem` union: string contents become `input_text` parts, assistant
messages become output messages, calls and outputs carry a status.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

from zproxy.api.responses.objects import NewId, message_item
from zproxy.errors import ClientRequestError

PREFIXES: Final = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}
MAX_LIMIT: Final = 100


def with_ids(items: Iterable[dict[str, Any]], new_id: NewId) -> tuple[dict[str, Any], ...]:
    return tuple(item if item.get("id") else {**item, "id": new_id(PREFIXES[item["type"]])}
                 for item in items)


def _parts(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    return [{**p, "detail": p.get("detail") or "auto"} if p["type"] == "input_image" else p
            for p in content]


def _text(content: str | list[dict[str, Any]]) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content)


def item_view(item: dict[str, Any]) -> dict[str, Any]:
    kind = item["type"]
    if kind == "message" and item["role"] == "assistant":
        return message_item(item["id"], "completed", _text(item["content"]))
    if kind == "message":
        return {"type": "message", "id": item["id"], "role": item["role"],
                "status": "completed", "content": _parts(item["content"])}
    return {**item, "status": item.get("status") or "completed"}


def input_items_page(items: Sequence[dict[str, Any]], *, order: str = "desc",
                     after: str | None = None, limit: int = 20) -> dict[str, Any]:
    """One page of the list, newest first by default, as OpenAI's cursor pages are."""
    if order not in {"asc", "desc"}:
        raise ClientRequestError("'order' must be asc or desc", param="order",
                                 code="invalid_value")
    if not 1 <= limit <= MAX_LIMIT:
        raise ClientRequestError(f"'limit' must be between 1 and {MAX_LIMIT}", param="limit",
                                 code="invalid_value")
    ordered = list(items) if order == "asc" else list(reversed(items))
    if after is not None:
        ids = [item["id"] for item in ordered]
        if after not in ids:
            raise ClientRequestError(f"No input item with id '{after}'.", param="after",
                                     code="invalid_value")
        ordered = ordered[ids.index(after) + 1:]
    data = [item_view(item) for item in ordered[:limit]]
    return {"object": "list", "data": data, "has_more": len(ordered) > limit,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None}
