"""Random ids for the hot path: the same formats as `uuid.uuid4()`, for a third of its cost.

`uuid4()` builds a `UUID` object (an int, a version check, a formatter) for every id; a
request needs half a dozen (completion, request, chat and message ids), so the strings are
made here straight from `os.urandom`. Still 122 random bits: unguessable, never counters.
"""

from __future__ import annotations

import os
from typing import Final

_VARIANT: Final = "89ab"  # RFC 9562 variant 10xx, as the first hex digit of the 4th group


def random_uuid() -> str:
    """`str(uuid.uuid4())`: 8-4-4-4-12 hex digits, version 4, RFC variant."""
    h = os.urandom(16).hex()
    return (f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16) & 3]}{h[17:20]}-"
            f"{h[20:]}")


def random_hex(chars: int = 32) -> str:
    """`uuid.uuid4().hex[:chars]` in spirit: `chars` random lowercase hex digits."""
    return os.urandom((chars + 1) // 2).hex()[:chars]
