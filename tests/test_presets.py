"""Providers as data: a service that speaks a protocol we have is a preset row, and nothing else.

Each test registers a row at run time (as a new row in ``presets.py`` would be) and drives it through the
client, ``from_env`` and the command line against the local server: no other file knows the new name.
"""

import io

import pytest
from helpers import chunk, sse

from llm_connector import ChatRequest, ConfigurationError, LlmClient, Message
from llm_connector.__main__ import run
from llm_connector.presets import PRESETS, Credential, Part, Preset
from llm_connector.testing import Reply

OK = {"choices": [{"index": 0, "message": {"content": "hi"}, "finish_reason": "stop"}]}


@pytest.fixture
def register(monkeypatch):
    def add(preset):
        monkeypatch.setitem(PRESETS, preset.name, preset)
        return preset
    return add


def request():
    return ChatRequest(model="acme-1", messages=[Message.user("hi")])


def test_a_preset_row_is_a_working_provider_through_client_from_env_and_the_cli(server, register, monkeypatch):
    register(Preset("acme", "openai", server.url + "/v1", ("ACME_API_KEY",), default_model="acme-1",
                    options={"thinking_style": "thinking_type"}, description="Acme AI"))
    monkeypatch.setenv("ACME_API_KEY", "sk-acme")
    server.add(Reply.json(OK))
    server.add(Reply.json(OK))
    server.add(Reply(parts=sse(chunk("from the cli", finish="stop"))))

    assert "acme" in LlmClient.supported_providers()
    assert LlmClient("acme", "sk-literal", max_retries=0).chat(request()).content == "hi"
    assert LlmClient.from_env("acme", max_retries=0).chat(
        ChatRequest(model="acme-1", messages=[Message.user("hi")], enable_thinking=False)).content == "hi"
    out, err = io.StringIO(), io.StringIO()
    assert run(["--provider", "acme", "hello"], stdout=out, stderr=err, stdin=io.StringIO()) == 0
    assert out.getvalue().startswith("from the cli")

    first, second, third = server.requests
    assert (first.path, first.headers["authorization"]) == ("/v1/chat/completions", "Bearer sk-literal")
    assert second.headers["authorization"] == "Bearer sk-acme"
    assert second.json()["thinking"] == {"type": "disabled"}  # the row's quirk
    assert third.json()["model"] == "acme-1"  # the row's default model

    listing = io.StringIO()
    assert run(["--list-providers"], stdout=listing, stderr=io.StringIO(), stdin=io.StringIO()) == 0
    assert any(line.split()[:1] == ["acme"] and "Acme AI" in line for line in listing.getvalue().splitlines())


def test_a_base_url_built_from_parts_is_a_template_in_the_row(server, register, monkeypatch):
    register(Preset("acme_cloud", "openai", None, ("ACME_CLOUD_KEY",), auth="api-key",
                    url_template="{endpoint}/deployments/{deployment}",
                    parts=(Part("endpoint", ("ACME_ENDPOINT",)), Part("deployment", ("ACME_DEPLOYMENT",)),
                           Part("api_version", ("ACME_API_VERSION",), "2025-01-01", option="api_version"))))
    monkeypatch.setenv("ACME_CLOUD_KEY", "k-1")
    monkeypatch.setenv("ACME_ENDPOINT", server.url + "/")
    server.add(Reply.json(OK))
    with pytest.raises(ConfigurationError, match="ACME_DEPLOYMENT"):
        LlmClient.from_env("acme_cloud")
    monkeypatch.setenv("ACME_DEPLOYMENT", "dep")
    LlmClient.from_env("acme_cloud", max_retries=0).chat(request())
    sent = server.requests[0]
    assert (sent.path, sent.query) == ("/deployments/dep/chat/completions", {"api-version": ["2025-01-01"]})
    assert sent.headers["api-key"] == "k-1"


def test_signed_credentials_and_their_variables_are_rows_too(server, register, monkeypatch):
    register(Preset("acme_bedrock", "bedrock", None, (), auth="sigv4", key_required=False,
                    url_template="https://bedrock-runtime.{region}.amazonaws.com",
                    parts=(Part("region", ("ACME_REGION",), auth="region"),),
                    credentials=(Credential("access_key", "access_key", ("ACME_AK",)),
                                 Credential("secret_key", "secret_key", ("ACME_SK",))),
                    auth_params={"service": "bedrock"}))
    monkeypatch.setenv("ACME_REGION", "eu-west-3")
    monkeypatch.setenv("ACME_AK", "AKIDACME")
    with pytest.raises(ConfigurationError, match="ACME_SK"):
        LlmClient.from_env("acme_bedrock")
    monkeypatch.setenv("ACME_SK", "secret")
    server.add(Reply.json({"type": "message", "content": [{"type": "text", "text": "hi"}],
                           "stop_reason": "end_turn"}))
    LlmClient.from_env("acme_bedrock", base_url=server.url, max_retries=0).chat(request())
    assert "AKIDACME/" in server.requests[0].headers["authorization"]
    assert "/eu-west-3/bedrock/aws4_request" in server.requests[0].headers["authorization"]


@pytest.mark.parametrize("region, host", [("us-east5", "https://us-east5-aiplatform.googleapis.com"),
                                          ("global", "https://aiplatform.googleapis.com")])
def test_the_vertex_url_template_has_a_form_for_the_global_region(region, host):
    url = PRESETS["anthropic_vertex"].url({"project_id": "p", "region": region})
    assert url == f"{host}/v1/projects/p/locations/{region}/publishers/anthropic/models"


# -- providers that are not services: a row naming its backend ------------------------------------------------


def test_the_mock_is_a_preset_row_naming_its_backend_and_from_env_builds_it_from_the_row():
    assert PRESETS["mock"].backend == "mock" and PRESETS["mock"].description == "offline mock provider"
    client = LlmClient.from_env("mock", reply="scripted")
    assert client.provider_name == "mock" and client.mock_provider is not None
    assert client.chat(request()).content == "scripted"


def test_an_offline_row_registered_at_run_time_works_through_from_env_and_the_cli(register):
    # from_env and the command line read the row's backend: no code knows the new name.
    register(Preset("offline_echo", "", None, key_required=False, description="an offline test provider",
                    default_model="echo-1",
                    backend="mock"))
    client = LlmClient.from_env("offline_echo", reply="from the row")
    assert client.provider_name == "offline_echo" and client.chat(request()).content == "from the row"
    out, err = io.StringIO(), io.StringIO()
    assert run(["--provider", "offline_echo", "echo me"], stdout=out, stderr=err, stdin=io.StringIO()) == 0
    assert "echo me" in out.getvalue()
    out = io.StringIO()
    assert run(["--list-providers"], stdout=out, stderr=io.StringIO(), stdin=io.StringIO()) == 0
    assert "an offline test provider" in out.getvalue()
    assert LlmClient.supported_providers()[-2:] == ["mock", "offline_echo"]  # the offline ones after the services


def test_supported_providers_are_the_services_in_order_then_mock():
    names = LlmClient.supported_providers()
    assert names[-1] == "mock" and names[:-1] == sorted(names[:-1]) and "mock" not in names[:-1]


def test_a_row_that_is_not_a_service_cannot_be_built_as_one():
    with pytest.raises(ConfigurationError) as info:
        LlmClient("mock", "k")
    assert "not a service" in str(info.value) and "from_env('mock')" in str(info.value)
