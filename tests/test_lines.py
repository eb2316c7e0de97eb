"""The incremental line, SSE and NDJSON decoders of llm_connector.lines: one behaviour per test."""

import time
from typing import Iterable, List

import pytest

from llm_connector.lines import (
    LineDecoder,
    NDJSONDecoder,
    ServerSentEvent,
    SSEDecoder,
    iter_ndjson,
    iter_sse,
)

# Characters str.splitlines() splits at, which JSON strings may carry raw. Only CR and LF end lines.
SPLITLINES_ONLY = "\u2028\u2029\u0085\x0b\x0c\x1c\x1d\x1e"


def sse(*reads: bytes) -> List[ServerSentEvent]:
    """Decode a body given as reads, flush included."""
    return list(iter_sse(reads))


def sse_fed(reads: Iterable[bytes]) -> List[ServerSentEvent]:
    """Decode reads without the final flush: only events dispatched by a blank line."""
    decoder = SSEDecoder()
    events: List[ServerSentEvent] = []
    for read in reads:
        events.extend(decoder.feed(read))
    return events


def bytewise(body: bytes) -> List[bytes]:
    return [body[i : i + 1] for i in range(len(body))]


def lines(*reads: bytes) -> List[str]:
    decoder = LineDecoder()
    out: List[str] = []
    for read in reads:
        out.extend(decoder.feed(read))
    return out + decoder.flush()


# ---------------------------------------------------------------- ServerSentEvent


def test_event_defaults_to_type_message_no_id_and_no_retry() -> None:
    event = ServerSentEvent("x")
    assert (event.data, event.event, event.id, event.retry) == ("x", "message", "", None)


def test_events_compare_equal_on_all_four_fields() -> None:
    assert ServerSentEvent("x", "e", "1", 5) == ServerSentEvent("x", "e", "1", 5)
    assert ServerSentEvent("x", "e", "1", 5) != ServerSentEvent("y", "e", "1", 5)
    assert ServerSentEvent("x", "e", "1", 5) != ServerSentEvent("x", "f", "1", 5)
    assert ServerSentEvent("x", "e", "1", 5) != ServerSentEvent("x", "e", "2", 5)
    assert ServerSentEvent("x", "e", "1", 5) != ServerSentEvent("x", "e", "1", None)


def test_event_does_not_equal_other_types() -> None:
    assert ServerSentEvent("x") != "x"


def test_event_repr_shows_the_fields_that_are_set() -> None:
    assert repr(ServerSentEvent("x")) == "ServerSentEvent(data='x')"
    assert repr(ServerSentEvent("x", "e", "7", 10)) == "ServerSentEvent(data='x', event='e', id='7', retry=10)"


def test_event_has_slots_and_no_dict() -> None:
    assert not hasattr(ServerSentEvent("x"), "__dict__")


def test_event_json_parses_the_data() -> None:
    assert ServerSentEvent('{"a": [1, 2]}').json() == {"a": [1, 2]}


def test_event_json_raises_value_error_on_invalid_json() -> None:
    with pytest.raises(ValueError):
        ServerSentEvent("[DONE]").json()


# ---------------------------------------------------------------- LineDecoder


def test_line_decoder_ends_lines_at_lf_cr_and_crlf() -> None:
    assert lines(b"a\nb\rc\r\nd\n") == ["a", "b", "c", "d"]


def test_line_decoder_flush_returns_the_last_line_without_terminator() -> None:
    decoder = LineDecoder()
    assert decoder.feed(b"a\nb") == ["a"]
    assert decoder.flush() == ["b"]


def test_line_decoder_flush_returns_nothing_after_a_terminated_line() -> None:
    decoder = LineDecoder()
    assert decoder.feed(b"a\n") == ["a"]
    assert decoder.flush() == []


def test_line_decoder_joins_a_line_spread_over_many_reads() -> None:
    assert lines(b"ab", b"cd", b"e", b"f\ngh", b"i") == ["abcdef", "ghi"]


def test_crlf_split_across_reads_is_one_line_end() -> None:
    assert lines(b"a\r", b"\nb\r\n") == ["a", "b"]


def test_cr_at_end_of_read_ends_its_line_without_waiting_for_the_next_read() -> None:
    decoder = LineDecoder()
    assert decoder.feed(b"a\r") == ["a"]
    assert decoder.feed(b"\n") == []
    assert decoder.feed(b"b\n") == ["b"]


def test_lf_after_held_cr_is_swallowed_even_after_an_empty_read() -> None:
    assert lines(b"a\r", b"", b"\nb\n") == ["a", "b"]


def test_cr_at_end_of_read_followed_by_cr_is_an_empty_line() -> None:
    assert lines(b"a\r", b"\rb\n") == ["a", "", "b"]


def test_trailing_cr_at_end_of_body_gives_no_extra_line() -> None:
    assert lines(b"a\r") == ["a"]


def test_cr_cr_lf_is_two_line_ends() -> None:
    assert lines(b"a\r\r\nb\n") == ["a", "", "b"]


def test_lines_do_not_end_at_characters_splitlines_splits_at() -> None:
    text = "a" + "b".join(SPLITLINES_ONLY) + "z"
    assert lines(text.encode("utf-8") + b"\n") == [text]


def test_multibyte_character_split_across_reads_comes_out_whole() -> None:
    body = "é€😀".encode() + b"\n"
    assert lines(*bytewise(body)) == ["é€😀"]


def test_invalid_utf8_becomes_replacement_character() -> None:
    assert lines(b"a\xff\xfeb\n") == ["a\ufffd\ufffdb"]


def test_truncated_utf8_at_end_of_body_becomes_replacement_character() -> None:
    assert lines(b"a\xf0\x9f") == ["a\ufffd"]


def test_leading_bom_is_dropped() -> None:
    assert lines(b"\xef\xbb\xbfa\n") == ["a"]


def test_leading_bom_split_across_reads_is_dropped() -> None:
    assert lines(b"\xef", b"\xbb", b"\xbfa\n") == ["a"]


def test_bom_after_the_start_of_the_stream_is_kept() -> None:
    assert lines(b"a\n\xef\xbb\xbfb\n") == ["a", "\ufeffb"]


def test_only_one_leading_bom_is_dropped() -> None:
    assert lines(b"\xef\xbb\xbf\xef\xbb\xbfa\n") == ["\ufeffa"]


# ---------------------------------------------------------------- SSE: the WHATWG examples


def test_spec_example_stock_data_lines_are_joined_with_newlines() -> None:
    assert sse(b"data: YHOO\ndata: +2\ndata: 10\n\n") == [ServerSentEvent("YHOO\n+2\n10")]


def test_spec_example_comment_ids_and_spaces() -> None:
    body = b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n"
    assert sse(body) == [
        ServerSentEvent("first event", id="1"),
        ServerSentEvent("second event", id=""),
        ServerSentEvent(" third event", id=""),
    ]


def test_spec_example_empty_data_lines_give_empty_and_newline_events() -> None:
    assert sse_fed([b"data\n\ndata\ndata\n\ndata:"]) == [ServerSentEvent(""), ServerSentEvent("\n")]


def test_spec_example_final_data_without_blank_line_is_dispatched_at_flush() -> None:
    # Deliberate deviation: the spec discards the last `data:`; a data field was seen, so flush dispatches it.
    assert sse(b"data\n\ndata\ndata\n\ndata:") == [ServerSentEvent(""), ServerSentEvent("\n"), ServerSentEvent("")]


def test_spec_example_space_after_colon_is_optional() -> None:
    assert sse(b"data:test\n\ndata: test\n\n") == [ServerSentEvent("test"), ServerSentEvent("test")]


# ---------------------------------------------------------------- SSE: fields


def test_only_one_space_after_the_colon_is_removed() -> None:
    assert sse(b"data:  x\n\n") == [ServerSentEvent(" x")]


def test_tab_after_the_colon_is_kept() -> None:
    assert sse(b"data:\tx\n\n") == [ServerSentEvent("\tx")]


def test_value_keeps_later_colons() -> None:
    assert sse(b'data: {"a": "b:c"}\n\n') == [ServerSentEvent('{"a": "b:c"}')]


def test_line_without_colon_is_a_field_with_empty_value() -> None:
    assert sse(b"data\n\n") == [ServerSentEvent("")]


def test_comment_lines_are_ignored() -> None:
    assert sse(b": ping\n:\n\ndata: x\n: between\ndata: y\n\n") == [ServerSentEvent("x\ny")]


def test_comment_only_stream_gives_no_events() -> None:
    assert sse(b": keep-alive\n\n: keep-alive\n\n") == []


def test_event_field_sets_the_type() -> None:
    assert sse(b"event: delta\ndata: x\n\n") == [ServerSentEvent("x", event="delta")]


def test_empty_event_field_gives_type_message() -> None:
    assert sse(b"event:\ndata: x\n\n") == [ServerSentEvent("x", event="message")]


def test_event_type_does_not_carry_over_to_the_next_event() -> None:
    assert sse(b"event: a\ndata: 1\n\ndata: 2\n\n") == [ServerSentEvent("1", "a"), ServerSentEvent("2")]


def test_blank_line_without_data_dispatches_nothing_but_resets_the_type() -> None:
    assert sse(b"event: lost\n\ndata: x\n\n") == [ServerSentEvent("x", event="message")]


def test_last_event_id_persists_across_events() -> None:
    assert sse(b"id: 7\ndata: a\n\ndata: b\n\n") == [ServerSentEvent("a", id="7"), ServerSentEvent("b", id="7")]


def test_id_set_in_an_event_without_data_applies_to_later_events() -> None:
    assert sse(b"id: 3\n\ndata: a\n\n") == [ServerSentEvent("a", id="3")]


def test_empty_id_field_resets_the_last_event_id() -> None:
    assert sse(b"id: 7\ndata: a\n\nid:\ndata: b\n\n") == [ServerSentEvent("a", id="7"), ServerSentEvent("b")]


def test_id_containing_nul_is_ignored() -> None:
    assert sse(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n") == [
        ServerSentEvent("a", id="1"),
        ServerSentEvent("b", id="1"),
    ]


def test_retry_with_ascii_digits_is_an_int() -> None:
    assert sse(b"retry: 3000\ndata: x\n\n") == [ServerSentEvent("x", retry=3000)]


@pytest.mark.parametrize("value", [b"", b"10a", b"-1", b"+5", b" 5", b"1.5", "\u0663".encode("utf-8"), b"\xc2\xb2"])
def test_retry_that_is_not_all_ascii_digits_is_ignored(value: bytes) -> None:
    assert sse(b"retry: " + value + b"\ndata: x\n\n") == [ServerSentEvent("x", retry=None)]


def test_retry_belongs_to_the_next_dispatched_event_only() -> None:
    assert sse(b"retry: 5\n\ndata: a\n\ndata: b\n\n") == [ServerSentEvent("a", retry=5), ServerSentEvent("b")]


def test_unknown_fields_are_ignored() -> None:
    assert sse(b"foo: bar\ndata: x\nbaz\n\n") == [ServerSentEvent("x")]


def test_field_names_are_case_sensitive() -> None:
    assert sse(b"Data: x\nEVENT: y\ndata: z\n\n") == [ServerSentEvent("z")]


def test_data_value_is_not_split_at_characters_splitlines_splits_at() -> None:
    data = '{"t": "a' + "b".join(SPLITLINES_ONLY) + 'z"}'
    assert sse(b"data: " + data.encode("utf-8") + b"\n\n") == [ServerSentEvent(data)]


def test_sse_invalid_utf8_becomes_replacement_character() -> None:
    assert sse(b"data: \xff\xfe\n\n") == [ServerSentEvent("\ufffd\ufffd")]


def test_sse_multibyte_character_split_across_reads_comes_out_whole() -> None:
    body = "data: ü😀\n\n".encode()
    assert sse(body[:7], body[7:10], body[10:]) == [ServerSentEvent("ü😀")]


# ---------------------------------------------------------------- SSE: line ends and dispatch


def test_sse_accepts_cr_line_ends() -> None:
    assert sse(b"event: e\rdata: a\rdata: b\r\r") == [ServerSentEvent("a\nb", "e")]


def test_sse_accepts_crlf_line_ends() -> None:
    assert sse(b"event: e\r\ndata: a\r\ndata: b\r\n\r\n") == [ServerSentEvent("a\nb", "e")]


def test_crlf_split_across_reads_does_not_dispatch_early() -> None:
    assert sse(b"data: a\r", b"\ndata: b\r\n\r\n") == [ServerSentEvent("a\nb")]


def test_cr_ended_blank_line_at_end_of_read_dispatches_at_once() -> None:
    assert sse_fed([b"data: a\r\r"]) == [ServerSentEvent("a")]


def test_leading_bom_split_across_reads_is_dropped_before_the_first_field() -> None:
    assert sse(b"\xef", b"\xbb", b"\xbfdata: x\n\n") == [ServerSentEvent("x")]


def test_bom_in_the_middle_of_the_stream_is_part_of_the_field_name() -> None:
    assert sse(b"data: a\n\n\xef\xbb\xbfdata: b\n\n") == [ServerSentEvent("a")]


def test_event_is_dispatched_only_at_the_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\n") == [ServerSentEvent("a")]


def test_one_read_can_complete_many_events() -> None:
    body = b"".join(b"data: %d\n\n" % i for i in range(50))
    assert sse_fed([body]) == [ServerSentEvent(str(i)) for i in range(50)]


def test_flush_dispatches_the_last_event_without_a_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: done\ndata: a\n") == []
    assert decoder.flush() == [ServerSentEvent("a", "done")]


def test_flush_dispatches_the_last_event_without_any_line_end() -> None:
    assert sse(b"data: a\n\ndata: [DONE]") == [ServerSentEvent("a"), ServerSentEvent("[DONE]")]


def test_flush_dispatches_nothing_without_a_data_field() -> None:
    assert sse(b"data: a\n\nevent: x\nid: 9\nretry: 5\n") == [ServerSentEvent("a")]


def test_flush_does_not_repeat_an_event_already_dispatched() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\n") == [ServerSentEvent("a")]
    assert decoder.flush() == []


def test_one_byte_reads_give_the_same_events_as_one_read() -> None:
    body = (
        b"\xef\xbb\xbf: hi\r\nretry: 10\r\nevent: a\r\ndata: x\xc3\xa9\r\n\r\nid: 5\rdata:  y\rdata\r\r"
        b'data: {"t": "\xe2\x80\xa8\xf0\x9f\x98\x80"}\n\ndata: end'
    )
    whole = sse(body)
    assert len(whole) == 4
    assert sse(*bytewise(body)) == whole


def test_a_line_of_many_megabytes_is_decoded_in_linear_time() -> None:
    def seconds(size: int) -> float:
        body = b"data: " + b"x" * size + b"\n\n"
        reads = [body[i : i + 1024] for i in range(0, len(body), 1024)]
        start = time.perf_counter()
        events = sse(*reads)
        elapsed = time.perf_counter() - start
        assert len(events[0].data) == size
        return elapsed

    small = min(seconds(1 << 20) for _ in range(3))
    large = min(seconds(4 << 20) for _ in range(3))
    assert large < 5.0
    assert large < 8 * small + 0.05  # linear gives ~4x; quadratic ~16x


# ---------------------------------------------------------------- NDJSON


def ndjson(*reads: bytes) -> List[str]:
    return list(iter_ndjson(reads))


def test_ndjson_gives_one_document_per_line() -> None:
    assert ndjson(b'{"a": 1}\n{"b": 2}\n') == ['{"a": 1}', '{"b": 2}']


def test_ndjson_skips_blank_and_whitespace_only_lines() -> None:
    assert ndjson(b'\n{"a": 1}\n\n  \n\t\n{"b": 2}\n\n') == ['{"a": 1}', '{"b": 2}']


def test_ndjson_flush_returns_the_last_line_without_line_end() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"a": 1}\n{"b"') == ['{"a": 1}']
    assert decoder.feed(b": 2}") == []
    assert decoder.flush() == ['{"b": 2}']


def test_ndjson_accepts_cr_and_crlf_line_ends() -> None:
    assert ndjson(b"1\r2\r\n3\n") == ["1", "2", "3"]


def test_ndjson_crlf_split_across_reads_is_one_line_end() -> None:
    assert ndjson(b"1\r", b"\n2\r", b"\n") == ["1", "2"]


def test_ndjson_lines_do_not_end_at_characters_splitlines_splits_at() -> None:
    doc = '{"t": "' + "x".join(SPLITLINES_ONLY) + '"}'
    assert ndjson(doc.encode("utf-8") + b"\n") == [doc]


def test_ndjson_multibyte_character_split_across_reads_comes_out_whole() -> None:
    assert ndjson(*bytewise('{"t": "日本😀"}\n'.encode())) == ['{"t": "日本😀"}']


def test_ndjson_leading_bom_is_dropped() -> None:
    assert ndjson(b"\xef\xbb", b'\xbf{"a": 1}\n') == ['{"a": 1}']


def test_ndjson_does_not_parse_the_lines() -> None:
    assert ndjson(b"not json\n") == ["not json"]


def test_ndjson_invalid_utf8_becomes_replacement_character() -> None:
    assert ndjson(b'"\xff"\n') == ['"\ufffd"']


def test_iter_ndjson_accepts_any_iterable_of_chunks() -> None:
    assert list(iter_ndjson(iter([b"1\n", b"2"]))) == ["1", "2"]


def test_iter_sse_accepts_a_generator_of_chunks() -> None:
    def chunks() -> Iterable[bytes]:
        yield b"data: a\n\nda"
        yield b"ta: b"

    assert list(iter_sse(chunks())) == [ServerSentEvent("a"), ServerSentEvent("b")]


# ---------------------------------------------------------------- feed_pairs (for protocol decoders)


def test_feed_pairs_gives_each_event_as_its_type_and_data() -> None:
    body = b"event: delta\ndata: a\ndata: b\n\n: comment\nid: 7\nretry: 10\ndata: c\n\ndata: last"
    decoder = SSEDecoder()
    assert decoder.feed_pairs(body) == [("delta", "a\nb"), ("message", "c")]
    assert decoder.flush_pairs() == [("message", "last")]


def test_feed_pairs_and_feed_agree_on_every_cut_of_a_body() -> None:
    body = (b"\xef\xbb\xbfevent: x\r\ndata: caf\xc3\xa9\r\n\r\ndata:no space\n\nevent: \ndata: \xe2\x80\xa8\r\rdata: z")
    whole = [(e.event, e.data) for e in iter_sse([body])]
    assert whole == [("x", "café"), ("message", "no space"), ("message", "\u2028"), ("message", "z")]
    for cut in range(len(body) + 1):
        decoder = SSEDecoder()
        assert decoder.feed_pairs(body[:cut]) + decoder.feed_pairs(body[cut:]) + decoder.flush_pairs() == whole
