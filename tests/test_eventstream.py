"""AWS event-stream framing: hand-built frames, published byte vectors, splits, corruption, fuzzing."""

import base64
import datetime
import json
import struct
import time
import uuid
import zlib
from typing import Any, Dict, List

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_connector.errors import ConfigurationError, IncompleteStreamError, StreamParseError
from llm_connector.eventstream import (
    EventStreamDecoder,
    EventStreamMessage,
    encode_event_stream_message,
    iter_event_stream,
)


def hand_built_frame(headers: bytes, payload: bytes) -> bytes:
    """A frame written straight from AWS's description, independent of the library's encoder."""
    total = 4 + 4 + 4 + len(headers) + len(payload) + 4
    prelude = struct.pack(">I", total) + struct.pack(">I", len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + headers + payload
    return message + struct.pack(">I", zlib.crc32(message) & 0xFFFFFFFF)


def string_header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return bytes([len(raw_name)]) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value


ANTHROPIC_EVENT = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}}
CHUNK_PAYLOAD = json.dumps(
    {"bytes": base64.b64encode(json.dumps(ANTHROPIC_EVENT).encode()).decode()}
).encode()
CHUNK_HEADERS = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
CHUNK_FRAME = hand_built_frame(
    string_header(":event-type", "chunk")
    + string_header(":content-type", "application/json")
    + string_header(":message-type", "event"),
    CHUNK_PAYLOAD,
)
THROTTLING_PAYLOAD = b'{"message":"Too many requests, please wait before trying again."}'
THROTTLING_FRAME = hand_built_frame(
    string_header(":exception-type", "throttlingException")
    + string_header(":content-type", "application/json")
    + string_header(":message-type", "exception"),
    THROTTLING_PAYLOAD,
)
TWO_FRAMES = CHUNK_FRAME + THROTTLING_FRAME

# Byte vectors published with botocore's event-stream tests (tests/unit/test_eventstream.py).
BOTOCORE_EMPTY_MESSAGE = b"\x00\x00\x00\x10\x00\x00\x00\x00\x05\xc2H\xeb}\x98\xc8\xff"
BOTOCORE_INT8_HEADER = b"\x00\x00\x00\x17\x00\x00\x00\x07)\x86\x01X\x04byte\x02\xff\xc2\xf8i\xdc"
BOTOCORE_INT16_HEADER = b"\x00\x00\x00\x19\x00\x00\x00\tq\x0e\x92>\x05short\x03\xff\xff\xb2|\xb6\xcc"
BOTOCORE_INT64_HEADER = (
    b"\x00\x00\x00\x1e\x00\x00\x00\x0e]J\xdb\x8d\x04long\x05\xff\xff\xff\xff\xff\xff\xff\xffK\xc22\xda"
)
BOTOCORE_PAYLOAD_ONE_STR_HEADER = (
    b"\x00\x00\x00=\x00\x00\x00 \x07\xfd\x83\x96\x0ccontent-type\x07\x00\x10"
    b"application/json{'foo':'bar'}\x8d\x9c\x08\xb1"
)
BOTOCORE_ALL_HEADER_TYPES = (
    b"\x00\x00\x00\x62\x00\x00\x00\x52\x03\xb5\xcb\x9c"
    b"\x010\x00\x011\x01\x012\x02\x02\x013\x03\x00\x03"
    b"\x014\x04\x00\x00\x00\x04\x015\x05\x00\x00\x00\x00\x00\x00\x00\x05"
    b"\x016\x06\x00\x05bytes\x017\x07\x00\x04utf8"
    b"\x018\x08\x00\x00\x00\x00\x00\x00\x00\x08\x019\x090123456789abcdef"
    b"\x63\x35\x36\x71"
)
BOTOCORE_ERROR_MESSAGE = (
    b"\x00\x00\x00\x52\x00\x00\x00\x42\xbf\x23\x63\x7e"
    b"\x0d:message-type\x07\x00\x05error"
    b"\x0b:error-code\x07\x00\x04code"
    b"\x0e:error-message\x07\x00\x07message"
    b"\x6b\x6c\xea\x3d"
)
BOTOCORE_CORRUPTED_PAYLOAD = b"\x00\x00\x00\x1d\x00\x00\x00\x00\xfdR\x8cZ{'foo':'bar'\x8d\xc3e96"
BOTOCORE_CORRUPTED_HEADERS = (
    b"\x00\x00\x00=\x00\x00\x00 \x07\xfd\x83\x96\x0ccontent+type\x07\x00\x10"
    b"application/json{'foo':'bar'}\x8d\x9c\x08\xb1"
)
BOTOCORE_CORRUPTED_LENGTH = b"\x01\x00\x00\x1d\x00\x00\x00\x00\xfdR\x8cZ{'foo':'bar'}\xc3e96"
BOTOCORE_DUPLICATE_HEADER = (
    b"\x00\x00\x00\x24\x00\x00\x00\x14\x4b\xb9\x82\xd0\x04test\x04asdf\x04test\x04asdf\xf3\xf4\x75\x63"
)

# A frame captured from Bedrock (AI21 Jamba's invoke-with-response-stream), as published in the
# ai21-python SDK's tests. Bedrock pads the payload with a "p" field to hide the token's length.
CAPTURED_BEDROCK_FRAME = (
    b"\x00\x00\x01\x80\x00\x00\x00K\xfe\x96$F\x0b:event-type\x07\x00\x05chunk\r:content-type\x07\x00"
    b"\x10application/json\r:message-type\x07\x00\x05event{"
    b'"bytes":"eyJpZCI6ImNtcGwtOTgxZjdmMTc2YWQ0NDE0NTliOTRlNDVlZTI5MmEzMjEiLCJjaG9pY2VzIjpbeyJpbmRleC'
    b"I6MCwiZGVsdGEiOnsicm9sZSI6ImFzc2lzdGFudCJ9LCJmaW5pc2hfcmVhc29uIjpudWxsfV0sInVzYWdlIjp7InByb21wd"
    b'F90b2tlbnMiOjQ0LCJ0b3RhbF90b2tlbnMiOjQ0LCJjb21wbGV0aW9uX3Rva2VucyI6MH19","p":"abcdefghijklmnopq'
    b'rstuv"}5\xca\xa7\x98'
)


def decode_all(data: bytes) -> List[EventStreamMessage]:
    decoder = EventStreamDecoder("bedrock")  # the error label comes from the caller
    messages = decoder.feed(data)
    decoder.flush()
    return messages


def with_byte_flipped(data: bytes, index: int) -> bytes:
    corrupt = bytearray(data)
    corrupt[index] ^= 0x01
    return bytes(corrupt)


# --- frames as AWS describes them ---------------------------------------------------------------------


def test_a_hand_built_bedrock_chunk_frame_decodes_to_its_headers_and_payload() -> None:
    (message,) = decode_all(CHUNK_FRAME)
    assert message.headers == CHUNK_HEADERS
    assert message.payload == CHUNK_PAYLOAD
    assert (message.message_type, message.event_type, message.exception_type) == ("event", "chunk", None)


def test_the_chunk_payload_carries_the_anthropic_event_in_base64() -> None:
    (message,) = decode_all(CHUNK_FRAME)
    assert json.loads(base64.b64decode(json.loads(message.payload)["bytes"])) == ANTHROPIC_EVENT


def test_the_encoder_writes_the_same_bytes_as_the_hand_built_frame() -> None:
    assert encode_event_stream_message(CHUNK_HEADERS, CHUNK_PAYLOAD) == CHUNK_FRAME


def test_an_exception_frame_exposes_its_exception_type() -> None:
    (message,) = decode_all(THROTTLING_FRAME)
    assert message.message_type == "exception"
    assert message.exception_type == "throttlingException"
    assert message.event_type is None
    assert json.loads(message.payload)["message"].startswith("Too many requests")


def test_two_frames_in_one_feed_are_two_messages_in_order() -> None:
    messages = decode_all(TWO_FRAMES)
    assert [m.message_type for m in messages] == ["event", "exception"]


def test_a_frame_captured_from_bedrock_decodes_with_its_padding_field() -> None:
    (message,) = decode_all(CAPTURED_BEDROCK_FRAME)
    assert message.headers == CHUNK_HEADERS
    body = json.loads(message.payload)
    assert body["p"] == "abcdefghijklmnopqrstuv"
    assert json.loads(base64.b64decode(body["bytes"]))["usage"]["prompt_tokens"] == 44


# --- botocore's published vectors ---------------------------------------------------------------------


def test_the_empty_message_vector_decodes_to_no_headers_and_no_payload() -> None:
    assert decode_all(BOTOCORE_EMPTY_MESSAGE) == [EventStreamMessage({}, b"")]


@pytest.mark.parametrize(
    "frame, headers",
    [
        (BOTOCORE_INT8_HEADER, {"byte": -1}),
        (BOTOCORE_INT16_HEADER, {"short": -1}),
        (BOTOCORE_INT64_HEADER, {"long": -1}),
    ],
)
def test_signed_integer_header_vectors_decode_to_minus_one(frame: bytes, headers: Dict[str, Any]) -> None:
    assert decode_all(frame) == [EventStreamMessage(headers, b"")]


def test_the_string_header_vector_decodes_with_its_payload() -> None:
    expected = EventStreamMessage({"content-type": "application/json"}, b"{'foo':'bar'}")
    assert decode_all(BOTOCORE_PAYLOAD_ONE_STR_HEADER) == [expected]


def test_the_all_header_types_vector_decodes_every_type() -> None:
    (message,) = decode_all(BOTOCORE_ALL_HEADER_TYPES)
    assert message.headers == {
        "0": True,
        "1": False,
        "2": 2,
        "3": 3,
        "4": 4,
        "5": 5,
        "6": b"bytes",
        "7": "utf8",
        "8": datetime.datetime(1970, 1, 1, 0, 0, 0, 8000, tzinfo=datetime.timezone.utc),
        "9": uuid.UUID(bytes=b"0123456789abcdef"),
    }


def test_the_error_message_vector_exposes_its_code_and_message() -> None:
    (message,) = decode_all(BOTOCORE_ERROR_MESSAGE)
    assert (message.message_type, message.error_code, message.error_message) == ("error", "code", "message")


def test_all_published_vectors_in_one_buffer_decode_one_after_another() -> None:
    vectors = [
        BOTOCORE_EMPTY_MESSAGE,
        BOTOCORE_INT8_HEADER,
        BOTOCORE_ALL_HEADER_TYPES,
        BOTOCORE_ERROR_MESSAGE,
    ]
    assert decode_all(b"".join(vectors)) == [decode_all(v)[0] for v in vectors]


@pytest.mark.parametrize(
    "frame, words",
    [
        (BOTOCORE_CORRUPTED_PAYLOAD, "message CRC"),
        (BOTOCORE_CORRUPTED_HEADERS, "message CRC"),
        (BOTOCORE_CORRUPTED_LENGTH, "prelude CRC"),
        (BOTOCORE_DUPLICATE_HEADER, "appears twice"),
    ],
)
def test_published_corrupt_vectors_raise_stream_parse_error(frame: bytes, words: str) -> None:
    with pytest.raises(StreamParseError, match=words):
        decode_all(frame)


# --- splits -------------------------------------------------------------------------------------------


def test_every_two_piece_split_of_two_frames_gives_the_same_messages() -> None:
    expected = decode_all(TWO_FRAMES)
    for cut in range(len(TWO_FRAMES) + 1):
        decoder = EventStreamDecoder()
        messages = decoder.feed(TWO_FRAMES[:cut]) + decoder.feed(TWO_FRAMES[cut:])
        decoder.flush()
        assert messages == expected, cut


def test_one_byte_per_feed_gives_the_same_messages() -> None:
    decoder = EventStreamDecoder()
    messages = [m for i in range(len(TWO_FRAMES)) for m in decoder.feed(TWO_FRAMES[i : i + 1])]
    decoder.flush()
    assert messages == decode_all(TWO_FRAMES)


def test_a_message_is_returned_by_the_feed_that_completes_it() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(CHUNK_FRAME[:-1]) == []
    assert decoder.feed(CHUNK_FRAME[-1:] + THROTTLING_FRAME[:3]) == [
        EventStreamMessage(CHUNK_HEADERS, CHUNK_PAYLOAD)
    ]


def test_iter_event_stream_decodes_chunks_of_a_body() -> None:
    chunks = [TWO_FRAMES[:7], TWO_FRAMES[7:100], TWO_FRAMES[100:]]
    assert list(iter_event_stream(chunks)) == decode_all(TWO_FRAMES)


def test_a_large_frame_fed_a_byte_at_a_time_decodes_in_linear_time() -> None:
    payload = bytes(range(256)) * 1024  # 256 KiB: re-copying the buffer per byte would take minutes
    frame = encode_event_stream_message({":event-type": "chunk"}, payload)
    decoder = EventStreamDecoder()
    started = time.perf_counter()
    messages = [m for i in range(len(frame)) for m in decoder.feed(frame[i : i + 1])]
    assert time.perf_counter() - started < 10
    assert messages == [EventStreamMessage({":event-type": "chunk"}, payload)]


# --- corruption and truncation ------------------------------------------------------------------------


def test_a_corrupt_prelude_crc_names_the_prelude_crc_and_both_values() -> None:
    corrupt = with_byte_flipped(CHUNK_FRAME, 8)
    expected = struct.unpack(">I", corrupt[8:12])[0]
    actual = zlib.crc32(corrupt[:8])
    with pytest.raises(StreamParseError) as caught:
        decode_all(corrupt)
    assert "prelude CRC" in str(caught.value)
    assert f"0x{expected:08x}" in str(caught.value) and f"0x{actual:08x}" in str(caught.value)
    assert caught.value.provider == "bedrock"


def test_a_corrupt_payload_byte_fails_the_message_crc() -> None:
    corrupt = with_byte_flipped(CHUNK_FRAME, len(CHUNK_FRAME) - 10)
    with pytest.raises(StreamParseError, match="message CRC mismatch") as caught:
        decode_all(corrupt)
    assert caught.value.provider == "bedrock"


def test_a_corrupt_message_crc_fails_the_message_crc() -> None:
    with pytest.raises(StreamParseError, match="message CRC"):
        decode_all(with_byte_flipped(CHUNK_FRAME, len(CHUNK_FRAME) - 1))


def test_a_frame_cut_short_raises_incomplete_stream_error_at_flush() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(CHUNK_FRAME + THROTTLING_FRAME[:20]) == [
        EventStreamMessage(CHUNK_HEADERS, CHUNK_PAYLOAD)
    ]
    with pytest.raises(IncompleteStreamError) as caught:
        decoder.flush()
    assert str(caught.value).endswith(
        f"event stream ended inside a frame: 20 of {len(THROTTLING_FRAME)} bytes"
    )


def test_a_body_of_three_bytes_is_incomplete_not_a_parse_error() -> None:
    with pytest.raises(IncompleteStreamError, match="3 of at least 16 bytes"):
        list(iter_event_stream([b"\x00\x00\x00"]))


def test_iter_event_stream_yields_the_messages_before_a_cut() -> None:
    got: List[EventStreamMessage] = []
    with pytest.raises(IncompleteStreamError):
        for message in iter_event_stream([CHUNK_FRAME, THROTTLING_FRAME[:-1]]):
            got.append(message)
    assert got == [EventStreamMessage(CHUNK_HEADERS, CHUNK_PAYLOAD)]


def test_messages_before_a_bad_frame_in_the_same_feed_are_returned_then_the_error_raised() -> None:
    decoder = EventStreamDecoder()
    assert len(decoder.feed(CHUNK_FRAME + with_byte_flipped(THROTTLING_FRAME, 30))) == 1
    with pytest.raises(StreamParseError):
        decoder.flush()


def test_a_total_length_below_sixteen_is_rejected() -> None:
    with pytest.raises(StreamParseError, match="frame length 12"):
        EventStreamDecoder().feed(_prelude(12, 0))


def test_a_total_length_above_sixteen_mib_is_rejected_before_it_is_buffered() -> None:
    with pytest.raises(StreamParseError, match="frame length 16777217"):
        EventStreamDecoder().feed(_prelude(16 * 1024 * 1024 + 1, 0))


def test_a_headers_length_larger_than_the_frame_is_rejected() -> None:
    with pytest.raises(StreamParseError, match="headers length 5"):
        EventStreamDecoder().feed(_prelude(20, 5))


def test_an_unknown_header_type_is_a_parse_error() -> None:
    with pytest.raises(StreamParseError, match="value type 10"):
        decode_all(hand_built_frame(b"\x01x\x0a", b""))


def test_a_header_running_past_the_header_block_is_a_parse_error() -> None:
    with pytest.raises(StreamParseError, match="past the end"):
        decode_all(hand_built_frame(b"\x01x\x07\x00\x09abc", b""))


def test_invalid_utf8_in_a_string_header_is_replaced_not_raised() -> None:
    (message,) = decode_all(hand_built_frame(b"\x01x\x07\x00\x02\xff\xfe", b""))
    assert message.headers == {"x": "\ufffd\ufffd"}


def _prelude(total: int, headers_length: int) -> bytes:
    head = struct.pack(">II", total, headers_length)
    return head + struct.pack(">I", zlib.crc32(head))


# --- the encoder --------------------------------------------------------------------------------------


def test_every_header_type_the_encoder_writes_round_trips() -> None:
    headers = {
        "true": True,
        "false": False,
        "int32": -(2**31),
        "int64": 2**40,
        "bytes": b"\x00\xff",
        "string": "ünïcode",
        "timestamp": datetime.datetime(2024, 6, 20, 1, 2, 3, 456000, tzinfo=datetime.timezone.utc),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    }
    assert decode_all(encode_event_stream_message(headers, b"body")) == [EventStreamMessage(headers, b"body")]


def test_the_encoder_picks_the_smallest_of_int32_and_int64() -> None:
    assert encode_event_stream_message({"n": 1}, b"")[12:15] == b"\x01n\x04"
    assert encode_event_stream_message({"n": 2**31}, b"")[12:15] == b"\x01n\x05"


@pytest.mark.parametrize("value", [1.5, None, 2**63, "x" * 70000])
def test_a_value_the_encoder_cannot_write_is_a_configuration_error(value: Any) -> None:
    with pytest.raises(ConfigurationError):
        encode_event_stream_message({"h": value}, b"")


# --- fuzzing ------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=6))
def test_arbitrary_bytes_in_arbitrary_cuts_raise_only_parse_or_incomplete_errors(
    data: bytes, cuts: List[int]
) -> None:
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    try:
        list(iter_event_stream(data[a:b] for a, b in zip(points, points[1:])))
    except (StreamParseError, IncompleteStreamError):
        pass


@settings(max_examples=300, deadline=None)
@given(headers=st.binary(max_size=120), payload=st.binary(max_size=40))
def test_arbitrary_header_blocks_with_valid_crcs_raise_only_parse_errors(
    headers: bytes, payload: bytes
) -> None:
    try:
        (message,) = decode_all(hand_built_frame(headers, payload))
    except StreamParseError:
        return
    assert message.payload == payload


@settings(max_examples=60, deadline=None)
@given(
    headers=st.dictionaries(
        st.text(min_size=1, max_size=20),
        st.one_of(
            st.booleans(), st.integers(-(2**63), 2**63 - 1), st.binary(max_size=50), st.text(max_size=50)
        ),
        max_size=5,
    ),
    payload=st.binary(max_size=100),
    cut=st.integers(min_value=0, max_value=400),
)
def test_encoded_frames_decode_to_what_was_encoded_wherever_they_are_cut(
    headers: Dict[str, Any], payload: bytes, cut: int
) -> None:
    frame = encode_event_stream_message(headers, payload)
    decoder = EventStreamDecoder()
    messages = decoder.feed(frame[:cut]) + decoder.feed(frame[cut:])
    decoder.flush()
    assert messages == [EventStreamMessage(headers, payload)]
