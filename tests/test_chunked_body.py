"""Chunked bodies read in bulk (``transport._ChunkedBody``): every read of the socket is unframed at once, however
many chunks it holds, and nothing is held back waiting for bytes that have not arrived.

The framing is checked twice: as a pure function of the bytes cut anywhere (every split point, every pair of split
points, one byte per read), and over a real socket through the client (every split point, extensions, trailers,
the zero chunk, a reset or a close mid-chunk, a connection reused after trailers)."""

import http.client
import json
import socket
import threading
import time
from typing import Iterator, List

import pytest
from helpers import chunk, sse

from llm_connector import ChatRequest, LlmClient, Message
from llm_connector.errors import IncompleteStreamError
from llm_connector.testing import Close, Pause, Reply, Reset
from llm_connector.transport import _ChunkedBody, _MalformedChunk

KEY = "sk-chunked-0123456789"
SSE = {"Content-Type": "text/event-stream"}


def request() -> ChatRequest:
    return ChatRequest(model="gpt-test", messages=[Message.user("hi")])


def client_for(url: str, **options) -> LlmClient:
    options.setdefault("max_retries", 0)
    return LlmClient.openai(KEY, base_url=url + "/v1", **options)


def framed(*payloads: bytes, ext: bytes = b"", trailers: bytes = b"") -> bytes:
    """``payloads`` as HTTP chunks (each with the chunk extension ``ext``), the zero chunk, ``trailers``, CRLF."""
    body = b"".join(b"%x%s\r\n%s\r\n" % (len(p), ext, p) for p in payloads)
    return body + b"0" + ext + b"\r\n" + trailers + b"\r\n"


def unframe(pieces: List[bytes]) -> bytes:
    """Run ``_ChunkedBody`` over ``pieces`` (one per read); the data, and a check that the body ended."""
    feed: Iterator[bytes] = iter([p for p in pieces if p])  # an empty read is the end of the socket
    body = _ChunkedBody(lambda size: next(feed, b""))
    out = []
    while not body.ended:
        out.append(body.read())
    assert body.read() == b""
    return b"".join(out)


EVENTS = [b'data: {"choices":[{"delta":{"content":"caf\xc3\xa9"}}]}\n\n', b"data: [DONE]\n\n"]
#: Two chunks with extensions, the zero chunk with an extension, two trailer fields.
BODY = framed(*EVENTS, ext=b';name="a;b"', trailers=b"X-Checksum: abc\r\nServer-Timing: db;dur=53\r\n")
DATA = b"".join(EVENTS)


# -- the framing as a function of the bytes, cut anywhere --------------------------------------------------


def test_a_body_in_one_read_is_unframed_whole():
    assert unframe([BODY]) == DATA


def test_every_split_point_gives_the_same_data():
    for i in range(len(BODY) + 1):
        assert unframe([BODY[:i], BODY[i:]]) == DATA, i


def test_every_pair_of_split_points_gives_the_same_data():
    for i in range(len(BODY) + 1):
        for j in range(i, len(BODY) + 1):
            assert unframe([BODY[:i], BODY[i:j], BODY[j:]]) == DATA, (i, j)


def test_one_byte_per_read_gives_the_same_data():
    assert unframe([BODY[i:i + 1] for i in range(len(BODY))]) == DATA


def test_many_chunks_in_one_read_come_out_of_one_read():
    payloads = [b"event %d\n" % i for i in range(500)]
    feed = iter([framed(*payloads)])
    body = _ChunkedBody(lambda size: next(feed, b""))
    assert body.read() == b"".join(payloads)
    assert body.ended


def test_a_chunk_cut_by_the_read_is_handed_on_as_far_as_it_arrived():
    reads = [b"10\r\n0123", b"456789", b"abcdef\r\n0\r\n\r\n"]
    feed = iter(reads)
    body = _ChunkedBody(lambda size: next(feed, b""))
    assert [body.read(), body.read(), body.read()] == [b"0123", b"456789", b"abcdef"]
    assert body.ended


def test_a_read_of_framing_alone_gives_no_data_and_the_body_goes_on():
    feed = iter([b"5\r\n", b"hello", b"\r\n", b"0\r\n", b"\r\n"])
    body = _ChunkedBody(lambda size: next(feed, b""))
    assert [body.read() for _ in range(5)] == [b"", b"hello", b"", b"", b""]
    assert body.ended


def test_each_read_asks_for_up_to_64_kb():
    sizes = []

    def read1(size: int) -> bytes:
        sizes.append(size)
        return b"0\r\n\r\n"

    _ChunkedBody(read1).read()
    assert sizes == [65536]


def test_chunk_sizes_in_upper_and_lower_case_hex_with_spaces_and_bare_lf_are_read():
    assert unframe([b"A \r\n0123456789\r\n1f\n" + b"x" * 31 + b"\n0\n\n"]) == b"0123456789" + b"x" * 31


def test_bytes_after_the_end_of_the_body_are_not_handed_out():
    assert unframe([b"3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"]) == b"abc"


def test_a_server_that_closes_after_the_zero_chunk_without_the_blank_line_ends_the_body():
    assert unframe([b"3\r\nabc\r\n0\r\n"]) == b"abc"  # http.client allows it too


@pytest.mark.parametrize("cut", [b"3\r\nab", b"3\r\nabc", b"3\r\nabc\r\n", b"3\r\nabc\r\n1", b""])
def test_an_eof_before_the_zero_chunk_is_an_incomplete_read(cut):
    feed = iter([cut])
    body = _ChunkedBody(lambda size: next(feed, b""))
    with pytest.raises(http.client.IncompleteRead):
        while True:
            body.read()


@pytest.mark.parametrize("bad", [b"zz\r\nabc\r\n", b"-3\r\nabc\r\n", b"\r\nabc\r\n", b"3\r\nabcX\r\n",
                                 b"3\r\nabc\rX0\r\n\r\n"])
def test_broken_framing_is_refused(bad):
    feed = iter([bad])
    body = _ChunkedBody(lambda size: next(feed, b""))
    with pytest.raises(_MalformedChunk):
        while True:
            body.read()


def test_a_chunk_size_line_that_never_ends_is_refused_before_it_fills_memory():
    feed = iter([b"1" * 40000, b"1" * 40000])
    body = _ChunkedBody(lambda size: next(feed, b""))
    with pytest.raises(_MalformedChunk):
        body.read()
        body.read()


# -- over a real socket, through the client ------------------------------------------------------------------

STREAM_EVENTS = [("data: " + json.dumps(chunk(text)) + "\n\n").encode() for text in ("Hel", "lo", " é")]
STREAM_EVENTS.append(("data: " + json.dumps(chunk("!", finish="stop")) + "\n\ndata: [DONE]\n\n").encode())
STREAM_BODY = framed(*STREAM_EVENTS, ext=b";ext=1", trailers=b"X-Trailer: yes\r\n")


def raw_chunked(parts: list) -> Reply:
    """A reply whose body is written as given (its own chunked framing), then the connection closed."""
    return Reply(headers=dict(SSE, **{"Transfer-Encoding": "chunked"}), framing="close", parts=parts)


def test_every_split_point_over_a_socket_gives_the_whole_text(server):
    client = client_for(server.url)
    for i in range(1, len(STREAM_BODY)):
        server.add(raw_chunked([STREAM_BODY[:i], Pause(0.002), STREAM_BODY[i:]]))
        assert client.chat_stream(request()).text() == "Hello é!", i


def test_one_byte_per_write_over_a_socket_gives_the_whole_text(server):
    parts: list = []
    for i in range(len(STREAM_BODY)):
        parts += [STREAM_BODY[i:i + 1], Pause(0.0005)]
    server.add(raw_chunked(parts))
    assert client_for(server.url).chat_stream(request()).text() == "Hello é!"


def test_all_events_in_one_write_arrive_in_order(server):
    payloads = [("data: " + json.dumps(chunk(str(i))) + "\n\n").encode() for i in range(300)]
    server.add(raw_chunked([framed(*payloads, b"data: [DONE]\n\n")]))
    texts = [c.content for c in client_for(server.url).chat_stream(request())]
    assert texts == [str(i) for i in range(300)]


def test_an_event_whose_chunk_is_not_closed_yet_reaches_the_loop_at_once(server):
    """The event is written with its chunk-size line but without the CRLF that ends the chunk, then nothing for
    1.5 s: the reader hands it on at once, without waiting for that CRLF or the next chunk's size."""
    first, rest = STREAM_EVENTS[0], b"".join(STREAM_EVENTS[1:])
    tail = b"\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(rest), rest)
    server.add(raw_chunked([b"%x\r\n" % len(first) + first, Pause(1.5), tail]))
    started = time.monotonic()
    arrivals = [(c.content, time.monotonic() - started) for c in client_for(server.url).chat_stream(request())]
    assert [text for text, _ in arrivals] == ["Hel", "lo", " é", "!"]
    assert arrivals[0][1] < 0.5, arrivals  # generous: the machine is shared
    assert arrivals[1][1] >= 1.4, arrivals


def test_an_event_written_alone_reaches_the_loop_at_once_on_a_kept_alive_connection(server):
    """The usual framing (LocalServer writes one chunk per part) on a reused connection: each event reaches the
    loop while the server is still silent."""
    client = client_for(server.url)
    for _ in range(2):
        server.add(Reply(headers=SSE, parts=sse(chunk("first"), done=False) + [Pause(1.0)]
                         + sse(chunk("second", finish="stop"))))
        started = time.monotonic()
        arrivals = [(c.content, time.monotonic() - started) for c in client.chat_stream(request())]
        assert [text for text, _ in arrivals] == ["first", "second"]
        assert arrivals[0][1] < 0.5 and arrivals[1][1] >= 0.9, arrivals
    assert server.connections == 1


def test_a_reset_mid_chunk_delivers_what_arrived_then_an_incomplete_stream_error(server):
    first = STREAM_EVENTS[0]
    server.add(raw_chunked([b"%x\r\n%s\r\n" % (len(first), first), b"40\r\ndata: {\"cho", Pause(0.1), Reset()]))
    texts = []
    with pytest.raises(IncompleteStreamError) as info:
        for piece in client_for(server.url).chat_stream(request()):
            texts.append(piece.content)
    assert texts == ["Hel"]
    assert "reset" in str(info.value) and "after 1 chunks" in str(info.value)


def test_a_close_mid_chunk_delivers_what_arrived_then_an_incomplete_stream_error(server):
    first = STREAM_EVENTS[0]
    server.add(raw_chunked([b"%x\r\n%s\r\n" % (len(first), first), b"40\r\ndata: {\"cho", Close()]))
    texts = []
    with pytest.raises(IncompleteStreamError) as info:
        for piece in client_for(server.url).chat_stream(request()):
            texts.append(piece.content)
    assert texts == ["Hel"]
    assert "framing cut off" in str(info.value)


def test_a_chunk_size_that_is_not_hex_is_an_incomplete_stream_error_naming_the_framing(server):
    first = STREAM_EVENTS[0]
    server.add(raw_chunked([b"%x\r\n%s\r\n" % (len(first), first), b"zz\r\nabc\r\n"]))
    texts = []
    with pytest.raises(IncompleteStreamError) as info:
        for piece in client_for(server.url).chat_stream(request()):
            texts.append(piece.content)
    assert texts == ["Hel"]
    assert "chunked framing" in str(info.value)


def test_a_chunked_non_streaming_answer_is_read_whole(server):
    body = b'{"choices": [{"index": 0, "message": {"content": "whole"}, "finish_reason": "stop"}]}'
    server.add(Reply(headers={"Content-Type": "application/json"}, parts=[body[:20], body[20:50], body[50:]]))
    assert client_for(server.url).chat(request()).content == "whole"


def test_a_chunked_gzip_stream_written_in_pieces_is_decoded(server):
    server.add(Reply(headers=SSE, gzip=True, parts=sse(chunk("zip"), chunk("ped", finish="stop"))))
    assert client_for(server.url).chat_stream(request()).text() == "zipped"


# -- the connection goes back to the pool after trailers and the zero chunk ------------------------------------


class KeepAliveServer:
    """Answers every request on one connection with ``answer`` (raw bytes: head and body), keeping it open."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.connections = 0
        self.requests = 0
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        data = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in data:
                    piece = conn.recv(65536)
                    if not piece:
                        return
                    data += piece
                head, _, data = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(data) < length:
                    data += conn.recv(65536)
                data = data[length:]
                self.requests += 1
                conn.sendall(self.answer)

    def close(self) -> None:
        self._listener.close()


@pytest.mark.parametrize("trailers", [b"", b"X-Trailer: yes\r\nX-Other: 2\r\n"])
def test_after_the_zero_chunk_and_its_trailers_the_connection_serves_the_next_call(trailers):
    events = sse(chunk("a"), chunk("b", finish="stop"))
    body = framed(*[e.encode() for e in events], ext=b";x=y", trailers=trailers)
    server = KeepAliveServer(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
                             b"\r\n" + body)
    try:
        client = client_for(server.url)
        assert [client.chat_stream(request()).text() for _ in range(3)] == ["ab", "ab", "ab"]
        assert (server.requests, server.connections) == (3, 1)
    finally:
        server.close()


def test_a_stream_ended_by_its_marker_before_the_zero_chunk_arrives_still_reuses_the_connection(server):
    """[DONE] comes first; the zero chunk follows in its own write a moment later (release_after_end reads it
    through the same bulk reader)."""
    server.add(Reply(headers=SSE, parts=sse(chunk("a", finish="stop")) + [Pause(0.02)]))
    server.add(Reply.sse(chunk("b", finish="stop"), done=True))
    client = client_for(server.url)
    assert client.chat_stream(request()).text() == "a"
    assert client.chat_stream(request()).text() == "b"
    assert server.connections == 1

