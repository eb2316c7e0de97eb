"""Messages as plain OpenAI-style dicts: converted once, at ChatRequest construction, for every protocol."""

import pytest
from helpers import chunk, sse

from llm_connector import ChatRequest, ConfigurationError, LlmClient, Message, Role, ToolCall
from llm_connector.testing import Reply

TOOL_ROUND_TRIP = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "Weather in Oslo?"},
    {"role": "assistant", "content": None,
     "tool_calls": [{"id": "call_1", "type": "function",
                     "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]},
    {"role": "tool", "content": "12 C, rain", "tool_call_id": "call_1"},
]


def as_messages():
    return [
        Message.system("be brief"),
        Message.user("Weather in Oslo?"),
        Message.assistant(tool_calls=[ToolCall.create("call_1", "get_weather", '{"city":"Oslo"}')]),
        Message.tool("12 C, rain", tool_call_id="call_1"),
    ]


def test_dicts_become_messages_at_construction():
    request = ChatRequest(model="m", messages=TOOL_ROUND_TRIP)
    assert request.messages == as_messages()
    assert request.messages[2].tool_calls[0].function.name == "get_weather"
    assert request.messages[3].role is Role.TOOL and request.messages[3].tool_call_id == "call_1"


def test_a_list_of_messages_is_kept_as_given():
    messages = as_messages()
    assert ChatRequest(model="m", messages=messages).messages is messages


def test_dict_messages_go_out_over_openai_as_message_objects_would(server):
    server.add(Reply(parts=sse(chunk("Rainy.", finish="stop"))))
    server.add(Reply(parts=sse(chunk("Rainy.", finish="stop"))))
    client = LlmClient.openai("sk-test", base_url=server.url, max_retries=0)
    assert client.chat_stream(ChatRequest(model="m", messages=TOOL_ROUND_TRIP)).collect().content == "Rainy."
    client.chat_stream(ChatRequest(model="m", messages=as_messages())).collect()
    sent = server.requests[0].json()["messages"]
    assert sent == server.requests[1].json()["messages"]
    assert sent[2]["tool_calls"][0]["function"] == {"name": "get_weather", "arguments": '{"city":"Oslo"}'}
    assert sent[3] == {"role": "tool", "content": "12 C, rain", "tool_call_id": "call_1"}


def test_dict_messages_go_out_over_anthropic_as_a_tool_round_trip(server):
    answer = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
              "content": [{"type": "text", "text": "Rainy."}], "stop_reason": "end_turn",
              "usage": {"input_tokens": 3, "output_tokens": 1}}
    server.add(Reply.json(answer))
    client = LlmClient.anthropic("sk-ant-test", base_url=server.url, max_retries=0)
    assert client.chat(ChatRequest(model="claude", messages=TOOL_ROUND_TRIP, max_tokens=50)).content == "Rainy."
    body = server.requests[0].json()
    assert body["system"] in ("be brief", [{"type": "text", "text": "be brief"}])
    assert body["messages"][1]["content"][0]["type"] == "tool_use"
    assert body["messages"][1]["content"][0]["input"] == {"city": "Oslo"}
    assert body["messages"][2]["content"][0]["tool_use_id"] == "call_1"


@pytest.mark.parametrize("messages, expected", [
    ([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, "hello"],
     'messages[2]: expected a Message or a dict with "role", got \'hello\''),
    ([{"content": "no role"}], 'messages[0]: expected a Message or a dict with "role"'),
    ([Message.user("a"), {"role": "robot", "content": "x"}], "messages[1]: Message.role: unknown role 'robot'"),
    ([{"role": "user", "content": 5}], "messages[0]: Message.content: expected a string or a list of blocks"),
    ("hi", "messages: expected a list of Message objects or dicts"),
])
def test_anything_else_is_a_configuration_error_naming_the_position(messages, expected):
    with pytest.raises(ConfigurationError) as info:
        ChatRequest(model="m", messages=messages)
    assert str(info.value).startswith(expected)
