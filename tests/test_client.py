"""LlmClient: constructors, presets, from_env, per-request overrides, validation before sending."""

import pytest
from helpers import chunk, sse

from llm_connector import ChatRequest, ConfigurationError, LlmClient, Message, UnsupportedOperationError
from llm_connector.presets import PRESETS
from llm_connector.testing import Reply


def request(**kw):
    kw.setdefault("model", "m")
    kw.setdefault("messages", [Message.user("hi")])
    return ChatRequest(**kw)


DEFAULT_BASE_URLS = {
    "openai": "https://api.openai.com/v1",
    "deepseek": "https://api.deepseek.com",
    "moonshot": "https://api.moonshot.cn/v1",
    "volcengine": "https://ark.cn-beijing.volces.com/api/v3",
    "xiaomi": "https://api.xiaomimimo.com/v1",
    "longcat": "https://api.longcat.chat/openai/v1",
    "zhipu_openai_compatible": "https://open.bigmodel.cn/api/paas/v4",
    "aliyun_compatible": "https://dashscope.aliyuncs.com/compatible-mode/v1",
}


@pytest.mark.parametrize("name, base", sorted(DEFAULT_BASE_URLS.items()))
def test_each_openai_preset_has_its_documented_base_url_and_name(name, base):
    client = getattr(LlmClient, name)("key")
    assert client.provider_name == name
    assert client._backend.endpoint.base_url == base


def test_moonshot_default_base_url_has_the_v1_path_the_reference_crate_forgot():
    assert LlmClient.moonshot("k")._backend.endpoint.base_url.endswith("/v1")


@pytest.mark.parametrize("name", sorted(DEFAULT_BASE_URLS))
def test_each_openai_preset_talks_to_base_url_chat_completions(server, name):
    server.add(Reply.json({"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}))
    client = getattr(LlmClient, name)("key", base_url=server.url + "/prefix")
    assert client.chat(request()).content == "ok"
    assert server.requests[0].path == "/prefix/chat/completions"
    assert server.requests[0].headers["authorization"] == "Bearer key"


def test_supported_providers_lists_every_preset_and_mock():
    names = LlmClient.supported_providers()
    assert set(PRESETS) | {"mock"} == set(names)
    assert "deepseek" in names and "moonshot" in names


def test_missing_key_is_a_configuration_error_naming_the_variable():
    with pytest.raises(ConfigurationError) as info:
        LlmClient.openai("")
    assert "api_key" in str(info.value) and "OPENAI_API_KEY" in str(info.value)


def test_unknown_provider_lists_the_known_ones():
    with pytest.raises(ConfigurationError) as info:
        LlmClient("nope", "k")
    assert "deepseek" in str(info.value)


def test_from_env_reads_the_key_and_base_url(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    server.add(Reply.json({"choices": [{"message": {"content": "env"}}]}))
    client = LlmClient.from_env("openai")
    assert client.chat(request()).content == "env"
    assert server.requests[0].headers["authorization"] == "Bearer sk-env"


def test_from_env_without_a_key_says_which_variable(monkeypatch):
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    with pytest.raises(ConfigurationError) as info:
        LlmClient.from_env("deepseek")
    assert "DEEPSEEK_API_KEY" in str(info.value)


def test_from_env_without_a_name_picks_the_first_provider_with_a_key(monkeypatch):
    for preset in PRESETS.values():
        for var in preset.env:
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DEEPSEEK_API_KEY", "dk")
    assert LlmClient.from_env().provider_name == "deepseek"


def test_per_request_overrides_change_key_base_url_and_headers_for_that_call_only(server):
    server.add(Reply.json({"choices": [{"message": {"content": "a"}}]}))
    server.add(Reply.json({"choices": [{"message": {"content": "b"}}]}))
    client = LlmClient.openai("sk-client", base_url="http://127.0.0.1:9/unused", max_retries=0)
    client.chat(request(), api_key="sk-call", base_url=server.url + "/gw", headers={"X-Tenant": "t1"})
    client.chat(request(), base_url=server.url)
    first, second = server.requests
    assert first.path == "/gw/chat/completions"
    assert first.headers["authorization"] == "Bearer sk-call" and first.headers["x-tenant"] == "t1"
    assert second.headers["authorization"] == "Bearer sk-client" and "x-tenant" not in second.headers


def test_client_headers_are_sent_on_every_request(server):
    server.add(Reply(parts=sse(chunk("x", finish="stop"))))
    client = LlmClient.openai("k", base_url=server.url, headers={"X-Trace": "abc"})
    list(client.chat_stream(request()))
    assert server.requests[0].headers["x-trace"] == "abc"


@pytest.mark.parametrize("bad, field", [
    (ChatRequest(model="m", messages=[]), "messages"),
    (ChatRequest(model="", messages=[Message.user("x")]), "model"),
])
def test_bad_requests_are_refused_before_anything_is_sent(server, bad, field):
    client = LlmClient.openai("k", base_url=server.url)
    with pytest.raises(ConfigurationError) as info:
        client.chat_stream(bad)
    assert field in str(info.value)
    assert server.requests == []


def test_unknown_role_is_a_configuration_error():
    with pytest.raises(ConfigurationError) as info:
        Message(role="wizard", content="x")
    assert "role" in str(info.value)


def test_mock_lists_its_models():
    client = LlmClient.mock()
    assert client.models() == ["mock-model", "mock-reasoner"]


def test_repr_shows_the_provider_but_never_the_key():
    client = LlmClient.openai("sk-secret-123")
    assert "openai" in repr(client)
    assert "sk-secret-123" not in repr(client) + repr(client._backend.endpoint) + repr(client._backend.endpoint.auth)


def test_from_env_builds_the_azure_deployment_url(server, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", server.url)
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "dep1")
    monkeypatch.setenv("OPENAI_API_VERSION", "2025-01-01")
    server.add(Reply.json({"choices": [{"message": {"content": "az"}}]}))
    assert LlmClient.from_env("azure_openai").chat(request()).content == "az"
    assert server.requests[0].path == "/openai/deployments/dep1/chat/completions"
    assert server.requests[0].query == {"api-version": ["2025-01-01"]}


def test_from_env_azure_without_a_deployment_names_the_variable(monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://x.openai.azure.com")
    monkeypatch.delenv("AZURE_OPENAI_DEPLOYMENT", raising=False)
    with pytest.raises(ConfigurationError) as info:
        LlmClient.from_env("azure_openai")
    assert "AZURE_OPENAI_DEPLOYMENT" in str(info.value)


@pytest.mark.parametrize("make", [
    lambda url: LlmClient.azure_openai("k", url, "d"),
    lambda url: LlmClient.longcat_anthropic("k", base_url=url),
])
def test_services_without_a_model_list_say_so_without_sending(server, make):
    with pytest.raises(UnsupportedOperationError):
        make(server.url).models()
    assert server.requests == []


def test_an_empty_per_call_key_is_refused_before_sending(server):
    client = LlmClient.openai("k", base_url=server.url)
    with pytest.raises(ConfigurationError) as info:
        client.chat(request(), api_key="")
    assert "api_key" in str(info.value)
    assert server.requests == []
