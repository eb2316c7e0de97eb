"""The gateway's OpenAI API (``POST /v1/chat/completions``, ``GET /v1/models``), driven by the official ``openai``
client over a real socket, with the local server writing the upstream provider's exact bytes."""

import http.client
import json
import urllib.parse

import pytest
from gateway_support import SERVERS, anthropic_429, anthropic_stream, capture, gateway, openai_stream

from llm_connector.testing import LocalServer, Reply

openai = pytest.importorskip("openai", reason="the openai client is not installed (pip install -e '.[gateway-test]')")

MESSAGES = [{"role": "user", "content": "Say hello"}]


def caller(url: str, key: str = "unused") -> "openai.OpenAI":
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=20)


def raw_post(url: str, path: str, body: bytes, headers: dict = None) -> tuple:
    """POST exact bytes; returns (status, headers, parsed JSON body)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    try:
        conn.request("POST", path, body=body, headers=dict({"Content-Type": "application/json"}, **(headers or {})))
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.parametrize("kind", SERVERS)
def test_openai_client_streams_a_reply_that_came_in_anthropics_wire_format(kind):
    with LocalServer() as upstream:
        upstream.route("POST", "/v1/messages", anthropic_stream(["Hel", "lo", " there"], thinking=["Greet", "."]))
        with gateway(kind, "anthropic", upstream.url) as url:
            stream = caller(url).chat.completions.create(model="claude-up", messages=MESSAGES, stream=True)
            chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    assert text == "Hello there"
    assert reasoning == "Greet."
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[0].id == "msg_up1" and chunks[0].model == "claude-up"
    sent = upstream.requests[0]
    assert sent.headers["x-api-key"] == "sk-upstream-secret"
    assert sent.json()["messages"] == [{"role": "user", "content": "Say hello"}]
    assert sent.json()["stream"] is True


def test_openai_client_gets_a_whole_answer_when_not_streaming():
    with LocalServer() as upstream:
        upstream.add(Reply.json({"id": "msg_9", "type": "message", "role": "assistant", "model": "claude-up",
                                 "content": [{"type": "thinking", "thinking": "Easy.", "signature": "s"},
                                             {"type": "text", "text": "Hi!"}],
                                 "stop_reason": "max_tokens", "usage": {"input_tokens": 5, "output_tokens": 2}}))
        with gateway("wsgiref", "anthropic", upstream.url) as url:
            answer = caller(url).chat.completions.create(model="claude-up", messages=MESSAGES, max_tokens=50)
    assert answer.choices[0].message.content == "Hi!"
    assert answer.choices[0].message.reasoning_content == "Easy."
    assert answer.choices[0].finish_reason == "length"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (5, 2, 7)
    assert upstream.requests[0].json()["max_tokens"] == 50


def test_openai_client_streams_tool_calls_from_anthropic_tool_use_blocks():
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                               "parameters": {"type": "object",
                                                              "properties": {"city": {"type": "string"}}}}}]
    with LocalServer() as upstream:
        upstream.add(Reply(200, {"Content-Type": "text/event-stream"},
                           [capture("anthropic-stream-text-and-tools.sse")]))
        with gateway("wsgiref", "anthropic", upstream.url) as url:
            stream = caller(url).chat.completions.create(model="claude-x", messages=MESSAGES, tools=tools,
                                                         tool_choice="auto", stream=True)
            chunks = list(stream)
    calls = {}
    for c in chunks:
        for piece in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            entry = calls.setdefault(piece.index, {"id": None, "name": None, "arguments": ""})
            entry["id"] = piece.id or entry["id"]
            entry["name"] = (piece.function.name if piece.function else None) or entry["name"]
            entry["arguments"] += (piece.function.arguments or "") if piece.function else ""
    assert calls == {0: {"id": "toolu_a04e0119e8cd", "name": "get_weather", "arguments": '{"city": "Paris"}'},
                     1: {"id": "toolu_7589b21f3bb8", "name": "get_weather", "arguments": '{"city": "Tokyo"}'}}
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Let me check both."
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    sent = upstream.requests[0].json()
    assert sent["tools"] == [{"name": "get_weather", "description": "Weather", "input_schema": {
        "type": "object", "properties": {"city": {"type": "string"}}}}]
    assert sent["tool_choice"] == {"type": "auto"}


def test_a_tool_round_trip_reaches_the_upstream_as_tool_use_and_tool_result():
    messages = [{"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather",
                                                                      "arguments": '{"city":"Paris"}'}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"}]
    with LocalServer() as upstream:
        upstream.add(anthropic_stream(["Sunny."]))
        with gateway("wsgiref", "anthropic", upstream.url) as url:
            list(caller(url).chat.completions.create(model="claude-up", messages=messages, stream=True))
    sent = upstream.requests[0].json()["messages"]
    assert sent[1] == {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "get_weather",
                                                         "input": {"city": "Paris"}}]}
    assert sent[2] == {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1",
                                                    "content": "18C"}]}


def test_usage_comes_as_a_last_chunk_only_when_the_caller_asks_for_it():
    with LocalServer() as upstream:
        upstream.route("POST", "/v1/messages", anthropic_stream(["Hi"], input_tokens=11, output_tokens=3))
        with gateway("wsgiref", "anthropic", upstream.url) as url:
            client = caller(url)
            plain = list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True))
            counted = list(client.chat.completions.create(model="m", messages=MESSAGES, stream=True,
                                                          stream_options={"include_usage": True}))
    assert all(c.usage is None for c in plain)
    assert all(c.usage is None for c in counted[:-1])
    assert counted[-1].choices == []
    assert (counted[-1].usage.prompt_tokens, counted[-1].usage.completion_tokens) == (11, 3)


def test_an_upstream_429_stays_429_with_retry_after_in_openais_error_format():
    with LocalServer() as upstream:
        upstream.add(anthropic_429())
        with gateway("wsgiref", "anthropic", upstream.url) as url:
            with pytest.raises(openai.RateLimitError) as caught:
                caller(url).chat.completions.create(model="m", messages=MESSAGES, stream=True)
    error = caught.value
    assert error.status_code == 429
    assert error.response.headers["retry-after"] == "17"
    assert error.body["type"] == "rate_limit_error"
    assert "exceeded your rate limit" in error.body["message"]
    assert "sk-upstream-secret" not in error.response.text


def test_an_error_inside_the_upstream_stream_ends_the_callers_stream_with_an_error_event():
    with LocalServer() as upstream:
        upstream.add(Reply(200, {"Content-Type": "text/event-stream"}, [
            anthropic_stream(["Hi"]).parts[0],
            'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n',
        ]))
        with gateway("wsgiref", "anthropic", upstream.url) as url:
            with pytest.raises(openai.APIError) as caught:
                list(caller(url).chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert "Overloaded" in str(caught.value)


def test_a_body_over_the_limit_is_a_413_in_openais_error_format():
    with LocalServer() as upstream:
        with gateway("wsgiref", "anthropic", upstream.url, max_body_bytes=1000) as url:
            body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 2000}]}).encode()
            status, _, answer = raw_post(url, "/v1/chat/completions", body)
            with pytest.raises(openai.APIStatusError) as caught:
                caller(url).chat.completions.create(model="m", messages=[{"role": "user", "content": "x" * 2000}])
    assert status == 413
    assert answer["error"]["type"] == "invalid_request_error"
    assert "at most 1000" in answer["error"]["message"]
    assert caught.value.status_code == 413
    assert upstream.requests == []


@pytest.mark.parametrize("body, expected", [
    (b'{"model": "m", "messages": [', "not valid JSON"),
    (b'["a list"]', "must be a JSON object"),
    (b'{"messages": [{"role": "user", "content": "hi"}]}', "model: missing"),
    (b'{"model": "m", "messages": []}', "messages: expected a non-empty array"),
    (b'{"model": "m", "messages": [{"role": "user", "content": 5}]}', "messages[0].content: expected a string"),
    (b'{"model": "m", "messages": [{"role": "robot", "content": "hi"}]}', "messages[0]: Message.role: unknown"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}',
     "temperature: expected a number"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function"}]}',
     "tools[0].function: missing"),
])
def test_a_malformed_or_misshapen_body_is_a_400_naming_the_problem(body, expected):
    with LocalServer() as upstream:
        with gateway("wsgiref", "anthropic", upstream.url) as url:
            status, headers, answer = raw_post(url, "/v1/chat/completions", body)
    assert status == 400
    assert headers["Content-Type"] == "application/json"
    assert answer["error"]["type"] == "invalid_request_error"
    assert expected in answer["error"]["message"]
    assert upstream.requests == []


@pytest.mark.parametrize("kind", SERVERS)
def test_a_caller_that_hangs_up_mid_stream_closes_the_upstream_connection(kind):
    words = [f" w{i}" for i in range(40)]
    with LocalServer() as upstream:
        upstream.route("POST", "/v1/messages", anthropic_stream(words, pause=0.25))
        with gateway(kind, "anthropic", upstream.url) as url:
            stream = caller(url).chat.completions.create(model="m", messages=MESSAGES, stream=True)
            received = []
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    received.append(chunk.choices[0].delta.content)
                if len(received) == 2:
                    break
            stream.close()
            upstream.wait_for_requests(1)
            # Without the gateway closing its upstream stream, the local server would go on for ~10 s.
            assert upstream.requests[0].closed_by_client.wait(8.0)
    assert received == [" w0", " w1"]


def test_callers_must_present_the_gateway_key_when_one_is_set():
    with LocalServer() as upstream:
        upstream.route("POST", "/v1/messages", anthropic_stream(["ok"]))
        with gateway("wsgiref", "anthropic", upstream.url, api_key="gw-secret") as url:
            with pytest.raises(openai.AuthenticationError) as caught:
                caller(url, key="wrong").chat.completions.create(model="m", messages=MESSAGES)
            answer = caller(url, key="gw-secret").chat.completions.create(model="m", messages=MESSAGES, stream=True)
            text = "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
            status, _, _ = raw_post(url, "/v1/chat/completions", b"{}", {"x-api-key": "gw-secret"})
    assert caught.value.status_code == 401
    assert text == "ok"
    assert status == 400  # past the key check, the empty body is the problem
    assert upstream.requests[0].headers["x-api-key"] == "sk-upstream-secret"


def test_the_model_list_is_openais_shape():
    with LocalServer() as upstream:
        upstream.add(Reply.json({"data": [{"id": "claude-a", "type": "model"}, {"id": "claude-b", "type": "model"}],
                                 "has_more": False}))
        with gateway("wsgiref", "anthropic", upstream.url) as url:
            models = [m.id for m in caller(url).models.list()]
        with gateway("wsgiref", "anthropic", upstream.url, models=["only-this"]) as url:
            fixed = [m.id for m in caller(url).models.list()]
    assert models == ["claude-a", "claude-b"]
    assert fixed == ["only-this"]


def test_an_openai_upstream_passes_through_with_reasoning_and_tool_calls():
    tool = {"id": "call_9", "name": "lookup", "pieces": ['{"q":', ' "x"}']}
    with LocalServer() as upstream:
        upstream.add(openai_stream(["A", "B"], reasoning=["think"], tool=tool, finish="tool_calls",
                                   usage={"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}))
        with gateway("wsgiref", "openai", upstream.url) as url:
            chunks = list(caller(url).chat.completions.create(model="gpt-up", messages=MESSAGES, stream=True,
                                                              stream_options={"include_usage": True}))
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert "".join(d.content or "" for d in deltas) == "AB"
    assert "".join(getattr(d, "reasoning_content", None) or "" for d in deltas) == "think"
    pieces = [t for d in deltas for t in (d.tool_calls or [])]
    assert pieces[0].id == "call_9" and pieces[0].function.name == "lookup"
    assert "".join(p.function.arguments or "" for p in pieces) == '{"q": "x"}'
    assert chunks[-1].usage.total_tokens == 7
    assert upstream.requests[0].headers["Authorization"] == "Bearer sk-upstream-secret"
