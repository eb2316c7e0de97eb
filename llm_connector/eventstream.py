"""AWS event-stream binary frames -> messages (``application/vnd.amazon.eventstream`` bodies).

No I/O and no service knowledge: feed bytes as they arrive, get whole messages out; errors carry the
``provider`` label the caller gives. A frame (all integers big-endian)::

    total_length  uint32   the whole frame, these 4 bytes and the final CRC included
    headers_length uint32
    prelude_crc   uint32   CRC32 of the 8 bytes above
    headers       headers_length bytes: name_len (uint8), name (UTF-8), value_type (uint8), value
    payload       total_length - headers_length - 16 bytes
    message_crc   uint32   CRC32 of everything before it

Header value types: 0 true, 1 false, 2 int8, 3 int16, 4 int32, 5 int64, 6 bytes (uint16 length),
7 string (uint16 length, UTF-8), 8 timestamp (int64 milliseconds since the epoch, read as an aware UTC
``datetime``), 9 UUID (16 bytes, read as ``uuid.UUID``).

>>> frame = encode_event_stream_message({":event-type": "chunk"}, b"{}")
>>> decoder = EventStreamDecoder()
>>> decoder.feed(frame[:5]) + decoder.feed(frame[5:])
[EventStreamMessage(headers={':event-type': 'chunk'}, payload=b'{}')]
>>> decoder.flush()
"""

import datetime
import struct
import uuid
import zlib
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from .errors import ConfigurationError, IncompleteStreamError, StreamParseError

__all__ = [
    "EventStreamMessage",
    "EventStreamDecoder",
    "iter_event_stream",
    "encode_event_stream_message",
]

_PRELUDE_LENGTH = 12  # total_length, headers_length, prelude_crc
_MIN_FRAME = 16  # a prelude and a message CRC, no headers, no payload
_MAX_FRAME = 16 * 1024 * 1024
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

_TRUE, _FALSE, _INT8, _INT16, _INT32, _INT64, _BYTES, _STRING, _TIMESTAMP, _UUID = range(10)

#: Fixed-width integer header types: struct format and width in bytes.
_INT_FORMATS: Dict[int, Tuple[str, int]] = {
    _INT8: (">b", 1),
    _INT16: (">h", 2),
    _INT32: (">i", 4),
    _INT64: (">q", 8),
    _TIMESTAMP: (">q", 8),
}


class EventStreamMessage:
    """One decoded frame: its headers (name -> value) and its payload bytes."""

    __slots__ = ("headers", "payload")

    def __init__(self, headers: Dict[str, Any], payload: bytes) -> None:
        self.headers = headers
        self.payload = payload

    @property
    def message_type(self) -> Optional[str]:
        """``:message-type``: ``"event"``, ``"exception"`` or ``"error"`` (None when absent)."""
        return self._text(":message-type")

    @property
    def event_type(self) -> Optional[str]:
        """``:event-type`` of an event (e.g. ``"chunk"``)."""
        return self._text(":event-type")

    @property
    def exception_type(self) -> Optional[str]:
        """``:exception-type`` of an exception (``"throttlingException"``, ``"validationException"``...)."""
        return self._text(":exception-type")

    @property
    def error_code(self) -> Optional[str]:
        """``:error-code`` of a message of type ``"error"``."""
        return self._text(":error-code")

    @property
    def error_message(self) -> Optional[str]:
        """``:error-message`` of a message of type ``"error"``."""
        return self._text(":error-message")

    def _text(self, name: str) -> Optional[str]:
        value = self.headers.get(name)
        return value if isinstance(value, str) else None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EventStreamMessage):
            return NotImplemented
        return self.headers == other.headers and self.payload == other.payload

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"EventStreamMessage(headers={self.headers!r}, payload={self.payload!r})"


class EventStreamDecoder:
    """Incremental decoder: ``feed(bytes)`` returns the messages completed so far; ``flush()`` at the end.

    Frames may be split anywhere across feeds. A frame that fails its checks raises ``StreamParseError``;
    messages completed before it in the same feed are returned first and the error is raised by the next
    call. Once it has raised, the decoder keeps raising: discard it. ``provider`` labels the errors.
    """

    def __init__(self, provider: Optional[str] = None) -> None:
        self.provider = provider
        self._buffer = bytearray()
        self._frame_length = 0  # total_length of the frame at the front, once its prelude is checked
        self._error: Optional[StreamParseError] = None

    def feed(self, data: bytes) -> List[EventStreamMessage]:
        """Add bytes; return every message they complete, in order."""
        self._raise_pending()
        self._buffer += data
        messages: List[EventStreamMessage] = []
        start = 0
        try:
            while True:
                end = self._frame_end(start)
                if end is None:
                    break
                messages.append(_decode_frame(bytes(self._buffer[start:end])))
                start = end
                self._frame_length = 0
        except StreamParseError as exc:
            exc.provider = self.provider
            self._error = exc
            if not messages:
                raise
        finally:
            del self._buffer[:start]  # at most once per feed: linear time overall
        return messages

    def flush(self) -> None:
        """Declare the end of the body: raise if it stopped inside a frame."""
        self._raise_pending()
        held = len(self._buffer)
        if not held:
            return
        expected = (
            f"{struct.unpack_from('>I', self._buffer)[0]} bytes"
            if held >= 4
            else f"at least {_MIN_FRAME} bytes"
        )
        self._buffer.clear()
        raise IncompleteStreamError(
            f"event stream ended inside a frame: {held} of {expected}", provider=self.provider
        )

    def _raise_pending(self) -> None:
        if self._error is not None:
            raise self._error

    def _frame_end(self, start: int) -> Optional[int]:
        """Where the frame at ``start`` ends, once it has all arrived; None while it is incomplete."""
        held = len(self._buffer) - start
        if not self._frame_length:
            if held < _PRELUDE_LENGTH:
                return None
            self._frame_length = _check_prelude(self._buffer, start)
        if held < self._frame_length:
            return None
        return start + self._frame_length


def iter_event_stream(chunks: Iterable[bytes], provider: Optional[str] = None) -> Iterator[EventStreamMessage]:
    """Decode an iterable of byte chunks (a response body) into messages; a cut-off frame at the end
    raises ``IncompleteStreamError`` after the messages before it. ``provider`` labels the errors.
    """
    decoder = EventStreamDecoder(provider)
    for chunk in chunks:
        yield from decoder.feed(chunk)
    decoder.flush()


def encode_event_stream_message(headers: Mapping[str, Any], payload: bytes) -> bytes:
    """Write one frame (for tests and ``llm_connector.testing``).

    Header values: ``str`` -> string, ``bool`` -> true/false, ``int`` -> int32 (int64 when it does not
    fit), ``bytes`` -> byte array, aware or UTC ``datetime`` -> timestamp, ``uuid.UUID`` -> UUID. Anything
    else, or a name or value too long for its length field, raises ``ConfigurationError``.
    """
    encoded_headers = b"".join(_encode_header(name, value) for name, value in headers.items())
    total = _MIN_FRAME + len(encoded_headers) + len(payload)
    if total > _MAX_FRAME:
        raise ConfigurationError(f"event-stream frame of {total} bytes exceeds {_MAX_FRAME}")
    prelude = struct.pack(">II", total, len(encoded_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + encoded_headers + bytes(payload)
    return body + struct.pack(">I", zlib.crc32(body))


# --- decoding ----------------------------------------------------------------------------------------------


def _parse_error(message: str, frame: bytes = b"") -> StreamParseError:
    return StreamParseError(message, body=bytes(frame[:64]).hex() if frame else None)


def _check_prelude(buffer: bytearray, start: int) -> int:
    """Check the prelude at ``start`` (CRC, then lengths); return the frame's total length."""
    total, headers_length, crc = struct.unpack_from(">III", buffer, start)
    actual = zlib.crc32(bytes(buffer[start : start + 8]))
    prelude = bytes(buffer[start : start + _PRELUDE_LENGTH])
    if crc != actual:
        raise _parse_error(
            f"event-stream prelude CRC mismatch: frame says 0x{crc:08x}, computed 0x{actual:08x}", prelude
        )
    if not _MIN_FRAME <= total <= _MAX_FRAME:
        raise _parse_error(
            f"event-stream frame length {total} outside {_MIN_FRAME}..{_MAX_FRAME} bytes", prelude
        )
    if headers_length > total - _MIN_FRAME:
        raise _parse_error(
            f"event-stream headers length {headers_length} does not fit a frame of {total} bytes", prelude
        )
    return int(total)


def _decode_frame(frame: bytes) -> EventStreamMessage:
    """Decode one whole frame whose prelude was checked."""
    (expected,) = struct.unpack_from(">I", frame, len(frame) - 4)
    actual = zlib.crc32(frame[:-4])
    if expected != actual:
        raise _parse_error(
            f"event-stream message CRC mismatch: frame says 0x{expected:08x}, computed 0x{actual:08x}",
            frame,
        )
    (headers_length,) = struct.unpack_from(">I", frame, 4)
    headers_end = _PRELUDE_LENGTH + headers_length
    headers = _decode_headers(frame[_PRELUDE_LENGTH:headers_end], frame)
    return EventStreamMessage(headers, frame[headers_end:-4])


class _Reader:
    """Bounds-checked reads over the header block: running short raises ``StreamParseError``."""

    def __init__(self, data: bytes, frame: bytes) -> None:
        self.data = data
        self.frame = frame
        self.pos = 0

    def take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise _parse_error("event-stream header runs past the end of the header block", self.frame)
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def unpack(self, fmt: str, width: int) -> int:
        (value,) = struct.unpack(fmt, self.take(width))
        return int(value)

    def more(self) -> bool:
        return self.pos < len(self.data)


def _decode_headers(data: bytes, frame: bytes) -> Dict[str, Any]:
    reader = _Reader(data, frame)
    headers: Dict[str, Any] = {}
    while reader.more():
        name = reader.take(reader.unpack(">B", 1)).decode("utf-8", "replace")
        value = _decode_value(reader, reader.unpack(">B", 1))
        if name in headers:
            raise _parse_error(f"event-stream header {name!r} appears twice", frame)
        headers[name] = value
    return headers


def _decode_value(reader: _Reader, value_type: int) -> Any:
    if value_type == _TRUE:
        return True
    if value_type == _FALSE:
        return False
    if value_type in _INT_FORMATS:
        number = reader.unpack(*_INT_FORMATS[value_type])
        return _timestamp(number, reader.frame) if value_type == _TIMESTAMP else number
    if value_type in (_BYTES, _STRING):
        raw = reader.take(reader.unpack(">H", 2))
        return raw.decode("utf-8", "replace") if value_type == _STRING else raw
    if value_type == _UUID:
        return uuid.UUID(bytes=reader.take(16))
    raise _parse_error(f"event-stream header value type {value_type} is unknown", reader.frame)


def _timestamp(milliseconds: int, frame: bytes) -> datetime.datetime:
    try:
        return _EPOCH + datetime.timedelta(milliseconds=milliseconds)
    except OverflowError:
        raise _parse_error(f"event-stream timestamp {milliseconds} ms is out of range", frame) from None


# --- encoding ----------------------------------------------------------------------------------------------


def _encode_header(name: str, value: Any) -> bytes:
    raw_name = name.encode("utf-8")
    if not 0 < len(raw_name) <= 255:
        raise ConfigurationError(f"event-stream header name {name!r} must be 1 to 255 bytes of UTF-8")
    return struct.pack(">B", len(raw_name)) + raw_name + _encode_value(name, value)


def _encode_value(name: str, value: Any) -> bytes:
    if isinstance(value, bool):  # before int: bool is an int
        return bytes([_TRUE if value else _FALSE])
    if isinstance(value, int):
        return _encode_int(name, value)
    if isinstance(value, (bytes, bytearray, str)):
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        if len(raw) > 0xFFFF:
            raise ConfigurationError(f"event-stream header {name!r} is longer than 65535 bytes")
        return struct.pack(">BH", _STRING if isinstance(value, str) else _BYTES, len(raw)) + raw
    if isinstance(value, datetime.datetime):
        return struct.pack(">Bq", _TIMESTAMP, _milliseconds(value))
    if isinstance(value, uuid.UUID):
        return bytes([_UUID]) + value.bytes
    raise ConfigurationError(f"event-stream header {name!r}: cannot encode a {type(value).__name__}")


def _encode_int(name: str, value: int) -> bytes:
    if -(2**31) <= value < 2**31:
        return struct.pack(">Bi", _INT32, value)
    if -(2**63) <= value < 2**63:
        return struct.pack(">Bq", _INT64, value)
    raise ConfigurationError(f"event-stream header {name!r}: {value} does not fit in 64 bits")


def _milliseconds(moment: datetime.datetime) -> int:
    """Whole milliseconds since the epoch; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return (moment - _EPOCH) // datetime.timedelta(milliseconds=1)
