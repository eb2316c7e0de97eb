"""The gateway's Ollama API (``POST /api/chat``, ``GET /api/tags``, ``POST /api/show``, ``GET /api/version``),
driven by the official ``ollama`` client over a real socket, with the local server writing the upstream
provider's exact bytes."""

import json
import urllib.request

import pytest
from gateway_support import SERVERS, anthropic_429, anthropic_stream, gateway, openai_stream
from test_gateway_openai import raw_post

from llm_connector.testing import LocalServer, Reply

ollama = pytest.importorskip("ollama", reason="the ollama client is not installed (pip install -e '.[gateway-test]')")

MESSAGES = [{"role": "user", "content": "Say hello"}]
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                            "parameters": {"type": "object",
                                                           "properties": {"city": {"type": "string"}}}}}


def caller(url: str) -> "ollama.Client":
    return ollama.Client(host=url, timeout=20)


@pytest.mark.parametrize("kind", SERVERS)
def test_ollama_client_streams_a_reply_that_came_in_anthropics_wire_format(kind):
    with LocalServer() as upstream:
        upstream.route("POST", "/v1/messages", anthropic_stream(["Hel", "lo"], thinking=["Hmm"],
                                                                input_tokens=6, output_tokens=2))
        with gateway(kind, "anthropic", upstream.url) as url:
            parts = list(caller(url).chat(model="claude-up", messages=MESSAGES, stream=True, think=True))
    assert [p.message.content for p in parts if p.message.content] == ["Hel", "lo"]
    assert "".join(p.message.thinking or "" for p in parts) == "Hmm"
    assert [p.done for p in parts].count(True) == 1 and parts[-1].done
    assert parts[-1].done_reason == "stop"
    assert (parts[-1].prompt_eval_count, parts[-1].eval_count) == (6, 2)
    assert all(p.model == "claude-up" for p in parts)
    sent = upstream.requests[0].json()
    assert sent["stream"] is True and sent["thinking"]["type"] == "enabled"


def test_ollama_client_gets_one_answer_when_not_streaming_and_options_reach_the_upstream():
    with LocalServer() as upstream:
        upstream.add(Reply.json({"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-up",
                                 "choices": [{"index": 0, "finish_reason": "length",
                                              "message": {"role": "assistant", "content": "Hi"}}],
                                 "usage": {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5}}))
        with gateway("wsgiref", "openai", upstream.url) as url:
            answer = caller(url).chat(model="gpt-up", messages=MESSAGES, stream=False, format="json",
                                      options={"temperature": 0.5, "num_predict": 7, "stop": ["END"], "seed": 3})
    assert answer.message.content == "Hi"
    assert answer.done and answer.done_reason == "length"
    assert (answer.prompt_eval_count, answer.eval_count) == (4, 1)
    sent = upstream.requests[0].json()
    assert (sent["temperature"], sent["max_completion_tokens"], sent["stop"], sent["seed"]) == (0.5, 7, ["END"], 3)
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["stream"] is False


def test_ollama_client_gets_whole_tool_calls_and_a_round_trip_reaches_the_upstream_with_ids():
    tool = {"id": "call_up", "name": "get_weather", "pieces": ['{"city"', ': "Rome"}']}
    with LocalServer() as upstream:
        upstream.add(openai_stream([], tool=tool, finish="tool_calls"))
        upstream.add(openai_stream(["Warm."]))
        with gateway("wsgiref", "openai", upstream.url) as url:
            client = caller(url)
            parts = list(client.chat(model="gpt-up", messages=MESSAGES, tools=[WEATHER], stream=True))
            calls = [c for p in parts for c in (p.message.tool_calls or [])]
            follow_up = MESSAGES + [
                {"role": "assistant", "content": "", "tool_calls": [
                    {"function": {"name": "get_weather", "arguments": {"city": "Rome"}}}]},
                {"role": "tool", "tool_name": "get_weather", "content": "25C"}]
            answer = "".join(p.message.content for p in client.chat(model="gpt-up", messages=follow_up,
                                                                     tools=[WEATHER], stream=True))
    assert [(c.function.name, dict(c.function.arguments)) for c in calls] == [("get_weather", {"city": "Rome"})]
    assert parts[-1].done_reason == "stop"
    assert answer == "Warm."
    first, second = (r.json() for r in upstream.requests)
    assert first["tools"] == [WEATHER]
    assert second["messages"][1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1_0", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}}]}
    assert second["messages"][2] == {"role": "tool", "content": "25C", "tool_call_id": "call_1_0",
                                     "name": "get_weather"}


def test_tags_show_and_version_answer_as_ollama_does():
    with LocalServer() as upstream:
        with gateway("wsgiref", "openai", upstream.url, models=["gpt-a", "gpt-b"]) as url:
            client = caller(url)
            listed = [m.model for m in client.list().models]
            shown = client.show("gpt-a")
            with urllib.request.urlopen(url + "/api/version") as r:
                version = json.loads(r.read())
            bad = raw_post(url, "/api/show", b'{"verbose": true}')
    assert listed == ["gpt-a", "gpt-b"]
    assert "tools" in shown.capabilities
    assert version == {"version": "0.12.10"}
    assert bad[0] == 400 and bad[2] == {"error": "model: missing"}
    assert upstream.requests == []


def test_an_upstream_429_stays_429_with_retry_after_in_ollamas_error_format():
    with LocalServer() as upstream:
        upstream.add(anthropic_429())
        with gateway("wsgiref", "anthropic", upstream.url) as url:
            with pytest.raises(ollama.ResponseError) as caught:
                list(caller(url).chat(model="m", messages=MESSAGES, stream=True))
            upstream.add(anthropic_429())
            status, headers, body = raw_post(url, "/api/chat", json.dumps({"model": "m", "messages": MESSAGES})
                                             .encode())
    assert caught.value.status_code == 429
    assert "exceeded your rate limit" in caught.value.error
    assert status == 429 and headers["Retry-After"] == "17"
    assert set(body) == {"error"}


def test_413_and_400_come_in_ollamas_error_format():
    with LocalServer() as upstream:
        with gateway("wsgiref", "openai", upstream.url, max_body_bytes=300) as url:
            too_big = raw_post(url, "/api/chat", json.dumps({"model": "m", "messages": [
                {"role": "user", "content": "x" * 400}]}).encode())
            bad_json = raw_post(url, "/api/chat", b"nope")
            bad_think = raw_post(url, "/api/chat", json.dumps({"model": "m", "messages": MESSAGES,
                                                               "think": "max"}).encode())
            with pytest.raises(ollama.ResponseError) as caught:
                caller(url).chat(model="m", messages=[{"role": "robot", "content": "hi"}])
    assert too_big[0] == 413 and "at most 300" in too_big[2]["error"]
    assert bad_json[0] == 400 and "not valid JSON" in bad_json[2]["error"]
    assert bad_think[0] == 400 and "think: expected true, false, low, medium or high" in bad_think[2]["error"]
    assert caught.value.status_code == 400
    assert "messages[0]: Message.role: unknown role 'robot'" in caught.value.error
    assert upstream.requests == []


@pytest.mark.parametrize("kind", ["wsgiref", "gunicorn"])
def test_a_caller_that_hangs_up_mid_stream_closes_the_upstream_connection(kind):
    with LocalServer() as upstream:
        upstream.route("POST", "/v1/messages", anthropic_stream([f" w{i}" for i in range(40)], pause=0.25))
        with gateway(kind, "anthropic", upstream.url) as url:
            import http.client
            import urllib.parse
            parts = urllib.parse.urlsplit(url)
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
            conn.request("POST", "/api/chat", body=json.dumps({"model": "m", "messages": MESSAGES}),
                         headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            first = json.loads(response.readline())
            second = json.loads(response.readline())
            response.close()  # the response holds the socket too: the caller hangs up when both let go
            conn.close()
            upstream.wait_for_requests(1)
            assert upstream.requests[0].closed_by_client.wait(8.0)
    assert response.getheader("Content-Type") == "application/x-ndjson"
    assert [first["message"]["content"], second["message"]["content"]] == [" w0", " w1"]
