"""Keys are checked when the client is built: a stray newline, a leading space or a pasted curly quote is a
ConfigurationError naming the problem and its position, never the key; nothing is sent."""

import pytest

from llm_connector import ChatRequest, LlmClient, Message
from llm_connector.errors import ConfigurationError
from llm_connector.testing import LocalServer, Reply

KEY = "sk-live-KEYCHECK-0123456789"
OK = {"id": "c", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}


@pytest.mark.parametrize("key, problem", [
    (KEY + "\n", "api_key: ends with a newline (position 28 of 28)"),
    (KEY + "\r\n", "api_key: ends with a carriage return (position 28 of 29)"),
    (" " + KEY, "api_key: starts with a space (position 1 of 28)"),
    ("\t" + KEY, "api_key: starts with a tab (position 1 of 28)"),
    (KEY[:5] + "\u201d" + KEY[5:], "api_key: contains the non-ASCII character U+201D (a pasted quote?)"),
    (KEY[:5] + " " + KEY[5:], "api_key: contains a space (position 6 of 28)"),
    (KEY[:5] + "\x00" + KEY[5:], "api_key: contains the control character U+0000"),
])
def test_a_malformed_key_is_refused_at_construction_naming_the_problem_and_position(
        key: str, problem: str, server: LocalServer) -> None:
    with pytest.raises(ConfigurationError) as info:
        LlmClient.openai(key, base_url=server.url + "/v1")
    assert problem in str(info.value)
    assert KEY[6:] not in str(info.value) and KEY[6:] not in repr(info.value)
    assert server.requests == []


@pytest.mark.parametrize("build", [
    lambda key: LlmClient.anthropic(key),
    lambda key: LlmClient.google(key),
    lambda key: LlmClient.azure_openai(key, "https://x.openai.azure.com", "dep"),
    lambda key: LlmClient.anthropic_vertex("p", "us-east5", key),
    lambda key: LlmClient.anthropic_bedrock("us-east-1", "AKID", key),
    lambda key: LlmClient.anthropic_bedrock("us-east-1", key, "secret"),
])
def test_every_constructor_checks_its_credentials(build: object) -> None:
    with pytest.raises(ConfigurationError, match="ends with a newline"):
        build(KEY + "\n")  # type: ignore[operator]


def test_a_key_read_from_the_environment_is_checked_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY + "\n")
    with pytest.raises(ConfigurationError, match=r"api_key \(from \$OPENAI_API_KEY\): ends with a newline") as info:
        LlmClient.from_env("openai")
    assert KEY not in str(info.value)


def test_a_clean_key_is_sent_as_it_is(server: LocalServer) -> None:
    server.add(Reply.json(OK))
    LlmClient.openai(KEY, base_url=server.url + "/v1").chat(ChatRequest(model="m", messages=[Message.user("hi")]))
    assert server.requests[0].headers["Authorization"] == "Bearer " + KEY


def test_a_per_call_key_is_checked_too(server: LocalServer) -> None:
    client = LlmClient.openai(KEY, base_url=server.url + "/v1")
    with pytest.raises(ConfigurationError, match="starts with a space"):
        client.chat(ChatRequest(model="m", messages=[Message.user("hi")]), api_key=" " + KEY)
    assert server.requests == []


def test_repr_shows_verify_false_when_tls_verification_is_off() -> None:
    assert repr(LlmClient.openai(KEY, verify=False)) == "LlmClient(provider='openai', verify=False)"
    assert repr(LlmClient.openai(KEY)) == "LlmClient(provider='openai')"
    assert repr(LlmClient.openai(KEY, verify="/etc/ca.pem")) == "LlmClient(provider='openai', verify='/etc/ca.pem')"
