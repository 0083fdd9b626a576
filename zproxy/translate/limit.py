"""`max_tokens`, enforced by the proxy: the upstream web chat has no such limit.

The budget is counted with the same local estimate the usage falls back to (≈4 characters a
token, `estimate_tokens`), over the answer and the reasoning together, as OpenAI counts
`max_completion_tokens`. The text that would pass the limit is cut; `cut` then says the
answer is incomplete, which is the only case that finishes with `finish_reason: "length"`.
Pure: no I/O, one instance per response.
"""

from __future__ import annotations

from typing import Final

CHARS_PER_TOKEN: Final = 4


class TokenBudget:
    def __init__(self, max_tokens: int | None) -> None:
        self._left = None if max_tokens is None else max_tokens * CHARS_PER_TOKEN
        self.cut = False

    @property
    def active(self) -> bool:
        return self._left is not None

    def take(self, text: str) -> str:
        """The part of `text` that still fits; nothing once the budget is spent."""
        if self._left is None or not text:
            return text
        if self.cut:
            return ""
        if len(text) <= self._left:
            self._left -= len(text)
            return text
        kept, self._left, self.cut = text[:self._left], 0, True
        return kept
