"""Z.AI search blocks → `SearchResults` (zai-protocol.md §8.3). Pure.

Server-run search blocks carry their results in `browser.search_result` (title, url, index,
ref_id), or, in older exports, only as `【N†title†url】` lines in the result text. The answer
cites them by ref_id or index; `zproxy.translate.citations` resolves those markers.
"""

from __future__ import annotations

import re
from typing import Any, Final

from zproxy.core.events import SearchItem, SearchResults, ToolBlock

# Z.AI: search result text lists `【N†title†url】\nsnippet` entries (seen 2025, exports).
_RESULT_ENTRY: Final = re.compile(r"【(\d+)†([^†】]*)†([^†】\s]+)】")


def _is_web_url(url: str) -> bool:
    return url.startswith(("https://", "http://"))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _from_browser(browser: dict[str, Any]) -> list[SearchItem]:
    results = browser.get("search_result")
    if not isinstance(results, list):
        return []
    sources = []
    for item in results:
        if isinstance(item, dict) and isinstance(item.get("url"), str):
            sources.append(SearchItem(title=str(item.get("title") or item["url"]),
                                      url=item["url"], index=_int(item.get("index")),
                                      ref_id=str(item.get("ref_id") or "")))
    return sources


def _from_result_text(result: Any) -> list[SearchItem]:
    if not isinstance(result, str) or "【" not in result:
        return []
    return [SearchItem(title=title.strip() or url, url=url, index=int(index))
            for index, title, url in _RESULT_ENTRY.findall(result)]


def search_sources(block: ToolBlock) -> list[SearchItem]:
    """The web results a tool block holds (http(s) URLs only); [] for other blocks."""
    sources = _from_browser(block.browser) if block.browser is not None else []
    if not sources:
        sources = _from_result_text(block.metadata.get("result"))
    return [s for s in sources if _is_web_url(s.url)]


def search_results(block: ToolBlock) -> SearchResults | None:
    """The block's results as an event keyed by the block id, or None for other blocks."""
    sources = search_sources(block)
    if not sources:
        return None
    query = block.metadata.get("arguments")
    return SearchResults(tuple(sources), query=query if isinstance(query, str) else "",
                         key=block.id)
