"""Bytes in, lines and events out: the incremental SSE and NDJSON parsers.

No I/O and no provider knowledge live here. The transport hands over the body in pieces of any size (one byte
or 64 KB, cut anywhere, even inside a UTF-8 character or between the CR and LF of a CRLF); the decoders give the
same lines and events as if the body had come in one piece.

- ``LineDecoder``: bytes -> text lines without their terminators. Lines end at LF, CR or CRLF and nowhere else:
  never ``str.splitlines()``, which also splits at U+2028, U+2029, U+0085, VT, FF and \\x1c-\\x1e, all of which
  appear raw inside JSON strings (lines are cut as bytes, where ``bytes.splitlines`` knows only CR and LF).
  Each line is decoded as UTF-8 once it is whole; invalid bytes become U+FFFD, never an exception. A UTF-8 BOM
  at the very start of the stream is dropped.
- ``SSEDecoder``: lines -> ``ServerSentEvent``, following the WHATWG event stream interpretation
  (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation), with one
  deliberate deviation: at the end of the body a pending event is dispatched even without its blank line.
- ``NDJSONDecoder``: lines -> non-blank lines, one JSON document each (not parsed here).
- ``iter_sse`` and ``iter_ndjson`` run a decoder over an iterable of byte chunks; ``iter_sse_batches`` and
  ``iter_ndjson_batches`` do the same a read at a time, for the protocol decoders' hot loops.

Example::

    >>> list(iter_sse([b'data: {"a": 1}\\n\\nevent: done\\ndata: [DONE]']))
    [ServerSentEvent(data='{"a": 1}'), ServerSentEvent(data='[DONE]', event='done')]
    >>> list(iter_ndjson([b'{"a": 1}\\r\\n\\n{"b"', b': 2}']))
    ['{"a": 1}', '{"b": 2}']

Cost is linear in the size of the body: a partial line is kept as a list of pieces and joined once, when its
line ends, so a line of several MB read in 1 KB pieces is never rescanned or re-copied per read.
"""

import json
from typing import Any, Iterable, Iterator, List, Optional, Tuple

__all__ = [
    "ServerSentEvent",
    "LineDecoder",
    "SSEDecoder",
    "NDJSONDecoder",
    "iter_sse",
    "iter_ndjson",
    "iter_sse_batches",
    "iter_ndjson_batches",
]

_DEFAULT_EVENT = "message"
_BOM = b"\xef\xbb\xbf"


class ServerSentEvent:
    """One dispatched server-sent event.

    ``data``: the event's ``data`` lines joined with ``\\n``.
    ``event``: the event type, ``"message"`` when the server set none.
    ``id``: the last event ID the stream set so far (it persists across events, as the spec says); ``""`` if none.
    ``retry``: the reconnection time in milliseconds from a ``retry`` field sent since the previous event was
    dispatched, else None.
    """

    __slots__ = ("event", "data", "id", "retry")

    def __init__(self, data: str, event: str = _DEFAULT_EVENT, id: str = "", retry: Optional[int] = None) -> None:
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry

    def json(self) -> Any:
        """Return ``json.loads(self.data)``; a ``ValueError`` is the caller's to catch."""
        return json.loads(self.data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerSentEvent):
            return NotImplemented
        return (
            self.data == other.data and self.event == other.event and self.id == other.id and self.retry == other.retry
        )

    # Mutable and compared by value: not hashable.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = [f"data={self.data!r}"]
        if self.event != _DEFAULT_EVENT:
            parts.append(f"event={self.event!r}")
        if self.id:
            parts.append(f"id={self.id!r}")
        if self.retry is not None:
            parts.append(f"retry={self.retry!r}")
        return f"ServerSentEvent({', '.join(parts)})"


class LineDecoder:
    """Incremental bytes -> complete text lines, without their terminators.

    ``feed(data)`` returns the lines that ``data`` completed; ``flush()`` at the end of the body returns the last
    line if it had no terminator. A CR at the end of a read ends its line at once (no waiting for the next read);
    an LF opening the next read is then taken as the second half of that CRLF, not as an empty line.

        >>> decoder = LineDecoder()
        >>> decoder.feed(b"one\\r"), decoder.feed(b"\\ntwo\\nthr"), decoder.flush()
        (['one'], ['two'], ['thr'])

    Lines are cut in bytes (``bytes.splitlines`` ends lines at CR, LF and CRLF only, never inside UTF-8) and
    each line is decoded when it is whole, so a character split between reads needs no special case; the SSE
    and NDJSON decoders take the bytes lines (``_feed``) and decode only what they keep.
    """

    __slots__ = ("_parts", "_skip_lf", "_at_start")

    def __init__(self) -> None:
        self._parts: List[bytes] = []  # pieces of the line not ended yet; joined once when it ends
        self._skip_lf = False  # the last read ended with CR: an LF next is its CRLF's second half
        self._at_start = True  # nothing of the body seen yet: a BOM would be dropped

    def feed(self, data: bytes) -> List[str]:
        """Take the next bytes of the body; return the lines they complete."""
        return [line.decode("utf-8", "replace") for line in self._feed(data)]

    def flush(self) -> List[str]:
        """End of the body: return what is left (a last line without terminator); the decoder starts afresh."""
        return [line.decode("utf-8", "replace") for line in self._flush()]

    def _feed(self, data: bytes) -> List[bytes]:
        """``feed``, the lines as bytes."""
        if self._skip_lf and data:
            self._skip_lf = False
            if data[0] == 10:
                data = data[1:]
        if self._at_start and data:
            data = self._drop_bom(data)
        cut = data.rfind(b"\n")
        cr = data.rfind(b"\r")
        if cr > cut:
            cut = cr
        if cut < 0:
            if data:
                self._parts.append(data)
            return []
        last = len(data) - 1
        if cut == last:
            block = data
            self._skip_lf = data[cut] == 13
        else:
            block = data[:cut + 1]
        if self._parts:
            self._parts.append(block)
            block = b"".join(self._parts)
            self._parts = []
        if cut != last:
            self._parts.append(data[cut + 1:])
        return block.splitlines()

    def _flush(self) -> List[bytes]:
        """``flush``, the lines as bytes."""
        lines = [b"".join(self._parts)] if self._parts else []
        self._parts = []
        self._skip_lf = False
        self._at_start = True
        return lines

    def _drop_bom(self, data: bytes) -> bytes:
        """"One leading U+FEFF BYTE ORDER MARK character must be ignored if any": its three bytes may come in
        pieces, held (as the start of a line) until they can be told apart from other text."""
        head = b"".join(self._parts) + data if self._parts else data
        if len(head) < 3 and _BOM.startswith(head):
            self._parts = [head]
            return b""
        self._parts = []
        self._at_start = False
        return head[3:] if head[:3] == _BOM else head


class SSEDecoder:
    """Incremental bytes -> ``ServerSentEvent``, per the WHATWG event stream interpretation.

    - Lines starting with ``:`` are comments. ``field:value`` drops one space after the colon; a line without a
      colon is a field name with an empty value. Field names are case-sensitive; unknown fields are ignored.
    - ``data`` lines are joined with ``\\n``; ``event`` sets the type (``"message"`` if unset or empty); ``id``
      sets the last event ID, which persists across events, unless the value contains NUL; ``retry`` counts
      only if it is all ASCII digits.
    - A blank line dispatches the event, unless no ``data`` field was seen (then nothing is dispatched, and the
      event type is reset all the same).
    - ``flush()`` (end of the body) dispatches a pending event if a ``data`` field was seen since the last
      dispatch, even without the closing blank line, as services forget it. The spec would discard it. So the
      body ``data:`` alone gives one event with data ``""``.

        >>> decoder = SSEDecoder()
        >>> decoder.feed(b": ping\\n\\nevent: delta\\ndata: a\\ndata:b\\n\\ndata: last")
        [ServerSentEvent(data='a\\nb', event='delta')]
        >>> decoder.flush()
        [ServerSentEvent(data='last')]

    Lines are read as bytes; an event's data is decoded once, when the event is dispatched.
    """

    __slots__ = ("_lines", "_data", "_event", "_last_id", "_retry")

    def __init__(self) -> None:
        self._lines = LineDecoder()
        self._data: List[bytes] = []  # the values of this event's data lines
        self._event = ""  # the event type buffer
        self._last_id = ""  # the last event ID buffer: never reset by a dispatch
        self._retry: Optional[int] = None

    def feed(self, data: bytes) -> List[ServerSentEvent]:
        """Take the next bytes of the body; return the events they complete."""
        return self._decode(self._lines._feed(data), False)

    def feed_pairs(self, data: bytes) -> List[Tuple[str, str]]:
        """``feed`` for protocol decoders, which need neither ``id`` nor ``retry``: each event as an
        ``(event type, data)`` pair, no object made per event. The same rules."""
        return self._decode(self._lines._feed(data), True)

    def flush(self) -> List[ServerSentEvent]:
        """End of the body: return the remaining events, including one left without its blank line."""
        return self._flush(False)

    def flush_pairs(self) -> List[Tuple[str, str]]:
        """``flush`` as ``(event type, data)`` pairs (see ``feed_pairs``)."""
        return self._flush(True)

    def _flush(self, pairs: bool) -> List[Any]:
        events = self._decode(self._lines._flush(), pairs)
        if self._data:
            events.extend(self._decode([b""], pairs))
        self._event = ""
        self._retry = None
        return events

    def _decode(self, lines: List[bytes], pairs: bool) -> List[Any]:
        # The hot path: `data: ` lines and blank lines inline (a slice compare beats startswith), the buffers in
        # locals; the rest in _field, including `data:` without its space.
        events: List[Any] = []
        data = self._data  # one list for the stream, cleared at each dispatch
        keep, dispatch = data.append, events.append
        event, retry = self._event, self._retry
        for line in lines:
            if line[:6] == b"data: ":
                keep(line[6:])
            elif not line:
                # "If the data buffer is an empty string, set the data buffer and the event type buffer to the
                # empty string and return."
                if data:
                    text = (data[0] if len(data) == 1 else b"\n".join(data)).decode("utf-8", "replace")
                    if pairs:
                        dispatch((event or _DEFAULT_EVENT, text))
                    else:
                        dispatch(ServerSentEvent(text, event or _DEFAULT_EVENT, self._last_id, retry))
                    data.clear()
                    retry = None
                event = ""
            elif line[:7] == b"event: ":
                event = line[7:].decode("utf-8", "replace")
            elif line[0] != 58:  # "If the line starts with a U+003A COLON character (:), ignore the line."
                self._event, self._retry = event, retry
                self._field(line)
                event, retry = self._event, self._retry
        self._event, self._retry = event, retry
        return events

    def _field(self, line: bytes) -> None:
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":  # "If value starts with a U+0020 SPACE character, remove it."
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            # "If the field value does not contain U+0000 NULL, then set the last event ID buffer to the value."
            if b"\0" not in value:
                self._last_id = value.decode("utf-8", "replace")
        elif name == b"retry":
            # "If the field value consists of only ASCII digits, then interpret the field value as an integer."
            if value.isdigit():
                self._retry = int(value)
        # "Otherwise: The field is ignored."


class NDJSONDecoder:
    """Incremental bytes -> the non-blank lines of an NDJSON body, each one JSON document (not parsed here).

    Lines end at LF, CR or CRLF; lines of only spaces and tabs (JSON's whitespace within a line) are skipped.
    ``flush()`` returns a last line that had no terminator.

        >>> decoder = NDJSONDecoder()
        >>> decoder.feed(b'{"a": 1}\\n\\n  \\n{"b":'), decoder.flush()
        (['{"a": 1}'], ['{"b":'])
    """

    __slots__ = ("_lines",)

    def __init__(self) -> None:
        self._lines = LineDecoder()

    def feed(self, data: bytes) -> List[str]:
        """Take the next bytes of the body; return the documents they complete."""
        return [line.decode("utf-8", "replace") for line in self._lines._feed(data)
                if line[:1] == b"{" or line.strip(b" \t")]

    def flush(self) -> List[str]:
        """End of the body: return a last document that had no line end."""
        return [line.decode("utf-8", "replace") for line in self._lines._flush() if line.strip(b" \t")]


def iter_sse(chunks: Iterable[bytes]) -> Iterator[ServerSentEvent]:
    """Yield the events of a body given as byte chunks; flushes at the end (see ``SSEDecoder``)."""
    decoder = SSEDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.flush()


def iter_ndjson(chunks: Iterable[bytes]) -> Iterator[str]:
    """Yield the non-blank lines of an NDJSON body given as byte chunks (see ``NDJSONDecoder``)."""
    decoder = NDJSONDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)
    yield from decoder.flush()


def iter_sse_batches(chunks: Iterable[bytes]) -> Iterator[List[Tuple[str, str]]]:
    """For protocol decoders: the events of a body as ``(event type, data)`` pairs (see
    ``SSEDecoder.feed_pairs``), one list per read that completed any, so the loop over a read's events runs in
    the caller, without a generator step per event. Flushes at the end."""
    decoder = SSEDecoder()
    feed = decoder.feed_pairs
    for chunk in chunks:
        batch = feed(chunk)
        if batch:
            yield batch
    batch = decoder.flush_pairs()
    if batch:
        yield batch


def iter_ndjson_batches(chunks: Iterable[bytes]) -> Iterator[List[str]]:
    """For protocol decoders: the documents of an NDJSON body, one list per read that completed any (see
    ``iter_sse_batches``). Flushes at the end."""
    decoder = NDJSONDecoder()
    feed = decoder.feed
    for chunk in chunks:
        batch = feed(chunk)
        if batch:
            yield batch
    batch = decoder.flush()
    if batch:
        yield batch
