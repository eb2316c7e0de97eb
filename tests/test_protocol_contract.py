"""The protocol contract (``llm_connector.protocols``): the rules written once and followed by every module."""

import os
import subprocess
import sys

import pytest

from llm_connector import ChatRequest, IncompleteStreamError, LlmClient, Message
from llm_connector.protocols import (
    Endpoint,
    StreamState,
    drive,
    dumps,
    finish_reason,
    finish_words,
    json_body,
    load,
    merge_extra,
)
from llm_connector.testing import Reply
from llm_connector.types import normalize_finish_reason

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


# -- finish words: each service's words in its own module ---------------------------------------------------

#: The one table ``types.normalize_finish_reason`` held before the words moved into their modules: every word
#: must still map the same (no behaviour change).
FORMER_WORDS = {
    "stop": "stop", "length": "length", "tool_calls": "tool_calls", "function_call": "tool_calls",
    "content_filter": "content_filter", "end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
    "tool_use": "tool_calls", "refusal": "content_filter", "pause_turn": "stop", "finish_reason_unspecified": "stop",
    "safety": "content_filter", "recitation": "content_filter", "blocklist": "content_filter",
    "prohibited_content": "content_filter", "spii": "content_filter", "image_safety": "content_filter",
    "language": "content_filter", "malformed_function_call": "stop", "other": "stop", "sensitive": "content_filter",
    "load": "stop", "unload": "stop",
}


def _answer(name, word):
    """A minimal whole answer in module ``name``'s wire shape, finishing with ``word``."""
    if name in ("openai", "zhipu"):
        return {"choices": [{"message": {"content": "x"}, "finish_reason": word}]}
    if name in ("anthropic", "bedrock"):
        return {"content": [{"type": "text", "text": "x"}], "stop_reason": word}
    if name == "gemini":
        return {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": word}]}
    if name == "ollama":
        return {"model": "m", "message": {"role": "assistant", "content": "x"}, "done": True, "done_reason": word}
    if name == "tencent":
        return {"Response": {"RequestId": "r", "Choices": [{"Message": {"Role": "assistant", "Content": "x"},
                                                            "FinishReason": word}]}}
    assert name == "dashscope"
    return {"output": {"choices": [{"message": {"content": "x"}, "finish_reason": word}]}}


#: One word of each service, as the service spells it, with what it means in OpenAI's words.
OWN_WORDS = [("openai", "function_call", "tool_calls"), ("anthropic", "end_turn", "stop"),
             ("bedrock", "refusal", "content_filter"), ("gemini", "SAFETY", "content_filter"),
             ("ollama", "load", "stop"), ("tencent", "sensitive", "content_filter"),
             ("dashscope", "length", "length"), ("zhipu", "sensitive", "content_filter")]


@pytest.mark.parametrize("name, word, normalized", OWN_WORDS)
def test_each_module_owns_its_services_finish_words_and_its_decoder_reads_them_there(name, word, normalized,
                                                                                     monkeypatch):
    module = load(name)
    assert module.FINISH_REASONS[word.lower()] == normalized
    endpoint = Endpoint("p", "http://127.0.0.1:9")
    choice = module.decode_response(_answer(name, word), endpoint).choices[0]
    assert (choice.finish_reason, choice.finish_reason_raw) == (normalized, word)
    # The decoder looks the word up in its own module's table, not in a table elsewhere: change the entry there
    # and the answer follows.
    monkeypatch.setitem(module.FINISH_REASONS, word.lower(), "changed_here")
    choice = module.decode_response(_answer(name, word), endpoint).choices[0]
    assert (choice.finish_reason, choice.finish_reason_raw) == ("changed_here", word)


def test_a_word_of_another_service_still_maps_through_every_modules_words():
    # An OpenAI-compatible service passing on its own word (Hunyuan's or Zhipu's "sensitive", through the
    # OpenAI module, whose table has only OpenAI's words): mapped as before, by the words of all modules.
    assert "sensitive" not in load("openai").FINISH_REASONS
    answer = load("openai").decode_response(_answer("openai", "sensitive"), Endpoint("p", "http://127.0.0.1:9"))
    assert answer.choices[0].finish_reason == "content_filter"
    assert load("openai").decode_response(_answer("openai", "Odd"), Endpoint("p", "x")).finish_reason == "odd"


def test_normalize_finish_reason_is_every_modules_words_together_as_before():
    words = finish_words()
    for name in MODULES:  # no two modules disagree on a word
        for word, normalized in load(name).FINISH_REASONS.items():
            assert words[word] == normalized, (name, word)
            assert normalize_finish_reason(word.upper()) == normalized
    assert words == FORMER_WORDS
    assert {word: normalize_finish_reason(word) for word in FORMER_WORDS} == FORMER_WORDS
    assert normalize_finish_reason("Something_New") == "something_new"


def test_import_llm_connector_loads_no_protocol_module_until_a_finish_word_is_normalized():
    code = ("import sys, llm_connector\n"
            "loaded = lambda: sorted(m for m in sys.modules if m.startswith('llm_connector.protocols.'))\n"
            "print(loaded())\n"
            "from llm_connector.types import normalize_finish_reason\n"
            "print(normalize_finish_reason('end_turn'), normalize_finish_reason('load'), len(loaded()) > 5)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.splitlines() == ["[]", "stop stop True"]
