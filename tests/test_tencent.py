"""Tencent Hunyuan native API v3 over the local server: TC3 signing, PascalCase bodies, errors sent with HTTP 200,
SSE streams as Hunyuan writes them; and the hunyuan OpenAI-compatible preset."""

import json
import pickle
import time

import pytest

from llm_connector import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ChatRequest,
    ConfigurationError,
    ImageBlock,
    IncompleteStreamError,
    LlmClient,
    Message,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    TextBlock,
    Tool,
    ToolCall,
    ToolChoice,
    UnsupportedOperationError,
)
from llm_connector.auth import TencentTc3Auth, tc3_sign
from llm_connector.testing import Reply

SECRET_ID = "AKIDtest0123456789"
SECRET_KEY = "tc3-secret-key-never-shown"

# -- TC3 against Tencent's published example --------------------------------------------------------------
# "Signature v3" in the Tencent Cloud API documentation (cloud.tencent.com/document/api/213/30654, English
# edition www.tencentcloud.com/document/api/213/30654): CVM DescribeInstances at X-TC-Timestamp 1551113065.

DOC_SECRET_ID = "AKID**********************0123456789EXAMPLE"
DOC_SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
DOC_PAYLOAD = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
DOC_CANONICAL_REQUEST = (
    "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n"
    "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
)
DOC_STRING_TO_SIGN = (
    "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
    "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
)
DOC_AUTHORIZATION = (
    "TC3-HMAC-SHA256 Credential=AKID**********************0123456789EXAMPLE/2019-02-25/cvm/tc3_request, "
    "SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
)


def test_tc3_reproduces_tencents_published_example_exactly():
    parts = tc3_sign(DOC_SECRET_ID, DOC_SECRET_KEY, "cvm", "cvm.tencentcloudapi.com", DOC_PAYLOAD, 1551113065,
                     content_type="application/json; charset=utf-8")
    assert parts.canonical_request == DOC_CANONICAL_REQUEST
    assert parts.string_to_sign == DOC_STRING_TO_SIGN
    assert parts.signature == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
    assert parts.authorization == DOC_AUTHORIZATION


def test_tc3_scope_date_is_the_utc_date_even_just_after_midnight_in_beijing(monkeypatch):
    # 1551113065 is 2019-02-26 00:44:25 in UTC+8 and 2019-02-25 in UTC (the documentation's own warning).
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is not available on this platform")
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        assert time.localtime(1551113065).tm_mday == 26  # the machine's clock now reads Beijing time
        assert tc3_sign("id", "key", "hunyuan", "h", b"", 1551113065).date == "2019-02-25"
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize("payload", [
    DOC_PAYLOAD,
    '{"Model":"hunyuan-lite","Messages":[{"Role":"user","Content":"你好 ☃"}],"Stream":true}'.encode(),
])
def test_tc3_agrees_with_tencentcloud_sdk_python_on_the_same_inputs(payload):
    abstract_client = pytest.importorskip(
        "tencentcloud.common.abstract_client",
        reason="tencentcloud-sdk-python-common is not installed (pip install -e .[test-tencent])")
    from tencentcloud.common.http.request import RequestInternal

    host, timestamp = "hunyuan.tencentcloudapi.com", 1717000000
    req = RequestInternal(host, "POST", "/", header={"Content-Type": "application/json", "Host": host,
                                                      "X-TC-Timestamp": str(timestamp)}, data=payload.decode("utf-8"))
    sdk = object.__new__(abstract_client.AbstractClient)
    expected = sdk._get_tc3_signature({}, req, "2024-05-29", "hunyuan", SECRET_KEY)
    ours = tc3_sign(SECRET_ID, SECRET_KEY, "hunyuan", host, payload, timestamp)
    assert ours.date == "2024-05-29"
    assert ours.signature == expected


def verify_signature(sent, secret_key=SECRET_KEY, service="hunyuan"):
    """Recompute the signature from what the server received (its bytes, host, content type, timestamp)."""
    expected = tc3_sign(SECRET_ID, secret_key, service, sent.headers["Host"], sent.body,
                        int(sent.headers["X-TC-Timestamp"]), content_type=sent.headers["Content-Type"])
    assert sent.headers["Authorization"] == expected.authorization


# -- helpers ----------------------------------------------------------------------------------------------


def client_for(server, **kw):
    kw.setdefault("max_retries", 0)
    return LlmClient.tencent(SECRET_ID, SECRET_KEY, base_url=server.url, **kw)


def request(**kw):
    kw.setdefault("messages", [Message.user("你好")])
    return ChatRequest(model="hunyuan-turbos-latest", **kw)


ANSWER = {"Response": {
    "RequestId": "req-9d1c", "Note": "以上内容为AI生成，不代表开发者立场，请勿删除或修改本标记", "Choices": [
        {"Index": 0, "Message": {"Role": "assistant", "Content": "你好！有什么可以帮你？",
                                 "ReasoningContent": "用户在打招呼。"}, "FinishReason": "stop"}],
    "Created": 1717000000, "Id": "req-9d1c",
    "Usage": {"PromptTokens": 3, "CompletionTokens": 9, "TotalTokens": 12}}}


def sse(*events):
    """Hunyuan's stream framing: ``data: {...}`` and a blank line per event."""
    return Reply(200, {"Content-Type": "text/event-stream"},
                 ["data: " + json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n\n" for e in events])


def delta(content=None, *, reasoning=None, finish="", usage=None, tool_calls=None, role="assistant"):
    d = {"Role": role}
    if content is not None:
        d["Content"] = content
    if reasoning is not None:
        d["ReasoningContent"] = reasoning
    if tool_calls is not None:
        d["ToolCalls"] = tool_calls
    event = {"Note": "以上内容为AI生成", "Choices": [{"Delta": d, "FinishReason": finish, "Index": 0}],
             "Created": 1717000000, "Id": "3f2a-stream"}
    event["Usage"] = usage or {"PromptTokens": 3, "CompletionTokens": 1, "TotalTokens": 4}
    return event


# -- request ----------------------------------------------------------------------------------------------


def test_a_chat_is_posted_to_the_root_with_the_tc_headers_and_a_valid_signature(server):
    server.add(Reply.json(ANSWER))
    client_for(server, region="ap-beijing").chat(request())
    sent = server.requests[0]
    assert (sent.method, sent.path) == ("POST", "/")
    assert sent.headers["X-TC-Action"] == "ChatCompletions"
    assert sent.headers["X-TC-Version"] == "2023-09-01"
    assert sent.headers["X-TC-Region"] == "ap-beijing"
    assert sent.headers["Content-Type"] == "application/json"
    assert abs(int(sent.headers["X-TC-Timestamp"]) - time.time()) < 300
    assert sent.headers["Authorization"].startswith(f"TC3-HMAC-SHA256 Credential={SECRET_ID}/")
    assert "/hunyuan/tc3_request, SignedHeaders=content-type;host, Signature=" in sent.headers["Authorization"]
    verify_signature(sent)
    assert "X-TC-Token" not in sent.headers


def test_a_session_token_is_sent_as_x_tc_token(server):
    server.add(Reply.json(ANSWER))
    client_for(server, session_token="tmp-token-1").chat(request())
    assert server.requests[0].headers["X-TC-Token"] == "tmp-token-1"


def test_each_retry_is_signed_anew_with_its_own_timestamp(server):
    clock = iter([1717000000, 1717000100]).__next__
    auth = TencentTc3Auth(SECRET_ID, SECRET_KEY, clock=clock)
    server.add(Reply.json({"error": "busy"}, status=503))
    server.add(Reply.json(ANSWER))
    client = LlmClient("tencent", auth=auth, base_url=server.url, max_retries=1, timeout=5)
    assert client.chat(request()).content == "你好！有什么可以帮你？"
    first, second = server.requests
    assert (first.headers["X-TC-Timestamp"], second.headers["X-TC-Timestamp"]) == ("1717000000", "1717000100")
    verify_signature(first)
    verify_signature(second)
    assert first.headers["Authorization"] != second.headers["Authorization"]


def test_the_body_is_pascal_case_with_the_fields_hunyuan_knows(server):
    server.add(Reply.json(ANSWER))
    client_for(server).chat(request(
        messages=[Message.system("be brief"), Message.user("hi")], temperature=0.5, top_p=0.9, seed=7,
        stop="END", enable_thinking=True, max_tokens=100, extra_body={"EnableEnhancement": False}))
    assert server.requests[0].json() == {
        "Model": "hunyuan-turbos-latest",
        "Messages": [{"Role": "system", "Content": "be brief"}, {"Role": "user", "Content": "hi"}],
        "Temperature": 0.5, "TopP": 0.9, "Seed": 7, "Stop": ["END"], "Stream": False, "EnableThinking": True,
        "EnableEnhancement": False,
    }


def test_an_image_message_is_sent_as_contents(server):
    server.add(Reply.json(ANSWER))
    image = ImageBlock.from_url("https://example.com/cat.png")
    client_for(server).chat(request(messages=[Message.user([TextBlock("what is this?"), image])]))
    assert server.requests[0].json()["Messages"] == [{"Role": "user", "Contents": [
        {"Type": "text", "Text": "what is this?"},
        {"Type": "image_url", "ImageUrl": {"Url": "https://example.com/cat.png"}}]}]


WEATHER = Tool.function("get_weather", "Weather in a city",
                        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


def test_tools_a_tool_round_trip_and_a_named_tool_choice_are_sent_as_hunyuan_wants(server):
    server.add(Reply.json(ANSWER))
    call = ToolCall.create("call_1", "get_weather", {"city": "深圳"})
    client_for(server).chat(request(
        messages=[Message.user("weather?"), Message.assistant(None, tool_calls=[call]),
                  Message.tool('{"temp": 25}', tool_call_id="call_1")],
        tools=[WEATHER], tool_choice=ToolChoice.function("get_weather")))
    body = server.requests[0].json()
    schema = '{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}'
    tool = {"Type": "function", "Function": {"Name": "get_weather", "Description": "Weather in a city",
                                             "Parameters": schema}}
    assert body["Tools"] == [tool]
    assert body["ToolChoice"] == "custom" and body["CustomTool"] == tool
    assert body["Messages"][1] == {"Role": "assistant", "Content": "", "ToolCalls": [
        {"Id": "call_1", "Type": "function", "Function": {"Name": "get_weather", "Arguments": '{"city":"深圳"}'}}]}
    assert body["Messages"][2] == {"Role": "tool", "Content": '{"temp": 25}', "ToolCallId": "call_1"}


def test_a_required_tool_choice_is_refused_before_sending(server):
    with pytest.raises(ConfigurationError, match="auto, none"):
        client_for(server).chat(request(tools=[WEATHER], tool_choice="required"))
    assert server.requests == []


# -- response ---------------------------------------------------------------------------------------------


def test_a_response_is_read_from_the_response_wrapper(server):
    server.add(Reply.json(ANSWER))
    reply = client_for(server).chat(request())
    assert reply.content == "你好！有什么可以帮你？"
    assert reply.reasoning_content == "用户在打招呼。"
    assert reply.choices[0].finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (3, 9, 12)
    assert reply.id == "req-9d1c"


def test_a_response_with_tool_calls_gives_them(server):
    answer = {"Response": {"RequestId": "r", "Id": "r", "Created": 1, "Choices": [{"Message": {
        "Role": "assistant", "Content": "", "ToolCalls": [{"Id": "call_9", "Type": "function", "Index": 0,
                                                           "Function": {"Name": "get_weather",
                                                                        "Arguments": '{"city":"北京"}'}}]},
        "FinishReason": "tool_calls"}], "Usage": {"PromptTokens": 5, "CompletionTokens": 7, "TotalTokens": 12}}}
    server.add(Reply.json(answer))
    reply = client_for(server).chat(request(tools=[WEATHER]))
    assert reply.choices[0].finish_reason == "tool_calls"
    [call] = reply.tool_calls
    assert (call.id, call.name, call.arguments_json()) == ("call_9", "get_weather", {"city": "北京"})


@pytest.mark.parametrize("code, error_class", [
    ("AuthFailure.SignatureFailure", AuthenticationError),
    ("AuthFailure.SecretIdNotFound", AuthenticationError),
    ("AuthFailure.UnauthorizedOperation", PermissionDeniedError),
    ("LimitExceeded", RateLimitError),
    ("RequestLimitExceeded", RateLimitError),
    ("FailedOperation.EngineServerLimitExceeded", RateLimitError),
    ("InvalidParameterValue.Model", BadRequestError),
    ("InternalError", ServerError),
])
def test_an_error_sent_with_http_200_is_raised_as_its_typed_error(server, code, error_class):
    server.add(Reply.json({"Response": {"Error": {"Code": code, "Message": "something went wrong"},
                                        "RequestId": "req-err-1"}}))
    with pytest.raises(error_class) as info:
        client_for(server).chat(request())
    assert (info.value.code, info.value.request_id) == (code, "req-err-1")
    assert "something went wrong" in str(info.value)
    assert SECRET_KEY not in str(info.value) and SECRET_KEY not in repr(info.value)


# -- stream -----------------------------------------------------------------------------------------------


def test_a_stream_gives_content_and_reasoning_apart_and_empty_finish_reasons_are_none(server):
    server.add(sse(delta(reasoning="想一想"), delta("你"), delta("好"),
                   delta("", finish="stop", usage={"PromptTokens": 3, "CompletionTokens": 5, "TotalTokens": 8})))
    chunks = list(client_for(server).chat_stream(request()))
    assert [c.content for c in chunks] == ["", "你", "好", ""]
    assert [c.reasoning_content for c in chunks] == ["想一想", None, None, None]
    assert [c.choices[0].finish_reason for c in chunks] == [None, None, None, "stop"]
    assert chunks[-1].usage.total_tokens == 8
    assert chunks[0].id == "3f2a-stream" and chunks[0].created == 1717000000
    assert server.requests[0].json()["Stream"] is True
    assert server.requests[0].headers["Accept"] == "text/event-stream"
    verify_signature(server.requests[0])


def test_collect_adds_a_stream_up_with_the_last_usage(server):
    server.add(sse(delta(reasoning="想"), delta("Hello"), delta(" world"),
                   delta("", finish="stop", usage={"PromptTokens": 3, "CompletionTokens": 5, "TotalTokens": 8})))
    reply = client_for(server).chat_stream(request()).collect()
    assert (reply.content, reply.reasoning_content, reply.finish_reason) == ("Hello world", "想", "stop")
    assert reply.usage.total_tokens == 8


def test_a_sensitive_finish_is_a_content_filter_with_the_raw_word_kept(server):
    server.add(sse(delta("抱歉"), delta("", finish="sensitive")))
    last = list(client_for(server).chat_stream(request()))[-1]
    assert (last.choices[0].finish_reason, last.choices[0].finish_reason_raw) == ("content_filter", "sensitive")


def test_streamed_tool_calls_merge_in_collect(server):
    server.add(sse(
        delta("", tool_calls=[{"Id": "call_1", "Type": "function", "Index": 0,
                               "Function": {"Name": "get_weather", "Arguments": '{"city":'}}]),
        delta("", tool_calls=[{"Index": 0, "Function": {"Arguments": '"广州"}'}}]),
        delta("", finish="tool_calls")))
    reply = client_for(server).chat_stream(request(tools=[WEATHER])).collect()
    [call] = reply.tool_calls
    assert (call.id, call.name, call.arguments_json()) == ("call_1", "get_weather", {"city": "广州"})
    assert reply.finish_reason == "tool_calls"


def test_a_stream_request_answered_with_a_plain_json_error_raises_that_error(server):
    server.add(Reply.json({"Response": {"Error": {"Code": "AuthFailure.SignatureExpire",
                                                  "Message": "Signature expired"}, "RequestId": "req-x"}}))
    stream = client_for(server).chat_stream(request())
    with pytest.raises(AuthenticationError, match="Signature expired") as info:
        list(stream)
    assert info.value.request_id == "req-x"


def test_an_error_inside_the_stream_is_raised_after_the_chunks_before_it(server):
    server.add(sse(delta("你好"), {"ErrorMsg": {"Code": 2001, "Msg": "引擎繁忙"}, "Id": "e1"}))
    texts = []
    with pytest.raises(APIStatusError, match="引擎繁忙") as info:
        for chunk in client_for(server).chat_stream(request()):
            texts.append(chunk.content)
    assert texts == ["你好"] and info.value.code == "2001"


def test_a_stream_that_ends_before_a_finish_reason_is_incomplete(server):
    server.add(sse(delta("你"), delta("好")))
    texts = []
    with pytest.raises(IncompleteStreamError):
        for chunk in client_for(server).chat_stream(request()):
            texts.append(chunk.content)
    assert texts == ["你", "好"]


def test_chat_stream_ollama_re_expresses_a_hunyuan_stream(server):
    server.add(sse(delta("你"), delta("好"),
                   delta("", finish="stop", usage={"PromptTokens": 3, "CompletionTokens": 2, "TotalTokens": 5})))
    chunks = list(client_for(server).chat_stream_ollama(request()))
    assert "".join(c.message.content for c in chunks) == "你好"
    assert [c.done for c in chunks][-1] is True and chunks[-1].eval_count == 2


# -- client -----------------------------------------------------------------------------------------------


def test_hunyuan_has_no_model_list(server):
    with pytest.raises(UnsupportedOperationError):
        client_for(server).models()
    assert server.requests == []


def test_from_env_reads_tencents_own_variable_names(server, monkeypatch):
    for name in ("TENCENT_SECRET_ID", "TENCENT_SECRET_KEY", "TENCENTCLOUD_SESSION_TOKEN", "TENCENT_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", SECRET_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("TENCENTCLOUD_REGION", "ap-shanghai")
    server.add(Reply.json(ANSWER))
    LlmClient.from_env("tencent", base_url=server.url).chat(request())
    sent = server.requests[0]
    assert sent.headers["X-TC-Region"] == "ap-shanghai"
    verify_signature(sent)


def test_from_env_also_reads_the_short_names(server, monkeypatch):
    for name in ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TENCENTCLOUD_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TENCENT_SECRET_ID", SECRET_ID)
    monkeypatch.setenv("TENCENT_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("TENCENT_SESSION_TOKEN", "tok")
    server.add(Reply.json(ANSWER))
    LlmClient.from_env("tencent", base_url=server.url).chat(request())
    assert server.requests[0].headers["X-TC-Token"] == "tok"
    verify_signature(server.requests[0])


def test_missing_credentials_are_refused(monkeypatch):
    for name in ("TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TENCENT_SECRET_ID", "TENCENT_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match="TENCENTCLOUD_SECRET_ID"):
        LlmClient.from_env("tencent")
    with pytest.raises(ConfigurationError, match="secret_key"):
        LlmClient.tencent(SECRET_ID, "")
    with pytest.raises(ConfigurationError, match="LlmClient.tencent"):
        LlmClient("tencent", "a-key")


def test_a_tencent_client_with_literal_credentials_shows_no_secret_and_refuses_to_pickle():
    client = LlmClient.tencent(SECRET_ID, SECRET_KEY)
    assert SECRET_KEY not in repr(client) and SECRET_KEY not in repr(TencentTc3Auth(SECRET_ID, SECRET_KEY))
    with pytest.raises(TypeError, match="from_env"):
        pickle.dumps(client)


def test_a_tencent_client_from_env_pickles_as_a_recipe_without_the_secret(server, monkeypatch):
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", SECRET_ID)
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", SECRET_KEY)
    data = pickle.dumps(LlmClient.from_env("tencent", base_url=server.url, region="ap-chengdu"))
    assert SECRET_KEY.encode() not in data and SECRET_ID.encode() not in data
    server.add(Reply.json(ANSWER))
    pickle.loads(data).chat(request())
    sent = server.requests[0]
    assert sent.headers["X-TC-Region"] == "ap-chengdu"
    verify_signature(sent)


def test_the_hunyuan_preset_speaks_openai_with_a_bearer_key(server):
    server.add(Reply.json({"choices": [{"index": 0, "message": {"content": "hi"}, "finish_reason": "stop"}]}))
    LlmClient.hunyuan("sk-hy", base_url=server.url + "/v1").chat(request())
    sent = server.requests[0]
    assert sent.path == "/v1/chat/completions" and sent.headers["Authorization"] == "Bearer sk-hy"
    assert LlmClient.hunyuan("sk-hy")._backend.endpoint.base_url == "https://api.hunyuan.cloud.tencent.com/v1"


def test_a_json_error_body_labelled_as_an_event_stream_raises_that_error_too(server):
    body = '{"Response":{"Error":{"Code":"AuthFailure.SignatureFailure","Message":"bad signature"},"RequestId":"r9"}}'
    server.add(Reply(200, {"Content-Type": "text/event-stream"}, ["\n", body[:30], body[30:]]))
    with pytest.raises(AuthenticationError, match="bad signature") as info:
        list(client_for(server).chat_stream(request()))
    assert info.value.code == "AuthFailure.SignatureFailure" and info.value.request_id == "r9"


def test_a_spaced_done_marker_after_the_finish_is_not_a_parse_error(server):
    # Hunyuan ends at the finish reason; a gateway in front may add "data:  [DONE]" (two spaces).
    events = [delta("你"), delta("好", finish="stop")]
    server.add(Reply(200, {"Content-Type": "text/event-stream"},
                     ["data: " + json.dumps(e, ensure_ascii=False) + "\n\n" for e in events] + ["data:  [DONE]\n\n"]))
    chunks = list(client_for(server).chat_stream(request()))
    assert "".join(c.content for c in chunks) == "你好"
