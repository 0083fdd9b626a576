"""CitationFilter: search markers → markdown links, annotations and a source list."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fakes.zai_script import resolve_fixtures_dir
from zproxy.core.events import Content, Event, ToolBlock
from zproxy.providers.zai.buffer import MessageRenderer
from zproxy.providers.zai.search import search_results, search_sources
from zproxy.providers.zai.wire import parse_frame
from zproxy.sse import SSEDecoder
from zproxy.translate.citations import CitationFilter

FIXTURES = resolve_fixtures_dir(None)
URL1 = "https://redis.io/blog/redis-8-ga/"
URL2 = "https://redis.io/docs/latest/develop/data-types/vector-sets/"


def add_block(flt: CitationFilter, block: ToolBlock) -> None:
    """What the Z.AI decoder does with a search block: its results go to the filter."""
    results = search_results(block)
    if results is not None:
        flt.add_results(results)


def fixture_events(name: str) -> list[Event]:
    decoder, renderer = SSEDecoder(), MessageRenderer()
    events: list[Event] = []
    raw = (FIXTURES / name).read_bytes()
    for payload in decoder.feed(raw) + decoder.flush():
        frame = parse_frame(payload)
        if frame is not None:
            events += renderer.apply(frame)
    return events + renderer.finish()


def run(events: list[Event], flt: CitationFilter, *, char_chunks: bool = False) -> str:
    out = []
    for event in events:
        if isinstance(event, ToolBlock):
            add_block(flt, event)
        elif isinstance(event, Content):
            pieces = list(event.text) if char_chunks else [event.text]
            out += [flt.feed(piece) for piece in pieces]
    out.append(flt.flush())
    return "".join(out)


def search_block(results: list[dict[str, Any]] | None, result_text: Any = "",
                 block_id: str = "call_1") -> ToolBlock:
    browser = None if results is None else {"search_result": results}
    return ToolBlock(id=block_id, name="search", metadata={"id": block_id, "result": result_text},
                     browser=browser)


def result(index: int, url: str, title: str = "T", ref_id: str = "") -> dict[str, Any]:
    return {"title": title, "url": url, "index": index, "ref_id": ref_id}


def link_texts(content: str, flt: CitationFilter) -> list[str]:
    return [content[a["url_citation"]["start_index"]:a["url_citation"]["end_index"]]
            for a in flt.annotations()]


# --- the fixture, through the real pipeline ------------------------------------------------


def test_fixture_markers_become_links_with_sources() -> None:
    manifest = json.loads((FIXTURES / "manifest.json").read_text())["search_citations.sse"]
    flt = CitationFilter()
    content = run(fixture_events("search_citations.sse"), flt)
    assert "【" not in content
    assert f"Redis Open Source[[1]]({URL1})." in content
    assert f"similarity search[[2]]({URL2})." in content
    expected = manifest["expected_search_results"]
    listing = "\n".join(f"{r['index']}. [{r['title']}]({r['url']})" for r in expected)
    assert content.endswith("\n\nSources:\n" + listing)
    assert [s.ref_id for s in flt.sources()] == [r["ref_id"] for r in expected]


def test_fixture_annotations_point_at_link_text() -> None:
    flt = CitationFilter()
    content = run(fixture_events("search_citations.sse"), flt)
    assert link_texts(content, flt) == [f"[[1]]({URL1})", f"[[2]]({URL2})"]
    first = flt.annotations()[0]["url_citation"]
    assert first["url"] == URL1 and first["title"].startswith("Redis 8 is now GA")


def test_fixture_one_char_chunks_give_identical_results() -> None:
    whole, chars = CitationFilter(), CitationFilter()
    events = fixture_events("search_citations.sse")
    assert run(events, chars, char_chunks=True) == run(events, whole)
    assert chars.annotations() == whole.annotations()


def test_upstream_numbering_keeps_index() -> None:
    flt = CitationFilter(numbering="upstream", sources_list=False)
    block = search_block([result(7, URL1, ref_id="turn0search0")])
    add_block(flt, block)
    assert flt.feed("x【turn0search0】") == f"x[[7]]({URL1})"
    assert flt.flush() == ""


# --- markers --------------------------------------------------------------------------------


def test_numbering_follows_first_citation_and_repeats_reuse_number() -> None:
    flt = CitationFilter(sources_list=False)
    add_block(flt, search_block([result(1, URL1, ref_id="turn0search0"),
                                result(2, URL2, ref_id="turn0search1")]))
    out = flt.feed("a【turn0search1】 b【turn0search0】 c【turn0search1】") + flt.flush()
    assert out == f"a[[1]]({URL2}) b[[2]]({URL1}) c[[1]]({URL2})"
    assert len(flt.annotations()) == 3


@pytest.mark.parametrize("marker", ["【2】", "【2†L3-L9】", "【2†Vector sets†ignored】"])
def test_numeric_markers_use_upstream_index(marker: str) -> None:
    flt = CitationFilter(sources_list=False)
    add_block(flt, search_block([result(1, URL1), result(2, URL2)]))
    assert flt.feed(f"see{marker}.") == f"see[[1]]({URL2})."


def test_self_describing_marker_is_linked_without_a_block() -> None:
    flt = CitationFilter()
    out = flt.feed("x【3†Docs†https://example.com/a】") + flt.flush()
    assert out == "x[[1]](https://example.com/a)\n\nSources:\n1. [Docs](https://example.com/a)"


@pytest.mark.parametrize("text", ["【注意】这是", "【turn9search9】", "【99】", "【】", "a】b"])
def test_unknown_markers_and_plain_brackets_are_unchanged(text: str) -> None:
    flt = CitationFilter()
    add_block(flt, search_block([result(1, URL1, ref_id="turn0search0")]))
    assert flt.feed(text) + flt.flush() == text
    assert flt.annotations() == []


def test_text_without_bracket_passes_through_unchanged() -> None:
    flt = CitationFilter()
    text = "plain answer text"
    assert flt.feed(text) is text
    assert flt.flush() == ""


def test_incomplete_marker_is_held_then_released() -> None:
    flt = CitationFilter(sources_list=False)
    add_block(flt, search_block([result(1, URL1, ref_id="turn0search0")]))
    assert flt.feed("before 【turn0se") == "before "
    assert flt.feed("arch0】 after") == f"[[1]]({URL1}) after"
    assert flt.feed("tail 【unfinished") == "tail "
    assert flt.flush() == "【unfinished"


def test_hold_is_capped() -> None:
    flt = CitationFilter(max_marker=8)
    assert flt.feed("【1234") == ""
    assert flt.feed("56789xyz") == "【123456789xyz"
    assert flt.flush() == ""


def test_cap_applies_to_complete_markers_too() -> None:
    flt = CitationFilter(max_marker=8, sources_list=False)
    add_block(flt, search_block([result(1, URL1, ref_id="turn0search0")]))
    assert flt.feed("【turn0search0】") == "【turn0search0】"


def test_nested_open_bracket_restarts_marker() -> None:
    flt = CitationFilter(sources_list=False)
    add_block(flt, search_block([result(1, URL1, ref_id="turn0search0")]))
    text = "【x【turn0search0】"
    one = flt.feed(text) + flt.flush()
    assert one == f"【x[[1]]({URL1})"
    chars = CitationFilter(sources_list=False)
    add_block(chars, search_block([result(1, URL1, ref_id="turn0search0")]))
    assert "".join(chars.feed(c) for c in text) + chars.flush() == one
    assert chars.annotations() == flt.annotations()


def test_annotation_offsets_count_all_output() -> None:
    flt = CitationFilter(sources_list=False)
    add_block(flt, search_block([result(1, URL1, ref_id="turn0search0")]))
    out = flt.feed("你好 【tur") + flt.feed("n0search0】 and ") + flt.feed("again【turn0search0】")
    out += flt.flush()
    assert link_texts(out, flt) == [f"[[1]]({URL1})"] * 2


def test_url_with_parentheses_is_escaped() -> None:
    url = "https://en.wikipedia.org/wiki/Redis_(software)"
    flt = CitationFilter(sources_list=False)
    add_block(flt, search_block([result(1, url, ref_id="r")]))
    out = flt.feed("【r】")
    assert out == "[[1]](https://en.wikipedia.org/wiki/Redis_%28software%29)"
    assert flt.annotations()[0]["url_citation"]["url"] == url


# --- blocks and the source list -------------------------------------------------------------


def test_result_text_is_parsed_when_browser_is_missing() -> None:
    text = ("【1†Redis 8 GA†https://redis.io/blog/redis-8-ga/】\nsnippet\n\n"
            "【2†Vector sets | Docs†https://redis.io/docs/vs/】\nmore")
    sources = search_sources(search_block(None, text))
    assert [(s.index, s.title, s.url) for s in sources] == [
        (1, "Redis 8 GA", URL1), (2, "Vector sets | Docs", "https://redis.io/docs/vs/")]


def test_non_search_blocks_are_ignored() -> None:
    flt = CitationFilter()
    add_block(flt, ToolBlock(id="c", name="get_weather", metadata={"result": None}))
    add_block(flt, search_block([result(1, "javascript:alert(1)", ref_id="x")]))
    assert flt.sources() == []
    assert flt.feed("【x】") + flt.flush() == "【x】"


def test_later_version_of_a_block_replaces_the_earlier_one() -> None:
    flt = CitationFilter(sources_list=False)
    add_block(flt, search_block([result(1, URL1, ref_id="turn0search0")]))
    add_block(flt, search_block([result(1, URL2, ref_id="turn0search0")]))
    assert flt.feed("【turn0search0】") == f"[[1]]({URL2})"
    assert [s.url for s in flt.sources()] == [URL2]


def test_no_listing_without_citations_unless_asked() -> None:
    quiet = CitationFilter()
    add_block(quiet, search_block([result(1, URL1)]))
    assert quiet.feed("no cites") + quiet.flush() == "no cites"
    loud = CitationFilter(list_uncited=True)
    add_block(loud, search_block([result(1, URL1, title="A [b]"), result(2, URL1)]))
    assert loud.feed("x") + loud.flush() == f"x\n\nSources:\n1. [A \\[b\\]]({URL1})"


def test_sources_list_can_be_disabled() -> None:
    flt = CitationFilter(sources_list=False)
    add_block(flt, search_block([result(1, URL1, ref_id="r")]))
    assert flt.feed("a【r】") + flt.flush() == f"a[[1]]({URL1})"
    assert flt.stopped is False


@given(st.lists(st.sampled_from(["a", "【", "】", "turn0search0", "1", "†", "你", " "]),
                max_size=30),
       st.lists(st.integers(min_value=0, max_value=200), max_size=6))
def test_any_chunking_gives_the_same_output(tokens: list[str], cuts: list[int]) -> None:
    text = "".join(tokens)

    def fresh() -> CitationFilter:
        flt = CitationFilter(max_marker=12)
        add_block(flt, search_block([result(1, URL1, ref_id="turn0search0")]))
        return flt

    whole = fresh()
    expected = whole.feed(text) + whole.flush()
    bounds = [0, *sorted(c % (len(text) + 1) for c in cuts), len(text)]
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
    split = fresh()
    assert "".join(split.feed(p) for p in pieces) + split.flush() == expected
    assert split.annotations() == whole.annotations()
    for note in whole.annotations():
        span = note["url_citation"]
        assert expected[span["start_index"]:span["end_index"]] == f"[[1]]({URL1})"


def test_results_no_marker_cites_are_listed_and_annotated() -> None:
    """Providers without inline markers (LongCat): the source list's links are the citations."""
    from zproxy.core.events import SearchItem, SearchResults

    flt = CitationFilter(list_uncited=True)
    flt.add_results(SearchResults((SearchItem("Redis 8", URL1), SearchItem("Sets", URL2),
                                   SearchItem("Again", URL1)), query="redis"))
    text = flt.feed("Redis 8 is out.") + flt.flush()
    assert text == (f"Redis 8 is out.\n\nSources:\n1. [Redis 8]({URL1})\n2. [Sets]({URL2})")
    spans = [(a["url_citation"]["url"], text[a["url_citation"]["start_index"]:
                                             a["url_citation"]["end_index"]])
             for a in flt.annotations()]
    assert spans == [(URL1, f"[Redis 8]({URL1})"), (URL2, f"[Sets]({URL2})")]


def test_cited_sources_are_not_annotated_twice_in_the_list() -> None:
    flt = CitationFilter(list_uncited=True)
    add_block(flt, search_block([result(1, URL1, ref_id="turn0search0")]))
    text = flt.feed("See 【turn0search0】.") + flt.flush()
    assert text.endswith(f"\n\nSources:\n1. [T]({URL1})")
    assert link_texts(text, flt) == [f"[[1]]({URL1})"]  # the inline link only
