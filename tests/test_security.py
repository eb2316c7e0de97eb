"""Credentials never leak: not in repr(), not in exception texts, not in logs, not across a redirect to
another origin, not replaced by ~/.netrc; TLS is verified by default."""

import logging
import os
import socket
import ssl
import subprocess
import threading
import traceback
from typing import Dict, Iterator, List, Optional

import pytest
import requests
from helpers import chunk

from llm_connector import ChatRequest, LlmClient, Message
from llm_connector.auth import Auth, BearerAuth, HeaderKeyAuth
from llm_connector.errors import APIConnectionError, APIStatusError, AuthenticationError, BadRequestError
from llm_connector.testing import LocalServer, Reply
from llm_connector.transport import HttpRequest, Transport

KEY = "sk-live-SECRET-0123456789abcdef"
SECRET_HEADERS = ("authorization", "x-api-key", "api-key", "x-goog-api-key", "x-amz-security-token")
OK = {"id": "c", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}


def request() -> ChatRequest:
    return ChatRequest(model="gpt-test", messages=[Message.user("hi")])


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


def chain(exc: BaseException) -> List[BaseException]:
    """The exception and every cause and context hanging on it."""
    seen: List[BaseException] = []
    cur: Optional[BaseException] = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


@pytest.fixture
def other_host() -> Iterator[LocalServer]:
    """A second server that counts as another host: its URL says ``localhost``."""
    with LocalServer(host="localhost") as s:
        yield s


# -- repr ---------------------------------------------------------------------------------------------------


def test_no_repr_shows_a_key(server):
    clients = [
        LlmClient.openai(KEY, base_url=server.url + "/v1"),
        LlmClient.azure_openai(KEY, server.url, "dep"),
        LlmClient.anthropic(KEY, base_url=server.url),
        LlmClient.google(KEY, base_url=server.url),
        LlmClient.openai_compatible(KEY, server.url, name="gw"),
    ]
    server.add(Reply.sse(chunk("a", finish="stop"), done=True))
    stream = clients[0].chat_stream(request())
    objects = [stream, BearerAuth(KEY), HeaderKeyAuth("x-api-key", KEY)]
    for client in clients:
        backend = client._backend
        http = backend.protocol.encode_chat(request(), backend.endpoint, True)
        objects += [client, backend.endpoint, backend.endpoint.auth, backend.transport, http]
    try:
        from llm_connector.auth import AwsSigV4Auth

        objects.append(AwsSigV4Auth("AKIDEXAMPLE", KEY, "us-east-1", session_token=KEY + "tok"))
    except ImportError:  # pragma: no cover - SigV4 not there yet
        pass
    for obj in objects:
        assert KEY not in repr(obj) and KEY not in str(obj), type(obj).__name__
    stream.close()


def test_a_secret_in_the_base_url_never_shows_in_repr():
    client = LlmClient.openai_compatible(KEY, "http://user:pw-SECRET@127.0.0.1:9/v1?token=SECRET")
    endpoint = client._backend.endpoint
    http = client._backend.protocol.encode_chat(request(), endpoint, False)
    for obj in (client, endpoint, http):
        assert "SECRET" not in repr(obj), type(obj).__name__


def test_an_error_never_shows_a_key_even_when_the_service_echoes_it(server):
    server.add(Reply.json({"error": {"message": f"Incorrect API key provided: {KEY}.",
                                     "type": "invalid_request_error", "code": "invalid_api_key"}}, status=401))
    with pytest.raises(AuthenticationError) as info:
        LlmClient.openai(KEY, base_url=server.url + "/v1", max_retries=0).chat(request())
    error = info.value
    assert "Incorrect API key provided" in str(error)
    for text in (str(error), repr(error), error.message, error.body or "", str(error.args)):
        assert KEY not in text


def test_a_per_call_key_is_hidden_in_errors_too(server):
    server.add(Reply(401, {"Content-Type": "text/plain"}, ["bad key Bearer other-SECRET-key-987"], framing="length"))
    client = LlmClient.openai(KEY, base_url=server.url + "/v1", max_retries=0)
    with pytest.raises(AuthenticationError) as info:
        client.chat(request(), api_key="other-SECRET-key-987")
    assert "other-SECRET-key-987" not in str(info.value) and "bad key" in str(info.value)


# -- exception texts ---------------------------------------------------------------------------------------


def test_a_refused_connection_error_carries_no_secret_from_the_url_or_headers():
    port = closed_port()
    base = f"http://user:pw-SECRET@127.0.0.1:{port}/v1/token-SECRET"
    client = LlmClient.openai_compatible(KEY, base, max_retries=0, headers={"X-Extra": "hdr-SECRET"})
    with pytest.raises(APIConnectionError) as info:
        client.chat(request())
    assert "connection refused" in str(info.value)
    for exc in chain(info.value):
        assert "SECRET" not in str(exc) and "SECRET" not in repr(exc) and KEY not in str(exc)
    text = "".join(traceback.format_exception(type(info.value), info.value, info.value.__traceback__))
    assert "SECRET" not in text


def test_no_foreign_exception_hangs_on_ours():
    with pytest.raises(APIConnectionError) as info:
        Transport("t", max_retries=0).send(HttpRequest("GET", f"http://127.0.0.1:{closed_port()}/x?key=SECRET"))
    assert all(type(e).__module__.startswith("llm_connector") for e in chain(info.value))


# -- logs ---------------------------------------------------------------------------------------------------


def test_debug_logs_show_method_url_status_and_time_but_no_key(server, caplog):
    server.add(Reply.sse(chunk("a", finish="stop"), done=True))
    server.add(Reply.json({"error": {"message": "nope"}}, status=400))
    client = LlmClient.openai(KEY, base_url=server.url + "/v1", max_retries=0)
    with caplog.at_level(logging.DEBUG, logger="llm_connector"):
        client.chat_stream(request()).text()
        with pytest.raises(BadRequestError):
            client.chat(request())
        with pytest.raises(APIConnectionError):
            Transport("t", max_retries=0).send(
                HttpRequest("GET", f"http://127.0.0.1:{closed_port()}/v1/models?key={KEY}"))
    records = [r for r in caplog.records if r.name.startswith("llm_connector")]
    lines = [r.getMessage() for r in records]
    assert any(f"POST {server.url}/v1/chat/completions -> 200 in" in line and " ms" in line for line in lines)
    assert any("-> 400" in line for line in lines)
    assert any("failed" in line and "key=..." in line for line in lines)
    for record in records:
        assert KEY not in record.getMessage()
        assert KEY not in repr(record.args)


# -- redirects ----------------------------------------------------------------------------------------------


class SignerAuth(Auth):
    def apply(self, method: str, url: str, headers: Dict[str, str], body: Optional[bytes]) -> None:
        headers["Authorization"] = f"AWS4-HMAC-SHA256 Credential=AKID/x, Signature={KEY}"
        headers["X-Amz-Security-Token"] = KEY
        headers["X-Amz-Date"] = "20240101T000000Z"


@pytest.mark.parametrize("auth, header", [
    (BearerAuth(KEY), "authorization"),
    (HeaderKeyAuth("x-api-key", KEY), "x-api-key"),
    (HeaderKeyAuth("api-key", KEY), "api-key"),
    (HeaderKeyAuth("x-goog-api-key", KEY), "x-goog-api-key"),
    (SignerAuth(), "x-amz-security-token"),
])
@pytest.mark.parametrize("status", [307, 308])
def test_a_redirect_of_a_post_to_another_host_is_refused_the_body_and_key_go_nowhere(
        server, other_host, auth, header, status):
    server.add(Reply.redirect(other_host.url + "/landing?sig=" + KEY, status))
    other_host.add(Reply.json({"ok": True}))
    transport = Transport("t", max_retries=0)
    http = HttpRequest("POST", server.url + "/v1/chat", {"Content-Type": "application/json"}, b'{"a":1}', auth)
    with pytest.raises(APIStatusError) as info:
        transport.send(http)
    assert info.value.status_code == status
    message = str(info.value)
    assert f"HTTP {status} to {other_host.url}/landing)" in message and "base_url" in message
    assert KEY not in message and "sig=" not in message
    assert server.requests[0].headers.get(header)
    assert other_host.requests == []


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_of_a_post_is_never_silently_followed_even_on_the_same_origin(server, status):
    server.add(Reply.redirect("/v2/moved", status))
    server.add(Reply.json({"ok": True}))
    transport = Transport("t", max_retries=0)
    with pytest.raises(APIStatusError, match=f"POST with a redirect \\(HTTP {status} to {server.url}/v2/moved\\)"):
        transport.send(HttpRequest("POST", server.url + "/v1/x", {}, b"{}", HeaderKeyAuth("x-api-key", KEY)))
    assert len(server.requests) == 1


def test_a_get_follows_a_same_origin_redirect_with_its_credentials(server):
    server.add(Reply.redirect("/v2/models", 308))
    server.add(Reply.json({"data": [{"id": "m1"}]}))
    client = LlmClient.openai(KEY, base_url=server.url + "/v1", max_retries=0)
    assert client.models() == ["m1"]
    assert server.requests[1].path == "/v2/models" and server.requests[1].method == "GET"
    assert server.requests[1].headers["Authorization"] == "Bearer " + KEY


def test_a_get_redirected_to_another_port_of_the_same_host_is_refused(server):
    with LocalServer() as other_port:
        server.add(Reply.redirect(other_port.url + "/x", 302))
        other_port.add(Reply.json({"ok": True}))
        transport = Transport("t", max_retries=0, headers={"Authorization": "Bearer " + KEY})
        with pytest.raises(APIStatusError, match="GET with a redirect to another origin") as info:
            transport.send(HttpRequest("GET", server.url + "/"))
        assert info.value.status_code == 302
        assert other_port.requests == []


@pytest.mark.parametrize("make, header", [
    (lambda url: LlmClient.openai(KEY, base_url=url + "/v1", max_retries=0), "authorization"),
    (lambda url: LlmClient.azure_openai(KEY, url, "dep", max_retries=0), "api-key"),
])
def test_a_client_redirected_to_another_host_gets_a_typed_error_with_a_base_url_hint(
        server, other_host, make, header):
    server.add(Reply.redirect(other_host.url + "/v1/chat/completions", 307))
    other_host.add(Reply.json(OK))
    with pytest.raises(APIStatusError) as info:
        make(server.url).chat(request())
    assert f"to {other_host.url}/v1/chat/completions" in str(info.value) and "set base_url" in str(info.value)
    assert server.requests[0].headers[header] and other_host.requests == []


def test_an_endless_redirect_loop_is_a_connection_error(server):
    server.route("GET", "/loop", Reply.redirect("/loop", 302))
    with pytest.raises(APIConnectionError, match="too many redirects"):
        Transport("t", max_retries=0).send(HttpRequest("GET", server.url + "/loop"))


# -- netrc --------------------------------------------------------------------------------------------------


@pytest.fixture
def netrc_for_loopback(tmp_path, monkeypatch) -> str:
    path = tmp_path / ".netrc"
    path.write_text("machine 127.0.0.1 login netrc-user password netrc-SECRET\n")
    os.chmod(str(path), 0o600)
    monkeypatch.setenv("NETRC", str(path))
    monkeypatch.setenv("HOME", str(tmp_path))
    return str(path)


def test_requests_alone_would_use_the_netrc_entry(netrc_for_loopback, server):
    assert requests.utils.get_netrc_auth(server.url + "/v1") == ("netrc-user", "netrc-SECRET")


def test_a_netrc_entry_never_replaces_the_callers_key(netrc_for_loopback, server):
    server.add(Reply.sse(chunk("a", finish="stop"), done=True))
    LlmClient.openai(KEY, base_url=server.url + "/v1").chat_stream(request()).text()
    assert server.requests[0].headers["authorization"] == "Bearer " + KEY


def test_a_netrc_entry_is_not_sent_when_the_caller_gave_no_key(netrc_for_loopback, server):
    server.add(Reply.sse(chunk("a", finish="stop"), done=True))
    LlmClient.openai_compatible(None, server.url + "/v1").chat_stream(request()).text()
    assert "authorization" not in {k.lower() for k in server.requests[0].headers}


# -- TLS ----------------------------------------------------------------------------------------------------


def test_tls_verification_is_on_by_default():
    assert Transport("t").verify is True
    for client in (LlmClient.openai(KEY), LlmClient.anthropic(KEY), LlmClient.google(KEY)):
        assert client._backend.transport.verify is True


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory) -> Dict[str, str]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("openssl is needed to make a self-signed certificate")
    return {"cert": cert, "key": key}


def read_request(conn: socket.socket) -> None:
    """Read one request, head and body, so that closing afterwards never resets the connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        piece = conn.recv(65536)
        if not piece:
            return
        body += piece


@pytest.fixture
def tls_server(tls_files) -> Iterator[str]:
    """An HTTPS server with a self-signed certificate that answers every request with ``OK``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files["cert"], tls_files["key"])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    body = (b'{"id":"c","choices":[{"index":0,"message":{"role":"assistant","content":"secure"},'
            b'"finish_reason":"stop"}]}')

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    read_request(tls)
                    tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                                b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            except (OSError, ssl.SSLError):
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def test_a_self_signed_certificate_is_refused_by_default(tls_server):
    with pytest.raises(APIConnectionError, match="TLS") as info:
        LlmClient.openai(KEY, base_url=tls_server + "/v1", max_retries=0).chat(request())
    assert KEY not in str(info.value)


def test_verify_accepts_the_callers_own_ca_file(tls_server, tls_files):
    client = LlmClient.openai(KEY, base_url=tls_server + "/v1", max_retries=0, verify=tls_files["cert"])
    assert client.chat(request()).content == "secure"


def test_the_ca_bundle_variable_is_read_when_the_client_is_built(tls_server, tls_files, monkeypatch):
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    before = LlmClient.openai(KEY, base_url=tls_server + "/v1", max_retries=0)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls_files["cert"])
    after = LlmClient.openai(KEY, base_url=tls_server + "/v1", max_retries=0)
    assert after.chat(request()).content == "secure"
    with pytest.raises(APIConnectionError, match="TLS"):
        before.chat(request())  # built before the variable was set: the default CA store


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
def test_the_ca_bundle_variable_never_turns_verification_back_on_or_replaces_the_callers_file(
        tls_server, tls_files, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    insecure = LlmClient.openai(KEY, base_url=tls_server + "/v1", max_retries=0, verify=False)
    own = LlmClient.openai(KEY, base_url=tls_server + "/v1", max_retries=0, verify=tls_files["cert"])
    assert insecure.chat(request()).content == own.chat(request()).content == "secure"

