"""One documented request parameter: the row type of the /docs tables and OpenAPI schemas.

Its own module so each front door's table (`zproxy.openapi`, `zproxy.openapi_responses`)
can use it without importing the others. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    schema: dict[str, Any]
    doc: str
    extension: bool = False     # not part of OpenAI's API
    required: bool = False

    @property
    def type_label(self) -> str:
        kind = self.schema.get("type")
        if isinstance(kind, list):
            return " | ".join(kind)
        if kind is None and "oneOf" in self.schema:
            return " | ".join(str(s.get("type", "object")) for s in self.schema["oneOf"])
        return str(kind or "any")
