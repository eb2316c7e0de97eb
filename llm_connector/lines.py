"""Bytes in, lines and events out: the incremental SSE and NDJSON parsers.

No I/O and no provider knowledge live here. The transport hands over the body in pieces of any size (one byte
or 64 KB, cut anywhere, even inside a UTF-8 character or between the CR and LF of a CRLF); the decoders give the
same lines and events as if the body had come in one piece.

- ``LineDecoder``: bytes -> text lines without their terminators. Lines end at LF, CR or CRLF and nowhere else:
  never ``str.splitlines()``, which also splits at U+2028, U+2029, U+0085, VT, FF and \\x1c-\\x1e, all of which
  appear raw inside JSON strings. UTF-8 is decoded incrementally; invalid bytes become U+FFFD, never an
  exception. A UTF-8 BOM at the very start of the stream is dropped.
- ``SSEDecoder``: lines -> ``ServerSentEvent``, following the WHATWG event stream interpretation
  (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation), with one
  deliberate deviation: at the end of the body a pending event is dispatched even without its blank line.
- ``NDJSONDecoder``: lines -> non-blank lines, one JSON document each (not parsed here).
- ``iter_sse`` and ``iter_ndjson`` run a decoder over an iterable of byte chunks.

Example::

    >>> list(iter_sse([b'data: {"a": 1}\\n\\nevent: done\\ndata: [DONE]']))
    [ServerSentEvent(data='{"a": 1}'), ServerSentEvent(data='[DONE]', event='done')]
    >>> list(iter_ndjson([b'{"a": 1}\\r\\n\\n{"b"', b': 2}']))
    ['{"a": 1}', '{"b": 2}']

Cost is linear in the size of the body: a partial line is kept as a list of pieces and joined once, when its
line ends, so a line of several MB read in 1 KB pieces is never rescanned or re-copied per read.
"""

import codecs
import json
from typing import Any, Iterable, Iterator, List, Optional

__all__ = [
    "ServerSentEvent",
    "LineDecoder",
    "SSEDecoder",
    "NDJSONDecoder",
    "iter_sse",
    "iter_ndjson",
]

_DEFAULT_EVENT = "message"


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
    """

    __slots__ = ("_decoder", "_parts", "_skip_lf", "_at_start", "_clean")

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._parts: List[str] = []  # pieces of the line not ended yet; joined once when it ends
        self._skip_lf = False  # the text so far ended with CR: an LF next is its CRLF's second half
        self._at_start = True  # no character decoded yet: a BOM would be dropped
        self._clean = False  # the last read ended with LF: no partial line, character or CR is pending

    def feed(self, data: bytes) -> List[str]:
        """Take the next bytes of the body; return the lines they complete."""
        if self._clean and data[-1:] == b"\n":
            # The hot path: whole lines after whole lines. Nothing is pending, and LF ends a UTF-8 character,
            # so a one-shot decode is the incremental decode.
            text = data.decode("utf-8", "replace")
            if "\r" in text:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            lines = text.split("\n")
            lines.pop()
            return lines
        lines = self._split(self._decoder.decode(data))
        self._clean = data[-1:] == b"\n" and not self._parts and not self._skip_lf and not self._at_start
        return lines

    def flush(self) -> List[str]:
        """End of the body: return what is left (a last line without terminator); the decoder starts afresh."""
        lines = self._split(self._decoder.decode(b"", True))
        if self._parts:
            lines.append("".join(self._parts))
        self._decoder.reset()
        self._parts = []
        self._skip_lf = False
        self._at_start = True
        self._clean = False
        return lines

    def _split(self, text: str) -> List[str]:
        if not text:
            return []
        if self._at_start:
            self._at_start = False
            if text[0] == "\ufeff":  # "One leading U+FEFF BYTE ORDER MARK character must be ignored if any"
                text = text[1:]
                if not text:
                    return []
        elif self._skip_lf:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
                if not text:
                    return []
        if "\r" in text:
            self._skip_lf = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        rest = lines.pop()
        if not lines:
            self._parts.append(rest)
            return lines
        if self._parts:
            self._parts.append(lines[0])
            lines[0] = "".join(self._parts)
        self._parts = [rest] if rest else []
        return lines


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
    """

    __slots__ = ("_lines", "_data", "_event", "_last_id", "_retry")

    def __init__(self) -> None:
        self._lines = LineDecoder()
        self._data: List[str] = []  # the values of this event's data lines
        self._event = ""  # the event type buffer
        self._last_id = ""  # the last event ID buffer: never reset by a dispatch
        self._retry: Optional[int] = None

    def feed(self, data: bytes) -> List[ServerSentEvent]:
        """Take the next bytes of the body; return the events they complete."""
        return self._decode(self._lines.feed(data))

    def flush(self) -> List[ServerSentEvent]:
        """End of the body: return the remaining events, including one left without its blank line."""
        events = self._decode(self._lines.flush())
        if self._data:
            events.extend(self._decode([""]))
        self._event = ""
        self._retry = None
        return events

    def _decode(self, lines: List[str]) -> List[ServerSentEvent]:
        # The hot path: `data: ` lines and blank lines inline (a slice compare beats startswith), the rest in
        # _field, including `data:` without its space.
        events: List[ServerSentEvent] = []
        data = self._data
        for line in lines:
            if line[:6] == "data: ":
                data.append(line[6:])
            elif line[:7] == "event: ":
                self._event = line[7:]
            elif not line:
                # "If the data buffer is an empty string, set the data buffer and the event type buffer to the
                # empty string and return."
                if data:
                    events.append(
                        ServerSentEvent("\n".join(data), self._event or _DEFAULT_EVENT, self._last_id, self._retry)
                    )
                    data = self._data = []
                    self._retry = None
                self._event = ""
            elif line[0] != ":":  # "If the line starts with a U+003A COLON character (:), ignore the line."
                self._field(line)
        return events

    def _field(self, line: str) -> None:
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):  # "If value starts with a U+0020 SPACE character, remove it."
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            # "If the field value does not contain U+0000 NULL, then set the last event ID buffer to the value."
            if "\0" not in value:
                self._last_id = value
        elif name == "retry":
            # "If the field value consists of only ASCII digits, then interpret the field value as an integer."
            if value.isdigit() and value.isascii():
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
        return [line for line in self._lines.feed(data) if line.strip(" \t")]

    def flush(self) -> List[str]:
        """End of the body: return a last document that had no line end."""
        return [line for line in self._lines.flush() if line.strip(" \t")]


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
