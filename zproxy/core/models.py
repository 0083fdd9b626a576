"""Model catalogue: public names → provider, upstream ids and modes (zai-protocol.md §7).

Names are case-insensitive. Suffixes stack: `-thinking` turns reasoning on, `-search` web
search, `-advanced-search` the advanced search server (`GLM-4.7-thinking-search` is valid).
Request fields `enable_thinking` / `web_search` override whatever the name implies.
Pure; no I/O. Each provider lists its own models (`ProviderInfo.models`); the registry joins
them with the operator's MODEL_MAP into one catalogue, the routing table
(`zproxy.providers.registry`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from zproxy.errors import NotFoundError


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One public model name and how its provider's upstream is asked for it.

    `provider` names the provider that serves it (`ProviderInfo.name`; "" = the default
    provider); `flags` holds provider-specific upstream switches (K2Think
    `reasoning_effort`, LongCat `agentId`…) that only that provider reads. `mcp_servers`,
    `search_servers` and `preview_mode` are Z.AI's switches, typed because its catalogue is
    the largest; other providers leave them empty.
    """

    id: str
    upstream_id: str
    thinking: bool = False          # reasoning on by default
    search: bool = False            # web search on by default
    vision: bool = False
    persisted: bool = False         # needs a chat created first (chats/new, §2.3)
    mcp_servers: tuple[str, ...] = ()   # always sent
    search_servers: tuple[str, ...] = ()  # sent whenever search is on
    preview_mode: bool = True
    context_length: int = 128_000
    can_think: bool = True
    can_search: bool = True
    description: str = ""
    created: int = 1_753_574_400    # 2025-07-27, the GLM-4.5 launch
    provider: str = ""
    owned_by: str = ""
    flags: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def capabilities(self) -> dict[str, bool]:
        return {"vision": self.vision, "reasoning": self.can_think,
                "web_search": self.can_search, "tools": True}


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A request's model after suffix rules and request overrides."""

    spec: ModelSpec
    requested: str
    thinking: bool
    search: bool

    @property
    def mcp_servers(self) -> tuple[str, ...]:
        extra = self.spec.search_servers if self.search else ()
        return self.spec.mcp_servers + tuple(s for s in extra if s not in self.spec.mcp_servers)


_RESOLVED_MAX: Final = 256
_SUFFIXES: Final = (("-advanced-search", "advanced"), ("-thinking", "thinking"),
                    ("-search", "search"))


class ModelCatalog:
    """Lookup by public name with the suffix rules; iteration lists every public name."""

    def __init__(self, specs: Iterable[ModelSpec]) -> None:
        self._specs: dict[str, ModelSpec] = {}
        for spec in specs:
            self._specs[spec.id.lower()] = spec
        # resolved names: every request resolves its model, almost always one of a few
        self._resolved: dict[tuple[str, bool | None, bool | None], ResolvedModel] = {}

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def get(self, name: str) -> ModelSpec | None:
        return self._specs.get(name.strip().lower())

    def resolve(self, name: str, *, enable_thinking: bool | None = None,
                web_search: bool | None = None) -> ResolvedModel:
        key = (name, enable_thinking, web_search)
        found = self._resolved.get(key)
        if found is None:
            found = self._resolve(name, enable_thinking, web_search)
            if len(self._resolved) >= _RESOLVED_MAX:  # names are the clients': bounded
                self._resolved.clear()
            self._resolved[key] = found
        return found

    def _resolve(self, name: str, enable_thinking: bool | None,
                 web_search: bool | None) -> ResolvedModel:
        spec, flags = self._lookup(name)
        if spec is None:
            raise NotFoundError(f"The model `{name}` does not exist", param="model",
                                code="model_not_found")
        if "advanced" in flags and spec.mcp_servers != ("advanced-search",):
            spec = dataclasses.replace(spec, search=True, mcp_servers=("advanced-search",))
        thinking = spec.thinking or "thinking" in flags
        search = spec.search or "search" in flags or "advanced" in flags
        if enable_thinking is not None:
            thinking = enable_thinking
        if web_search is not None:
            search = web_search
        return ResolvedModel(spec, name, thinking and spec.can_think, search)

    def _lookup(self, name: str) -> tuple[ModelSpec | None, set[str]]:
        key, flags = name.strip().lower(), set[str]()
        while key not in self._specs:
            for suffix, flag in _SUFFIXES:
                if key.endswith(suffix):
                    key, flags = key[: -len(suffix)], flags | {flag}
                    break
            else:
                return None, flags
        return self._specs[key], flags

    def add_discovered(self, upstream_ids: Iterable[str]) -> list[str]:
        """Add upstream model ids no public name maps to yet; returns the names added."""
        known = {spec.upstream_id.lower() for spec in self._specs.values()}
        added = []
        for upstream_id in upstream_ids:
            if upstream_id.lower() not in known and upstream_id.lower() not in self._specs:
                self._specs[upstream_id.lower()] = ModelSpec(
                    upstream_id, upstream_id, description="discovered from the upstream")
                known.add(upstream_id.lower())
                added.append(upstream_id)
        if added:
            self._resolved.clear()
        return added

    def with_overrides(self, extra: Iterable[ModelSpec],
                       aliases: Mapping[str, str] | None = None) -> ModelCatalog:
        """A new catalogue with specs added or replaced and aliases (name → existing name)."""
        merged = {**self._specs, **{s.id.lower(): s for s in extra}}
        for alias, target in (aliases or {}).items():
            spec = merged.get(target.lower())
            if spec is not None:
                merged[alias.lower()] = dataclasses.replace(spec, id=alias)
        return ModelCatalog(merged.values())


_SPEC_FIELDS: Final = ("thinking", "search", "vision", "persisted", "preview_mode",
                       "context_length", "description", "provider", "owned_by")


def spec_from_mapping(name: str, entry: Mapping[str, Any]) -> ModelSpec:
    """A MODEL_MAP object entry; `provider` picks who serves it (default: Z.AI)."""
    upstream_id = entry.get("upstream_id") or entry.get("upstream") or name
    fields = {key: entry[key] for key in _SPEC_FIELDS if key in entry}
    servers = entry.get("mcp_servers")
    if isinstance(servers, list):
        fields["mcp_servers"] = tuple(str(s) for s in servers)
    flags = entry.get("flags")
    if isinstance(flags, Mapping):
        fields["flags"] = dict(flags)
    return ModelSpec(id=name, upstream_id=str(upstream_id), **fields)


def model_object(spec: ModelSpec) -> dict[str, Any]:
    """The OpenAI `model` object, with zproxy's capability extensions."""
    return {"id": spec.id, "object": "model", "created": spec.created,
            "owned_by": spec.owned_by or "z.ai", "provider": spec.provider or "zai",
            "upstream_id": spec.upstream_id, "context_length": spec.context_length,
            "capabilities": spec.capabilities(), "description": spec.description}
