"""A provider's answer to "is this token still good?", before any request spends it.

Each provider package owns its own check (`check.py`); the pool's validation calls it by
provider through the registry, so the pool imports no provider. `unknown` is never `invalid`:
an outage must not wipe out a fleet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

VALID: Final = "valid"
INVALID: Final = "invalid"
UNKNOWN: Final = "unknown"


@dataclass(frozen=True, slots=True)
class Verdict:
    status: str  # valid | invalid | unknown
    detail: str
    user_id: str | None = None
    name: str | None = None


TokenCheck = Callable[[str], Awaitable[Verdict]]
