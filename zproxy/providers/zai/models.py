"""Z.AI's model catalogue: public GLM names → upstream ids and modes (zai-protocol.md §7)."""

from __future__ import annotations

import dataclasses
from typing import Final

from zproxy.core.models import ModelSpec

VLM_SERVERS: Final = ("vlm-image-search", "vlm-image-recognition", "vlm-image-processing")


def _family(base: ModelSpec, *, advanced: bool = False, thinking_variant: bool = True,
            search_variant: bool = True) -> list[ModelSpec]:
    specs = [base]
    if thinking_variant:
        specs.append(dataclasses.replace(base, id=f"{base.id}-Thinking", thinking=True))
    if search_variant:
        specs.append(dataclasses.replace(base, id=f"{base.id}-Search", search=True))
    if advanced:
        specs.append(dataclasses.replace(base, id=f"{base.id}-advanced-search", search=True,
                                         mcp_servers=("advanced-search",)))
    return specs


def default_models() -> list[ModelSpec]:
    # Z.AI: 2025 GLM-4.5 search requests also named the deep-web-search MCP server (ZY, XT).
    glm45 = ModelSpec("GLM-4.5", "0727-360B-API", search_servers=("deep-web-search",),
                      description="GLM-4.5 (355B MoE)")
    specs = _family(glm45)
    specs.append(ModelSpec("GLM-4.5-Air", "0727-106B-API", description="GLM-4.5-Air (106B)"))
    specs.append(ModelSpec("GLM-4.5V", "glm-4.5v", vision=True, context_length=64_000,
                           description="GLM-4.5V vision model"))
    specs += _family(ModelSpec("GLM-4.6", "GLM-4-6-API-V1", context_length=200_000,
                               description="GLM-4.6"), advanced=True)
    specs.append(ModelSpec("GLM-4.6V", "glm-4.6v", thinking=True, vision=True, persisted=True,
                           mcp_servers=VLM_SERVERS, preview_mode=False,
                           description="GLM-4.6V vision model (persisted chat)"))
    specs += _family(ModelSpec("GLM-4.7", "glm-4.7", persisted=True, context_length=200_000,
                               description="GLM-4.7 (persisted chat)"), advanced=True)
    specs += _family(ModelSpec("GLM-5", "glm-5", thinking=True, context_length=200_000,
                               description="GLM-5"))
    specs.append(ModelSpec("0808-360B-DR", "0808-360B-DR", search=True,
                           description="Deep research"))
    return [dataclasses.replace(s, provider="zai", owned_by="z.ai") for s in specs]
