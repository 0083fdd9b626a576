"""Claude model names → GLM models, and the Anthropic `model` objects. Pure.

Claude Code sends whatever its tier resolves to (`claude-sonnet-4-5-20250929`,
`claude-haiku-4-5`, `claude-opus-4-1[1m]`, or a bare `sonnet`), so names are matched by
fragment through the operator's table (`ANTHROPIC_MODEL_MAP`), first match wins; names the
catalogue knows (GLM models, aliases, suffixed forms) are used as they are. The requested
name is what the client sees back in every response.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from zproxy.core.models import ModelCatalog, ModelSpec
from zproxy.errors import NotFoundError

ModelTable = Sequence[tuple[str, str]]

FALLBACK: Final = "*"
LONG_CONTEXT_SUFFIX: Final = "[1m]"  # Claude Code's 1M-context marker, not part of the id
TIER_ALIASES: Final = frozenset({"default", "opus", "sonnet", "haiku", "opusplan", "best"})
# What Claude Code's model picker is offered: one current id per tier.
PICKER_IDS: Final = ("claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5")


def _spec(catalog: ModelCatalog, name: str) -> ModelSpec | None:
    try:
        return catalog.resolve(name).spec
    except NotFoundError:
        return None


def is_claude_name(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith(("claude", "anthropic")) or lowered in TIER_ALIASES


def upstream_model(name: str, table: ModelTable, catalog: ModelCatalog) -> str:
    """The catalogue name to run `name` on; an unknown non-Claude name comes back unchanged
    (the catalogue then answers 404 `not_found_error`)."""
    plain = name.strip()
    if plain.lower().endswith(LONG_CONTEXT_SUFFIX):
        plain = plain[: -len(LONG_CONTEXT_SUFFIX)]
    if _spec(catalog, plain) is not None or not is_claude_name(plain):
        return plain
    lowered = plain.lower()
    for fragment, target in table:
        if fragment != FALLBACK and fragment in lowered:
            return target
    return next((target for fragment, target in table if fragment == FALLBACK), plain)


def _created_at(spec: ModelSpec) -> str:
    return datetime.fromtimestamp(spec.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def model_info(model_id: str, spec: ModelSpec) -> dict[str, Any]:
    """An Anthropic `ModelInfo`; Claude ids name the GLM model that answers them."""
    display = spec.id if model_id == spec.id else f"{spec.id} (as {model_id})"
    return {"type": "model", "id": model_id, "display_name": display,
            "created_at": _created_at(spec), "max_input_tokens": spec.context_length}


def model_infos(table: ModelTable, catalog: ModelCatalog) -> list[dict[str, Any]]:
    """The picker's Claude ids (those whose target exists), then every catalogue model."""
    infos = []
    for model_id in PICKER_IDS:
        spec = _spec(catalog, upstream_model(model_id, table, catalog))
        if spec is not None:
            infos.append(model_info(model_id, spec))
    return infos + [model_info(spec.id, spec) for spec in catalog]


def find_info(model_id: str, table: ModelTable, catalog: ModelCatalog) -> dict[str, Any]:
    spec = _spec(catalog, upstream_model(model_id, table, catalog))
    if spec is None:
        raise NotFoundError(f"The model `{model_id}` does not exist", param="model",
                            code="model_not_found")
    return model_info(model_id, spec)


def page(items: list[dict[str, Any]], *, limit: int = 20, after_id: str | None = None,
         before_id: str | None = None) -> dict[str, Any]:
    """Anthropic's cursor pagination over `items` (`after_id` / `before_id` are exclusive)."""
    ids = [item["id"] for item in items]
    start, end = 0, len(items)
    if after_id is not None:
        start = ids.index(after_id) + 1 if after_id in ids else len(items)
    if before_id is not None:
        end = ids.index(before_id) if before_id in ids else 0
        start = max(start, end - limit)
    chosen = items[start:end][:limit]
    has_more = (start > 0) if before_id is not None else start + len(chosen) < end
    return {"data": chosen, "has_more": has_more,
            "first_id": chosen[0]["id"] if chosen else None,
            "last_id": chosen[-1]["id"] if chosen else None}
