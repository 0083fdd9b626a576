"""The provider-neutral core: text reconstructors, the Open WebUI markup splitter, failure
classification (providers.md §3.2). Pure; no server."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.fixture_data import split_at
from zproxy import errors
from zproxy.core.events import Content, Event, Reasoning
from zproxy.core.failures import outcome_of, upstream_error
from zproxy.core.markup import ReasoningSplitter, split_markup
from zproxy.core.text import Append, Snapshot

FAST = settings(max_examples=60, deadline=None)

# providers.md §1.11 K1: K2Think 2025 snapshots; the <details> attributes change between them
K1 = [
    '<details type="reasoning" done="false">\n<summary>Thinking…</summary>\n'
    "> The user asks for 2+2.",
    '<details type="reasoning" done="true" duration="1">\n<summary>Thought for 1 seconds'
    "</summary>\n> The user asks for 2+2. That is 4.\n</details>\n<answer>2 + 2",
    '<details type="reasoning" done="true" duration="1">\n<summary>Thought for 1 seconds'
    "</summary>\n> The user asks for 2+2. That is 4.\n</details>\n<answer>2 + 2 = 4</answer>",
]
# §1.11 K4: the 2026 guest stream, no answer tags
K4 = ['<details type="reasoning">\n> Simple arithmetic.\n',
      '<details type="reasoning">\n> Simple arithmetic.\n</details>\n4']


def _texts(events: list[Event]) -> tuple[str, str]:
    return ("".join(e.text for e in events if isinstance(e, Reasoning)),
            "".join(e.text for e in events if isinstance(e, Content)))


def _split_snapshots(snapshots: list[str]) -> tuple[list[str], list[str], int]:
    reasoning, answer = Snapshot(), Snapshot()
    r_out, a_out = [], []
    for snap in snapshots:
        r, a = split_markup(snap)
        r_out.append(reasoning.feed(r))
        a_out.append(answer.feed(a))
    return r_out, a_out, reasoning.rewrites + answer.rewrites


# --- text reconstructors -------------------------------------------------------------------


def test_append_keeps_every_delta() -> None:
    text = Append()
    assert [text.feed(p) for p in ("a", "", "bc")] == ["a", "", "bc"]
    assert text.text == "abc"


def test_snapshot_returns_only_the_new_suffix() -> None:
    snap = Snapshot()
    assert [snap.feed(s) for s in ("He", "Hell", "Hello", "Hello")] == ["He", "ll", "o", ""]
    assert snap.text == "Hello" and snap.rewrites == 0


def test_a_late_shorter_snapshot_changes_nothing() -> None:
    snap = Snapshot()
    snap.feed("Hello world")
    assert snap.feed("Hello") == "" and snap.text == "Hello world" and snap.rewrites == 0


def test_a_rewrite_continues_from_the_first_differing_character_by_default() -> None:
    snap = Snapshot()
    snap.feed("The answer is 5")
    assert snap.feed("The answer is 4, sorry") == "4, sorry"
    assert snap.rewrites == 1 and snap.last_rewrite
    assert snap.feed("The answer is 4, sorry!") == "!" and not snap.last_rewrite


def test_the_ignore_policy_sends_only_what_lies_beyond_the_old_length() -> None:
    snap = Snapshot("ignore")
    snap.feed("abcdef")
    assert snap.feed("abXdefgh") == "gh" and snap.rewrites == 1
    assert snap.feed("abXdefghi") == "i"


# --- Open WebUI markup ---------------------------------------------------------------------


def test_k1_snapshots_split_and_diffed_give_clean_deltas_without_rewrites() -> None:
    reasoning, answer, rewrites = _split_snapshots(K1)
    assert reasoning == ["The user asks for 2+2.", " That is 4.", ""]
    assert answer == ["", "2 + 2", " = 4"]
    assert rewrites == 0  # the changing <details> attributes are not text


def test_k4_2026_markup_has_no_answer_tags() -> None:
    reasoning, answer, _ = _split_snapshots(K4)
    assert "".join(reasoning) == "Simple arithmetic." and "".join(answer) == "4"


def test_think_and_answer_tags_of_non_stream_bodies() -> None:
    assert split_markup("<think>Add 2 and 2.</think>\n<answer>4</answer>", final=True) == (
        "Add 2 and 2.", "4")


def test_quoted_reasoning_keeps_its_lines_and_loses_the_markers() -> None:
    text = '<details type="reasoning">\n> line one\n>\n> line two\n</details>\n\nThe end.'
    assert split_markup(text, final=True) == ("line one\n\nline two", "The end.")


def test_text_that_only_looks_like_markup_passes_through() -> None:
    text = "a < b, <b>bold</b> and <detail> stay; > quotes outside reasoning too"
    assert split_markup(text, final=True) == ("", text)


def test_other_details_blocks_are_answer_text() -> None:
    text = '<details type="code">x</details>'
    assert split_markup(text, final=True) == ("", text)


def test_a_partial_tag_is_held_until_it_is_decided() -> None:
    splitter = ReasoningSplitter()
    assert _texts(splitter.feed("Answer <det")) == ("", "Answer")
    assert _texts(splitter.feed("ails type=\"reasoning\">\n> why")) == ("why", "")
    assert _texts(splitter.feed("\n</deta")) == ("", "")
    assert _texts(splitter.feed("ils>\nmore")) == ("", "\n\nmore")
    assert _texts(splitter.flush()) == ("", "")


def test_flush_releases_a_held_piece_that_never_became_markup() -> None:
    splitter = ReasoningSplitter()
    assert _texts(splitter.feed("x <ans")) == ("", "x")
    assert _texts(splitter.flush()) == ("", " <ans")


@FAST
@given(cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
       which=st.sampled_from([K1[-1], K4[-1], "<think>a\nb</think><answer>c</answer>",
                              '<details type="reasoning">\n> x < y\n></details>z <q>']))
def test_any_chunking_gives_the_same_text_and_never_leaks_markup(cuts: list[int],
                                                               which: str) -> None:
    whole = split_markup(which, final=True)
    splitter = ReasoningSplitter()
    events: list[Event] = []
    for piece in split_at(which, cuts):
        events += splitter.feed(piece)
    events += splitter.flush()
    assert _texts(events) == whole
    for event in events:
        assert isinstance(event, Reasoning | Content)
        assert "<details" not in event.text and "</details" not in event.text
        assert "<summary" not in event.text and "<answer>" not in event.text


# --- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "cls", "status", "retryable", "outcome"), [
    ("auth", errors.UpstreamAuthError, 502, True, "auth_failed"),
    ("rate_limit", errors.UpstreamRateLimitError, 429, True, "rate_limited"),
    ("captcha", errors.UpstreamCaptchaError, 502, True, "captcha"),
    ("blocked", errors.UpstreamBlockedError, 502, False, "banned"),
    ("model_not_found", errors.UpstreamModelNotFound, 502, False, "ok"),
    ("content_filter", errors.UpstreamContentFilter, 502, False, "ok"),
    ("bad_request", errors.UpstreamBadRequest, 502, False, "ok"),
    ("internal", errors.UpstreamInternalError, 502, True, "ok"),
    ("upstream", errors.UpstreamUnavailable, 502, True, "ok"),
    ("timeout", errors.UpstreamTimeout, 504, True, "ok"),
    ("protocol", errors.UpstreamProtocolError, 502, False, "ok"),
])
def test_each_kind_is_one_exception_of_the_tree(kind: str, cls: type, status: int,
                                               retryable: bool, outcome: str) -> None:
    error = upstream_error(kind, f"k2think: {kind}", http_status=418,  # type: ignore[arg-type]
                           retry_after_s=7.0)
    assert type(error) is cls and error.status == status and error.retryable is retryable
    assert error.upstream_status == 418 and error.retry_after_s == 7.0
    assert error.message == f"k2think: {kind}"
    assert errors.to_openai_error(error)[1]["error"]["code"] == cls.default_code
    assert outcome_of(error) == outcome


def test_no_credential_and_no_error_say_nothing_about_a_credential() -> None:
    assert outcome_of(None) == "ok"
    assert outcome_of(errors.NoUpstreamCredential("none")) == "ok"
