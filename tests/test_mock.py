"""The offline mock provider: scripted replies, reasoning, tool calls, usage, errors, recorded requests."""

import pytest

from llm_connector import (
    ChatRequest,
    IncompleteStreamError,
    LlmClient,
    Message,
    RateLimitError,
    ToolCall,
)
from llm_connector.mock import MockReply


def request(text="hi"):
    return ChatRequest(model="mock", messages=[Message.user(text)])


def test_default_reply_echoes_the_prompt_and_streams_in_pieces():
    chunks = list(LlmClient.mock().chat_stream(request("ping")))
    text = "".join(c.content for c in chunks)
    assert '"ping"' in text
    assert len([c for c in chunks if c.content]) > 3
    assert chunks[-2].finish_reason == "stop" and chunks[-1].usage is not None


def test_stream_and_chat_add_up_to_the_same_answer():
    client = LlmClient.mock(reply="one two three", reasoning="because")
    streamed = client.chat_stream(request()).collect()
    direct = client.chat(request())
    assert (streamed.content, streamed.reasoning_content) == (direct.content, direct.reasoning_content)
    assert streamed.content == "one two three" and streamed.reasoning_content == "because"
    assert streamed.usage == direct.usage and streamed.usage.total_tokens > 0


def test_queued_replies_come_first_then_the_default():
    client = LlmClient.mock(reply="default")
    client.mock_provider.add("first")
    client.mock_provider.add(MockReply(text="second"))
    assert [client.chat(request()).content for _ in range(3)] == ["first", "second", "default"]


def test_tool_calls_are_scripted():
    call = ToolCall.create("call_1", "get_weather", {"city": "Oslo"})
    client = LlmClient.mock(reply="", tool_calls=[call])
    response = client.chat_stream(request()).collect()
    assert response.finish_reason == "tool_calls"
    assert response.tool_calls[0].arguments_json() == {"city": "Oslo"}


def test_scripted_errors_before_and_during_a_stream():
    client = LlmClient.mock()
    client.mock_provider.add(RateLimitError("slow down", retry_after=1.0))
    with pytest.raises(RateLimitError):
        client.chat_stream(request())
    client.mock_provider.add(MockReply(text="a b c d", error=IncompleteStreamError("cut"), error_after=2))
    got = []
    with pytest.raises(IncompleteStreamError):
        for c in client.chat_stream(request()):
            got.append(c.content)
    assert got == ["a", " b"]


def test_requests_are_recorded_and_reply_can_be_a_function():
    client = LlmClient.mock(reply=lambda req: req.messages[-1].text_content().upper())
    assert client.chat(request("shout")).content == "SHOUT"
    assert client.mock_provider.requests[0].messages[0].content == "shout"
