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
