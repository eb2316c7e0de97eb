"""The gateway's Anthropic API (``POST /v1/messages``), driven by the official ``anthropic`` client over a real
socket, with the local server writing the upstream provider's exact bytes (OpenAI's wire format mostly)."""

import json

import pytest
from gateway_support import SERVERS, anthropic_stream, gateway, openai_stream
from test_gateway_openai import raw_post

from llm_connector.testing import LocalServer, Reply

anthropic = pytest.importorskip("anthropic",
                                reason="the anthropic client is not installed (pip install -e '.[gateway-test]')")

MESSAGES = [{"role": "user", "content": "Say hello"}]
WEATHER = {"name": "get_weather", "description": "Weather for a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


def caller(url: str, key: str = "unused") -> "anthropic.Anthropic":
    return anthropic.Anthropic(base_url=url, api_key=key, max_retries=0, timeout=20)


def openai_429() -> Reply:
    return Reply.json({"error": {"message": "Rate limit reached for gpt-up", "type": "requests",
                                 "code": "rate_limit_exceeded"}}, status=429, headers={"Retry-After": "3"})


@pytest.mark.parametrize("kind", SERVERS)
def test_anthropic_client_streams_a_reply_that_came_in_openais_wire_format(kind):
    with LocalServer() as upstream:
        upstream.route("POST", "/v1/chat/completions", openai_stream(
            ["Hel", "lo"], reasoning=["Hmm", "."], usage={"prompt_tokens": 9, "completion_tokens": 4,
                                                          "total_tokens": 13}))
        with gateway(kind, "openai", upstream.url) as url:
            with caller(url).messages.stream(model="gpt-up", max_tokens=100, messages=MESSAGES) as stream:
                texts = list(stream.text_stream)
                message = stream.get_final_message()
    assert "".join(texts) == "Hello"
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "Hmm."
    assert message.content[1].text == "Hello"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (9, 4)
    sent = upstream.requests[0]
    assert sent.headers["Authorization"] == "Bearer sk-upstream-secret"
    assert sent.json()["max_completion_tokens"] == 100 and sent.json()["stream"] is True


def test_the_event_sequence_is_anthropics_from_message_start_to_message_stop():
    tool = {"id": "call_7", "name": "get_weather", "pieces": ['{"city"', ': "Oslo"}']}
    with LocalServer() as upstream:
        upstream.add(openai_stream(["Checking."], tool=tool, finish="tool_calls"))
        with gateway("wsgiref", "openai", upstream.url) as url:
            body = json.dumps({"model": "gpt-up", "max_tokens": 50, "messages": MESSAGES, "tools": [WEATHER],
                               "stream": True}).encode()
            import http.client
            import urllib.parse
            parts = urllib.parse.urlsplit(url)
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
            conn.request("POST", "/v1/messages", body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            raw = response.read().decode()
            conn.close()
    assert response.getheader("Content-Type") == "text/event-stream"
    events = [block.split("\n") for block in raw.strip().split("\n\n")]
    names = [lines[0][len("event: "):] for lines in events]
    data = [json.loads(lines[1][len("data: "):]) for lines in events]
    assert names == [d["type"] for d in data]
    assert names == ["message_start",
                     "content_block_start", "content_block_delta", "content_block_stop",
                     "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
                     "message_delta", "message_stop"]
    assert data[1]["content_block"] == {"type": "text", "text": ""}
    assert data[4] == {"type": "content_block_start", "index": 1, "content_block": {
        "type": "tool_use", "id": "call_7", "name": "get_weather", "input": {}}}
    assert [d["delta"]["partial_json"] for d in data[5:7]] == ['{"city"', ': "Oslo"}']
    assert data[8]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}


def test_anthropic_client_gets_tool_use_blocks_from_openai_tool_calls():
    tool = {"id": "call_7", "name": "get_weather", "pieces": ['{"city"', ': "Oslo"}']}
    with LocalServer() as upstream:
        upstream.add(openai_stream(["Checking."], tool=tool, finish="tool_calls"))
        with gateway("wsgiref", "openai", upstream.url) as url:
            with caller(url).messages.stream(model="gpt-up", max_tokens=50, messages=MESSAGES,
                                             tools=[WEATHER], tool_choice={"type": "any"}) as stream:
                message = stream.get_final_message()
    assert message.stop_reason == "tool_use"
    use = [b for b in message.content if b.type == "tool_use"]
    assert [(u.id, u.name, u.input) for u in use] == [("call_7", "get_weather", {"city": "Oslo"})]
    sent = upstream.requests[0].json()
    assert sent["tools"] == [{"type": "function", "function": {"name": "get_weather", "description":
                                                                "Weather for a city", "parameters": WEATHER[
                                                                    "input_schema"]}}]
    assert sent["tool_choice"] == "required"


def test_a_tool_round_trip_in_anthropics_shape_reaches_an_openai_upstream_as_tool_messages():
    messages = [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Checking."},
                                          {"type": "tool_use", "id": "call_7", "name": "get_weather",
                                           "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_7", "content": "3C"},
                                     {"type": "text", "text": "And tomorrow?"}]},
    ]
    with LocalServer() as upstream:
        upstream.add(openai_stream(["Cold."]))
        with gateway("wsgiref", "openai", upstream.url) as url:
            caller(url).messages.create(model="gpt-up", max_tokens=50, messages=messages, tools=[WEATHER],
                                        system="Be brief.", stream=True).close()
            upstream.wait_for_requests(1)
    sent = upstream.requests[0].json()["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[2] == {"role": "assistant", "content": "Checking.", "tool_calls": [
        {"id": "call_7", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]}
    assert sent[3] == {"role": "tool", "content": "3C", "tool_call_id": "call_7"}
    assert sent[4] == {"role": "user", "content": "And tomorrow?"}


def test_thinking_asked_for_in_anthropics_shape_reaches_an_anthropic_upstream_and_comes_back_signed():
    with LocalServer() as upstream:
        upstream.add(anthropic_stream(["42"], thinking=["Let me ", "think."]))
        with gateway("wsgiref", "anthropic", upstream.url) as url:
            with caller(url).messages.stream(model="claude-up", max_tokens=3000, messages=MESSAGES,
                                             thinking={"type": "enabled", "budget_tokens": 1024}) as stream:
                message = stream.get_final_message()
    assert message.content[0].type == "thinking"
    assert message.content[0].thinking == "Let me think."
    assert message.content[0].signature == "sig=="
    assert message.content[1].text == "42"
    assert upstream.requests[0].json()["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def test_anthropic_client_gets_a_whole_message_when_not_streaming():
    with LocalServer() as upstream:
        upstream.add(Reply.json({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-up",
                                 "choices": [{"index": 0, "finish_reason": "length", "message": {
                                     "role": "assistant", "content": "Hi", "reasoning_content": "short"}}],
                                 "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6,
                                           "prompt_tokens_details": {"cached_tokens": 2}}}))
        with gateway("wsgiref", "openai", upstream.url) as url:
            message = caller(url).messages.create(model="gpt-up", max_tokens=1, messages=MESSAGES)
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert message.content[1].text == "Hi"
    assert message.stop_reason == "max_tokens"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens, message.usage.output_tokens) == \
        (3, 2, 1)


def test_an_upstream_429_stays_429_with_retry_after_in_anthropics_error_format():
    with LocalServer() as upstream:
        upstream.add(openai_429())
        with gateway("wsgiref", "openai", upstream.url) as url:
            with pytest.raises(anthropic.RateLimitError) as caught:
                caller(url).messages.create(model="gpt-up", max_tokens=5, messages=MESSAGES, stream=True)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "3"
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "rate_limit_error"
    assert "Rate limit reached" in caught.value.body["error"]["message"]


def test_413_and_400_come_in_anthropics_error_format():
    with LocalServer() as upstream:
        with gateway("wsgiref", "openai", upstream.url, max_body_bytes=500) as url:
            big = json.dumps({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x" * 600}]})
            too_big = raw_post(url, "/v1/messages", big.encode())
            bad_json = raw_post(url, "/v1/messages", b"{nope")
            bad_role = raw_post(url, "/v1/messages", json.dumps({"model": "m", "max_tokens": 5, "messages": [
                {"role": "system", "content": "hi"}]}).encode())
            server_tool = raw_post(url, "/v1/messages", json.dumps({"model": "m", "max_tokens": 5,
                                                                     "messages": MESSAGES, "tools": [
                {"type": "web_search_20250305", "name": "web_search"}]}).encode())
    assert too_big[0] == 413
    assert too_big[2] == {"type": "error", "error": {"type": "request_too_large", "message": too_big[2]["error"][
        "message"]}}
    assert bad_json[0] == 400 and bad_json[2]["error"]["type"] == "invalid_request_error"
    assert "not valid JSON" in bad_json[2]["error"]["message"]
    assert bad_role[0] == 400 and "messages[0].role: expected user or assistant" in bad_role[2]["error"]["message"]
    assert server_tool[0] == 400 and "tools[0]: only client tools" in server_tool[2]["error"]["message"]
    assert upstream.requests == []


@pytest.mark.parametrize("kind", ["wsgiref", "waitress"])
def test_a_caller_that_hangs_up_mid_stream_closes_the_upstream_connection(kind):
    with LocalServer() as upstream:
        upstream.route("POST", "/v1/chat/completions", openai_stream([f" w{i}" for i in range(40)], pause=0.25))
        with gateway(kind, "openai", upstream.url) as url:
            with caller(url).messages.stream(model="gpt-up", max_tokens=50, messages=MESSAGES) as stream:
                received = []
                for text in stream.text_stream:
                    received.append(text)
                    if len(received) == 2:
                        break
            assert upstream.requests[0].closed_by_client.wait(8.0)
    assert received == [" w0", " w1"]
