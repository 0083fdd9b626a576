"""SSEDecoder: the same payloads whatever the chunk boundaries (house style rule 7/12)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.fixture_data import SSE_FILES, decode, split_at, sse_bytes
from zproxy.sse import SSEDecodeError, SSEDecoder

FAST = settings(max_examples=50, deadline=None)


def _bytewise(data: bytes) -> list[bytes]:
    return [data[i:i + 1] for i in range(len(data))]


def _data_lines(data: bytes) -> list[str]:
    return [line[len("data: "):] for line in data.decode("utf-8").split("\n")
            if line.startswith("data: ")]


# --- fixtures, every chunking ------------------------------------------------------------


@pytest.mark.parametrize("name", SSE_FILES)
def test_fixture_whole_body_yields_one_payload_per_data_line(name: str) -> None:
    data = sse_bytes(name)
    assert decode([data]) == _data_lines(data)


@pytest.mark.parametrize("name", SSE_FILES)
def test_fixture_byte_by_byte_matches_whole(name: str) -> None:
    data = sse_bytes(name)
    assert decode(_bytewise(data)) == decode([data])


@pytest.mark.parametrize("name", SSE_FILES)
@pytest.mark.parametrize("newline", [b"\r\n", b"\r"])
def test_fixture_with_other_line_endings_matches(name: str, newline: bytes) -> None:
    data = sse_bytes(name)
    converted = data.replace(b"\n", newline)
    assert decode([converted]) == decode([data])
    assert decode(_bytewise(converted)) == decode([data])


@FAST
@given(name=st.sampled_from(SSE_FILES), cuts=st.lists(st.integers(0, 5000), max_size=40),
       newline=st.sampled_from([b"\n", b"\r\n", b"\r"]))
def test_fixture_random_split_points_match_whole(name: str, cuts: list[int],
                                                 newline: bytes) -> None:
    data = sse_bytes(name).replace(b"\n", newline)
    assert decode(split_at(data, cuts)) == decode([sse_bytes(name)])


# --- line endings ------------------------------------------------------------------------


def test_crlf_split_between_cr_and_lf_is_one_line_end() -> None:
    # a CR at a chunk end followed by LF must not count as two line ends (= an empty line)
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\ndata: b\r") == []
    assert decoder.feed(b"\n\r") == ["a\nb"]
    assert decoder.feed(b"\n") == []
    assert decoder.flush() == []


def test_empty_chunk_between_cr_and_lf_changes_nothing() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b"data: a\r") + decoder.feed(b"") + decoder.feed(b"\ndata: b\n\n")
    assert events == ["a\nb"]


def test_cr_cr_is_two_line_ends() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\r") == ["a"]


def test_mixed_line_endings_in_one_stream() -> None:
    data = b"data: one\r\n\r\ndata: two\r\rdata: three\n\ndata: four\r\n\n"
    assert decode([data]) == ["one", "two", "three", "four"]
    assert decode(_bytewise(data)) == ["one", "two", "three", "four"]


# --- fields ------------------------------------------------------------------------------


def test_multi_line_data_joined_with_newline() -> None:
    assert decode([b"data: a\ndata: b\ndata:\ndata: c\n\n"]) == ["a\nb\n\nc"]


def test_only_one_leading_space_is_removed() -> None:
    assert decode([b"data:x\n\ndata:  y\n\n"]) == ["x", " y"]


def test_empty_data_field_dispatches_empty_payload() -> None:
    assert decode([b"data:\n\n"]) == [""]


def test_comments_event_id_retry_are_ignored() -> None:
    data = (b": keep-alive\n\nevent: message\nid: 7\nretry: 100\ndata: x\n: note\n\n"
            b"event: ping\nid: 8\n\n")
    assert decode([data]) == ["x"]
    assert decode(_bytewise(data)) == ["x"]


def test_blank_lines_without_data_dispatch_nothing() -> None:
    assert decode([b"\n\n\n\r\n\r\n"]) == []


def test_done_sentinel_is_a_plain_payload() -> None:
    assert decode([b'data: {"a":1}\n\ndata: [DONE]\n\n']) == ['{"a":1}', "[DONE]"]


# --- end of stream -----------------------------------------------------------------------


@pytest.mark.parametrize("tail", [b"data: last", b"data: last\n", b"data: last\r",
                                  b"data: last\r\n"])
def test_unterminated_last_event_is_delivered_by_flush(tail: bytes) -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: first\n\n" + tail) == ["first"]
    assert decoder.flush() == ["last"]


def test_flush_on_empty_stream_is_empty() -> None:
    assert SSEDecoder().flush() == []


def test_flush_after_complete_stream_is_empty() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\n\n") == ["x"]
    assert decoder.flush() == []


# --- UTF-8 -------------------------------------------------------------------------------


def test_multibyte_character_split_at_every_byte() -> None:
    data = "data: 你好，世界 ünï 🙂\n\n".encode()
    for cut in range(len(data) + 1):
        assert decode([data[:cut], data[cut:]]) == ["你好，世界 ünï 🙂"], cut
    assert decode(_bytewise(data)) == ["你好，世界 ünï 🙂"]


@FAST
@given(text=st.text(st.characters(blacklist_categories=("Cs",),
                                  blacklist_characters="\r\n"), max_size=40),
       cuts=st.lists(st.integers(0, 400), max_size=10))
def test_any_text_survives_any_split(text: str, cuts: list[int]) -> None:
    data = f"data: {text}\n\n".encode()
    assert decode(split_at(data, cuts)) == [text]  # exactly one space after "data:" goes


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert decode([b"data: a\xffb\n\n"]) == ["a\ufffdb"]


# --- size limit --------------------------------------------------------------------------


def test_line_growing_past_limit_without_newline_raises() -> None:
    decoder = SSEDecoder(max_pending_chars=100)
    decoder.feed(b"data: " + b"x" * 50)
    with pytest.raises(SSEDecodeError):
        decoder.feed(b"x" * 60)


def test_single_chunk_past_limit_raises() -> None:
    with pytest.raises(SSEDecodeError):
        SSEDecoder(max_pending_chars=100).feed(b"data: " + b"x" * 200)


def test_limit_counts_the_tail_after_a_newline_too() -> None:
    # the unterminated line after the last newline of a chunk is pending as well
    decoder = SSEDecoder(max_pending_chars=100)
    with pytest.raises(SSEDecodeError):
        decoder.feed(b"data: a\n" + b"data: " + b"x" * 200)


def test_event_of_many_data_lines_past_limit_raises() -> None:
    # "An event grew past the size limit without ending": no blank line ever comes
    decoder = SSEDecoder(max_pending_chars=100)
    with pytest.raises(SSEDecodeError):
        for _ in range(50):
            decoder.feed(b"data: 0123456789\n")


def test_events_under_limit_are_fine_however_many() -> None:
    decoder = SSEDecoder(max_pending_chars=100)
    for _ in range(200):
        assert decoder.feed(b"data: " + b"y" * 80 + b"\n\n") == ["y" * 80]


def test_whole_event_reads_with_odd_events_inside_match_line_by_line() -> None:
    # the fast path takes whole `data: …` events; anything else in the same read falls back
    raw = (b'data: {"a":1}\n\n: comment\ndata: x\n\ndata:nospace\n\nevent: e\ndata: l1\n'
           b'data: l2\n\n\n\ndata: \xff\xfe\n\ndata: [DONE]\n\n')
    whole = SSEDecoder().feed(raw)
    one_byte_at_a_time = SSEDecoder()
    pieces = [p for i in range(len(raw)) for p in one_byte_at_a_time.feed(raw[i:i + 1])]
    assert whole == pieces == ['{"a":1}', "x", "nospace", "l1\nl2", "\ufffd\ufffd", "[DONE]"]


def test_a_read_after_a_split_character_takes_the_careful_path() -> None:
    decoder = SSEDecoder()
    encoded = "data: 你好\n\n".encode()
    assert decoder.feed(encoded[:8]) == []  # ends inside 你
    assert decoder.feed(encoded[8:] + b"data: b\n\n") == ["你好", "b"]
