"""Settings from the environment (proxies, NO_PROXY) are read once per client, not on every call, and keep
requests' rules; a session the caller passes is used as the caller configured it (requests reads the environment
on each of its calls). The CA bundle variables: tests/test_security.py; .netrc: there too."""

import pytest
import requests
from helpers import chunk

from llm_connector import ChatRequest, LlmClient, Message
from llm_connector.testing import LocalServer, Reply

KEY = "sk-environment-0123456789"
ELSEWHERE = "http://api.example.invalid/v1"  # never resolved: only a proxy can answer for it
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def request() -> ChatRequest:
    return ChatRequest(model="gpt-test", messages=[Message.user("hi")])


def answer(text: str) -> Reply:
    return Reply.sse(chunk(text, finish="stop"), done=True)


@pytest.fixture(autouse=True)
def no_proxy_variables(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def proxy_a():
    with LocalServer() as s:
        yield s


@pytest.fixture
def proxy_b():
    with LocalServer() as s:
        yield s


def test_a_proxy_from_the_environment_is_used(monkeypatch, proxy_a):
    monkeypatch.setenv("HTTP_PROXY", proxy_a.url)
    proxy_a.add(answer("via env proxy"))
    assert LlmClient.openai(KEY, base_url=ELSEWHERE, max_retries=0).chat_stream(request()).text() == "via env proxy"
    assert proxy_a.requests[0].target == ELSEWHERE + "/chat/completions"


def test_the_clients_own_session_leaves_the_environment_to_the_client():
    """requests would look the variables up again on every call (a tenth of a millisecond each)."""
    assert LlmClient.openai(KEY)._backend.transport.session.trust_env is False


def test_the_environment_is_read_once_per_client_and_a_new_client_sees_a_change(monkeypatch, proxy_a, proxy_b):
    monkeypatch.setenv("HTTP_PROXY", proxy_a.url)
    proxy_a.add(answer("a1"))
    proxy_a.add(answer("a2"))
    proxy_b.add(answer("b1"))
    first = LlmClient.openai(KEY, base_url=ELSEWHERE, max_retries=0)
    assert first.chat_stream(request()).text() == "a1"
    monkeypatch.setenv("HTTP_PROXY", proxy_b.url)
    assert first.chat_stream(request()).text() == "a2"  # the client keeps what it read
    second = LlmClient.openai(KEY, base_url=ELSEWHERE, max_retries=0)
    assert second.chat_stream(request()).text() == "b1"
    assert (len(proxy_a.requests), len(proxy_b.requests)) == (2, 1)


def test_no_proxy_sends_its_hosts_direct(monkeypatch, proxy_a, server):
    monkeypatch.setenv("HTTP_PROXY", proxy_a.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server.add(answer("direct"))
    assert LlmClient.openai(KEY, base_url=server.url + "/v1", max_retries=0).chat_stream(request()).text() == "direct"
    assert server.requests[0].target == "/v1/chat/completions"
    assert proxy_a.requests == []


def test_no_proxy_is_decided_per_host_within_one_client(monkeypatch, proxy_a, server):
    """One client, two hosts (a per-call base_url): each host gets requests' own answer."""
    monkeypatch.setenv("HTTP_PROXY", proxy_a.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    server.add(answer("direct"))
    proxy_a.add(answer("proxied"))
    client = LlmClient.openai(KEY, base_url=server.url + "/v1", max_retries=0)
    assert client.chat_stream(request()).text() == "direct"
    assert client.chat_stream(request(), base_url=ELSEWHERE).text() == "proxied"
    assert proxy_a.requests[0].target == ELSEWHERE + "/chat/completions"


def test_the_proxy_option_wins_over_the_environment(monkeypatch, proxy_a, proxy_b):
    monkeypatch.setenv("HTTP_PROXY", proxy_a.url)
    proxy_b.add(answer("via option"))
    client = LlmClient.openai(KEY, base_url=ELSEWHERE, proxy=proxy_b.url, max_retries=0)
    assert client.chat_stream(request()).text() == "via option"
    assert proxy_a.requests == []


def test_a_callers_session_reads_the_environment_on_each_call_as_requests_does(monkeypatch, proxy_a):
    session = requests.Session()
    client = LlmClient.openai(KEY, base_url=ELSEWHERE, max_retries=0, session=session)
    monkeypatch.setenv("HTTP_PROXY", proxy_a.url)  # set after the client was built
    proxy_a.add(answer("their session"))
    assert client.chat_stream(request()).text() == "their session"
    assert session.trust_env is True  # the caller's session is not changed


def test_a_callers_session_without_trust_env_ignores_the_environment(monkeypatch, proxy_a, server):
    session = requests.Session()
    session.trust_env = False
    monkeypatch.setenv("HTTP_PROXY", proxy_a.url)
    server.add(answer("direct"))
    client = LlmClient.openai(KEY, base_url=server.url + "/v1", max_retries=0, session=session)
    assert client.chat_stream(request()).text() == "direct"
    assert proxy_a.requests == []


# -- the request a client's own session sends ------------------------------------------------------------------
#
# A client's own session prepares its requests itself (requests' Session.request merges settings such a session
# does not have, about a tenth of a millisecond a call): what reaches the service must be what requests sends.


_COMPLETION = {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-test",
               "choices": [{"index": 0, "message": {"role": "assistant", "content": "a"}, "finish_reason": "stop"}]}


def _sent(server, session=None, url=None):
    """Two calls, the first answered with a cookie: what the second request carried."""
    server.add(Reply.json(_COMPLETION, headers={"Set-Cookie": "lb=node-7; Path=/"}))
    server.add(Reply.json(_COMPLETION))
    options = {"session": session} if session is not None else {}
    client = LlmClient.openai(KEY, base_url=url or server.url + "/v1", max_retries=0, **options)
    client.chat(request())
    client.chat(request())
    first, second = server.requests[-2], server.requests[-1]
    return first, second


def test_a_clients_own_session_sends_what_requests_sends(server):
    own_first, own = _sent(server)
    theirs_first, theirs = _sent(server, session=requests.Session())
    names = lambda r: {k.lower(): v for k, v in dict(r.headers._store.values()).items()}  # noqa: E731
    assert names(own) == names(theirs)
    assert names(own_first) == names(theirs_first)
    assert own.body == theirs.body and own.target == theirs.target and own.method == theirs.method == "POST"
    assert names(own)["user-agent"].startswith("python-requests/") or "llm" in names(own)["user-agent"]
    assert names(own)["authorization"] == f"Bearer {KEY}"
    assert names(own)["content-length"] == str(len(own.body))


def test_a_cookie_the_service_sets_is_sent_back_as_requests_would(server):
    first, second = _sent(server)
    assert first.headers.get("Cookie") is None
    assert second.headers.get("Cookie") == "lb=node-7"


def test_userinfo_in_base_url_never_becomes_basic_auth_over_the_key(server):
    host = server.url.split("//", 1)[1]
    _, sent = _sent(server, url=f"http://user:pw-SECRET@{host}/v1")
    assert sent.headers.get("Authorization") == f"Bearer {KEY}"
