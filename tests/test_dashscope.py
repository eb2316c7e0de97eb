"""Aliyun DashScope native API over the local server: request shape, answers, streams framed as DashScope frames
them (``id:`` / ``event:`` / ``:HTTP_STATUS/200`` / ``data:`` without spaces), tool calls and errors."""

import json

import pytest

from llm_connector import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ChatRequest,
    ImageBlock,
    IncompleteStreamError,
    LlmClient,
    Message,
    NotFoundError,
    RateLimitError,
    TextBlock,
    Tool,
    ToolCall,
    UnsupportedOperationError,
)
from llm_connector.testing import Reply

KEY = "sk-dashscope-test"
TEXT = "/api/v1/services/aigc/text-generation/generation"
MULTIMODAL = "/api/v1/services/aigc/multimodal-generation/generation"


def client_for(server, **kw):
    kw.setdefault("max_retries", 0)
    return LlmClient.aliyun(KEY, base_url=server.url + "/api/v1", **kw)


def request(**kw):
    kw.setdefault("messages", [Message.user("你好")])
    kw.setdefault("model", "qwen-plus")
    return ChatRequest(**kw)


ANSWER = {"output": {"choices": [{"finish_reason": "stop", "message": {
    "role": "assistant", "content": "你好！很高兴见到你。", "reasoning_content": "用户打招呼"}}]},
    "usage": {"input_tokens": 13, "output_tokens": 12, "total_tokens": 25,
              "output_tokens_details": {"reasoning_tokens": 4}},
    "request_id": "07b596ac-b87a-4a8a-a9d8-82c321adf5e7"}


def frame(n, data, event="result", status=200):
    """One event exactly as DashScope writes it."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"id:{n}\nevent:{event}\n:HTTP_STATUS/{status}\ndata:{payload}\n\n"


def piece(content="", *, reasoning=None, finish="null", tool_calls=None, usage=(12, 1), request_id="req-s1"):
    message = {"content": content, "role": "assistant"}
    if reasoning is not None:
        message["reasoning_content"] = reasoning
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {"output": {"choices": [{"message": message, "finish_reason": finish}]},
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1], "total_tokens": sum(usage)},
            "request_id": request_id}


def sse(*datas, **kw):
    return Reply(200, {"Content-Type": "text/event-stream;charset=UTF-8"},
                 [frame(i + 1, d) if not isinstance(d, tuple) else frame(i + 1, d[1], *d[2:], event=d[0])
                  for i, d in enumerate(datas)], **kw)


# -- request ----------------------------------------------------------------------------------------------


def test_a_chat_posts_the_native_body_to_the_text_generation_endpoint(server):
    server.add(Reply.json(ANSWER))
    client_for(server).chat(request(
        messages=[Message.system("简短回答"), Message.user("你好")], max_tokens=100, temperature=0.7, top_p=0.8,
        seed=42, stop=["。"], enable_thinking=True, thinking_budget=500, presence_penalty=0.5,
        frequency_penalty=0.3, extra_body={"parameters": {"enable_search": True}}))
    sent = server.requests[0]
    assert (sent.method, sent.path) == ("POST", TEXT)
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert "X-DashScope-SSE" not in sent.headers
    assert sent.json() == {
        "model": "qwen-plus",
        "input": {"messages": [{"role": "system", "content": "简短回答"}, {"role": "user", "content": "你好"}]},
        "parameters": {"result_format": "message", "max_tokens": 100, "temperature": 0.7, "top_p": 0.8,
                       "presence_penalty": 0.5, "seed": 42, "thinking_budget": 500, "stop": ["。"],
                       "enable_thinking": True, "enable_search": True},
    }


def test_a_stream_request_enables_sse_and_incremental_output(server):
    server.add(sse(piece("好", finish="stop")))
    list(client_for(server).chat_stream(request()))
    sent = server.requests[0]
    assert sent.headers["X-DashScope-SSE"] == "enable"
    assert sent.headers["Accept"] == "text/event-stream"
    assert sent.json()["parameters"]["incremental_output"] is True
    assert "stream" not in sent.json()


def test_an_image_goes_to_the_multimodal_endpoint_with_content_parts(server):
    server.add(Reply.json({"output": {"choices": [{"finish_reason": "stop", "message": {
        "role": "assistant", "content": [{"text": "一只猫"}]}}]}, "usage": {"input_tokens": 1200, "output_tokens": 3},
        "request_id": "mm-1"}))
    image = ImageBlock.from_url("https://example.com/cat.png")
    messages = [Message.system("看图"), Message.user([image, TextBlock("这是什么")])]
    reply = client_for(server).chat(request(model="qwen-vl-max", messages=messages))
    sent = server.requests[0]
    assert sent.path == MULTIMODAL
    assert sent.json()["input"]["messages"] == [
        {"role": "system", "content": [{"text": "看图"}]},
        {"role": "user", "content": [{"image": "https://example.com/cat.png"}, {"text": "这是什么"}]}]
    assert reply.content == "一只猫" and reply.usage.prompt_tokens == 1200


WEATHER = Tool.function("get_weather", "Weather in a city",
                        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


def test_tools_and_a_tool_round_trip_are_sent_in_parameters_and_messages(server):
    server.add(Reply.json(ANSWER))
    call = ToolCall.create("call_1", "get_weather", {"city": "杭州"})
    client_for(server).chat(request(
        messages=[Message.user("天气?"), Message.assistant(None, tool_calls=[call]),
                  Message.tool('{"temp": 20}', tool_call_id="call_1")], tools=[WEATHER], tool_choice="auto"))
    body = server.requests[0].json()
    assert body["parameters"]["tools"] == [WEATHER.to_dict()]
    assert body["parameters"]["tool_choice"] == "auto"
    assert body["input"]["messages"][1] == {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"杭州"}'}}]}
    assert body["input"]["messages"][2] == {"role": "tool", "content": '{"temp": 20}', "tool_call_id": "call_1"}


# -- response ---------------------------------------------------------------------------------------------


def test_an_answer_gives_content_reasoning_usage_and_the_request_id(server):
    server.add(Reply.json(ANSWER))
    reply = client_for(server).chat(request())
    assert (reply.content, reply.reasoning_content) == ("你好！很高兴见到你。", "用户打招呼")
    assert reply.choices[0].finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (13, 12, 25)
    assert reply.usage.reasoning_tokens == 4
    assert reply.id == "07b596ac-b87a-4a8a-a9d8-82c321adf5e7"


def test_an_answer_with_tool_calls_gives_them(server):
    server.add(Reply.json({"output": {"choices": [{"finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "", "tool_calls": [{"index": 0, "id": "call_7", "type": "function",
                                                            "function": {"name": "get_weather",
                                                                         "arguments": "{\"city\": \"杭州\"}"}}]}}]},
        "usage": {"input_tokens": 5, "output_tokens": 9, "total_tokens": 14}, "request_id": "t1"}))
    reply = client_for(server).chat(request(tools=[WEATHER]))
    [call] = reply.tool_calls
    assert (call.id, call.name, call.arguments_json()) == ("call_7", "get_weather", {"city": "杭州"})
    assert reply.choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize("status, code, error_class", [
    (401, "InvalidApiKey", AuthenticationError),
    (429, "Throttling.RateQuota", RateLimitError),
    (400, "InvalidParameter", BadRequestError),
    (404, "ModelNotFound", NotFoundError),
])
def test_an_http_error_body_is_its_typed_error_with_the_request_id(server, status, code, error_class):
    server.add(Reply.json({"code": code, "message": "Invalid API-key provided.", "request_id": "err-1"},
                          status=status))
    with pytest.raises(error_class) as info:
        client_for(server).chat(request())
    assert (info.value.code, info.value.request_id, info.value.status_code) == (code, "err-1", status)
    assert KEY not in str(info.value)


@pytest.mark.parametrize("code, error_class", [
    ("InvalidApiKey", AuthenticationError),
    ("Arrearage", RateLimitError),
    ("Throttling", RateLimitError),
    ("DataInspectionFailed", BadRequestError),
])
def test_an_error_body_sent_with_http_200_is_classed_by_its_code(server, code, error_class):
    server.add(Reply.json({"code": code, "message": "nope", "request_id": "err-2"}))
    with pytest.raises(error_class) as info:
        client_for(server).chat(request())
    assert (info.value.code, info.value.request_id) == (code, "err-2")


# -- stream -----------------------------------------------------------------------------------------------


def test_a_stream_framed_as_dashscope_frames_it_gives_reasoning_then_content(server):
    server.add(sse(piece(reasoning="先想"), piece(reasoning="一想", usage=(12, 2)), piece("北京", usage=(12, 3)),
                   piece("", finish="stop", usage=(12, 4))))
    chunks = list(client_for(server).chat_stream(request()))
    assert [c.content for c in chunks] == ["", "", "北京", ""]
    assert [c.reasoning_content for c in chunks] == ["先想", "一想", None, None]
    assert [c.choices[0].finish_reason for c in chunks] == [None, None, None, "stop"]  # "null" is None
    assert chunks[0].choices[0].finish_reason_raw is None and chunks[-1].choices[0].finish_reason_raw == "stop"
    assert chunks[0].id == "req-s1"


def test_collect_gives_the_last_usage_and_all_text(server):
    server.add(sse(piece(reasoning="想"), piece("你"), piece("好", usage=(12, 3)),
                   piece("", finish="stop", usage=(12, 4))))
    reply = client_for(server).chat_stream(request()).collect()
    assert (reply.content, reply.reasoning_content, reply.finish_reason) == ("你好", "想", "stop")
    assert reply.usage.total_tokens == 16


def test_streamed_tool_call_pieces_merge_by_index(server):
    server.add(sse(
        piece(tool_calls=[{"index": 0, "id": "call_1", "type": "function",
                           "function": {"name": "get_weather", "arguments": ""}}]),
        piece(tool_calls=[{"index": 0, "id": "", "type": "function", "function": {"arguments": "{\"city\": "}}]),
        piece(tool_calls=[{"index": 0, "id": "", "type": "function", "function": {"arguments": "\"杭州\"}"}}]),
        piece(finish="tool_calls")))
    reply = client_for(server).chat_stream(request(tools=[WEATHER])).collect()
    [call] = reply.tool_calls
    assert (call.id, call.name, call.arguments_json()) == ("call_1", "get_weather", {"city": "杭州"})
    assert reply.finish_reason == "tool_calls"


def test_an_error_event_raises_its_typed_error_after_the_chunks_before_it(server):
    server.add(Reply(200, {"Content-Type": "text/event-stream"}, [
        frame(1, piece("你")),
        frame(2, {"code": "Throttling.AllocationQuota", "message": "Allocated quota exceeded",
                  "request_id": "q-1"}, event="error", status=429)]))
    texts = []
    with pytest.raises(RateLimitError, match="Allocated quota exceeded") as info:
        for chunk in client_for(server).chat_stream(request()):
            texts.append(chunk.content)
    assert texts == ["你"] and info.value.request_id == "q-1"


def test_an_unknown_error_code_in_a_stream_is_still_an_api_error(server):
    server.add(Reply(200, {"Content-Type": "text/event-stream"},
                     [frame(1, {"code": "Whatever", "message": "odd"}, event="error", status=500)]))
    with pytest.raises(APIStatusError, match="odd"):
        list(client_for(server).chat_stream(request()))


def test_a_json_line_split_across_reads_is_not_lost(server):
    whole = frame(1, piece("完整的一行", finish="stop"))
    server.add(Reply(200, {"Content-Type": "text/event-stream"}, [whole[:20], whole[20:41], whole[41:]]))
    assert client_for(server).chat_stream(request()).text() == "完整的一行"


def test_a_stream_that_ends_before_a_finish_reason_is_incomplete(server):
    server.add(sse(piece("你"), piece("好")))
    texts = []
    with pytest.raises(IncompleteStreamError):
        for chunk in client_for(server).chat_stream(request()):
            texts.append(chunk.content)
    assert texts == ["你", "好"]


def test_chat_stream_ollama_re_expresses_a_dashscope_stream(server):
    server.add(sse(piece("你"), piece("好", usage=(12, 2)), piece("", finish="stop", usage=(12, 2))))
    chunks = list(client_for(server).chat_stream_ollama(request()))
    assert "".join(c.message.content for c in chunks) == "你好"
    assert chunks[-1].done is True and chunks[-1].eval_count == 2 and chunks[-1].prompt_eval_count == 12


# -- client -----------------------------------------------------------------------------------------------


def test_dashscope_native_has_no_model_list(server):
    with pytest.raises(UnsupportedOperationError):
        client_for(server).models()


def test_the_international_host_and_from_env(monkeypatch, server):
    assert LlmClient.aliyun_international(KEY)._backend.endpoint.base_url == "https://dashscope-intl.aliyuncs.com/api/v1"
    assert LlmClient.aliyun(KEY)._backend.endpoint.base_url == "https://dashscope.aliyuncs.com/api/v1"
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-from-env")
    server.add(Reply.json(ANSWER))
    LlmClient.from_env("aliyun", base_url=server.url + "/api/v1").chat(request())
    assert server.requests[0].headers["Authorization"] == "Bearer sk-from-env"
