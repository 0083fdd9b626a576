"""Which healthy token serves next: highest priority group first, weighted within it.

Stride scheduling: every token has a `pass`; the smallest pass serves and advances by
1/weight, so over any run of requests each token's share is its weight's share, exactly and
without randomness. Equal passes go to the fewest active requests, then to the least
recently used (heap order). A token that joins starts at the group's current pass, so it
neither floods nor starves. A heap keeps a pick O(log n); removals are lazy (a stale `stamp`).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Final

from zproxy.pool.model import TokenEntry

TIE_LOOKAHEAD: Final = 8  # equal-pass entries compared for fewest active

_Item = tuple[float, int, TokenEntry]


class _Group:
    __slots__ = ("heap", "vtime", "size")

    def __init__(self) -> None:
        self.heap: list[_Item] = []
        self.vtime = 0.0
        self.size = 0


class StrideScheduler:
    def __init__(self) -> None:
        self._groups: dict[int, _Group] = {}
        self._order: list[int] = []  # priorities, highest first
        self._seq = itertools.count()

    def __len__(self) -> int:
        return sum(g.size for g in self._groups.values())

    def add(self, entry: TokenEntry) -> None:
        if entry.stamp >= 0:
            return
        group = self._groups.get(entry.priority)
        if group is None:
            group = self._groups[entry.priority] = _Group()
            self._order = sorted(self._groups, reverse=True)
        group.size += 1
        entry.pass_ = max(entry.pass_, group.vtime)
        self._push(group, entry)

    def remove(self, entry: TokenEntry) -> None:
        if entry.stamp < 0:
            return
        entry.stamp = -1  # its heap item is now stale
        group = self._groups[entry.priority]
        group.size -= 1
        if group.size == 0:
            del self._groups[entry.priority]
            self._order = sorted(self._groups, reverse=True)

    def pick(self, skip: Callable[[TokenEntry], bool]) -> TokenEntry | None:
        for priority in self._order:
            chosen = self._pick_in(self._groups[priority], skip)
            if chosen is not None:
                return chosen
        return None

    def _push(self, group: _Group, entry: TokenEntry) -> None:
        seq = next(self._seq)
        entry.stamp = seq
        heapq.heappush(group.heap, (entry.pass_, seq, entry))

    def _pick_in(self, group: _Group, skip: Callable[[TokenEntry], bool]) -> TokenEntry | None:
        heap, aside = group.heap, []
        best: _Item | None = None
        looked = 0
        while heap and looked < TIE_LOOKAHEAD:
            if best is not None and heap[0][0] > best[0]:
                break
            item = heapq.heappop(heap)
            entry = item[2]
            if entry.stamp != item[1]:
                continue  # removed or re-added since: drop the stale item
            if skip(entry):
                aside.append(item)
                continue
            if best is None:
                best = item
            else:
                looked += 1
                if entry.credential.active < best[2].credential.active:
                    best, item = item, best
                aside.append(item)
        for item in aside:
            heapq.heappush(heap, item)
        if best is None:
            return None
        entry = best[2]
        group.vtime = best[0]
        entry.pass_ = best[0] + 1.0 / max(1, entry.weight)
        self._push(group, entry)
        return entry
