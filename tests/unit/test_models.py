"""Model catalogue: names, suffix rules, overrides (zai-protocol.md §7)."""

from __future__ import annotations

import pytest

from zproxy.core.models import ModelCatalog, ModelSpec, ResolvedModel, model_object
from zproxy.errors import NotFoundError
from zproxy.providers.zai.models import VLM_SERVERS, default_models

CATALOG = ModelCatalog(default_models())


@pytest.mark.parametrize(("name", "upstream"), [
    ("GLM-4.5", "0727-360B-API"), ("GLM-4.5-Thinking", "0727-360B-API"),
    ("GLM-4.5-Search", "0727-360B-API"), ("GLM-4.5-Air", "0727-106B-API"),
    ("GLM-4.5V", "glm-4.5v"), ("GLM-4.6", "GLM-4-6-API-V1"),
    ("GLM-4.6-Thinking", "GLM-4-6-API-V1"), ("GLM-4.6-Search", "GLM-4-6-API-V1"),
    ("GLM-4.6-advanced-search", "GLM-4-6-API-V1"), ("GLM-4.6V", "glm-4.6v"),
    ("GLM-4.7", "glm-4.7"), ("GLM-4.7-Thinking", "glm-4.7"), ("GLM-5", "glm-5"),
    ("0808-360B-DR", "0808-360B-DR"),
])
def test_public_names_map_to_upstream_ids(name: str, upstream: str) -> None:
    assert CATALOG.resolve(name).spec.upstream_id == upstream


def test_names_are_unique_and_listed() -> None:
    ids = [spec.id for spec in CATALOG]
    assert len(ids) == len(set(i.lower() for i in ids)) == len(CATALOG)
    assert "GLM-4.6" in ids and "GLM-4.7-advanced-search" in ids


@pytest.mark.parametrize("name", ["glm-4.6", "GLM-4.6", "Glm-4.6", " glm-4.6 "])
def test_case_and_surrounding_space_do_not_matter(name: str) -> None:
    resolved = CATALOG.resolve(name)
    assert resolved.spec.id == "GLM-4.6"
    assert resolved.requested == name


@pytest.mark.parametrize(("name", "thinking", "search"), [
    ("GLM-4.6", False, False),
    ("GLM-4.6-thinking", True, False),
    ("GLM-4.6-THINKING", True, False),
    ("glm-4.6-search", False, True),
    ("GLM-4.7-thinking-search", True, True),
    ("GLM-4.7-search-thinking", True, True),
    ("GLM-4.5-Air-thinking", True, False),
    ("GLM-4.5-Air-thinking-search", True, True),
    ("GLM-5", True, False),
    ("GLM-5-search", True, True),
    ("0808-360B-DR", False, True),
])
def test_suffix_rules(name: str, thinking: bool, search: bool) -> None:
    resolved = CATALOG.resolve(name)
    assert (resolved.thinking, resolved.search) == (thinking, search)


@pytest.mark.parametrize("base", ["GLM-4.5", "GLM-4.6", "GLM-4.7", "GLM-5"])
def test_stacked_suffix_order_does_not_matter(base: str) -> None:
    a = CATALOG.resolve(f"{base}-thinking-search")
    b = CATALOG.resolve(f"{base}-search-thinking")
    assert (a.spec.upstream_id, a.thinking, a.search, a.mcp_servers) == (
        b.spec.upstream_id, b.thinking, b.search, b.mcp_servers)


@pytest.mark.parametrize("base", ["GLM-4.5", "GLM-4.6", "GLM-4.7"])
def test_thinking_search_is_search_plus_thinking(base: str) -> None:
    search = CATALOG.resolve(f"{base}-Search")
    both = CATALOG.resolve(f"{base}-Thinking-Search")
    assert both.mcp_servers == search.mcp_servers
    assert both.search and both.thinking


@pytest.mark.parametrize("base", ["GLM-4.5", "GLM-4.5-Thinking", "GLM-4.6", "GLM-4.7"])
def test_web_search_field_equals_search_suffix(base: str) -> None:
    family = base.removesuffix("-Thinking")
    by_field = CATALOG.resolve(base, web_search=True)
    by_name = CATALOG.resolve(f"{family}-Search")
    assert by_field.search
    assert by_field.mcp_servers == by_name.mcp_servers


def test_search_mcp_servers() -> None:
    assert CATALOG.resolve("GLM-4.5-Search").mcp_servers == ("deep-web-search",)
    assert CATALOG.resolve("GLM-4.6-Search").mcp_servers == ()  # ZY: none for 4.6
    assert CATALOG.resolve("GLM-4.5").mcp_servers == ()


@pytest.mark.parametrize("name", ["GLM-4.6-advanced-search", "GLM-4.7-advanced-search",
                                  "glm-4.7-thinking-advanced-search",
                                  "GLM-4.6-Advanced-Search"])
def test_advanced_search(name: str) -> None:
    resolved = CATALOG.resolve(name)
    assert resolved.search
    assert resolved.mcp_servers == ("advanced-search",)
    assert resolved.thinking == ("thinking" in name.lower())


def test_vision_model_keeps_vlm_servers_without_search() -> None:
    resolved = CATALOG.resolve("GLM-4.6V")
    assert resolved.spec.vision and resolved.spec.persisted and resolved.thinking
    assert resolved.mcp_servers == VLM_SERVERS
    assert not resolved.search


def test_request_fields_override_name() -> None:
    assert not CATALOG.resolve("GLM-4.6-Thinking", enable_thinking=False).thinking
    assert CATALOG.resolve("GLM-4.6", enable_thinking=True).thinking
    assert not CATALOG.resolve("GLM-5", enable_thinking=False).thinking
    assert CATALOG.resolve("GLM-4.6", web_search=True).search
    assert not CATALOG.resolve("GLM-4.6-Search", web_search=False).search
    assert CATALOG.resolve("GLM-4.6-Search", web_search=False).mcp_servers == ()


def test_none_overrides_keep_name_defaults() -> None:
    resolved = CATALOG.resolve("GLM-4.6-Thinking", enable_thinking=None, web_search=None)
    assert resolved.thinking and not resolved.search


def test_model_that_cannot_think_never_thinks() -> None:
    catalog = CATALOG.with_overrides([ModelSpec("Plain", "plain-1", can_think=False)])
    assert not catalog.resolve("Plain-thinking").thinking
    assert not catalog.resolve("Plain", enable_thinking=True).thinking


@pytest.mark.parametrize("name", ["gpt-4o", "GLM-4.6-bogus", "-thinking", "", "GLM",
                                  "thinking", "GLM-4.6-thinking-bogus"])
def test_unknown_model_is_404_model_not_found(name: str) -> None:
    with pytest.raises(NotFoundError) as info:
        CATALOG.resolve(name)
    exc = info.value
    assert exc.status == 404
    assert exc.code == "model_not_found"
    assert exc.param == "model"


def test_get_is_case_insensitive_without_suffix_rules() -> None:
    assert CATALOG.get("glm-4.6-thinking") is not None
    assert CATALOG.get("glm-4.6-thinking-search") is None
    assert CATALOG.get("nope") is None


def test_overrides_add_and_replace() -> None:
    catalog = CATALOG.with_overrides([ModelSpec("GLM-5.1", "glm-5.1", thinking=True),
                                      ModelSpec("GLM-4.6", "GLM-4-6-NEW")])
    assert catalog.resolve("glm-5.1").spec.upstream_id == "glm-5.1"
    assert catalog.resolve("glm-5.1-search").search
    assert catalog.resolve("GLM-4.6").spec.upstream_id == "GLM-4-6-NEW"
    assert len(catalog) == len(CATALOG) + 1
    assert CATALOG.resolve("GLM-4.6").spec.upstream_id == "GLM-4-6-API-V1"  # original intact


def test_aliases() -> None:
    catalog = CATALOG.with_overrides([], aliases={"gpt-4o": "GLM-4.6", "ghost": "nope"})
    resolved = catalog.resolve("GPT-4o")
    assert resolved.spec.upstream_id == "GLM-4-6-API-V1"
    assert resolved.spec.id == "gpt-4o"
    assert catalog.resolve("gpt-4o-thinking").thinking
    with pytest.raises(NotFoundError):
        catalog.resolve("ghost")


def test_model_object_shape() -> None:
    spec = CATALOG.resolve("GLM-4.6V").spec
    obj = model_object(spec)
    assert obj["id"] == "GLM-4.6V" and obj["object"] == "model"
    assert obj["owned_by"] == "z.ai" and isinstance(obj["created"], int)
    assert obj["upstream_id"] == "glm-4.6v"
    assert obj["capabilities"]["vision"] is True


def test_resolved_model_is_frozen() -> None:
    resolved = CATALOG.resolve("GLM-4.6")
    assert isinstance(resolved, ResolvedModel)
    with pytest.raises(AttributeError):
        resolved.thinking = True  # type: ignore[misc]
