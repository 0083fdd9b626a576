"""Search citations: `【turn0search1】` markers → markdown links + OpenAI annotations. Pure.

Providers report the results of a server-run search as `SearchResults` events (title, url,
index, ref_id; Z.AI from its search blocks, `zproxy.providers.zai.search`). An answer may
cite them with `【turn0searchN】` (ref_id) or `【N】` / `【N†…】` (index) markers (Z.AI);
one that does not (LongCat) gets the numbered list of every result (`list_uncited`).
`CitationFilter` is a content filter (`translate.response.ContentFilter`): it rewrites known
markers to `[[n]](url)`, records a `url_citation` annotation for each link (offsets into
the text this filter has output), and on `flush()` appends a numbered source list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from zproxy.core.events import SearchItem, SearchResults

OPEN: Final = "【"
CLOSE: Final = "】"
DAGGER: Final = "†"
DEFAULT_MAX_MARKER: Final = 256
Numbering = Literal["cited", "upstream"]
Source = SearchItem
_URL_ESCAPES: Final = str.maketrans({"(": "%28", ")": "%29", " ": "%20", "<": "%3C",
                                     ">": "%3E"})
_TITLE_ESCAPES: Final = str.maketrans({"[": "\\[", "]": "\\]", "\n": " "})


@dataclass(frozen=True, slots=True)
class _Cited:
    number: int
    source: Source


def _is_web_url(url: str) -> bool:
    return url.startswith(("https://", "http://"))


def markdown_link(number: int, url: str) -> str:
    return f"[[{number}]]({url.translate(_URL_ESCAPES)})"


class CitationFilter:
    """Content filter; feed it `SearchResults` with `add_results` as they arrive."""

    def __init__(self, *, sources_list: bool = True, list_uncited: bool = False,
                 numbering: Numbering = "cited",
                 max_marker: int = DEFAULT_MAX_MARKER) -> None:
        self._sources_list = sources_list
        self._list_uncited = list_uncited
        self._numbering = numbering
        self._max_marker = max_marker
        self._blocks: dict[str, list[Source]] = {}
        self._by_ref: dict[str, Source] = {}
        self._by_index: dict[int, Source] = {}
        self._cited: dict[str, _Cited] = {}  # url -> number, in order of first citation
        self._annotations: list[dict[str, Any]] = []
        self._held = ""
        self._out = 0  # characters output so far

    @property
    def stopped(self) -> bool:
        return False

    def add_results(self, results: SearchResults) -> None:
        """Record a search's web results; a later one with the same key replaces it."""
        sources = [item for item in results.items if _is_web_url(item.url)]
        if not sources:
            return
        self._blocks[results.key or f"#{len(self._blocks)}"] = sources
        self._by_ref.clear()
        self._by_index.clear()
        for source in (s for group in self._blocks.values() for s in group):
            if source.ref_id:
                self._by_ref[source.ref_id] = source
            if source.index:
                self._by_index[source.index] = source  # the latest search wins

    def annotations(self) -> list[dict[str, Any]]:
        return list(self._annotations)

    def sources(self) -> list[Source]:
        """Every recorded result, in block order."""
        return [s for group in self._blocks.values() for s in group]

    def feed(self, text: str) -> str:
        if self._held:
            text, self._held = self._held + text, ""
        if OPEN not in text:
            self._out += len(text)
            return text
        out: list[str] = []
        pos = 0
        while pos < len(text):
            pos = self._step(text, pos, out)
        return "".join(out)

    def flush(self) -> str:
        held, self._held = self._held, ""
        self._out += len(held)
        listing = self._listing()
        self._out += len(listing)
        return held + listing

    # --- internals -------------------------------------------------------------------------

    def _emit(self, out: list[str], piece: str) -> None:
        out.append(piece)
        self._out += len(piece)

    def _step(self, text: str, pos: int, out: list[str]) -> int:
        """Handle text[pos:] up to and including the next marker; return the new position."""
        start = text.find(OPEN, pos)
        if start == -1:
            self._emit(out, text[pos:])
            return len(text)
        self._emit(out, text[pos:start])
        end = text.find(CLOSE, start + 1)
        reopen = text.find(OPEN, start + 1, end if end != -1 else len(text))
        if end == -1 and reopen == -1 and len(text) - start <= self._max_marker:
            self._held = text[start:]  # may still become a marker
            return len(text)
        if end == -1 or reopen != -1 or end - start > self._max_marker:
            self._emit(out, OPEN)  # not a marker: release the bracket, scan on
            return start + 1
        marker = text[start:end + 1]
        self._emit(out, self._replacement(marker))
        return end + 1

    def _replacement(self, marker: str) -> str:
        source = self._resolve(marker[1:-1])
        if source is None:
            return marker
        cited = self._cite(source)
        link = markdown_link(cited.number, source.url)
        self._annotations.append({"type": "url_citation", "url_citation": {
            "url": source.url, "title": source.title,
            "start_index": self._out, "end_index": self._out + len(link)}})
        return link

    def _resolve(self, body: str) -> Source | None:
        key, _, rest = body.partition(DAGGER)
        key = key.strip()
        found = self._by_ref.get(key)
        if found is None and key.isdecimal():
            found = self._by_index.get(int(key))
        if found is None and rest:
            title, _, url = rest.rpartition(DAGGER)
            if _is_web_url(url.strip()):
                url = url.strip()
                found = Source(title=title.strip() or url, url=url,
                               index=int(key) if key.isdecimal() else 0)
        return found

    def _cite(self, source: Source) -> _Cited:
        cited = self._cited.get(source.url)
        if cited is None:
            number = len(self._cited) + 1
            if self._numbering == "upstream" and source.index:
                number = source.index
            cited = self._cited[source.url] = _Cited(number, source)
        return cited

    def _listing(self) -> str:
        if not self._sources_list:
            return ""
        entries = [(c.number, c.source) for c in self._cited.values()]
        uncited = not entries and self._list_uncited
        if uncited:
            entries = self._uncited_entries()
        if not entries:
            return ""
        lines = [f"{n}. [{s.title.translate(_TITLE_ESCAPES)}]({s.url.translate(_URL_ESCAPES)})"
                 for n, s in entries]
        listing = "\n\nSources:\n" + "\n".join(lines)
        if uncited:  # no marker cited them: the list's links are the citations
            self._annotate_listing(entries, lines)
        return listing

    def _annotate_listing(self, entries: list[tuple[int, Source]], lines: list[str]) -> None:
        start = self._out + len("\n\nSources:\n")
        for (number, source), line in zip(entries, lines, strict=True):
            link = start + len(f"{number}. ")
            self._annotations.append({"type": "url_citation", "url_citation": {
                "url": source.url, "title": source.title,
                "start_index": link, "end_index": start + len(line)}})
            start += len(line) + 1

    def _uncited_entries(self) -> list[tuple[int, Source]]:
        unique: dict[str, Source] = {}
        for source in self.sources():
            unique.setdefault(source.url, source)
        upstream = self._numbering == "upstream"
        return [(s.index if upstream and s.index else n, s)
                for n, s in enumerate(unique.values(), start=1)]
