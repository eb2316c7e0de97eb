"""Zhipu GLM native API v4 over the local server: thinking, reasoning, tools with tool_stream, vision, finish
reasons sensitive / network_error, single-newline SSE framing, and Zhipu's numeric error codes."""

import json

import pytest

from llm_connector import (
    AuthenticationError,
    BadRequestError,
    ChatRequest,
    ContextLengthExceededError,
    ImageBlock,
    IncompleteStreamError,
    LlmClient,
    Message,
    NotFoundError,
    OverloadedError,
    RateLimitError,
    ServerError,
    TextBlock,
    Tool,
    UnsupportedOperationError,
)
from llm_connector.testing import Reply

KEY = "zhipu-test-key.0123456789"


def client_for(server, **kw):
    kw.setdefault("max_retries", 0)
    return LlmClient.zhipu(KEY, base_url=server.url + "/api/paas/v4", **kw)


def request(**kw):
    kw.setdefault("messages", [Message.user("你好")])
    kw.setdefault("model", "glm-4.5")
    return ChatRequest(**kw)


ANSWER = {"id": "20250801-abc", "created": 1754000000, "model": "glm-4.5", "request_id": "20250801-abc",
          "choices": [{"index": 0, "finish_reason": "stop", "message": {
              "role": "assistant", "content": "你好！", "reasoning_content": "用户在打招呼"}}],
          "usage": {"prompt_tokens": 6, "completion_tokens": 20, "total_tokens": 26}}


def chunk(content=None, *, reasoning=None, finish=None, tool_calls=None, usage=None):
    delta = {"role": "assistant"}
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta["reasoning_content"] = reasoning
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    obj = {"id": "20250801-s", "created": 1754000000, "model": "glm-4.5",
           "choices": [{"index": 0, "delta": delta}]}
    if finish is not None:
        obj["choices"][0]["finish_reason"] = finish
    if usage is not None:
        obj["usage"] = usage
    return obj


def sse(*objs, sep="\n\n", done=True):
    parts = ["data: " + json.dumps(o, ensure_ascii=False, separators=(",", ":")) + sep for o in objs]
    if done:
        parts.append("data: [DONE]" + sep)
    return Reply(200, {"Content-Type": "text/event-stream"}, parts)


# -- request ----------------------------------------------------------------------------------------------


def test_a_chat_posts_zhipus_body_with_thinking_and_user_id(server):
    server.add(Reply.json(ANSWER))
    client_for(server).chat(request(enable_thinking=True, temperature=0.6, top_p=0.9, max_tokens=512, stop="##",
                                    user="u-1", seed=3, frequency_penalty=0.5, extra_body={"do_sample": False}))
    sent = server.requests[0]
    assert (sent.method, sent.path) == ("POST", "/api/paas/v4/chat/completions")
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.json() == {
        "model": "glm-4.5", "messages": [{"role": "user", "content": "你好"}], "temperature": 0.6, "top_p": 0.9,
        "max_tokens": 512, "user_id": "u-1", "stop": ["##"], "thinking": {"type": "enabled"}, "stream": False,
        "do_sample": False,
    }


def test_thinking_can_be_switched_off(server):
    server.add(Reply.json(ANSWER))
    client_for(server).chat(request(enable_thinking=False))
    assert server.requests[0].json()["thinking"] == {"type": "disabled"}


def test_an_image_is_sent_as_an_image_url_part_for_vision_models(server):
    server.add(Reply.json(ANSWER))
    image = ImageBlock.from_url("https://example.com/cat.png")
    client_for(server).chat(request(model="glm-4.5v", messages=[Message.user([TextBlock("这是什么"), image])]))
    assert server.requests[0].json()["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "这是什么"}, {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]


WEATHER = Tool.function("get_weather", "Weather in a city",
                        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


@pytest.mark.parametrize("model, stream, option, sent", [
    ("glm-4.6", True, None, True),
    ("glm-4.5", True, None, None),
    ("glm-4.6", False, None, None),
    ("glm-4.5", True, True, True),
    ("glm-4.6", True, False, None),
])
def test_tool_stream_is_sent_for_streams_with_tools_on_models_that_support_it(server, model, stream, option, sent):
    server.add(sse(chunk("x", finish="stop")) if stream else Reply.json(ANSWER))
    options = {"options": {"tool_stream": option}} if option is not None else {}
    client = client_for(server, **options)
    req = request(model=model, tools=[WEATHER], tool_choice="auto")
    if stream:
        list(client.chat_stream(req))
    else:
        client.chat(req)
    body = server.requests[0].json()
    assert body.get("tool_stream") is sent
    assert body["tools"] == [WEATHER.to_dict()] and body["tool_choice"] == "auto"


# -- response ---------------------------------------------------------------------------------------------


def test_an_answer_gives_content_reasoning_and_usage(server):
    server.add(Reply.json(ANSWER))
    reply = client_for(server).chat(request())
    assert (reply.content, reply.reasoning_content) == ("你好！", "用户在打招呼")
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.total_tokens == 26


def test_an_answer_with_tool_calls_gives_them(server):
    server.add(Reply.json({"id": "t", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [{"id": "call_-8", "type": "function", "index": 0,
                                                              "function": {"name": "get_weather",
                                                                           "arguments": "{\"city\":\"北京\"}"}}]}}]}))
    reply = client_for(server).chat(request(tools=[WEATHER]))
    [call] = reply.tool_calls
    assert (call.id, call.name, call.arguments_json()) == ("call_-8", "get_weather", {"city": "北京"})


def test_a_sensitive_finish_is_a_content_filter(server):
    server.add(Reply.json({"id": "s", "choices": [{"index": 0, "finish_reason": "sensitive",
                                                   "message": {"role": "assistant", "content": ""}}]}))
    choice = client_for(server).chat(request()).choices[0]
    assert (choice.finish_reason, choice.finish_reason_raw) == ("content_filter", "sensitive")


def test_a_network_error_finish_is_a_server_error(server):
    server.add(Reply.json({"id": "n", "choices": [{"index": 0, "finish_reason": "network_error",
                                                   "message": {"role": "assistant", "content": "半"}}]}))
    with pytest.raises(ServerError, match="network_error") as info:
        client_for(server).chat(request())
    assert info.value.code == "network_error"


@pytest.mark.parametrize("status, code, error_class", [
    (401, "1000", AuthenticationError),
    (401, "1002", AuthenticationError),
    (429, "1113", RateLimitError),
    (429, "1302", RateLimitError),
    (429, "1305", OverloadedError),
    (400, "1211", NotFoundError),
    (400, "1261", ContextLengthExceededError),
    (400, "1301", BadRequestError),
    (400, "1214", BadRequestError),
])
def test_zhipus_error_codes_are_mapped(server, status, code, error_class):
    server.add(Reply.json({"error": {"code": code, "message": "错误信息"}}, status=status))
    with pytest.raises(error_class) as info:
        client_for(server).chat(request())
    assert (info.value.code, info.value.status_code) == (code, status)
    assert KEY not in str(info.value)


def test_an_error_code_inside_a_200_answer_is_mapped_too(server):
    server.add(Reply.json({"error": {"code": "1261", "message": "Prompt 超长"}}))
    with pytest.raises(ContextLengthExceededError):
        client_for(server).chat(request())


# -- stream -----------------------------------------------------------------------------------------------


def test_a_stream_gives_reasoning_then_content_and_usage(server):
    server.add(sse(chunk(reasoning="想"), chunk(reasoning="一想"), chunk("你好"),
                   chunk("", finish="stop", usage={"prompt_tokens": 6, "completion_tokens": 8, "total_tokens": 14})))
    chunks = list(client_for(server).chat_stream(request()))
    assert [c.content for c in chunks] == ["", "", "你好", ""]
    assert [c.reasoning_content for c in chunks] == ["想", "一想", None, None]
    reply_usage = chunks[-1].usage
    assert reply_usage.total_tokens == 14 and chunks[-1].choices[0].finish_reason == "stop"
    assert server.requests[0].json()["stream"] is True and "stream_options" not in server.requests[0].json()


def test_single_newline_framing_is_read(server):
    server.add(sse(chunk("你"), chunk("好"), chunk("", finish="stop"), sep="\n"))
    assert client_for(server).chat_stream(request()).text() == "你好"


def test_streamed_tool_call_arguments_merge_in_collect(server):
    server.add(sse(
        chunk(tool_calls=[{"index": 0, "id": "call_1", "type": "function",
                           "function": {"name": "get_weather", "arguments": ""}}]),
        chunk(tool_calls=[{"index": 0, "function": {"arguments": "{\"city\":"}}]),
        chunk(tool_calls=[{"index": 0, "function": {"arguments": "\"上海\"}"}}]),
        chunk(finish="tool_calls")))
    reply = client_for(server).chat_stream(request(model="glm-4.6", tools=[WEATHER])).collect()
    [call] = reply.tool_calls
    assert (call.id, call.name, call.arguments_json()) == ("call_1", "get_weather", {"city": "上海"})


def test_a_network_error_finish_mid_stream_raises_after_the_chunks_before_it(server):
    server.add(sse(chunk("你"), chunk("好", finish="network_error"), done=False))
    texts = []
    with pytest.raises(ServerError, match="network_error"):
        for piece in client_for(server).chat_stream(request()):
            texts.append(piece.content)
    assert texts == ["你"]


def test_an_error_object_in_the_stream_is_mapped_by_its_code(server):
    server.add(sse(chunk("你"), {"error": {"code": "1301", "message": "内容不安全"}}, done=False))
    texts = []
    with pytest.raises(BadRequestError, match="内容不安全") as info:
        for piece in client_for(server).chat_stream(request()):
            texts.append(piece.content)
    assert texts == ["你"] and info.value.code == "1301"


def test_a_stream_without_done_is_incomplete(server):
    server.add(sse(chunk("你"), chunk("好", finish="stop"), done=False))
    with pytest.raises(IncompleteStreamError):
        list(client_for(server).chat_stream(request()))


def test_chat_stream_ollama_re_expresses_a_zhipu_stream(server):
    server.add(sse(chunk("你"), chunk("好"),
                   chunk("", finish="stop", usage={"prompt_tokens": 6, "completion_tokens": 2, "total_tokens": 8})))
    chunks = list(client_for(server).chat_stream_ollama(request()))
    assert "".join(c.message.content for c in chunks) == "你好" and chunks[-1].done and chunks[-1].eval_count == 2


def test_zhipu_native_has_no_model_list_and_reads_its_key_from_the_environment(server, monkeypatch):
    with pytest.raises(UnsupportedOperationError):
        client_for(server).models()
    monkeypatch.setenv("ZHIPU_API_KEY", "env-key")
    server.add(Reply.json(ANSWER))
    LlmClient.from_env("zhipu", base_url=server.url + "/api/paas/v4").chat(request())
    assert server.requests[0].headers["Authorization"] == "Bearer env-key"


def test_a_spaced_done_marker_ends_the_stream(server):
    # "data:  [DONE]" (two spaces, as gateways send it) is the end marker, not a line of bad JSON.
    server.add(Reply(200, {"Content-Type": "text/event-stream"},
                     ["data: " + json.dumps(chunk("好", finish="stop")) + "\n\n", "data:  [DONE]\n\n"]))
    assert client_for(server).chat_stream(request()).text() == "好"
