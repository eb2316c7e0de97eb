"""Tests of llm_connector.testing, the scripted server every other test talks to.

The server is checked on the wire: raw sockets read the exact bytes it writes (framing, chunk boundaries,
timing, resets), and ``requests`` checks that a real client sees what a provider's client would see.
"""

import json
import socket
import struct
import threading
import time
import urllib.parse
import zlib
from typing import Iterator, List, Tuple

import pytest
import requests

from llm_connector.testing import Close, LocalServer, Pause, RecordedRequest, Reply, Reset


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as local:
        yield local


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as client:
        client.trust_env = False  # never send 127.0.0.1 through a proxy from the environment
        yield client


def _connect(server: LocalServer) -> socket.socket:
    address = urllib.parse.urlsplit(server.url)
    assert address.port is not None
    return socket.create_connection(("127.0.0.1", address.port), timeout=5.0)


def _send_get(sock: socket.socket, path: str = "/", close: bool = True) -> None:
    connection = b"Connection: close\r\n" if close else b""
    sock.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: test\r\n" + connection + b"\r\n")


def _read_to_eof(sock: socket.socket) -> bytes:
    pieces: List[bytes] = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(pieces)
        pieces.append(data)


def _read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        more = sock.recv(65536)
        assert more, f"connection closed before {marker!r} arrived; got {data!r}"
        data += more
    return data


def _exchange(server: LocalServer, path: str = "/") -> bytes:
    """Everything the server writes for one ``GET path`` with ``Connection: close``."""
    with _connect(server) as sock:
        _send_get(sock, path)
        return _read_to_eof(sock)


def _split_head(response: bytes) -> Tuple[bytes, bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    return head, body


def _chunks(body: bytes) -> Tuple[List[bytes], bytes]:
    """The chunk payloads of a chunked body, and what follows its ``0\\r\\n\\r\\n`` terminator."""
    chunks: List[bytes] = []
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            assert rest.startswith(b"\r\n"), "no blank line after the zero chunk"
            return chunks, rest[2:]
        chunks.append(rest[:size])
        assert rest[size : size + 2] == b"\r\n"
        body = rest[size + 2 :]
    return chunks, b"(no terminator)"


# -- framing, byte for byte -----------------------------------------------------------------------------


def test_chunked_reply_writes_each_part_as_one_chunk_then_the_zero_chunk(server: LocalServer) -> None:
    server.add(Reply(headers={"Content-Type": "text/plain"}, parts=[b"abc", "d\u00e9", b"0123456789abcdef"]))
    assert _exchange(server) == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n3\r\nd\xc3\xa9\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"
    )


def test_empty_parts_are_skipped_so_they_do_not_end_a_chunked_body(server: LocalServer) -> None:
    server.add(Reply(parts=[b"", b"a", "", b"b"]))
    _, body = _split_head(_exchange(server))
    assert _chunks(body) == ([b"a", b"b"], b"")


def test_length_framing_sends_the_total_of_the_parts_as_content_length(server: LocalServer) -> None:
    server.add(Reply(parts=[b"abc", "def"], framing="length"))
    assert _exchange(server) == b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabcdef"


def test_close_framing_sends_connection_close_and_ends_the_body_with_eof(server: LocalServer) -> None:
    server.add(Reply(parts=[b"abc", b"def"], framing="close"))
    with _connect(server) as sock:
        _send_get(sock, close=False)  # the client would keep the connection; the framing closes it
        assert _read_to_eof(sock) == b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabcdef"


def test_close_framed_body_is_read_in_full_by_requests(server: LocalServer, session: requests.Session) -> None:
    server.add(Reply(parts=[b"abc", b"def"], framing="close"))
    server.add(Reply(parts=[b"next"]))
    assert session.get(server.url).content == b"abcdef"
    assert session.get(server.url).content == b"next"
    assert server.connections == 2


def test_explicit_content_length_with_close_gives_a_truncated_body(server: LocalServer) -> None:
    server.add(Reply(headers={"Content-Length": "10"}, parts=[b"abc", Close()], framing="length"))
    assert _exchange(server) == b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"


def test_truncated_body_is_an_incomplete_read_for_requests(server: LocalServer, session: requests.Session) -> None:
    server.add(Reply(headers={"Content-Length": "10"}, parts=[b"abc", Close()], framing="length"))
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
        session.get(server.url)


def test_close_mid_chunked_body_stops_before_the_zero_chunk(server: LocalServer) -> None:
    server.add(Reply(parts=[b"abc", Close(), b"never"]))
    _, body = _split_head(_exchange(server))
    assert body == b"3\r\nabc\r\n"


def test_caller_headers_replace_the_defaults_in_any_case(server: LocalServer) -> None:
    server.add(Reply.json({"a": 1}, headers={"content-type": "application/json; charset=utf-8"}))
    head, _ = _split_head(_exchange(server))
    assert head.lower().count(b"content-type") == 1
    assert b"content-type: application/json; charset=utf-8" in head


@pytest.mark.parametrize(
    "reply, status_line",
    [
        (Reply(429), b"HTTP/1.1 429 Too Many Requests"),
        (Reply(529), b"HTTP/1.1 529 Unknown"),
        (Reply(503, reason="Slow Down"), b"HTTP/1.1 503 Slow Down"),
    ],
)
def test_status_line_carries_the_standard_or_given_reason(
    server: LocalServer, reply: Reply, status_line: bytes
) -> None:
    server.add(reply)
    assert _exchange(server).split(b"\r\n")[0] == status_line


# -- the convenience constructors ----------------------------------------------------------------------------


def test_json_reply_is_compact_utf8_with_a_content_length(server: LocalServer) -> None:
    server.add(Reply.json({"text": "\u4f60\u597d", "n": [1, 2]}, status=201))
    body = '{"text":"\u4f60\u597d","n":[1,2]}'.encode()
    expected_head = b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: %d" % len(body)
    assert _exchange(server) == expected_head + b"\r\n\r\n" + body


def test_sse_reply_writes_one_event_per_chunk(server: LocalServer) -> None:
    server.add(Reply.sse({"a": 1}, "plain text", ("ping", {"b": "\u00e9"}), done=True))
    head, body = _split_head(_exchange(server))
    assert b"\r\nContent-Type: text/event-stream\r\n" in head + b"\r\n"
    assert _chunks(body) == (
        [
            b'data: {"a":1}\n\n',
            b"data: plain text\n\n",
            'event: ping\ndata: {"b":"\u00e9"}\n\n'.encode(),
            b"data: [DONE]\n\n",
        ],
        b"",
    )


def test_ndjson_reply_writes_one_line_per_chunk(server: LocalServer) -> None:
    server.add(Reply.ndjson({"done": False}, {"done": True}))
    head, body = _split_head(_exchange(server))
    assert b"Content-Type: application/x-ndjson" in head
    assert _chunks(body) == ([b'{"done":false}\n', b'{"done":true}\n'], b"")


def test_redirect_is_followed_to_another_host(server: LocalServer, session: requests.Session) -> None:
    with LocalServer(host="localhost") as other:
        other.add(Reply.json({"ok": True}))
        server.add(Reply.redirect(other.url + "/final?step=2"))
        response = session.get(server.url + "/start")
        assert response.json() == {"ok": True}
        assert [r.status_code for r in response.history] == [307]
        assert (other.requests[0].path, other.requests[0].query) == ("/final", {"step": ["2"]})


def test_localhost_server_url_names_localhost() -> None:
    with LocalServer(host="localhost") as local:
        assert local.url.startswith("http://localhost:")
        assert local.url.rsplit(":", 1)[1].isdigit()


def test_bad_framing_and_bad_parts_are_refused_when_the_reply_is_built() -> None:
    with pytest.raises(ValueError, match="framing"):
        Reply(framing="sometimes")
    with pytest.raises(TypeError, match="part"):
        Reply(parts=[b"ok", 42])  # type: ignore[list-item]


# -- timing, resets, gzip ------------------------------------------------------------------------------------


def test_bytes_before_a_pause_arrive_alone_as_one_chunk(server: LocalServer) -> None:
    server.add(Reply(parts=[b"abc", Pause(0.5), b"def"]))
    with _connect(server) as sock:
        _send_get(sock)
        assert _read_until(sock, b"3\r\nabc\r\n").endswith(b"\r\n\r\n3\r\nabc\r\n")
        sock.settimeout(0.2)
        with pytest.raises(socket.timeout):
            sock.recv(65536)  # nothing more during the pause
        sock.settimeout(5.0)
        assert _read_to_eof(sock) == b"3\r\ndef\r\n0\r\n\r\n"


def test_first_part_reaches_requests_long_before_a_one_second_pause_ends(
    server: LocalServer, session: requests.Session
) -> None:
    server.add(Reply(parts=[b"first", Pause(1.0), b"second"]))
    started = time.monotonic()
    with session.get(server.url, stream=True) as response:
        assert response.raw.read1() == b"first"
        assert time.monotonic() - started < 0.5
        assert response.raw.read1() == b"second"
        assert time.monotonic() - started >= 0.9


def test_reset_is_a_connection_reset_for_a_raw_client(server: LocalServer) -> None:
    server.add(Reply(parts=[b"abc", Reset()]))
    with _connect(server) as sock:
        _send_get(sock)
        with pytest.raises(ConnectionResetError):
            _read_to_eof(sock)


def test_reset_is_a_connection_error_for_requests(server: LocalServer, session: requests.Session) -> None:
    server.add(Reply(parts=[b"abc", Reset()]))
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError), match="reset"):
        session.get(server.url)


def test_gzip_parts_each_decode_as_they_arrive_and_the_stream_finishes(server: LocalServer) -> None:
    parts = [b"data: one\n\n", "data: \u4e8c\n\n".encode(), b"data: [DONE]\n\n"]
    server.add(Reply(parts=parts, gzip=True))
    head, body = _split_head(_exchange(server))
    assert b"\r\nContent-Encoding: gzip\r\n" in head
    chunks, _ = _chunks(body)
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    assert [decoder.decompress(chunk) for chunk in chunks[:-1]] == parts
    assert decoder.decompress(chunks[-1]) == b"" and decoder.eof  # the last chunk is the gzip trailer


def test_gzip_reply_is_decoded_by_requests(server: LocalServer, session: requests.Session) -> None:
    server.add(Reply(parts=["hello ", Pause(0.05), "world"], gzip=True, framing="length"))
    assert session.get(server.url).text == "hello world"


# -- what the server records -------------------------------------------------------------------------------


def test_request_method_path_query_headers_and_body_are_recorded(
    server: LocalServer, session: requests.Session
) -> None:
    server.add(Reply.json({}))
    session.post(
        server.url + "/v1/chat/completions",
        params=[("a", "1"), ("a", "2"), ("blank", "")],
        headers={"Authorization": "Bearer sk-test", "X-Trace": "t1"},
        json={"model": "m", "stream": True},
    )
    recorded = server.requests[0]
    assert (recorded.method, recorded.path) == ("POST", "/v1/chat/completions")
    assert recorded.query == {"a": ["1", "2"], "blank": [""]}
    assert recorded.headers.get("authorization") == "Bearer sk-test"
    assert recorded.headers["x-TRACE"] == "t1"
    assert "CONTENT-TYPE" in recorded.headers
    assert recorded.body == b'{"model": "m", "stream": true}'
    assert recorded.json() == {"model": "m", "stream": True}


def test_chunked_request_body_is_recorded_without_its_framing(server: LocalServer, session: requests.Session) -> None:
    server.add(Reply.json({}))
    session.post(server.url + "/upload", data=iter([b"ab", b"", b"cd"]))
    assert server.requests[0].headers.get("transfer-encoding") == "chunked"
    assert server.requests[0].body == b"abcd"


def test_absolute_target_from_a_proxy_client_is_recorded_with_its_path(
    server: LocalServer, session: requests.Session
) -> None:
    server.add(Reply.json({}))
    session.get("http://api.example.invalid/v1/models?x=1", proxies={"http": server.url})
    recorded = server.requests[0]
    assert recorded.target == "http://api.example.invalid/v1/models?x=1"
    assert (recorded.path, recorded.query) == ("/v1/models", {"x": ["1"]})


def test_session_reuses_one_kept_alive_connection(server: LocalServer, session: requests.Session) -> None:
    server.add(Reply.json({"n": 1}))
    server.add(Reply.sse({"n": 2}, done=True))
    assert session.get(server.url + "/one").json() == {"n": 1}
    assert session.get(server.url + "/two").text == 'data: {"n":2}\n\ndata: [DONE]\n\n'
    assert server.connections == 1
    assert [r.connection for r in server.requests] == [1, 1]


def test_wait_for_requests_returns_once_they_arrived_and_times_out_otherwise(
    server: LocalServer, session: requests.Session
) -> None:
    server.add(Reply(parts=[b"a", Pause(0.3), b"b"]))
    fetch = threading.Thread(target=session.get, args=(server.url,))
    fetch.start()
    server.wait_for_requests(1)  # recorded before the reply is written
    with pytest.raises(TimeoutError):
        server.wait_for_requests(2, timeout=0.1)
    fetch.join()


# -- clients that go away ----------------------------------------------------------------------------------


def test_closed_by_client_is_set_when_the_client_closes_during_a_pause(
    server: LocalServer, session: requests.Session
) -> None:
    server.add(Reply(parts=[b"first", Pause(5.0), b"second"]))
    response = session.get(server.url, stream=True)
    assert response.raw.read1() == b"first"
    assert not server.requests[0].closed_by_client.is_set()
    response.close()
    assert server.requests[0].closed_by_client.wait(2.0)  # seen during the pause, not after it


def test_closed_by_client_is_set_when_a_kept_alive_connection_is_closed(
    server: LocalServer, session: requests.Session
) -> None:
    server.add(Reply.json({}))
    session.get(server.url)
    assert not server.requests[0].closed_by_client.wait(0.1)
    session.close()
    assert server.requests[0].closed_by_client.wait(2.0)


def test_closed_by_client_is_set_when_a_write_fails_after_the_client_reset(server: LocalServer) -> None:
    server.add(Reply(parts=[b"x" * 65536] * 1024, framing="length"))  # far more than socket buffers hold
    sock = _connect(server)
    _send_get(sock)
    _read_until(sock, b"\r\n\r\n")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    assert server.requests[0].closed_by_client.wait(5.0)


def test_close_does_not_wait_for_a_handler_in_a_long_pause() -> None:
    server = LocalServer()
    server.add(Reply(parts=[b"abc", Pause(30.0), b"never"]))
    with _connect(server) as sock:
        _send_get(sock)
        _read_until(sock, b"3\r\nabc\r\n")
        started = time.monotonic()
        server.close()
        assert time.monotonic() - started < 1.0
        assert _read_to_eof(sock) == b""
    assert not server.requests[0].closed_by_client.is_set()  # the server closed it, not the client


# -- choosing the reply ------------------------------------------------------------------------------------


def test_routes_answer_every_match_before_the_queue(server: LocalServer, session: requests.Session) -> None:
    server.add(Reply.json({"from": "queue"}))
    server.route("GET", "/v1/models", Reply.json({"from": "route"}))
    assert session.get(server.url + "/v1/models").json() == {"from": "route"}
    assert session.get(server.url + "/v1/models?page=2").json() == {"from": "route"}
    assert session.get(server.url + "/v1/other").json() == {"from": "queue"}
    assert session.post(server.url + "/v1/models").status_code == 500  # method is part of the route


def test_queue_is_first_in_first_out(server: LocalServer, session: requests.Session) -> None:
    for n in range(3):
        server.add(Reply.json({"n": n}))
    assert [session.get(server.url).json()["n"] for _ in range(3)] == [0, 1, 2]


def test_unscripted_request_gets_a_500_naming_it_and_is_recorded(
    server: LocalServer, session: requests.Session
) -> None:
    response = session.post(server.url + "/v1/messages?beta=1", json={})
    assert response.status_code == 500
    assert response.json() == {"error": {"message": "llm_connector.testing: no scripted reply for POST /v1/messages"}}
    assert [r.path for r in server.requests] == ["/v1/messages"]


def test_reply_function_is_called_with_the_recorded_request(server: LocalServer, session: requests.Session) -> None:
    def echo(request: RecordedRequest) -> Reply:
        return Reply.json({"model": request.json()["model"], "auth": request.headers.get("x-api-key")})

    server.route("POST", "/v1/messages", echo)
    response = session.post(server.url + "/v1/messages", json={"model": "m1"}, headers={"X-Api-Key": "k"})
    assert response.json() == {"model": "m1", "auth": "k"}


def test_reply_function_that_raises_gets_a_500_saying_so(server: LocalServer, session: requests.Session) -> None:
    def broken(request: RecordedRequest) -> Reply:
        raise RuntimeError("oops")

    server.add(broken)
    response = session.get(server.url + "/x")
    assert response.status_code == 500
    assert "raised RuntimeError('oops')" in response.json()["error"]["message"]


def test_malformed_request_gets_a_400(server: LocalServer) -> None:
    with _connect(server) as sock:
        sock.sendall(b"not http at all\r\n\r\n")
        response = _read_to_eof(sock)
    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"bad request line" in response


# -- speed -------------------------------------------------------------------------------------------------


def test_thousands_of_small_parts_stream_quickly(server: LocalServer, session: requests.Session) -> None:
    events = [{"choices": [{"delta": {"content": f"token {n}"}}]} for n in range(5000)]
    server.add(Reply.sse(*events, done=True))
    started = time.monotonic()
    with session.get(server.url, stream=True) as response:
        lines = [line for line in response.iter_lines() if line]
    assert len(lines) == 5001
    assert json.loads(lines[-2][len(b"data: ") :]) == events[-1]
    assert time.monotonic() - started < 5.0
