"""The Anthropic Messages protocol over the local server: request bodies, answers, HTTP errors, a tool round trip."""

import json

import pytest
from helpers import chunk, sse

from llm_connector import (
    AuthenticationError,
    BadRequestError,
    ChatRequest,
    ConfigurationError,
    ImageBlock,
    LlmClient,
    Message,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    ResponseFormat,
    ServerError,
    TextBlock,
    Tool,
    ToolCall,
    ToolChoice,
)
from llm_connector.testing import Reply

WEATHER = Tool.function(
    "get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}}
)


def client_for(server, **kw):
    kw.setdefault("max_retries", 0)
    return LlmClient.anthropic("sk-ant-test", base_url=server.url, **kw)


def request(**kw):
    kw.setdefault("model", "claude-test")
    kw.setdefault("messages", [Message.user("hi")])
    return ChatRequest(**kw)


def message(content=None, stop_reason="end_turn", usage=None, **extra):
    body = {
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-test",
        "content": content if content is not None else [{"type": "text", "text": "Hello"}],
        "stop_reason": stop_reason, "stop_sequence": None,
        "usage": usage if usage is not None else {"input_tokens": 10, "output_tokens": 20},
    }
    body.update(extra)
    return body


def sent_body(server, **kw):
    """Send one chat request and return the JSON body the server received."""
    server.add(Reply.json(message()))
    client_for(server).chat(request(**kw))
    return server.requests[-1].json()


# -- request encoding ------------------------------------------------------------------------------------


def test_chat_posts_to_v1_messages_with_key_version_and_default_max_tokens(server):
    server.add(Reply.json(message()))
    client_for(server).chat(request())
    sent = server.requests[0]
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.headers["x-api-key"] == "sk-ant-test"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers
    assert sent.json() == {"model": "claude-test", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4096}


def test_longcat_anthropic_sends_a_bearer_token_and_no_x_api_key(server):
    server.add(Reply.json(message()))
    client = LlmClient.longcat_anthropic("lc-key", base_url=server.url + "/anthropic", max_retries=0)
    client.chat(request())
    sent = server.requests[0]
    assert sent.path == "/anthropic/v1/messages"
    assert sent.headers["authorization"] == "Bearer lc-key"
    assert "x-api-key" not in sent.headers
    assert sent.headers["anthropic-version"] == "2023-06-01"


def test_system_messages_become_one_top_level_system_string(server):
    body = sent_body(server, messages=[Message.system("Be brief."), Message.system("Answer in French."),
                                       Message.user("hi")])
    assert body["system"] == "Be brief.\n\nAnswer in French."
    assert body["messages"] == [{"role": "user", "content": "hi"}]


def test_consecutive_turns_of_one_role_are_merged_so_roles_alternate(server):
    body = sent_body(server, messages=[Message.user("one"), Message.user("two"), Message.assistant("three"),
                                       Message.assistant("four"), Message.user("five")])
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "three"}, {"type": "text", "text": "four"}]},
        {"role": "user", "content": "five"},
    ]


def test_images_base64_data_url_and_url_become_anthropic_image_sources(server):
    body = sent_body(server, messages=[Message.user([
        TextBlock("What is in these?"),
        ImageBlock.from_base64("image/png", "iVBORw0KGgo="),
        ImageBlock.from_url("data:image/jpeg;base64,/9j/4AAQ"),
        ImageBlock.from_url("https://example.com/cat.png"),
        {"type": "image_url", "image_url": {"url": "https://example.com/dog.png"}},
    ])])
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "What is in these?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/dog.png"}},
    ]


def test_sampling_fields_stop_and_user_go_under_anthropic_names_and_unknown_ones_stay_out(server):
    body = sent_body(server, temperature=0.2, top_p=0.9, max_tokens=300, stop="END", user="u-42", seed=7,
                     presence_penalty=0.5, frequency_penalty=0.5)
    assert body == {
        "model": "claude-test", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 300,
        "temperature": 0.2, "top_p": 0.9, "stop_sequences": ["END"], "metadata": {"user_id": "u-42"},
    }


def test_tools_become_definitions_with_input_schema(server):
    bare = Tool.function("now")
    body = sent_body(server, tools=[WEATHER, bare])
    assert body["tools"] == [
        {"name": "get_weather", "description": "Weather for a city",
         "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
    ]


@pytest.mark.parametrize("choice, wire", [
    ("auto", {"type": "auto"}),
    ("required", {"type": "any"}),
    ("any", {"type": "any"}),
    ("none", {"type": "none"}),
    (ToolChoice.function("get_weather"), {"type": "tool", "name": "get_weather"}),
    ({"type": "tool", "name": "get_weather"}, {"type": "tool", "name": "get_weather"}),
])
def test_tool_choice_is_translated_to_anthropic_shape(server, choice, wire):
    assert sent_body(server, tools=[WEATHER], tool_choice=choice)["tool_choice"] == wire


def test_an_unknown_tool_choice_is_a_configuration_error_before_sending(server):
    with pytest.raises(ConfigurationError, match="tool_choice"):
        client_for(server).chat(request(tools=[WEATHER], tool_choice="sometimes"))
    assert server.requests == []


@pytest.mark.parametrize("fields, thinking, max_tokens", [
    ({"thinking_budget": 3000}, {"type": "enabled", "budget_tokens": 3000}, 4096),
    ({"thinking_budget": 8000}, {"type": "enabled", "budget_tokens": 8000}, 8000 + 4096),
    ({"enable_thinking": True}, {"type": "enabled", "budget_tokens": 2048}, 4096),
    ({"enable_thinking": True, "max_tokens": 1000}, {"type": "enabled", "budget_tokens": 2048}, 2048 + 4096),
    ({"reasoning_effort": "high"}, {"type": "enabled", "budget_tokens": 16384}, 16384 + 4096),
    ({"thinking_budget": 3000, "max_tokens": 20000}, {"type": "enabled", "budget_tokens": 3000}, 20000),
    ({"enable_thinking": False, "thinking_budget": 3000}, None, 4096),
])
def test_thinking_switches_set_a_budget_and_keep_max_tokens_above_it(server, fields, thinking, max_tokens):
    body = sent_body(server, **fields)
    assert body.get("thinking") == thinking
    assert body["max_tokens"] == max_tokens


def test_response_format_json_object_adds_an_instruction_to_the_system_prompt(server):
    body = sent_body(server, messages=[Message.system("You extract data."), Message.user("hi")],
                     response_format=ResponseFormat.json_object())
    assert body["system"].startswith("You extract data.\n\n")
    assert "JSON object only" in body["system"]
    assert "response_format" not in body


def test_response_format_json_schema_puts_the_schema_in_the_instruction(server):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    body = sent_body(server, response_format=ResponseFormat.json_schema("count", schema))
    assert body["system"].endswith('{"type":"object","properties":{"n":{"type":"integer"}}}')


def test_extra_body_is_merged_last_and_wins(server):
    body = sent_body(server, max_tokens=100, extra_body={"max_tokens": 50, "top_k": 5})
    assert (body["max_tokens"], body["top_k"]) == (50, 5)


def test_tool_calls_and_results_become_tool_use_and_tool_result_blocks_in_alternating_turns(server):
    calls = [ToolCall.create("toolu_1", "get_weather", '{"city": "Paris"}'), ToolCall.create("toolu_2", "now", "")]
    body = sent_body(server, messages=[
        Message.user("Weather in Paris, and the time?"),
        Message.assistant("Let me check.", tool_calls=calls),
        Message.tool("18C, cloudy", tool_call_id="toolu_1"),
        Message.tool("12:00", tool_call_id="toolu_2"),
        Message.user("Thanks!"),
    ])
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris, and the time?"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C, cloudy"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "content": "12:00"},
            {"type": "text", "text": "Thanks!"},
        ]},
    ]


def test_a_tool_result_with_an_image_is_sent_as_blocks(server):
    result = Message(role="tool", content=[TextBlock("chart:"), ImageBlock.from_base64("image/png", "AAAA")],
                     tool_call_id="toolu_1")
    body = sent_body(server, messages=[
        Message.user("plot it"), Message.assistant(tool_calls=[ToolCall.create("toolu_1", "plot", "{}")]), result,
    ])
    assert body["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "toolu_1", "content": [
        {"type": "text", "text": "chart:"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
    ]}]


def test_cut_off_tool_arguments_in_the_history_are_a_configuration_error(server):
    history = [Message.user("go"), Message.assistant(tool_calls=[ToolCall.create("toolu_1", "f", '{"a": ')])]
    with pytest.raises(ConfigurationError, match="toolu_1"):
        client_for(server).chat(request(messages=history))
    assert server.requests == []


def test_signed_thinking_blocks_are_sent_back_first_and_verbatim(server):
    blocks = [{"type": "thinking", "thinking": "Need the weather.", "signature": "sig-abc"},
              {"type": "redacted_thinking", "data": "opaque=="}]
    turn = Message.assistant("Checking.", tool_calls=[ToolCall.create("toolu_1", "get_weather", '{"city":"Oslo"}')],
                             reasoning_content="Need the weather.")
    turn.thinking_blocks = blocks
    body = sent_body(server, messages=[Message.user("Oslo?"), turn, Message.tool("3C", tool_call_id="toolu_1")])
    assert body["messages"][1]["content"] == blocks + [
        {"type": "text", "text": "Checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
    ]


def test_reasoning_content_without_signed_blocks_is_not_sent(server):
    body = sent_body(server, messages=[Message.user("q"), Message.assistant("a", reasoning_content="hmm"),
                                       Message.user("again")])
    assert body["messages"][1] == {"role": "assistant", "content": "a"}


# -- answers ---------------------------------------------------------------------------------------------


def test_answer_text_stop_reason_and_usage_are_decoded(server):
    server.add(Reply.json(message()))
    response = client_for(server).chat(request())
    assert (response.id, response.model, response.content) == ("msg_01", "claude-test", "Hello")
    assert (response.finish_reason, response.choices[0].finish_reason_raw) == ("stop", "end_turn")
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (10, 20, 30)
    assert response.usage.cached_tokens is None and response.usage.cache_creation_tokens is None
    assert response.reasoning_content is None and response.tool_calls == []


def test_cache_reads_and_writes_are_counted_in_prompt_tokens(server):
    server.add(Reply.json(message(usage={"input_tokens": 10, "output_tokens": 20, "cache_read_input_tokens": 100,
                                         "cache_creation_input_tokens": 5})))
    usage = client_for(server).chat(request()).usage
    assert (usage.prompt_tokens, usage.total_tokens) == (115, 135)
    assert (usage.cached_tokens, usage.cache_creation_tokens) == (100, 5)


def test_thinking_blocks_become_reasoning_and_are_kept_signed_for_replay(server):
    content = [{"type": "thinking", "thinking": "This is a thinking block", "signature": "sig_123"},
               {"type": "redacted_thinking", "data": "EmwKAhgB"},
               {"type": "text", "text": "Hello there, nice to meet."}]
    server.add(Reply.json(message(content)))
    response = client_for(server).chat(request(thinking_budget=2048))
    assert response.content == "Hello there, nice to meet."
    assert response.reasoning_content == "This is a thinking block"
    assert response.message.thinking_blocks == content[:2]
    assert response.to_message().thinking_blocks == content[:2]


def test_tool_use_blocks_become_tool_calls_with_compact_json_arguments(server):
    server.add(Reply.json(message([
        {"type": "text", "text": "Checking both."},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "北京"}},
        {"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}},
    ], stop_reason="tool_use")))
    response = client_for(server).chat(request(tools=[WEATHER]))
    assert [(c.id, c.name, c.arguments, c.index) for c in response.tool_calls] == [
        ("toolu_1", "get_weather", '{"city":"北京"}', 0), ("toolu_2", "now", "{}", 1)]
    assert (response.finish_reason, response.choices[0].finish_reason_raw) == ("tool_calls", "tool_use")
    assert response.content == "Checking both."


def test_server_side_tool_blocks_are_not_tool_calls_and_stay_in_raw(server):
    content = [
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "news"}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
        {"type": "text", "text": "Here is the news."},
    ]
    server.add(Reply.json(message(content)))
    response = client_for(server).chat(request())
    assert response.tool_calls == []
    assert response.content == "Here is the news."
    assert response.raw["content"][0]["type"] == "server_tool_use"


@pytest.mark.parametrize("raw, normalized", [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
    ("refusal", "content_filter"),
])
def test_stop_reasons_are_normalized_and_the_raw_word_kept(server, raw, normalized):
    server.add(Reply.json(message(stop_reason=raw)))
    choice = client_for(server).chat(request()).choices[0]
    assert (choice.finish_reason, choice.finish_reason_raw) == (normalized, raw)


def test_an_error_body_in_a_200_answer_raises_the_typed_error(server):
    server.add(Reply.json({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
    with pytest.raises(OverloadedError, match="Overloaded"):
        client_for(server).chat(request())


# -- HTTP errors -----------------------------------------------------------------------------------------


def error_body(kind, text):
    return {"type": "error", "error": {"type": kind, "message": text}}


@pytest.mark.parametrize("status, kind, cls", [
    (400, "invalid_request_error", BadRequestError),
    (401, "authentication_error", AuthenticationError),
    (403, "permission_error", PermissionDeniedError),
    (404, "not_found_error", NotFoundError),
    (500, "api_error", ServerError),
    (529, "overloaded_error", OverloadedError),
])
def test_http_errors_raise_the_typed_error_with_the_service_message(server, status, kind, cls):
    server.add(Reply.json(error_body(kind, f"the {kind} message"), status=status,
                          headers={"request-id": "req_123"}))
    with pytest.raises(cls) as caught:
        client_for(server).chat(request())
    err = caught.value
    assert (err.status_code, err.code, err.request_id) == (status, kind, "req_123")
    assert err.message == f"the {kind} message"
    assert "sk-ant-test" not in str(err)


def test_429_is_a_rate_limit_error_with_retry_after(server):
    server.add(Reply.json(error_body("rate_limit_error", "slow down"), status=429, headers={"retry-after": "7"}))
    with pytest.raises(RateLimitError) as caught:
        client_for(server).chat_stream(request())
    assert caught.value.retry_after == 7.0
    assert caught.value.message == "slow down"


def test_529_overloaded_on_a_stream_request_raises_before_any_chunk(server):
    server.add(Reply.json(error_body("overloaded_error", "Overloaded"), status=529))
    with pytest.raises(OverloadedError):
        client_for(server).chat_stream(request())
    assert len(server.requests) == 1


def test_an_overloaded_answer_is_retried_and_the_retry_succeeds(server):
    server.add(Reply.json(error_body("overloaded_error", "Overloaded"), status=529, headers={"retry-after": "0"}))
    server.add(Reply.json(message()))
    assert client_for(server, max_retries=1).chat(request()).content == "Hello"
    assert len(server.requests) == 2


# -- models ----------------------------------------------------------------------------------------------


def test_models_lists_the_ids_from_v1_models(server):
    server.add(Reply.json({"data": [{"type": "model", "id": "claude-sonnet-4-5"}, {"type": "model", "id": "claude-x"}],
                           "has_more": False}))
    assert client_for(server).models() == ["claude-sonnet-4-5", "claude-x"]
    sent = server.requests[0]
    assert (sent.method, sent.path, sent.query) == ("GET", "/v1/models", {"limit": ["1000"]})
    assert sent.headers["x-api-key"] == "sk-ant-test"
    assert sent.headers["anthropic-version"] == "2023-06-01"


# -- one tool round trip, the same user code for Anthropic and OpenAI ------------------------------------


def get_weather(city):
    return f"18C and sunny in {city}"


def weather_round_trip(client, stream):
    """User code: ask, run the tool the model asks for, send the result back, read the answer."""
    messages = [Message.user("What is the weather in Paris?")]
    response = ask(client, messages, stream)
    messages.append(response.to_message())
    for call in response.tool_calls:
        messages.append(Message.tool(get_weather(**call.arguments_json()), tool_call_id=call.id))
    return ask(client, messages, stream)


def ask(client, messages, stream):
    req = ChatRequest(model="some-model", messages=list(messages), tools=[WEATHER])
    return client.chat_stream(req).collect() if stream else client.chat(req)


def anthropic_script(server, stream):
    calls = [{"type": "text", "text": "Checking."},
             {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Paris"}}]
    answer = [{"type": "text", "text": "It is 18C and sunny."}]
    if not stream:
        server.add(Reply.json(message(calls, stop_reason="tool_use")))
        server.add(Reply.json(message(answer)))
        return
    start = ("message_start", {"type": "message_start", "message": {"id": "msg_1", "model": "some-model",
                                                                     "usage": {"input_tokens": 9}}})
    stop = ("message_stop", {"type": "message_stop"})
    server.add(Reply.sse(
        start,
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Checking."}}),
        ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {
            "type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "input_json_delta", "partial_json": '{"city": "Pa'}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "input_json_delta", "partial_json": 'ris"}'}}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"},
                           "usage": {"output_tokens": 5}}),
        stop,
    ))
    server.add(Reply.sse(
        start,
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "It is 18C and sunny."}}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 7}}),
        stop,
    ))


def openai_script(server, stream):
    call = {"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    if not stream:
        first = {"role": "assistant", "content": "Checking.", "tool_calls": [call]}
        server.add(Reply.json({"id": "c1", "model": "some-model",
                               "choices": [{"index": 0, "finish_reason": "tool_calls", "message": first}]}))
        server.add(Reply.json({"id": "c2", "model": "some-model", "choices": [{"index": 0, "finish_reason": "stop",
                               "message": {"role": "assistant", "content": "It is 18C and sunny."}}]}))
        return
    server.add(Reply(parts=sse(
        chunk("Checking.", role="assistant"),
        chunk(tool_calls=[dict(call, index=0, function={"name": "get_weather", "arguments": ""})]),
        chunk(tool_calls=[{"index": 0, "function": {"arguments": '{"city":"Paris"}'}}]),
        chunk(finish="tool_calls"),
    )))
    server.add(Reply(parts=sse(chunk("It is 18C and sunny.", role="assistant"), chunk(finish="stop"))))


ROUND_TRIPS = {
    "anthropic": (
        lambda server: LlmClient.anthropic("sk-ant-test", base_url=server.url, max_retries=0),
        anthropic_script,
        [
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Paris"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_9", "content": "18C and sunny in Paris"}]},
        ],
    ),
    "openai": (
        lambda server: LlmClient.openai("sk-test", base_url=server.url, max_retries=0),
        openai_script,
        [
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "call_9", "type": "function",
                 "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
            {"role": "tool", "content": "18C and sunny in Paris", "tool_call_id": "call_9"},
        ],
    ),
}


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize("provider", sorted(ROUND_TRIPS))
def test_the_same_tool_round_trip_code_works_for_anthropic_and_openai(server, provider, stream):
    make_client, script, expected_turns = ROUND_TRIPS[provider]
    script(server, stream)
    final = weather_round_trip(make_client(server), stream)
    assert final.content == "It is 18C and sunny."
    assert final.finish_reason == "stop"
    second = server.requests[1].json()
    assert second["messages"][0]["content"] == "What is the weather in Paris?"
    assert second["messages"][1:] == expected_turns


def test_a_thinking_tool_round_trip_sends_the_signed_thinking_back(server):
    server.add(Reply.json(message([
        {"type": "thinking", "thinking": "I should call the tool.", "signature": "sig-1"},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    ], stop_reason="tool_use")))
    server.add(Reply.json(message([{"type": "text", "text": "Sunny."}])))
    client = client_for(server)
    messages = [Message.user("Paris?")]
    first = client.chat(request(messages=messages, tools=[WEATHER], thinking_budget=2048))
    messages += [first.to_message(), Message.tool("sunny", tool_call_id=first.tool_calls[0].id)]
    assert client.chat(request(messages=messages, tools=[WEATHER], thinking_budget=2048)).content == "Sunny."
    assistant = server.requests[1].json()["messages"][1]
    assert assistant == {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "I should call the tool.", "signature": "sig-1"},
        {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
    ]}
    assert json.loads(server.requests[1].body)["thinking"] == {"type": "enabled", "budget_tokens": 2048}
