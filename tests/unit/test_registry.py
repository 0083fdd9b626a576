"""Routing by model name (providers.md §3.2): the catalogue is the routing table."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from tests.unit.fixture_data import planning_registry
from zproxy.api.chat import plan_chat
from zproxy.api.schema import parse_chat_request
from zproxy.config import Settings
from zproxy.core.models import ModelSpec
from zproxy.core.plan import NormalizedRequest
from zproxy.core.provider import Capabilities, Prepared, ProviderInfo, prompt_chars
from zproxy.core.trace import Trace
from zproxy.errors import NotFoundError, ProviderUnavailableError, UpstreamError, to_openai_error
from zproxy.providers.registry import ProviderRegistry, build_catalog
from zproxy.providers.zai.provider import ZaiProvider, zai_info


class PlanningOnly:
    """A second provider for routing: plans, never runs (the real ones are tested e2e)."""

    def __init__(self, *, available: bool) -> None:
        spec = ModelSpec("Other-1", "other-upstream-1", provider="other", owned_by="Other Co",
                         can_search=False, flags={"effort": "high"})
        self._info = ProviderInfo(name="other", label="Other", owned_by="Other Co",
                                  models=(spec,), capabilities=Capabilities(reasoning=True),
                                  credential_env=("OTHER_TOKEN", "OTHER_PASSPORT"))
        self._available = available

    @property
    def info(self) -> ProviderInfo:
        return self._info

    def available(self) -> bool:
        return self._available

    def prepare(self, request: NormalizedRequest, *, now: float,
                new_id: Callable[[], str]) -> Prepared:
        return Prepared(request, prompt_chars(request.messages), native=new_id())

    def call(self, prepared: Prepared, trace: Trace) -> Any:
        raise AssertionError("not run in these tests")

    def classify(self, status: int | None, headers: Mapping[str, str],
                 body: Any) -> UpstreamError:
        raise AssertionError("not run in these tests")

    async def close(self) -> None:
        return None


def _registry(*, available: bool = True, **settings: Any) -> ProviderRegistry:
    config = Settings(**settings)
    other = PlanningOnly(available=available)
    catalog = build_catalog([zai_info(config), other.info], config.model_map,
                            config.model_aliases)
    return ProviderRegistry(catalog, [ZaiProvider(None, config), other])


def _chat(model: str) -> Any:
    return parse_chat_request(
        b'{"model":"%s","messages":[{"role":"user","content":"hi"}]}' % model.encode())


def test_each_model_routes_to_its_own_provider() -> None:
    registry = _registry()
    assert registry.route("GLM-4.6")[0].info.name == "zai"
    provider, model = registry.route("other-1")  # names are case-insensitive
    assert provider.info.name == "other" and model.spec.upstream_id == "other-upstream-1"
    assert model.spec.flags == {"effort": "high"}


def test_an_unknown_model_is_a_404_not_a_fallback() -> None:
    with pytest.raises(NotFoundError) as caught:
        _registry().route("gpt-4o")
    status, body = to_openai_error(caught.value)
    assert status == 404 and body["error"]["code"] == "model_not_found"
    assert body["error"]["param"] == "model"


def test_a_provider_without_credentials_answers_503_naming_its_variables() -> None:
    with pytest.raises(ProviderUnavailableError) as caught:
        _registry(available=False).route("Other-1")
    status, body = to_openai_error(caught.value)
    assert status == 503 and body["error"]["code"] == "provider_unavailable"
    assert "OTHER_TOKEN" in body["error"]["message"]
    assert "OTHER_PASSPORT" in body["error"]["message"]
    assert "Other" in body["error"]["message"]
    _registry(available=False).route("GLM-4.6")  # the others still serve


def test_model_map_points_any_name_at_any_providers_model() -> None:
    registry = _registry(model_map={"fast": "Other-1", "mine": {"provider": "other",
                                                                "upstream_id": "x-2"}})
    provider, model = registry.route("fast")
    assert provider.info.name == "other" and model.spec.upstream_id == "other-upstream-1"
    provider, model = registry.route("mine")
    assert provider.info.name == "other" and model.spec.upstream_id == "x-2"
    assert registry.route("GLM-4.5")[0].info.name == "zai"


def test_a_map_entry_naming_an_unknown_provider_is_a_404() -> None:
    registry = _registry(model_map={"ghost": {"provider": "nowhere"}})
    with pytest.raises(NotFoundError, match="nowhere"):
        registry.route("ghost")


def test_describe_says_who_serves_a_model_and_whether_it_can() -> None:
    registry = _registry(available=False)
    other = registry.catalog.get("Other-1")
    assert other is not None
    described = registry.describe(other)
    assert described["provider"] == "other" and described["owned_by"] == "Other Co"
    assert described["available"] is False and "OTHER_TOKEN" in described["unavailable_reason"]
    glm = registry.catalog.get("GLM-4.6")
    assert glm is not None
    assert registry.describe(glm) == {"provider": "zai", "owned_by": "z.ai", "available": True}


def test_plan_chat_hands_the_provider_a_normalized_request() -> None:
    registry = _registry()
    plan = plan_chat(_chat("Other-1"), registry, Settings(), now=1.0, new_id=lambda: "id-1")
    assert plan.provider.info.name == "other" and plan.prepared.native == "id-1"
    assert [dict(m) for m in plan.request.messages] == [{"role": "user", "content": "hi"}]
    assert plan.request.history == [{"role": "user", "content": "hi"}]
    assert plan.prepared.prompt_chars == 2


def test_planning_registry_routes_every_default_model_to_zai() -> None:
    registry = planning_registry()
    assert {registry.route(spec.id)[0].info.name for spec in registry.catalog} == {"zai"}
