"""Text reconstructors: turn an upstream's text fields into append-only deltas. Pure.

Upstreams send answer text three ways (providers.md §3.1): deltas (`Append`), cumulative
snapshots (`Snapshot`: K2Think, LongCat's cumulative fields) and splices (Z.AI `edit_index`,
kept in `zproxy.providers.zai.buffer` because only Z.AI does it). A client cannot take text
back, so a snapshot that does not extend what was sent is a *rewrite*: it is counted, and the
policy says what goes out.
"""

from __future__ import annotations

import os
from typing import Literal

RewritePolicy = Literal["continue", "ignore"]
"""`continue` (default): send the new text from the first differing character on (the client
keeps the old prefix and sees the corrected rest); `ignore`: keep what was sent and send only
what lies beyond its length."""


class Append:
    """Delta fields: every piece is new text."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[str] = []

    @property
    def text(self) -> str:
        return "".join(self._parts)

    def feed(self, delta: str) -> str:
        if delta:
            self._parts.append(delta)
        return delta


class Snapshot:
    """Cumulative fields: each value is the whole text so far; `feed` returns what is new."""

    __slots__ = ("_text", "_policy", "rewrites", "last_rewrite")

    def __init__(self, policy: RewritePolicy = "continue") -> None:
        self._text = ""
        self._policy = policy
        self.rewrites = 0              # how many snapshots did not extend the previous one
        self.last_rewrite = False      # whether the latest `feed` was one

    @property
    def text(self) -> str:
        return self._text

    def feed(self, snapshot: str) -> str:
        old, self._text = self._text, snapshot
        self.last_rewrite = False
        if snapshot.startswith(old):
            return snapshot[len(old):]
        if old.startswith(snapshot):
            self._text = old  # a shorter, older snapshot arrived late: nothing new, keep ours
            return ""
        self.rewrites += 1
        self.last_rewrite = True
        if self._policy == "ignore":
            return snapshot[len(old):]
        return snapshot[len(os.path.commonprefix([old, snapshot])):]
