"""Time limits: connect, idle between bytes, and a deadline for a whole call; each error names its limit."""

import re
import socket
import time
from typing import Iterator, Tuple

import pytest
from helpers import chunk, sse

from llm_connector import ChatRequest, LlmClient, Message
from llm_connector.errors import APITimeoutError, ConfigurationError, IncompleteStreamError, ServerError
from llm_connector.testing import Pause, Reply
from llm_connector.transport import HttpRequest, Transport

KEY = "sk-timeouts-0123456789"


def request() -> ChatRequest:
    return ChatRequest(model="gpt-test", messages=[Message.user("hi")])


def client_for(url: str, **options) -> LlmClient:
    options.setdefault("max_retries", 0)
    return LlmClient.openai(KEY, base_url=url + "/v1", **options)


def stream_of(pieces: int, gap: float) -> Reply:
    """``pieces`` chunks of text "x", ``gap`` seconds apart, then the end."""
    parts = []
    for _ in range(pieces):
        parts += sse(chunk("x"), done=False) + [Pause(gap)]
    return Reply(headers={"Content-Type": "text/event-stream"}, parts=parts + sse(chunk("", finish="stop")))


@pytest.fixture
def unanswered_port() -> Iterator[Tuple[str, int]]:
    """A port whose listen queue is full: a TCP handshake to it never completes (a connect timeout without
    leaving 127.0.0.1)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers = []
    try:
        for _ in range(4):
            probe = socket.socket()
            probe.settimeout(0.2)
            fillers.append(probe)
            try:
                probe.connect(address)
            except socket.timeout:
                break  # the queue is full: the next handshake will hang too
        else:
            pytest.skip("this system completes handshakes beyond the listen backlog")
        yield address
    finally:
        for s in fillers:
            s.close()
        listener.close()


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and reads requests, but never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    listener.settimeout(0.05)
    stop = []

    import threading

    def accept() -> None:
        while not stop:
            try:
                conn, _ = listener.accept()
                accepted.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.append(True)
    thread.join(1.0)
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_connect_that_never_completes_is_a_connect_timeout(unanswered_port):
    host, port = unanswered_port
    started = time.monotonic()
    with pytest.raises(APITimeoutError) as info:
        client_for(f"http://{host}:{port}", timeout=(0.3, 10.0)).chat(request())
    assert info.value.limit == "connect"
    assert "connect timeout (0.3s)" in str(info.value)
    assert time.monotonic() - started < 3.0


def test_a_connect_timeout_is_retried(unanswered_port):
    host, port = unanswered_port
    waits = []
    transport = Transport("t", timeout=(0.2, 5.0), max_retries=2, sleep=waits.append)
    with pytest.raises(APITimeoutError) as info:
        transport.send(HttpRequest("GET", f"http://{host}:{port}/"))
    assert info.value.limit == "connect"
    assert len(waits) == 2


def test_a_server_that_never_answers_is_a_read_timeout(silent_server):
    started = time.monotonic()
    with pytest.raises(APITimeoutError) as info:
        client_for(silent_server, timeout=(5.0, 0.3)).chat_stream(request())
    assert info.value.limit == "read"
    assert "read timeout (0.3s)" in str(info.value) and "waiting for the response" in str(info.value)
    assert time.monotonic() - started < 3.0


def test_silence_in_the_middle_of_a_stream_is_a_read_timeout_not_a_broken_connection(server):
    server.add(Reply(headers={"Content-Type": "text/event-stream"},
                     parts=sse(chunk("a"), done=False) + [Pause(3.0)] + sse(chunk("b", finish="stop"))))
    received = []
    started = time.monotonic()
    with pytest.raises(APITimeoutError) as info:
        for piece in client_for(server.url, timeout=(5.0, 0.3)).chat_stream(request()):
            received.append(piece.content)
    assert received == ["a"]
    assert info.value.limit == "read"
    assert not isinstance(info.value, IncompleteStreamError)
    assert "read timeout" in str(info.value) and "middle of the response body" in str(info.value)
    assert time.monotonic() - started < 2.0


def test_a_deadline_per_call_stops_a_stream_that_keeps_talking(server):
    server.add(stream_of(40, 0.05))  # two seconds of chunks, never idle for long
    received = []
    started = time.monotonic()
    with pytest.raises(APITimeoutError) as info:
        for piece in client_for(server.url, timeout=(5.0, 1.0)).chat_stream(request(), deadline=0.5):
            received.append(piece.content)
    elapsed = time.monotonic() - started
    assert info.value.limit == "deadline"
    assert "deadline of 0.5s" in str(info.value)
    assert 0.4 < elapsed < 1.2
    assert 3 <= len(received) < 40


def test_a_deadline_on_the_client_applies_to_every_call(server):
    server.add(stream_of(40, 0.05))
    with pytest.raises(APITimeoutError) as info:
        client_for(server.url, deadline=0.4).chat_stream(request()).text()
    assert info.value.limit == "deadline"


def test_a_deadline_cuts_a_silent_wait_short_instead_of_waiting_out_the_idle_timeout(server):
    parts = []
    for _ in range(6):
        parts += sse(chunk("x"), done=False) + [Pause(0.1)]
    server.add(Reply(headers={"Content-Type": "text/event-stream"},
                     parts=parts + [Pause(5.0)] + sse(chunk("late", finish="stop"))))
    started = time.monotonic()
    with pytest.raises(APITimeoutError) as info:
        client_for(server.url, timeout=(5.0, 10.0)).chat_stream(request(), deadline=1.0).text()
    assert info.value.limit == "deadline"
    assert time.monotonic() - started < 1.3  # the wait for the next byte ends when the deadline does


def test_a_deadline_while_waiting_for_the_headers(server):
    def late(_request):
        time.sleep(1.0)
        return Reply.sse(chunk("late", finish="stop"), done=True)

    server.add(late)
    started = time.monotonic()
    with pytest.raises(APITimeoutError) as info:
        client_for(server.url, timeout=(5.0, 10.0)).chat_stream(request(), deadline=0.3)
    assert info.value.limit == "deadline"
    assert time.monotonic() - started < 0.9


def test_a_deadline_bounds_a_non_streaming_answer_too(server):
    server.add(Reply(headers={"Content-Type": "application/json"}, framing="length",
                     parts=['{"id": "c", "choices": [', Pause(2.0), "]}"]))
    started = time.monotonic()
    with pytest.raises(APITimeoutError) as info:
        client_for(server.url).chat(request(), deadline=0.4)
    assert info.value.limit == "deadline"
    assert time.monotonic() - started < 1.2


def test_a_deadline_covers_the_waits_between_retries(server):
    for _ in range(6):
        server.add(Reply.json({"error": {"message": "busy"}}, status=503, headers={"Retry-After": "0.3"}))
    started = time.monotonic()
    with pytest.raises(ServerError):
        client_for(server.url, max_retries=5).chat(request(), deadline=0.5)
    assert time.monotonic() - started < 0.9
    assert len(server.requests) == 2  # the third try would have started after the deadline


def test_a_deadline_that_is_not_hit_changes_nothing(server):
    server.add(stream_of(3, 0.05))
    assert client_for(server.url).chat_stream(request(), deadline=5.0).text() == "xxx"


@pytest.mark.parametrize("bad", ["10", b"10", "1", -1, 0, (1, 2, 3), (1, "x"), True, {"read": 5}])
def test_a_malformed_timeout_is_a_configuration_error_naming_the_value_given(bad):
    with pytest.raises(ConfigurationError, match="timeout") as info:
        Transport("t", timeout=bad)
    assert str(info.value).endswith(f"got {bad!r}")
    with pytest.raises(ConfigurationError, match=re.escape(f"got {bad!r}")):
        LlmClient.openai("sk-test", timeout=bad)


def test_a_timeout_is_a_number_or_a_pair():
    assert Transport("t", timeout=10).timeout == (10.0, 10.0)
    assert Transport("t", timeout=(3, None)).timeout == (3.0, None)
    assert Transport("t", timeout=[3, 60.5]).timeout == (3.0, 60.5)


@pytest.mark.parametrize("bad", [-1, 0, "5"])
def test_a_malformed_deadline_is_a_configuration_error(bad, server):
    with pytest.raises(ConfigurationError, match="deadline"):
        Transport("t", deadline=bad)
    with pytest.raises(ConfigurationError, match="deadline"):
        client_for(server.url).chat_stream(request(), deadline=bad)
    assert server.requests == []

