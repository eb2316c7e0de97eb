"""Property tests of llm_connector.lines: any cut of the body into reads gives the same result as no cut."""

import json
from typing import Any, List, Optional, Tuple

from hypothesis import given, settings
from hypothesis import strategies as st

from llm_connector.lines import NDJSONDecoder, ServerSentEvent, SSEDecoder, iter_ndjson, iter_sse

FUZZ = settings(max_examples=200, deadline=None)

# Text without CR and LF (and without surrogates, which UTF-8 cannot carry), rich in the characters that
# str.splitlines() would split at, and in multi-byte ones.
_TRICKY = "\u2028\u2029\u0085\x0b\x0c\x1c\x1d\x1e\x00\ufeff:é€😀 "
line_text = st.one_of(
    st.text(alphabet=_TRICKY + "ab", max_size=12),
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12),
)
line_end = st.sampled_from(["\n", "\r", "\r\n"])


@st.composite
def cuts(draw: Any, body: bytes) -> List[bytes]:
    """Cut ``body`` into reads: anywhere, or one byte each."""
    if draw(st.booleans()):
        return [body[i : i + 1] for i in range(len(body))]
    points = sorted(draw(st.lists(st.integers(0, len(body)), max_size=20)))
    edges = [0] + points + [len(body)]
    return [body[a:b] for a, b in zip(edges, edges[1:])]


def feed_all(decoder: Any, reads: List[bytes]) -> List[Any]:
    out: List[Any] = []
    for read in reads:
        out.extend(decoder.feed(read))
    return out + list(decoder.flush())


def serialize(lines: List[str], ends: List[str], last_end: bool) -> bytes:
    """Join lines with the given ends; a CR followed by an empty LF-ended line would read as one CRLF, so such
    an empty line ends with CRLF instead (no real server mixes ends that way)."""
    out: List[str] = []
    previous = ""
    for i, (line, end) in enumerate(zip(lines, ends)):
        if previous == "\r" and not line and end == "\n":
            end = "\r\n"
        if i == len(lines) - 1 and not last_end:
            end = ""
        out.append(line + end)
        previous = end
    return "".join(out).encode("utf-8")


# ---------------------------------------------------------------- SSE

sse_event = st.tuples(
    st.lists(line_text, min_size=1, max_size=3),  # data lines
    st.one_of(st.none(), line_text),  # event type
    st.one_of(st.none(), line_text.filter(lambda s: "\0" not in s)),  # id
    st.one_of(st.none(), st.integers(0, 10**12)),  # retry
    st.booleans(),  # a comment before the event
)
EventSpec = Tuple[List[str], Optional[str], Optional[str], Optional[int], bool]


def sse_lines(specs: List[EventSpec]) -> Tuple[List[str], List[ServerSentEvent]]:
    """The lines that carry ``specs`` (blank line after each) and the events a reader must get back."""
    lines: List[str] = []
    expected: List[ServerSentEvent] = []
    last_id = ""
    for data_lines, event, event_id, retry, comment in specs:
        if comment:
            lines.append(": " + data_lines[0])
        if event is not None:
            lines.append("event: " + event)
        if event_id is not None:
            lines.append("id: " + event_id)
            last_id = event_id
        if retry is not None:
            lines.append(f"retry: {retry}")
        lines.extend("data: " + line for line in data_lines)
        lines.append("")
        expected.append(ServerSentEvent("\n".join(data_lines), event or "message", last_id, retry))
    return lines, expected


@FUZZ
@given(st.data(), st.lists(sse_event, max_size=6), st.booleans())
def test_sse_events_survive_any_line_ends_and_any_cut(data: Any, specs: List[EventSpec], last_blank: bool) -> None:
    lines, expected = sse_lines(specs)
    if lines and not last_blank:
        lines.pop()  # the service forgot the final blank line: flush still dispatches
    ends = data.draw(st.lists(line_end, min_size=len(lines), max_size=len(lines)))
    body = serialize(lines, ends, last_end=data.draw(st.booleans()))
    whole = list(iter_sse([body]))
    assert whole == expected
    reads = data.draw(cuts(body))
    assert feed_all(SSEDecoder(), reads) == whole
    assert feed_all_pairs(SSEDecoder(), reads) == [(e.event, e.data) for e in whole]


def feed_all_pairs(decoder: SSEDecoder, reads: List[bytes]) -> List[Tuple[str, str]]:
    out: List[Tuple[str, str]] = []
    for read in reads:
        out.extend(decoder.feed_pairs(read))
    return out + decoder.flush_pairs()


# ---------------------------------------------------------------- NDJSON

json_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), line_text),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(line_text, inner, max_size=3)),
    max_leaves=5,
)
blank_line = st.text(alphabet=" \t", max_size=3)


@FUZZ
@given(st.data(), st.lists(st.tuples(json_value, st.booleans(), blank_line), max_size=6), st.booleans())
def test_ndjson_documents_survive_any_line_ends_and_any_cut(
    data: Any, docs: List[Tuple[Any, bool, str]], ascii_only: bool
) -> None:
    lines: List[str] = []
    expected: List[str] = []
    for value, blank_before, blank in docs:
        if blank_before:
            lines.append(blank)
        text = json.dumps(value, ensure_ascii=ascii_only)
        lines.append(text)
        expected.append(text)
    ends = data.draw(st.lists(line_end, min_size=len(lines), max_size=len(lines)))
    body = serialize(lines, ends, last_end=data.draw(st.booleans()))
    whole = list(iter_ndjson([body]))
    assert whole == expected
    assert [json.loads(line) for line in whole] == [value for value, _, _ in docs]
    assert feed_all(NDJSONDecoder(), data.draw(cuts(body))) == whole


# ---------------------------------------------------------------- arbitrary bytes

# Raw bytes, or a soup of the tokens that matter to the parsers (line ends, field names, BOM and UTF-8 pieces).
_TOKENS = [
    b"\r", b"\n", b"\r\n", b":", b" ", b"data", b"event", b"id", b"retry", b"123", b"\x00",
    b"\xef\xbb\xbf", b"\xef", b"\xbb", b"\xbf", b"\xe2\x80\xa8", b"\xe2\x80", b"\xf0\x9f\x98", b"\x80", b"\xff",
    b"{}", b"x",
]  # fmt: skip
any_body = st.one_of(st.binary(max_size=200), st.lists(st.sampled_from(_TOKENS), max_size=60).map(b"".join))


@FUZZ
@given(st.data(), any_body)
def test_sse_never_raises_and_ignores_how_bytes_are_cut(data: Any, body: bytes) -> None:
    whole = list(iter_sse([body]))
    assert all(isinstance(event, ServerSentEvent) for event in whole)
    assert feed_all(SSEDecoder(), data.draw(cuts(body))) == whole


@FUZZ
@given(st.data(), any_body)
def test_ndjson_never_raises_and_ignores_how_bytes_are_cut(data: Any, body: bytes) -> None:
    whole = list(iter_ndjson([body]))
    assert all(line.strip(" \t") and "\r" not in line and "\n" not in line for line in whole)
    assert feed_all(NDJSONDecoder(), data.draw(cuts(body))) == whole
