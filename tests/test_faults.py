"""Faults on the wire and bad input from the caller.

Each fault yields the chunks that arrived, then the right typed error; nothing foreign (requests, urllib3,
http.client, json, zlib, UnicodeDecodeError) ever reaches the caller. Bad input is refused before anything is
sent.
"""

import json
import socket
import threading
import time
from typing import Callable, Iterator, List, Optional, Tuple

import pytest
from helpers import chunk, sse

from llm_connector import ChatRequest, LlmClient, Message, Tool
from llm_connector.errors import (
    APIConnectionError,
    AuthenticationError,
    ConfigurationError,
    IncompleteStreamError,
    LlmConnectorError,
    OverloadedError,
    RateLimitError,
    ServerError,
    StreamParseError,
)
from llm_connector.testing import Close, LocalServer, Pause, Reply, Reset
from llm_connector.transport import HttpRequest, Transport

KEY = "sk-faults-0123456789"
SSE = {"Content-Type": "text/event-stream"}


def request() -> ChatRequest:
    return ChatRequest(model="gpt-test", messages=[Message.user("hi")])


def client_for(url: str, **options) -> LlmClient:
    options.setdefault("max_retries", 0)
    return LlmClient.openai(KEY, base_url=url + "/v1", **options)


def read_stream(client: LlmClient, req: Optional[ChatRequest] = None) -> Tuple[List[str], Optional[BaseException]]:
    """The texts of the chunks that arrived, and the exception that ended the stream (None at a clean end)."""
    texts: List[str] = []
    try:
        for piece in client.chat_stream(req or request()):
            texts.append(piece.content)
    except Exception as exc:  # noqa: BLE001 - the test looks at whatever came out
        return texts, exc
    return texts, None


# -- a server that writes raw bytes, for faults before or instead of an HTTP head ---------------------------

Handler = Callable[[socket.socket], None]


class RawServer:
    """Accepts connections on 127.0.0.1; the n-th connection is handed to the n-th handler (the last one
    serves the rest)."""

    def __init__(self, *handlers: Handler) -> None:
        self._handlers = list(handlers)
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.connections = 0
        self._open: List[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._open.append(conn)
            handler = self._handlers[min(self.connections, len(self._handlers) - 1)]
            self.connections += 1
            threading.Thread(target=self._serve, args=(handler, conn), daemon=True).start()

    @staticmethod
    def _serve(handler: Handler, conn: socket.socket) -> None:
        try:
            handler(conn)
        except OSError:
            pass

    def close(self) -> None:
        self._listener.close()
        for conn in self._open:
            conn.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return data
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        body += conn.recv(65536)
    return head


def answer(raw: bytes) -> Handler:
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(raw)
        conn.close()
    return handler


def hang_up(conn: socket.socket) -> None:
    read_request(conn)
    conn.close()


def reset_at_once(conn: socket.socket) -> None:
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()


OK_STREAM = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n%s")


def ok_stream(text: str) -> bytes:
    body = "".join(sse(chunk(text, finish="stop"))).encode()
    return OK_STREAM % (len(body), body)


@pytest.fixture
def raw_server() -> Iterator[Callable[..., RawServer]]:
    servers: List[RawServer] = []

    def make(*handlers: Handler) -> RawServer:
        servers.append(RawServer(*handlers))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


# -- one test per fault ---------------------------------------------------------------------------------------


def test_a_reset_mid_stream_delivers_what_arrived_then_an_incomplete_stream_error(server):
    server.add(Reply(headers=SSE, parts=sse(chunk("a"), chunk("b"), done=False) + [Pause(0.1), Reset()]))
    texts, error = read_stream(client_for(server.url))
    assert texts == ["a", "b"]
    assert isinstance(error, IncompleteStreamError)
    assert "reset" in str(error) and "after 2 chunks" in str(error)
    assert error.chunks_received == 2


def test_a_body_shorter_than_its_content_length_is_incomplete(server):
    server.add(Reply(headers=dict(SSE, **{"Content-Length": "5000"}), framing="length",
                     parts=sse(chunk("a"), done=False) + [Close()]))
    texts, error = read_stream(client_for(server.url))
    assert texts == ["a"]
    assert isinstance(error, IncompleteStreamError) and "Content-Length" in str(error)


def test_a_chunked_body_cut_before_its_last_chunk_is_incomplete(server):
    server.add(Reply(headers=SSE, parts=sse(chunk("a"), done=False) + [Close()]))
    texts, error = read_stream(client_for(server.url))
    assert texts == ["a"]
    assert isinstance(error, IncompleteStreamError)


def test_a_close_delimited_body_cut_before_the_end_marker_is_incomplete(server):
    server.add(Reply(headers=SSE, framing="close", parts=sse(chunk("a"), done=False)))
    texts, error = read_stream(client_for(server.url))
    assert texts == ["a"]
    assert isinstance(error, IncompleteStreamError) and "[DONE]" in str(error)


def test_a_gzip_stream_is_decoded_and_each_event_arrives_when_sent(server):
    server.add(Reply(headers=SSE, gzip=True,
                     parts=sse(chunk("zip"), done=False) + [Pause(0.8)] + sse(chunk("ped", finish="stop"))))
    started = time.monotonic()
    times = []
    for piece in client_for(server.url).chat_stream(request()):
        times.append(time.monotonic() - started)
        assert piece.content in ("zip", "ped")
    assert len(times) == 2 and times[0] < 0.3 and times[1] > 0.7


def test_a_deflate_body_is_decoded_whether_zlib_wrapped_or_raw(server):
    import zlib

    body = json.dumps({"ok": "deflated"}).encode()
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    for data in (zlib.compress(body), raw.compress(body) + raw.flush()):
        server.add(Reply(headers={"Content-Encoding": "deflate"}, parts=[data], framing="length"))
        transport = Transport("t", max_retries=0)
        assert transport.read_all(transport.send(HttpRequest("GET", server.url + "/"))) == body


def test_a_gzip_body_cut_before_its_trailer_is_incomplete(server):
    server.add(Reply(gzip=True, framing="close", parts=['{"ok": true}', Close()]))
    transport = Transport("t", max_retries=0)
    with pytest.raises(IncompleteStreamError, match="compressed body was cut off"):
        transport.read_all(transport.send(HttpRequest("GET", server.url + "/")))


def test_a_body_that_claims_gzip_but_is_not_is_a_parse_error(server):
    server.add(Reply(headers=dict(SSE, **{"Content-Encoding": "gzip"}), parts=sse(chunk("plain"))))
    texts, error = read_stream(client_for(server.url))
    assert texts == [] and isinstance(error, StreamParseError) and "corrupt" in str(error)


def test_an_encoding_the_library_never_asked_for_is_a_parse_error(server):
    server.add(Reply(headers=dict(SSE, **{"Content-Encoding": "br"}), parts=["\x0b\x02\x80"]))
    texts, error = read_stream(client_for(server.url))
    assert isinstance(error, StreamParseError) and "'br'" in str(error)


@pytest.mark.parametrize("status, page, title", [
    (502, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>", "502 Bad Gateway"),
    (504, "<!DOCTYPE html><html><body><h1>504 Gateway Time-out</h1></body></html>", "504 Gateway Time-out"),
])
def test_a_proxys_html_error_page_is_a_server_error_with_its_title(server, status, page, title):
    for _ in range(3):
        server.add(Reply(status, {"Content-Type": "text/html", "Retry-After": "0.01"}, [page], framing="length"))
    with pytest.raises(ServerError) as info:
        LlmClient.openai(KEY, base_url=server.url + "/v1", max_retries=2, timeout=5).chat_stream(request())
    assert title in str(info.value) and "<html" not in str(info.value).lower()
    assert info.value.status_code == status
    assert len(server.requests) == 3  # a gateway error is worth the retries


def test_an_error_object_inside_a_200_stream_raises_the_typed_error_after_the_chunks(server):
    error_event = {"error": {"message": "Rate limit reached", "type": "rate_limit_error",
                             "code": "rate_limit_exceeded"}}
    server.add(Reply(headers=SSE, parts=sse(chunk("a"), error_event, done=False)))
    texts, error = read_stream(client_for(server.url))
    assert texts == ["a"]
    assert isinstance(error, RateLimitError) and "Rate limit reached" in str(error)


def test_geminis_400_api_key_invalid_is_an_authentication_error(server):
    body = {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                      "status": "INVALID_ARGUMENT",
                      "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                                   "domain": "googleapis.com"}]}}
    server.add(Reply.json(body, status=400))
    with pytest.raises(AuthenticationError) as info:
        client_for(server.url).chat(request())
    assert info.value.status_code == 400 and "API key not valid" in str(info.value)


def test_a_server_that_hangs_up_without_answering_is_a_connection_error_and_is_retried(raw_server):
    server = raw_server(hang_up, answer(ok_stream("second try")))
    client = LlmClient.openai(KEY, base_url=server.url + "/v1", max_retries=1, timeout=5)
    with pytest.raises(APIConnectionError) as info:
        LlmClient.openai(KEY, base_url=raw_server(hang_up).url + "/v1", max_retries=0).chat(request())
    assert "closed the connection without answering" in str(info.value)
    assert client.chat_stream(request()).text() == "second try"
    assert server.connections == 2


def test_an_answer_that_is_not_http_is_a_connection_error(raw_server):
    server = raw_server(answer(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"))
    with pytest.raises(APIConnectionError) as info:
        client_for(server.url).chat(request())
    assert type(info.value) is APIConnectionError


# -- the battery: whatever goes wrong, only our errors come out ----------------------------------------------

def _local(reply: Reply) -> Tuple[str, object]:
    return ("local", reply)


def _raw(handler: Handler) -> Tuple[str, object]:
    return ("raw", handler)


BATTERY = {
    "reset before the body": _local(Reply(200, SSE, [Reset()])),
    "reset mid-body": _local(Reply(headers=SSE, parts=sse(chunk("a"), done=False) + [Reset()])),
    "content-length too long": _local(Reply(headers=dict(SSE, **{"Content-Length": "999"}), framing="length",
                                            parts=sse(chunk("a"), done=False) + [Close()])),
    "chunked cut": _local(Reply(headers=SSE, parts=sse(chunk("a"), done=False) + [Close()])),
    "close-delimited cut": _local(Reply(headers=SSE, framing="close", parts=sse(chunk("a"), done=False))),
    "empty 200 body": _local(Reply(headers=SSE, framing="length")),
    "gzip corrupt": _local(Reply(headers=dict(SSE, **{"Content-Encoding": "gzip"}), parts=["not gzip at all"])),
    "gzip cut": _local(Reply(headers=SSE, gzip=True, framing="close", parts=sse(chunk("a"), done=False) + [Close()])),
    "unknown encoding": _local(Reply(headers=dict(SSE, **{"Content-Encoding": "zstd"}), parts=["x"])),
    "html 502": _local(Reply(502, {"Content-Type": "text/html"}, ["<html><title>Bad Gateway</title></html>"])),
    "html 200": _local(Reply(200, {"Content-Type": "text/html"}, ["<html><body>captive portal</body></html>"])),
    "error in stream": _local(Reply(headers=SSE, parts=sse(chunk("a"), {"error": {"message": "boom"}}, done=False))),
    "error event": _local(Reply(headers=SSE, parts=sse(chunk("a"), done=False) + ["event: error\ndata: oops\n\n"])),
    "not json": _local(Reply(headers=SSE, parts=["data: {not json\n\n"])),
    "json not an object": _local(Reply(headers=SSE, parts=["data: [1, 2]\n\n"])),
    "choices not a list": _local(Reply(headers=SSE, parts=['data: {"choices": 5}\n\n'])),
    "choice not an object": _local(Reply(headers=SSE, parts=['data: {"choices": [1]}\n\n'])),
    "delta not an object": _local(Reply(headers=SSE, parts=['data: {"choices": [{"delta": "x"}]}\n\n'])),
    "usage of strings": _local(Reply(headers=SSE,
                                     parts=['data: {"choices": [], "usage": {"prompt_tokens": "x"}}\n\n'])),
    "invalid utf-8": _local(Reply(headers=SSE, parts=[b'data: {"choices": [{"delta": {"content": "\xff\xfe"}}]}\n\n'])),
    "binary garbage": _local(Reply(headers=SSE, parts=[bytes(range(256)) * 4])),
    "one huge line": _local(Reply(headers=SSE, framing="close", parts=["data: " + "x" * 300000])),
    "429 with junk retry-after": _local(Reply(429, {"Retry-After": "whenever"}, ["{}"], framing="length")),
    "hang up": _raw(hang_up),
    "reset at once": _raw(reset_at_once),
    "not http": _raw(answer(b"\x00\x01\x02 garbage\r\n\r\n")),
    "bad status line": _raw(answer(b"HTTP/1.1 abc OK\r\n\r\n")),
    "bad chunk size": _raw(answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n")),
    "too many headers": _raw(answer(b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 150 + b"\r\n")),
    "header line too long": _raw(answer(b"HTTP/1.1 200 OK\r\nX-A: " + b"b" * 70000 + b"\r\n\r\n")),
    "bad content-length": _raw(answer(b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\ndata: {}\n\n")),
    "non-latin-1 header": _raw(answer(b"HTTP/1.1 500 Oops\r\nX-A: \xff\xfe\r\nContent-Length: 2\r\n\r\n{}")),
}


@pytest.mark.parametrize("case", sorted(BATTERY))
@pytest.mark.parametrize("call", ["chat_stream", "chat"])
def test_every_fault_comes_out_as_an_llm_connector_error(server, raw_server, case, call):
    kind, script = BATTERY[case]
    if kind == "local":
        server.add(script)
        url = server.url
    else:
        url = raw_server(script).url
    client = client_for(url, timeout=3)
    try:
        if call == "chat":
            client.chat(request())
        else:
            read_stream_or_raise(client)
    except LlmConnectorError as exc:
        assert type(exc).__module__ == "llm_connector.errors"
        assert str(exc) and "\n" not in str(exc)
        return
    except BaseException as exc:  # noqa: BLE001
        pytest.fail("{} escaped as {}: {}".format(case, type(exc).__module__ + "." + type(exc).__name__, exc))
    pytest.fail(f"{case} ended without an error")


def read_stream_or_raise(client: LlmClient) -> None:
    for _ in client.chat_stream(request()):
        pass


# -- other protocols: an error object inside a 200 stream ---------------------------------------------------

def test_anthropic_error_event_mid_stream_raises_overloaded_after_the_text(server):
    events = [
        ("message_start", {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                                                                 "model": "claude", "content": [],
                                                                 "usage": {"input_tokens": 3, "output_tokens": 0}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Hel"}}),
        ("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    ]
    server.add(Reply.sse(*events))
    client = LlmClient.anthropic(KEY, base_url=server.url, max_retries=0)
    texts, error = read_stream(client)
    assert "Hel" in texts
    assert isinstance(error, OverloadedError) and "Overloaded" in str(error)


def test_gemini_error_object_mid_stream_raises_the_typed_error_after_the_text(server):
    first = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}, "index": 0}]}
    error = {"error": {"code": 503, "message": "The model is overloaded. Please try again later.",
                       "status": "UNAVAILABLE"}}
    server.add(Reply.sse(first, error))
    client = LlmClient.google(KEY, base_url=server.url + "/v1beta", max_retries=0)
    texts, err = read_stream(client, ChatRequest(model="gemini-test", messages=[Message.user("hi")]))
    assert texts == ["Hi"]
    assert isinstance(err, ServerError) and "overloaded" in str(err)


def test_ollama_error_line_mid_stream_raises_after_the_text(server):
    first = {"model": "llama3", "created_at": "2024-01-01T00:00:00Z",
             "message": {"role": "assistant", "content": "Hi"}, "done": False}
    server.add(Reply.ndjson(first, {"error": "an error was encountered while running the model"}))
    client = LlmClient.ollama(base_url=server.url, max_retries=0)
    texts, err = read_stream(client, ChatRequest(model="llama3", messages=[Message.user("hi")]))
    assert texts == ["Hi"]
    assert isinstance(err, LlmConnectorError) and "while running the model" in str(err)


def test_anthropic_overloaded_529_status_is_an_overloaded_error(server):
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    server.add(Reply.json(body, status=529))
    with pytest.raises(OverloadedError):
        LlmClient.anthropic(KEY, base_url=server.url, max_retries=0).chat_stream(request())


# -- bad input from the caller: refused before anything is sent ----------------------------------------------

def test_an_unknown_role_is_refused_naming_the_role():
    with pytest.raises(ConfigurationError, match="role") as info:
        Message(role="wizard", content="hi")
    assert "wizard" in str(info.value)


def test_empty_messages_are_refused_before_sending(server):
    with pytest.raises(ConfigurationError, match="messages"):
        client_for(server.url).chat_stream(ChatRequest(model="gpt-test", messages=[]))
    assert server.requests == []


def test_a_missing_model_is_refused_before_sending(server):
    with pytest.raises(ConfigurationError, match="model"):
        client_for(server.url).chat(ChatRequest(model="", messages=[Message.user("hi")]))
    assert server.requests == []


def test_a_tool_schema_json_cannot_express_is_refused_naming_the_field(server):
    tool = Tool.function("pick", "Pick one", {"type": "object", "properties": {"x": {"enum": {1, 2}}}})
    req = ChatRequest(model="gpt-test", messages=[Message.user("hi")], tools=[tool])
    with pytest.raises(ConfigurationError) as info:
        client_for(server.url).chat_stream(req)
    assert "parameters" in str(info.value) and "set" in str(info.value)
    assert server.requests == []


@pytest.mark.parametrize("make", [
    lambda url: LlmClient.openai("", base_url=url),
    lambda url: LlmClient.openai(None, base_url=url),
    lambda url: LlmClient.deepseek("", base_url=url),
    lambda url: LlmClient.anthropic("", base_url=url),
    lambda url: LlmClient.google("", base_url=url),
])
def test_a_missing_key_for_a_provider_that_needs_one_is_refused(server, make):
    with pytest.raises(ConfigurationError, match="api_key"):
        make(server.url)
    assert server.requests == []


def test_a_key_with_a_stray_line_break_is_refused_when_the_client_is_built_never_naming_the_key(server):
    with pytest.raises(ConfigurationError) as info:
        LlmClient.openai(KEY + "\n", base_url=server.url + "/v1", max_retries=0)
    assert "api_key: ends with a newline" in str(info.value) and KEY not in str(info.value)
    assert server.requests == []


def test_a_base_url_without_a_scheme_is_a_configuration_error(server):
    with pytest.raises(ConfigurationError, match="base_url"):
        LlmClient.openai(KEY, base_url=server.url[len("http://"):], max_retries=0).chat(request())


def test_an_ordinary_request_still_gets_through(server: LocalServer):
    server.add(Reply.sse(chunk("fine", finish="stop"), done=True))
    assert client_for(server.url).chat_stream(request()).text() == "fine"
    assert server.requests[0].json()["messages"] == [{"role": "user", "content": "hi"}]


# -- the native protocols: the same faults in each one's own framing -------------------------------------------

NATIVE = {
    # name: (client for a URL, one good stream event, one error event in the stream)
    "tencent": (lambda url: LlmClient.tencent("AKIDfaults", KEY, base_url=url, max_retries=0, timeout=3),
                'data: {"Choices":[{"Delta":{"Content":"a"},"FinishReason":""}]}\n\n',
                'data: {"ErrorMsg":{"Code":"InternalError","Msg":"boom"}}\n\n'),
    "dashscope": (lambda url: LlmClient.aliyun(KEY, base_url=url, max_retries=0, timeout=3),
                  'id:1\nevent:result\n:HTTP_STATUS/200\ndata:{"output":{"choices":[{"message":'
                  '{"content":"a","role":"assistant"},"finish_reason":"null"}]},"request_id":"r"}\n\n',
                  'id:2\nevent:error\n:HTTP_STATUS/500\ndata:{"code":"InternalError","message":"boom"}\n\n'),
    "zhipu": (lambda url: LlmClient.zhipu(KEY, base_url=url, max_retries=0, timeout=3),
              'data: {"id":"z","choices":[{"index":0,"delta":{"content":"a"}}]}\n\n',
              'data: {"error":{"code":"500","message":"boom"}}\n\n'),
}

NATIVE_FAULTS = {
    "reset mid-body": lambda ok, err: Reply(headers=SSE, parts=[ok, Reset()]),
    "chunked cut": lambda ok, err: Reply(headers=SSE, parts=[ok, Close()]),
    "close-delimited cut": lambda ok, err: Reply(headers=SSE, framing="close", parts=[ok]),
    "empty 200 body": lambda ok, err: Reply(headers=SSE, framing="length"),
    "error in stream": lambda ok, err: Reply(headers=SSE, parts=[ok, err]),
    "not json": lambda ok, err: Reply(headers=SSE, parts=[ok, "data: {not json\n\n"]),
    "json not an object": lambda ok, err: Reply(headers=SSE, parts=["data: [1, 2]\n\n"]),
    "invalid utf-8": lambda ok, err: Reply(headers=SSE, parts=[ok.replace('"a"', '"\xff"').encode("latin-1")]),
    "binary garbage": lambda ok, err: Reply(headers=SSE, parts=[bytes(range(256)) * 4]),
    "html 502": lambda ok, err: Reply(502, {"Content-Type": "text/html"}, ["<html><title>Bad Gateway</title></html>"]),
    "html 200": lambda ok, err: Reply(200, {"Content-Type": "text/html"}, ["<html><body>portal</body></html>"]),
    "plain json 200": lambda ok, err: Reply.json({"unexpected": True}),
}


@pytest.mark.parametrize("fault", sorted(NATIVE_FAULTS))
@pytest.mark.parametrize("protocol", sorted(NATIVE))
@pytest.mark.parametrize("call", ["chat_stream", "chat"])
def test_every_fault_in_a_native_protocol_comes_out_as_an_llm_connector_error(server, protocol, fault, call):
    make_client, ok, err = NATIVE[protocol]
    server.add(NATIVE_FAULTS[fault](ok, err))
    client = make_client(server.url)
    try:
        if call == "chat":
            client.chat(request())
        else:
            read_stream_or_raise(client)
    except LlmConnectorError as exc:
        assert type(exc).__module__ == "llm_connector.errors"
        assert str(exc) and "\n" not in str(exc) and KEY not in str(exc)
        return
    except BaseException as exc:  # noqa: BLE001
        pytest.fail("{} escaped as {}: {}".format(fault, type(exc).__module__ + "." + type(exc).__name__, exc))
    pytest.fail(f"{protocol}: {fault} ended without an error")
