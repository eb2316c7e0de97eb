"""The protocol contract (``llm_connector.protocols``): the rules written once and followed by every module."""

import pytest

from llm_connector import ChatRequest, IncompleteStreamError, LlmClient, Message
from llm_connector.protocols import StreamState, drive, dumps, finish_reason, json_body, load, merge_extra
from llm_connector.testing import Reply

MODULES = ("openai", "anthropic", "bedrock", "gemini", "ollama", "tencent", "dashscope", "zhipu")


@pytest.mark.parametrize("name", MODULES)
def test_every_protocol_module_has_the_contract_surface(name):
    module = load(name)
    assert module.NAME == name
    for function in ("encode_chat", "decode_response", "decode_stream"):
        assert callable(getattr(module, function)), function
    states = [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, StreamState)
              and v is not StreamState]
    assert states or name == "bedrock", "a stream is read through a StreamState"  # Bedrock reuses Anthropic's


def test_the_modules_listed_are_all_of_them():
    assert {"openai", "anthropic", "bedrock", "gemini", "ollama"} <= set(MODULES)


@pytest.mark.parametrize("name, state", [("openai", "OpenAIStreamState"), ("anthropic", "AnthropicStreamState"),
                                         ("gemini", "GeminiStreamState"), ("ollama", "OllamaStreamState")])
def test_every_stream_is_read_through_a_stream_state(name, state):
    cls = getattr(load(name), state)
    assert issubclass(cls, StreamState)
    with pytest.raises(IncompleteStreamError):  # a body that ends at once ends before its end marker
        cls("p").end()


def test_drive_stops_at_the_end_marker_and_asks_the_state_at_the_body_end():
    class Counting(StreamState):
        def handle(self, event):
            self.finished = event == "stop"
            return [event] * 2 if event != "skip" else []

        def end(self):
            return ["end"]

    assert list(drive(iter(["a", "skip", "b"]), Counting("p"))) == ["a", "a", "b", "b", "end"]
    assert list(drive(iter(["a", "stop", "never"]), Counting("p"))) == ["a", "a", "stop", "stop"]


def test_earlier_writer_names_are_the_contract_names():
    assert load("openai").chunk_to_wire is load("openai").encode_chunk
    assert load("ollama").to_ollama_chunks is load("ollama").encode_stream
    assert load("anthropic").StreamState is load("anthropic").AnthropicStreamState


@pytest.mark.parametrize("raw, pair", [
    (None, (None, None)), ("", (None, None)), ("null", (None, None)),
    ("end_turn", ("stop", "end_turn")), ("MAX_TOKENS", ("length", "MAX_TOKENS")), ("odd", ("odd", "odd")),
])
def test_finish_reason_gives_the_normalized_word_and_the_services_own(raw, pair):
    assert finish_reason(raw) == pair


def test_the_compact_encoder_is_the_one_request_bodies_use():
    obj = {"a": [1, "é"], "b": {"c": None}}
    assert dumps(obj) == '{"a":[1,"é"],"b":{"c":null}}'
    assert json_body(obj) == dumps(obj).encode("utf-8")


def test_merge_extra_merges_one_level_deep_and_replaces_the_rest():
    body = {"options": {"a": 1, "b": {"x": 1}}, "n": 1}
    merge_extra(body, {"options": {"b": {"y": 2}, "c": 3}, "n": 2, "new": [1]})
    assert body == {"options": {"a": 1, "b": {"y": 2}, "c": 3}, "n": 2, "new": [1]}
    merge_extra(body, None)
    assert body["n"] == 2


def _sent(server, client, **kw):
    client.chat(ChatRequest(model="m", messages=[Message.user("hi")], **kw))
    return server.requests[-1].json()


def test_openai_extra_body_adds_to_an_object_already_in_the_body(server):
    client = LlmClient.openai("sk-test", base_url=server.url, max_retries=0)
    request = ChatRequest(model="m", messages=[Message.user("hi")], stream=True,
                          extra_body={"stream_options": {"continuous_usage_stats": True}})
    server.add(Reply.sse({"choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": "stop"}]}, done=True))
    client.chat_stream(request).text()
    assert server.requests[-1].json()["stream_options"] == {"include_usage": True, "continuous_usage_stats": True}


def test_anthropic_extra_body_adds_to_an_object_already_in_the_body(server):
    server.add(Reply.json({"type": "message", "content": [{"type": "text", "text": "x"}], "stop_reason": "end_turn"}))
    client = LlmClient.anthropic("sk-ant-test", base_url=server.url, max_retries=0)
    body = _sent(server, client, enable_thinking=True, extra_body={"thinking": {"budget_tokens": 5000}})
    assert body["thinking"]["type"] == "enabled" and body["thinking"]["budget_tokens"] == 5000
