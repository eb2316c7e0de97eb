"""The transport over a real socket: bytes handed out as they arrive, timeouts that never cap a stream,
options passed to requests, HTTP errors in the service's words, and the connection freed on every way out."""

import gc
import time

import pytest
from helpers import chunk, sse

from llm_connector import ChatRequest, LlmClient, Message
from llm_connector.errors import (
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    OverloadedError,
    RateLimitError,
    ServerError,
)
from llm_connector.testing import LocalServer, Pause, Reply
from llm_connector.transport import DEFAULT_TIMEOUT, HttpRequest, Transport

KEY = "sk-transport-secret-0123456789"


def request() -> ChatRequest:
    return ChatRequest(model="gpt-test", messages=[Message.user("hi")])


def client_for(server: LocalServer, **options) -> LlmClient:
    options.setdefault("max_retries", 0)
    return LlmClient.openai(KEY, base_url=server.url + "/v1", **options)


def slow_stream(seconds: float = 5.0) -> Reply:
    """One chunk, a long pause, then the rest: a stream the caller can leave in the middle."""
    return Reply(headers={"Content-Type": "text/event-stream"},
                 parts=sse(chunk("a"), done=False) + [Pause(seconds)] + sse(chunk("b", finish="stop")))


# -- bytes reach the caller as soon as they arrive -----------------------------------------------------------


@pytest.mark.parametrize("framing, gzip", [("chunked", False), ("close", False), ("length", False),
                                           ("chunked", True), ("close", True)])
def test_the_first_event_reaches_the_loop_before_the_server_writes_the_second(server, framing, gzip):
    server.add(Reply(headers={"Content-Type": "text/event-stream"}, framing=framing, gzip=gzip,
                     parts=sse(chunk("first"), done=False) + [Pause(1.0)] + sse(chunk("second", finish="stop"))))
    started = time.monotonic()
    arrivals = []
    for piece in client_for(server).chat_stream(request()):
        arrivals.append((piece.content, time.monotonic() - started))
    assert [text for text, _ in arrivals] == ["first", "second"]
    assert arrivals[0][1] < 0.3, arrivals
    assert arrivals[1][1] >= 0.9, arrivals


def test_a_stream_longer_than_the_read_timeout_completes_when_its_gaps_are_shorter(server):
    parts = []
    for i in range(6):
        parts += sse(chunk(str(i)), done=False) + [Pause(0.15)]
    server.add(Reply(headers={"Content-Type": "text/event-stream"}, parts=parts + sse(chunk("!", finish="stop"))))
    started = time.monotonic()
    text = client_for(server, timeout=0.5).chat_stream(request()).text()
    assert text == "012345!"
    assert time.monotonic() - started > 0.5  # longer than the timeout, and still whole


def test_timeout_is_a_connect_and_idle_pair_never_a_total():
    assert Transport("x").timeout == DEFAULT_TIMEOUT
    assert Transport("x", timeout=7).timeout == (7.0, 7.0)
    assert Transport("x", timeout=(2, 30)).timeout == (2.0, 30.0)
    assert Transport("x", timeout=None).timeout == (None, None)


# -- options passed to requests ------------------------------------------------------------------------------


def test_proxy_option_sends_the_request_through_the_proxy(server):
    server.add(Reply.sse(chunk("via proxy", finish="stop"), done=True))
    client = LlmClient.openai(KEY, base_url="http://api.example.invalid/v1", proxy=server.url, max_retries=0)
    assert client.chat_stream(request()).text() == "via proxy"
    assert server.requests[0].target == "http://api.example.invalid/v1/chat/completions"
    assert server.requests[0].headers["authorization"] == "Bearer " + KEY


def test_verify_is_on_by_default_and_the_callers_choice_is_kept():
    assert Transport("x").verify is True
    assert LlmClient.openai(KEY)._backend.transport.verify is True
    assert LlmClient.openai(KEY, verify="/etc/ssl/my-ca.pem")._backend.transport.verify == "/etc/ssl/my-ca.pem"


def test_client_headers_and_per_call_headers_are_both_sent(server):
    server.add(Reply.sse(chunk("ok", finish="stop"), done=True))
    client = client_for(server, headers={"X-Client": "c1", "X-Both": "client"})
    client.chat_stream(request(), headers={"X-Call": "c2", "X-Both": "call"}).text()
    headers = server.requests[0].headers
    assert (headers["x-client"], headers["x-call"], headers["x-both"]) == ("c1", "c2", "call")


def test_only_encodings_the_transport_decodes_are_asked_for(server):
    server.add(Reply.sse(chunk("ok", finish="stop"), done=True))
    client_for(server).chat_stream(request()).text()
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


def test_a_caller_session_is_used_and_left_open(server):
    import requests

    session = requests.Session()
    session.headers["X-From-Session"] = "yes"
    server.add(Reply.sse(chunk("ok", finish="stop"), done=True))
    client = client_for(server, session=session)
    assert client.chat_stream(request()).text() == "ok"
    client.close()
    assert server.requests[0].headers["x-from-session"] == "yes"
    assert client._backend.transport.session is session


# -- HTTP errors in the service's own words --------------------------------------------------------------------

HTML_502 = ("<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
            "<hr><center>nginx</center></body></html>")


@pytest.mark.parametrize("status, body, content_type, cls, message", [
    (401, '{"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", '
          '"code": "invalid_api_key"}}', "application/json", AuthenticationError, "Incorrect API key provided"),
    (529, '{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}',
     "application/json", OverloadedError, "Overloaded"),
    (400, '{"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", '
          '"status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", '
          '"reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}', "application/json",
     AuthenticationError, "API key not valid"),
    (404, '{"error": "model \\"llama9\\" not found, try pulling it first"}', "application/json", NotFoundError,
     'model "llama9" not found'),
    (502, HTML_502, "text/html", ServerError, "502 Bad Gateway"),
    (504, "<html><body><h1>504 Gateway Time-out</h1>The server didn't respond in time.</body></html>",
     "text/html", ServerError, "504 Gateway Time-out"),
    (429, '{"error": {"message": "Rate limit reached for gpt-4o", "type": "requests", '
          '"code": "rate_limit_exceeded"}}', "application/json", RateLimitError, "Rate limit reached"),
    (422, "plain words from a gateway", "text/plain", BadRequestError, "plain words from a gateway"),
    (500, "", "text/plain", ServerError, "HTTP 500 with an empty body"),
])
def test_http_errors_carry_the_services_own_message(server, status, body, content_type, cls, message):
    server.add(Reply(status, {"Content-Type": content_type, "x-request-id": "req-7"}, [body] if body else [],
                     framing="length"))
    with pytest.raises(cls) as info:
        client_for(server).chat_stream(request())
    error = info.value
    assert message in str(error)
    assert error.status_code == status and error.request_id == "req-7" and error.provider == "openai"
    assert "\n" not in str(error) and "<body>" not in str(error)


def test_an_error_body_is_read_only_up_to_a_limit(server):
    server.add(Reply(500, {"Content-Type": "text/plain"}, ["x" * 70000, Pause(5.0), "never read"]))
    started = time.monotonic()
    with pytest.raises(ServerError) as info:
        client_for(server).chat_stream(request())
    assert time.monotonic() - started < 2.0
    assert len(str(info.value)) < 1000


# -- the connection is freed on every way out ---------------------------------------------------------------


def test_the_normal_end_of_a_stream_frees_its_connection_for_the_next_call(server):
    """At the end marker the rest of the body (the end of the chunked framing) is read and the connection goes
    back to the pool: the next call needs no new TCP (and TLS) handshake."""
    server.add(Reply.sse(chunk("a"), chunk("b", finish="stop"), done=True))
    server.add(Reply.sse(chunk("c", finish="stop"), done=True))
    client = client_for(server)
    stream = client.chat_stream(request())
    assert stream.text() == "ab"
    assert stream.closed
    assert client.chat_stream(request()).text() == "c"
    assert server.connections == 1
    assert not server.requests[0].closed_by_client.is_set()


def test_a_stream_whose_body_goes_on_after_the_end_marker_is_closed_not_reused(server):
    server.add(Reply(headers={"Content-Type": "text/event-stream"},
                     parts=sse(chunk("a", finish="stop")) + [Pause(3.0), "data: junk\n\n"]))
    started = time.monotonic()
    assert client_for(server).chat_stream(request()).text() == "a"
    assert time.monotonic() - started < 1.0
    assert server.requests[0].closed_by_client.wait(2.0)


def test_break_closes_the_connection(server):
    server.add(slow_stream())
    for piece in client_for(server).chat_stream(request()):
        assert piece.content == "a"
        break
    assert server.requests[0].closed_by_client.wait(2.0)


def test_a_stream_the_caller_holds_stays_open_after_break_until_close(server):
    server.add(slow_stream())
    stream = client_for(server).chat_stream(request())
    for _ in stream:
        break
    assert not stream.closed  # a stream is one iterator, like a file: a later next() continues it
    stream.close()
    assert server.requests[0].closed_by_client.wait(2.0)


def test_an_exception_in_the_loop_body_closes_the_connection(server):
    server.add(slow_stream())
    with pytest.raises(ZeroDivisionError):
        for _ in client_for(server).chat_stream(request()):
            raise ZeroDivisionError
    assert server.requests[0].closed_by_client.wait(2.0)


def test_close_closes_the_connection(server):
    server.add(slow_stream())
    stream = client_for(server).chat_stream(request())
    assert next(stream).content == "a"
    stream.close()
    assert server.requests[0].closed_by_client.wait(2.0)


def test_leaving_a_with_block_closes_the_connection(server):
    server.add(slow_stream())
    with client_for(server).chat_stream(request()) as stream:
        assert next(stream).content == "a"
    assert server.requests[0].closed_by_client.wait(2.0)


def test_garbage_collection_closes_a_stream_never_iterated(server):
    server.add(slow_stream())
    stream = client_for(server).chat_stream(request())
    del stream
    gc.collect()
    assert server.requests[0].closed_by_client.wait(2.0)


def test_garbage_collection_closes_a_stream_read_halfway(server):
    server.add(slow_stream())
    stream = client_for(server).chat_stream(request())
    assert next(stream).content == "a"
    del stream
    gc.collect()
    assert server.requests[0].closed_by_client.wait(2.0)


def test_a_body_read_to_its_end_gives_the_connection_back_for_the_next_call(server):
    answer = {"id": "c", "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                                      "finish_reason": "stop"}]}
    server.add(Reply.json(answer))
    server.add(Reply.json(answer))
    client = client_for(server)
    assert client.chat(request()).content == "hi"
    assert client.chat(request()).content == "hi"
    assert server.requests[0].connection == server.requests[1].connection
    assert server.connections == 1


def test_a_half_read_connection_never_goes_back_to_the_pool(server):
    server.add(slow_stream())
    server.add(Reply.sse(chunk("fresh", finish="stop"), done=True))
    client = client_for(server)
    for _ in client.chat_stream(request()):
        break
    assert client.chat_stream(request()).text() == "fresh"
    assert server.requests[1].connection != server.requests[0].connection


def test_transport_send_and_read_all_work_without_a_client(server):
    server.add(Reply.json({"ok": True}))
    transport = Transport("custom", max_retries=0)
    response = transport.send(HttpRequest("GET", server.url + "/ping"))
    assert transport.read_all(response) == b'{"ok":true}'
    assert repr(HttpRequest("GET", server.url + "/p?key=secret")) == f"HttpRequest(GET {server.url}/p?key=...)"


def test_a_connection_reused_after_a_content_length_answer_sends_each_request_once(server):
    """http.client's read1 leaves a Content-Length response open at its end; the pool must not get it back
    that way (the next request on it would fail and be retried: a duplicate POST). An error kept by the caller
    keeps the old response alive through its traceback, which is how this shows up in real use."""
    from llm_connector import ChatRequest, LlmClient, LlmConnectorError, Message
    from llm_connector.testing import Reply

    server.add(Reply.json({"error": {"message": "content policy", "type": "invalid_request_error"}}))
    server.add(Reply.json({"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}))
    client = LlmClient.openai("k", base_url=server.url)
    request = ChatRequest(model="m", messages=[Message.user("hi")])
    kept = []
    try:
        client.chat(request)
    except LlmConnectorError as exc:
        kept.append(exc)
    assert client.chat(request).content == "ok"
    assert len(server.requests) == 2
    assert server.connections == 1
