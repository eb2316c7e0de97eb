"""The OpenAI chat completions protocol over the local server: what is sent, what is read."""

import json

import pytest
from helpers import chunk, sse

from llm_connector import (
    AuthenticationError,
    ChatRequest,
    ContextLengthExceededError,
    ImageBlock,
    IncompleteStreamError,
    LlmClient,
    Message,
    NotFoundError,
    RateLimitError,
    ResponseFormat,
    StreamAccumulator,
    StreamParseError,
    TextBlock,
    Tool,
    ToolCall,
    ToolChoice,
)
from llm_connector.testing import Close, Reply

WEATHER = Tool.function(
    "get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}}
)


def client_for(server, **kw):
    return LlmClient.openai("sk-test-key", base_url=server.url, max_retries=0, **kw)


def request(**kw):
    kw.setdefault("model", "gpt-test")
    kw.setdefault("messages", [Message.user("hi")])
    return ChatRequest(**kw)


def completion(content="Hello", **extra):
    body = {
        "id": "chatcmpl-9", "object": "chat.completion", "created": 1700000000, "model": "gpt-test",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
    body.update(extra)
    return body


# -- request encoding ------------------------------------------------------------------------------------


def test_chat_posts_to_chat_completions_with_bearer_key_and_stream_false(server):
    server.add(Reply.json(completion()))
    client_for(server).chat(request())
    sent = server.requests[0]
    assert (sent.method, sent.path) == ("POST", "/chat/completions")
    assert sent.headers["authorization"] == "Bearer sk-test-key"
    assert sent.json() == {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "stream": False}


def test_stream_asks_for_usage_with_stream_options(server):
    server.add(Reply(parts=sse(chunk("x", finish="stop"))))
    list(client_for(server).chat_stream(request()))
    body = server.requests[0].json()
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert server.requests[0].headers["accept"] == "text/event-stream"


def test_every_sampling_field_is_sent_under_its_openai_name(server):
    server.add(Reply.json(completion()))
    client_for(server).chat(request(
        temperature=0.5, top_p=0.9, max_tokens=50, stop="END", presence_penalty=0.1, frequency_penalty=0.2,
        seed=7, user="u-1", reasoning_effort="high", response_format=ResponseFormat.json_object(),
        extra_body={"logit_bias": {"1": 2}},
    ))
    body = server.requests[0].json()
    assert body["temperature"] == 0.5 and body["top_p"] == 0.9
    assert body["max_completion_tokens"] == 50 and "max_tokens" not in body  # OpenAI itself: the newer name
    assert body["stop"] == ["END"]
    assert body["presence_penalty"] == 0.1 and body["frequency_penalty"] == 0.2
    assert body["seed"] == 7 and body["user"] == "u-1" and body["reasoning_effort"] == "high"
    assert body["response_format"] == {"type": "json_object"}
    assert body["logit_bias"] == {"1": 2}


def test_json_schema_response_format_is_sent_whole(server):
    server.add(Reply.json(completion("{}")))
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    client_for(server).chat(request(response_format=ResponseFormat.json_schema("thing", schema)))
    assert server.requests[0].json()["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "thing", "schema": schema, "strict": True}}


def test_text_only_blocks_are_sent_as_one_string(server):
    server.add(Reply.json(completion()))
    client_for(server).chat(request(messages=[Message.user([TextBlock("a"), TextBlock("b")])]))
    assert server.requests[0].json()["messages"] == [{"role": "user", "content": "a\nb"}]


def test_images_become_image_url_parts_and_base64_becomes_a_data_url(server):
    server.add(Reply.json(completion()))
    msg = Message.user([
        TextBlock("what is this?"),
        ImageBlock.from_url("https://example.com/cat.png", detail="low"),
        ImageBlock.from_base64("image/jpeg", "AAAA"),
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "BBBB"}},
    ])
    client_for(server).chat(request(messages=[msg]))
    assert server.requests[0].json()["messages"][0]["content"] == [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,BBBB"}},
    ]


def test_assistant_tool_call_turn_sends_null_content_and_tool_results_their_call_id(server):
    server.add(Reply.json(completion()))
    call = ToolCall.create("call_1", "get_weather", {"city": "Paris"})
    client_for(server).chat(request(
        messages=[
            Message.system("be brief"),
            Message.user("weather?"),
            Message.assistant(content=None, tool_calls=[call]),
            Message.tool('{"temp": 20}', tool_call_id="call_1"),
        ],
        tools=[WEATHER],
        tool_choice=ToolChoice.function("get_weather"),
    ))
    body = server.requests[0].json()
    assert body["messages"][2] == {
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "call_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}],
    }
    assert body["messages"][3] == {"role": "tool", "content": '{"temp": 20}', "tool_call_id": "call_1"}
    assert body["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}


def test_reasoning_is_not_sent_back_unless_the_preset_wants_it(server):
    server.add(Reply.json(completion()))
    server.add(Reply.json(completion()))
    turns = [Message.user("q"), Message.assistant("a", reasoning_content="thought"), Message.user("q2")]
    LlmClient.deepseek("k", base_url=server.url).chat(request(messages=turns))
    LlmClient.moonshot("k", base_url=server.url).chat(request(messages=turns))
    assert "reasoning_content" not in server.requests[0].json()["messages"][1]
    assert server.requests[1].json()["messages"][1]["reasoning_content"] == "thought"


@pytest.mark.parametrize("ctor, expected", [
    ("aliyun_compatible", {"enable_thinking": True}),
    ("zhipu_openai_compatible", {"thinking": {"type": "enabled"}}),
    ("volcengine", {"thinking": {"type": "enabled"}}),
])
def test_enable_thinking_is_sent_the_way_each_service_takes_it(server, ctor, expected):
    server.add(Reply.json(completion()))
    getattr(LlmClient, ctor)("k", base_url=server.url).chat(request(enable_thinking=True))
    body = server.requests[0].json()
    for key, value in expected.items():
        assert body[key] == value


def test_azure_uses_deployment_url_api_version_query_and_api_key_header(server):
    server.add(Reply.json(completion()))
    client = LlmClient.azure_openai("az-key", endpoint=server.url, deployment="gpt4o", api_version="2024-10-21")
    client.chat(request())
    sent = server.requests[0]
    assert sent.path == "/openai/deployments/gpt4o/chat/completions"
    assert sent.query == {"api-version": ["2024-10-21"]}
    assert sent.headers["api-key"] == "az-key"
    assert "authorization" not in sent.headers


# -- response decoding -----------------------------------------------------------------------------------


def test_chat_response_keeps_content_reasoning_usage_and_finish_reason(server):
    body = completion("42")
    body["choices"][0]["message"]["reasoning_content"] = "six times seven"
    server.add(Reply.json(body))
    response = client_for(server).chat(request())
    assert response.content == "42"
    assert response.reasoning_content == "six times seven"
    assert response.finish_reason == "stop"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (5, 2, 7)
    assert response.id == "chatcmpl-9" and response.model == "gpt-test"
    assert response.raw["id"] == "chatcmpl-9"


def test_chat_response_tool_calls_have_parsed_arguments(server):
    body = completion(None)
    body["choices"][0]["message"]["tool_calls"] = [
        {"id": "call_7", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]
    body["choices"][0]["finish_reason"] = "tool_calls"
    server.add(Reply.json(body))
    response = client_for(server).chat(request(tools=[WEATHER]))
    assert response.finish_reason == "tool_calls"
    assert [c.id for c in response.tool_calls] == ["call_7"]
    assert response.tool_calls[0].arguments_json() == {"city": "Rome"}
    assert response.content == ""


def test_response_without_usage_has_usage_none_not_zeros(server):
    body = completion()
    del body["usage"]
    server.add(Reply.json(body))
    assert client_for(server).chat(request()).usage is None


def test_models_lists_ids_from_get_models(server):
    server.route("GET", "/models", Reply.json({"object": "list", "data": [{"id": "gpt-a"}, {"id": "gpt-b"}]}))
    assert client_for(server).models() == ["gpt-a", "gpt-b"]
    assert server.requests[0].headers["authorization"] == "Bearer sk-test-key"


# -- stream decoding -------------------------------------------------------------------------------------


def test_stream_yields_text_then_finish_then_usage(server):
    server.add(Reply(parts=sse(
        chunk("Hel", role="assistant"), chunk("lo"), chunk(None, finish="stop"),
        {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-test", "choices": [],
         "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
    )))
    chunks = list(client_for(server).chat_stream(request()))
    assert [c.get_content() for c in chunks] == ["Hel", "lo", None, None]
    assert [c.finish_reason for c in chunks] == [None, None, "stop", None]
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == 5
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.usage is None for c in chunks[:-1])


def test_reasoning_never_leaks_into_content(server):
    server.add(Reply(parts=sse(
        chunk("", reasoning="let me think"),
        {"id": "r", "choices": [{"index": 0, "delta": {"content": "", "reasoning": "more"}}]},
        chunk("answer", finish="stop"),
    )))
    chunks = list(client_for(server).chat_stream(request()))
    assert [c.get_content() for c in chunks] == [None, None, "answer"]
    assert [c.reasoning_content for c in chunks] == ["let me think", "more", None]
    assert chunks[0].choices[0].delta.content == ""


@pytest.mark.parametrize("raw", ["", "null", None])
def test_empty_and_null_finish_reasons_are_none(server, raw):
    server.add(Reply(parts=sse(chunk("a", finish=raw), chunk("b", finish="stop"))))
    chunks = list(client_for(server).chat_stream(request()))
    assert chunks[0].finish_reason is None and chunks[0].choices[0].finish_reason_raw is None
    assert chunks[1].finish_reason == "stop"


def test_unknown_finish_reason_is_kept_raw_and_lower_cased(server):
    server.add(Reply(parts=sse(chunk("a", finish="Insufficient_System_Resource"))))
    (c,) = list(client_for(server).chat_stream(request()))
    assert c.choices[0].finish_reason_raw == "Insufficient_System_Resource"
    assert c.finish_reason == "insufficient_system_resource"


def test_tool_call_deltas_keep_openais_shape_and_collect_merges_them(server):
    server.add(Reply(parts=sse(
        chunk(role="assistant", tool_calls=[{"index": 0, "id": "call_abc", "type": "function",
                                             "function": {"name": "get_weather", "arguments": ""}}]),
        chunk(tool_calls=[{"index": 0, "function": {"arguments": '{"loc'}}]),
        chunk(tool_calls=[{"index": 1, "id": "call_def", "type": "function",
                           "function": {"name": "get_time", "arguments": "{}"}}]),
        chunk(tool_calls=[{"index": 0, "function": {"arguments": 'ation": "Beijing"}'}}]),
        chunk(finish="tool_calls"),
    )))
    chunks = list(client_for(server).chat_stream(request(tools=[WEATHER])))
    first = chunks[0]
    assert first.tool_calls[0].id == "call_abc" and first.tool_calls[0].index == 0
    assert first.tool_calls[0].function.arguments == ""
    acc = StreamAccumulator()
    for c in chunks:
        acc.add(c)
    response = acc.result()
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        ("call_abc", "get_weather", '{"location": "Beijing"}'), ("call_def", "get_time", "{}")]
    assert response.tool_calls[0].arguments_json() == {"location": "Beijing"}
    assert response.finish_reason == "tool_calls"


def test_collect_adds_up_text_reasoning_and_usage(server):
    server.add(Reply(parts=sse(
        chunk("", reasoning="a"), chunk("", reasoning="b"), chunk("x"), chunk("y", finish="stop"),
        {"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 4,
                                                       "total_tokens": 5,
                                                       "completion_tokens_details": {"reasoning_tokens": 2}}},
    )))
    response = client_for(server).chat_stream(request()).collect()
    assert response.content == "xy"
    assert response.reasoning_content == "ab"
    assert response.usage.total_tokens == 5 and response.usage.reasoning_tokens == 2
    assert response.id == "chatcmpl-1" and response.model == "gpt-test"


def test_stream_without_done_raises_incomplete_after_delivering_what_arrived(server):
    server.add(Reply(parts=sse(chunk("one"), chunk("two"), done=False)))
    got = []
    with pytest.raises(IncompleteStreamError) as info:
        for c in client_for(server).chat_stream(request()):
            got.append(c.content)
    assert got == ["one", "two"]
    assert info.value.chunks_received == 2
    assert "[DONE]" in str(info.value) and "2 chunks" in str(info.value)


def test_mid_stream_error_object_raises_the_matching_typed_error(server):
    server.add(Reply(parts=sse(
        chunk("partial"),
        {"error": {"message": "Rate limit reached", "type": "rate_limit_error", "code": "rate_limit_exceeded"}},
    )))
    got = []
    with pytest.raises(RateLimitError) as info:
        for c in client_for(server).chat_stream(request()):
            got.append(c.content)
    assert got == ["partial"]
    assert "Rate limit reached" in str(info.value)
    assert info.value.provider == "openai"


def test_a_line_that_is_not_json_raises_stream_parse_error_showing_the_line(server):
    server.add(Reply(parts=sse(chunk("ok"), "data: {not json\n\n")))
    with pytest.raises(StreamParseError) as info:
        list(client_for(server).chat_stream(request()))
    assert "{not json" in str(info.value) and "openai" in str(info.value)


def test_comments_and_crlf_framing_are_handled(server):
    body = ": keep-alive\r\n\r\ndata: " + json.dumps(chunk("hi", finish="stop")) + "\r\n\r\ndata: [DONE]\r\n\r\n"
    server.add(Reply(parts=[body[:17], body[17:40], body[40:]]))
    assert [c.content for c in client_for(server).chat_stream(request())] == ["hi"]


def test_events_split_across_reads_at_every_byte_still_decode(server):
    body = "".join(sse(chunk("héllo wörld ✓"), chunk("!", finish="stop"))).encode()
    server.add(Reply(parts=[body[i:i + 1] for i in range(len(body))]))
    assert "".join(c.content for c in client_for(server).chat_stream(request())) == "héllo wörld ✓!"


# -- HTTP errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status, body, cls", [
    (401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                     "code": "invalid_api_key"}}, AuthenticationError),
    (404, {"error": {"message": "The model `x` does not exist", "type": "invalid_request_error",
                     "code": "model_not_found"}}, NotFoundError),
    (400, {"error": {"message": "This model's maximum context length is 8192 tokens", "type":
                     "invalid_request_error", "code": "context_length_exceeded"}}, ContextLengthExceededError),
])
def test_http_errors_carry_the_services_own_message(server, status, body, cls):
    server.add(Reply.json(body, status=status, headers={"x-request-id": "req-42"}))
    with pytest.raises(cls) as info:
        client_for(server).chat_stream(request())
    err = info.value
    assert err.status_code == status and err.request_id == "req-42" and err.provider == "openai"
    assert body["error"]["message"] in str(err)
    assert "sk-test-key" not in str(err) and "sk-test-key" not in repr(err)


def test_a_custom_name_shows_in_errors(server):
    server.add(Reply.json({"error": {"message": "bad"}}, status=400))
    client = LlmClient.openai_compatible("k", server.url, name="mygateway", max_retries=0)
    with pytest.raises(Exception) as info:
        client.chat(request())
    assert "mygateway" in str(info.value)


def test_stream_cut_mid_body_raises_incomplete(server):
    server.add(Reply(parts=sse(chunk("a"), done=False) + [Close()]))
    with pytest.raises(IncompleteStreamError):
        list(client_for(server).chat_stream(request()))


def test_encoded_tool_call_pieces_have_openais_shape_and_decode_back():
    """The gateway writes a call's first piece with id, type and name, and the pieces after it with the index and
    arguments only, as OpenAI streams them (no ``"name": null``)."""
    from llm_connector.protocols.openai import decode_chunk, encode_chunk
    from llm_connector.types import Delta, FunctionCall, StreamingChoice, StreamingResponse, ToolCall

    def piece(call):
        return StreamingResponse("c1", "chat.completion.chunk", 1, "m", [StreamingChoice(0, Delta(None, None, None,
                                                                                                   [call]))])

    first = encode_chunk(piece(ToolCall("call_1", "function", FunctionCall("get_weather", ""), 0)))
    more = encode_chunk(piece(ToolCall("", "function", FunctionCall("", '{"city"'), 0)))
    assert first["choices"][0]["delta"]["tool_calls"] == [
        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]
    assert more["choices"][0]["delta"]["tool_calls"] == [{"index": 0, "function": {"arguments": '{"city"'}}]
    back = [decode_chunk(json.loads(json.dumps(c)), "openai").tool_calls[0] for c in (first, more)]
    assert [(t.id, t.function.name, t.function.arguments, t.index) for t in back] == [
        ("call_1", "get_weather", "", 0), ("", "", '{"city"', 0)]
