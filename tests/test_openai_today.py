"""Today's OpenAI parameters: ``max_completion_tokens`` for OpenAI and Azure, the ``developer`` role (sent as
``system`` to services that do not know it)."""

import pytest

from llm_connector import ChatRequest, LlmClient, Message, Role
from llm_connector.testing import Reply

OPENAI_ANSWER = {"choices": [{"index": 0, "message": {"content": "ok"}, "finish_reason": "stop"}]}


def sent_body(server, client, **kw):
    kw.setdefault("messages", [Message.user("hi")])
    client.chat(ChatRequest(model="m", **kw))
    return server.requests[-1].json()


@pytest.mark.parametrize("make, field", [
    (lambda url: LlmClient.openai("sk-t", base_url=url + "/v1"), "max_completion_tokens"),
    (lambda url: LlmClient.azure_openai("k", url, "gpt5"), "max_completion_tokens"),
    (lambda url: LlmClient.deepseek("sk-t", base_url=url), "max_tokens"),
    (lambda url: LlmClient.openai_compatible("sk-t", url + "/v1"), "max_tokens"),
    (lambda url: LlmClient.openai_compatible("sk-t", url + "/v1",
                                             options={"max_tokens_field": "max_completion_tokens"}),
     "max_completion_tokens"),
])
def test_max_tokens_goes_under_the_name_each_service_wants(server, make, field):
    server.add(Reply.json(OPENAI_ANSWER))
    body = sent_body(server, make(server.url), max_tokens=64)
    assert body[field] == 64
    other = "max_tokens" if field == "max_completion_tokens" else "max_completion_tokens"
    assert other not in body


def test_the_developer_role_is_accepted_in_every_spelling():
    assert Message(role="developer", content="x").role is Role.DEVELOPER
    assert Message.from_dict({"role": "developer", "content": "x"}).role is Role.DEVELOPER
    assert Role.DEVELOPER.wire_value == "system" and Role.USER.wire_value == "user"


def developer_request():
    return [Message(role=Role.DEVELOPER, content="Answer in French."), Message.user("hi")]


def test_openai_and_azure_get_the_developer_role_as_is(server):
    server.add(Reply.json(OPENAI_ANSWER))
    server.add(Reply.json(OPENAI_ANSWER))
    body = sent_body(server, LlmClient.openai("sk-t", base_url=server.url + "/v1"), messages=developer_request())
    assert body["messages"][0] == {"role": "developer", "content": "Answer in French."}
    body = sent_body(server, LlmClient.azure_openai("k", server.url, "d"), messages=developer_request())
    assert body["messages"][0]["role"] == "developer"


@pytest.mark.parametrize("make", [
    lambda url: LlmClient.deepseek("sk-t", base_url=url),
    lambda url: LlmClient.openai_compatible(None, url + "/v1"),
    lambda url: LlmClient.zhipu("k", base_url=url),
])
def test_compatible_services_get_a_developer_message_as_system(server, make):
    server.add(Reply.json(OPENAI_ANSWER))
    body = sent_body(server, make(server.url), messages=developer_request())
    assert body["messages"][0] == {"role": "system", "content": "Answer in French."}


def test_anthropic_gemini_and_ollama_treat_a_developer_message_as_system_instructions(server):
    server.add(Reply.json({"id": "m", "type": "message", "role": "assistant",
                           "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
                           "usage": {"input_tokens": 1, "output_tokens": 1}}))
    body = sent_body(server, LlmClient.anthropic("sk-ant", base_url=server.url), messages=developer_request())
    assert body["system"] == "Answer in French." and body["messages"] == [{"role": "user", "content": "hi"}]
    server.add(Reply.json({"candidates": [{"content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}]}))
    body = sent_body(server, LlmClient.google("g", base_url=server.url), messages=developer_request())
    assert body["systemInstruction"]["parts"] == [{"text": "Answer in French."}]
    server.add(Reply.json({"model": "m", "message": {"role": "assistant", "content": "ok"}, "done": True}))
    body = sent_body(server, LlmClient.ollama(server.url), messages=developer_request())
    assert body["messages"][0] == {"role": "system", "content": "Answer in French."}


def test_native_protocols_send_a_developer_message_as_system(server):
    server.add(Reply.json({"output": {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}}))
    body = sent_body(server, LlmClient.aliyun("k", base_url=server.url), messages=developer_request())
    assert body["input"]["messages"][0]["role"] == "system"
    server.add(Reply.json({"Response": {"Choices": [{"Message": {"Content": "ok"}, "FinishReason": "stop"}]}}))
    body = sent_body(server, LlmClient.tencent("id", "key", base_url=server.url), messages=developer_request())
    assert body["Messages"][0]["Role"] == "system"
