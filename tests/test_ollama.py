"""Ollama's /api/chat over the local server: the exact request bodies, the NDJSON stream, errors, OLLAMA_HOST."""

import json
import time

import pytest

from llm_connector import (
    APIStatusError,
    ChatRequest,
    ConfigurationError,
    ImageBlock,
    IncompleteStreamError,
    LlmClient,
    Message,
    NotFoundError,
    ResponseFormat,
    StreamParseError,
    TextBlock,
    Tool,
    ToolCall,
)
from llm_connector.ollama import OllamaClient
from llm_connector.protocols.ollama import normalize_base_url
from llm_connector.testing import Close, Pause, Reply

WEATHER = Tool.function(
    "get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}}
)
STAMP = "2024-01-01T00:00:00.123456789Z"  # 1704067200


def client_for(server, **kw):
    return LlmClient.ollama(base_url=server.url, max_retries=0, **kw)


def request(**kw):
    kw.setdefault("model", "llama3.2")
    kw.setdefault("messages", [Message.user("hi")])
    return ChatRequest(**kw)


def line(content="", *, thinking=None, tool_calls=None, done=False, **extra):
    """One line of Ollama's /api/chat stream (also a whole non-streamed answer when ``done``)."""
    message = {"role": "assistant", "content": content}
    if thinking is not None:
        message["thinking"] = thinking
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    obj = {"model": "llama3.2", "created_at": STAMP, "message": message, "done": done}
    obj.update(extra)
    return obj


def final(content="", **extra):
    """The closing line: done, with Ollama's statistics."""
    stats = {"done_reason": "stop", "total_duration": 900, "load_duration": 100, "prompt_eval_count": 26,
             "prompt_eval_duration": 200, "eval_count": 5, "eval_duration": 600}
    stats.update(extra)
    return line(content, done=True, **stats)


def weather_call(city="Paris"):
    return {"function": {"name": "get_weather", "arguments": {"city": city}}}


# -- request encoding ------------------------------------------------------------------------------------


def test_chat_posts_to_api_chat_with_stream_false_written_out(server):
    server.add(Reply.json(final("Hello")))
    client_for(server).chat(request())
    sent = server.requests[0]
    assert (sent.method, sent.path) == ("POST", "/api/chat")
    assert sent.json() == {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}], "stream": False}
    assert sent.headers["accept"] == "application/json"
    assert "authorization" not in {k.lower() for k in sent.headers}


def test_chat_stream_sends_stream_true_and_asks_for_ndjson(server):
    server.add(Reply.ndjson(final("Hi")))
    list(client_for(server).chat_stream(request()))
    sent = server.requests[0]
    assert sent.json() == {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    assert sent.headers["accept"] == "application/x-ndjson"


def test_sampling_fields_go_into_options_under_ollama_names(server):
    server.add(Reply.json(final("x")))
    client_for(server).chat(request(temperature=0.2, top_p=0.9, max_tokens=64, stop="END", seed=7,
                                    presence_penalty=0.1, frequency_penalty=0.3))
    assert server.requests[0].json()["options"] == {
        "temperature": 0.2, "top_p": 0.9, "num_predict": 64, "seed": 7, "presence_penalty": 0.1,
        "frequency_penalty": 0.3, "stop": ["END"]}


def test_extra_body_is_merged_last_with_options_key_by_key_but_stream_stays_explicit(server):
    server.add(Reply.json(final("x")))
    client_for(server).chat(request(temperature=0.2, extra_body={
        "keep_alive": "10m", "options": {"num_ctx": 8192}, "stream": True}))
    body = server.requests[0].json()
    assert body["keep_alive"] == "10m"
    assert body["options"] == {"temperature": 0.2, "num_ctx": 8192}
    assert body["stream"] is False


def test_json_object_response_format_is_format_json(server):
    server.add(Reply.json(final("{}")))
    client_for(server).chat(request(response_format=ResponseFormat.json_object()))
    assert server.requests[0].json()["format"] == "json"


def test_json_schema_response_format_sends_the_schema_as_format(server):
    server.add(Reply.json(final("{}")))
    schema = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}
    client_for(server).chat(request(response_format=ResponseFormat.json_schema("person", schema)))
    assert server.requests[0].json()["format"] == schema


def test_an_unknown_response_format_is_refused_before_sending(server):
    with pytest.raises(ConfigurationError, match="response_format"):
        client_for(server).chat(request(response_format={"type": "xml"}))
    assert server.requests == []


@pytest.mark.parametrize("fields, think", [
    ({"enable_thinking": True}, True),
    ({"enable_thinking": False}, False),
    ({"reasoning_effort": "high"}, "high"),
    ({"reasoning_effort": "minimal"}, "low"),
    ({"reasoning_effort": "none"}, False),
    ({"thinking_budget": 2048}, True),
    ({"thinking_budget": 0}, False),
    ({"enable_thinking": False, "reasoning_effort": "high"}, False),
])
def test_the_reasoning_switches_become_ollamas_think(server, fields, think):
    server.add(Reply.json(final("x")))
    client_for(server).chat(request(**fields))
    assert server.requests[0].json()["think"] == think


def test_no_reasoning_switch_sends_no_think_so_the_model_default_stands(server):
    server.add(Reply.json(final("x")))
    client_for(server).chat(request())
    assert "think" not in server.requests[0].json()


def test_inline_images_are_sent_as_base64_beside_the_text(server):
    server.add(Reply.json(final("a cat")))
    msg = Message.user([TextBlock("what is this?"), ImageBlock.from_base64("image/png", "iVBORw0KGgo="),
                        ImageBlock.from_url("data:image/jpeg;base64,/9j/4AAQ")])
    client_for(server).chat(request(messages=[msg]))
    assert server.requests[0].json()["messages"] == [
        {"role": "user", "content": "what is this?", "images": ["iVBORw0KGgo=", "/9j/4AAQ"]}]


def test_an_image_url_is_refused_naming_the_field_because_ollama_takes_base64_only(server):
    msg = Message.user([TextBlock("what is this?"), ImageBlock.from_url("https://example.com/cat.png")])
    with pytest.raises(ConfigurationError, match=r"messages\[0\]\.content\[1\].*base64"):
        client_for(server).chat(request(messages=[msg]))
    assert server.requests == []


def test_a_tool_round_trip_is_sent_as_ollama_turns(server):
    server.add(Reply.json(final("It is 18C in Paris.")))
    call = ToolCall.create("call_7", "get_weather", {"city": "Paris"})
    messages = [
        Message.system("Be brief."),
        Message.user("Weather in Paris?"),
        Message.assistant(None, tool_calls=[call], reasoning_content="I should call the tool."),
        Message.tool('{"temp": 18}', tool_call_id="call_7"),
    ]
    client_for(server).chat(request(messages=messages, tools=[WEATHER]))
    body = server.requests[0].json()
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "thinking": "I should call the tool.",
         "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": '{"temp": 18}', "tool_name": "get_weather"},
    ]
    assert body["tools"] == [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


def test_tool_arguments_that_are_not_json_are_refused_naming_the_field(server):
    call = ToolCall.create("call_1", "get_weather", '{"city": "Par')
    with pytest.raises(ConfigurationError, match=r"messages\[0\]\.tool_calls\[0\]\.function\.arguments"):
        client_for(server).chat(request(messages=[Message.assistant(None, tool_calls=[call])]))
    assert server.requests == []


def test_tool_choice_none_leaves_the_tools_out(server):
    server.add(Reply.json(final("x")))
    client_for(server).chat(request(tools=[WEATHER], tool_choice="none"))
    assert "tools" not in server.requests[0].json()


# -- whole answers -----------------------------------------------------------------------------------------


def test_a_whole_answer_gives_text_reasoning_finish_reason_and_usage(server):
    server.add(Reply.json(final("Hello!", message={"role": "assistant", "content": "Hello!",
                                                   "thinking": "Greet back."})))
    response = client_for(server).chat(request())
    assert response.content == "Hello!"
    assert response.reasoning_content == "Greet back."
    assert (response.finish_reason, response.choices[0].finish_reason_raw) == ("stop", "stop")
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (26, 5, 31)
    assert (response.model, response.created) == ("llama3.2", 1704067200)


def test_a_whole_answer_with_tool_calls_gives_ids_and_compact_json_arguments(server):
    server.add(Reply.json(final(tool_calls=[weather_call("Paris"), weather_call("Rome")])))
    response = client_for(server).chat(request(tools=[WEATHER]))
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        ("call_0", "get_weather", '{"city":"Paris"}'), ("call_1", "get_weather", '{"city":"Rome"}')]
    assert (response.finish_reason, response.choices[0].finish_reason_raw) == ("tool_calls", "stop")


def test_a_length_stop_is_finish_reason_length(server):
    server.add(Reply.json(final("cut", done_reason="length")))
    assert client_for(server).chat(request()).finish_reason == "length"


def test_an_answer_without_token_counts_has_no_usage(server):
    server.add(Reply.json(line("hi", done=True, done_reason="stop")))
    assert client_for(server).chat(request()).usage is None


# -- streams ----------------------------------------------------------------------------------------------


def test_a_stream_yields_text_pieces_then_the_final_chunk_with_usage(server):
    server.add(Reply.ndjson(line("Hel"), line("lo"), final("")))
    chunks = list(client_for(server).chat_stream(request()))
    assert [c.content for c in chunks] == ["Hel", "lo", ""]
    assert [c.finish_reason for c in chunks] == [None, None, "stop"]
    assert chunks[-1].usage.prompt_tokens == 26 and chunks[-1].usage.completion_tokens == 5
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[0].created == 1704067200


def test_text_carried_in_the_final_chunk_is_kept(server):
    server.add(Reply.ndjson(line("Hello"), final(" world")))
    stream = client_for(server).chat_stream(request())
    assert stream.text() == "Hello world"


def test_thinking_arrives_as_reasoning_content_and_never_in_the_text(server):
    server.add(Reply.ndjson(line(thinking="Let me "), line(thinking="think."), line("Answer"), final()))
    response = client_for(server).chat_stream(request(enable_thinking=True)).collect()
    assert response.reasoning_content == "Let me think."
    assert response.content == "Answer"


def test_streamed_tool_calls_are_whole_pieces_with_running_indexes(server):
    server.add(Reply.ndjson(line(tool_calls=[weather_call("Paris")]), line(tool_calls=[weather_call("Rome")]),
                            final()))
    chunks = list(client_for(server).chat_stream(request(tools=[WEATHER])))
    pieces = [t for c in chunks for t in c.tool_calls]
    assert [(t.index, t.id, t.arguments) for t in pieces] == [
        (0, "call_0", '{"city":"Paris"}'), (1, "call_1", '{"city":"Rome"}')]
    assert (chunks[-1].finish_reason, chunks[-1].choices[0].finish_reason_raw) == ("tool_calls", "stop")


def test_collect_adds_a_tool_call_stream_up_to_calls_to_execute(server):
    server.add(Reply.ndjson(line(tool_calls=[weather_call("Paris")]), final()))
    response = client_for(server).chat_stream(request(tools=[WEATHER])).collect()
    assert [(c.id, c.name, c.arguments_json()) for c in response.tool_calls] == [
        ("call_0", "get_weather", {"city": "Paris"})]
    assert response.finish_reason == "tool_calls"


def test_an_error_line_mid_stream_raises_the_typed_error_after_the_chunks_before_it(server):
    server.add(Reply.ndjson(line("Hello"), {"error": "an error was encountered while running the model"}))
    received = []
    with pytest.raises(APIStatusError, match="an error was encountered while running the model") as info:
        for chunk in client_for(server).chat_stream(request()):
            received.append(chunk.content)
    assert received == ["Hello"]
    assert info.value.provider == "ollama"


def test_http_404_is_not_found_with_ollamas_own_message(server):
    server.add(Reply.json({"error": 'model "nope" not found, try pulling it first'}, status=404))
    with pytest.raises(NotFoundError, match='model "nope" not found, try pulling it first') as info:
        client_for(server).chat(request(model="nope"))
    assert info.value.status_code == 404


def test_http_404_on_a_stream_is_raised_before_any_chunk(server):
    server.add(Reply.json({"error": 'model "nope" not found, try pulling it first'}, status=404))
    with pytest.raises(NotFoundError, match="not found"):
        client_for(server).chat_stream(request(model="nope"))


def test_a_body_that_ends_without_the_done_line_is_an_incomplete_stream(server):
    server.add(Reply.ndjson(line("Hel"), line("lo")))
    received = []
    with pytest.raises(IncompleteStreamError, match="done") as info:
        for chunk in client_for(server).chat_stream(request()):
            received.append(chunk.content)
    assert received == ["Hel", "lo"]
    assert info.value.chunks_received == 2


def test_a_connection_cut_mid_body_is_an_incomplete_stream(server):
    server.add(Reply(headers={"Content-Type": "application/x-ndjson"},
                     parts=[json.dumps(line("Hel")) + "\n", '{"model":"llama3.2","mess', Close()]))
    with pytest.raises(IncompleteStreamError):
        list(client_for(server).chat_stream(request()))


def test_a_line_that_is_not_json_is_a_stream_parse_error_naming_ollama(server):
    server.add(Reply(headers={"Content-Type": "application/x-ndjson"}, parts=["<html>oops</html>\n"]))
    with pytest.raises(StreamParseError, match="ollama"):
        list(client_for(server).chat_stream(request()))


def test_the_stream_ends_at_the_done_line_without_waiting_for_more_bytes(server):
    server.add(Reply(headers={"Content-Type": "application/x-ndjson"},
                     parts=[json.dumps(final("Hi")) + "\n", Pause(3.0), "\n"]))
    started = time.monotonic()
    assert client_for(server).chat_stream(request()).text() == "Hi"
    assert time.monotonic() - started < 2.0


def test_models_lists_the_names_from_api_tags(server):
    server.add(Reply.json({"models": [{"name": "llama3.2:latest", "size": 1}, {"model": "qwen3:8b"}]}))
    assert client_for(server).models() == ["llama3.2:latest", "qwen3:8b"]
    assert (server.requests[0].method, server.requests[0].path) == ("GET", "/api/tags")


# -- where the server is -----------------------------------------------------------------------------------


def _host_port(server):
    return server.url.split("://", 1)[1]


def test_ollama_host_without_a_scheme_is_honoured_by_llmclient_ollama(server, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", _host_port(server))
    server.add(Reply.json(final("from env")))
    client = LlmClient.ollama(max_retries=0)
    assert isinstance(client, OllamaClient)
    assert client.chat(request()).content == "from env"
    assert client.base_url == server.url


def test_ollama_host_is_honoured_by_from_env(server, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", server.url + "/")
    server.add(Reply.json(final("from env")))
    client = LlmClient.from_env("ollama", max_retries=0)
    assert client.chat(request()).content == "from env"
    assert server.requests[0].path == "/api/chat"


def test_ollama_host_is_honoured_by_the_client_class_itself(server, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", _host_port(server))
    assert OllamaClient().base_url == server.url


def test_an_explicit_base_url_wins_over_ollama_host(server, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "elsewhere.invalid:1")
    assert client_for(server).base_url == server.url


def test_without_ollama_host_the_client_talks_to_localhost_11434(monkeypatch):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert LlmClient.ollama().base_url == "http://localhost:11434"


@pytest.mark.parametrize("given, expected", [
    ("localhost:11434", "http://localhost:11434"),
    ("localhost", "http://localhost:11434"),
    ("0.0.0.0", "http://127.0.0.1:11434"),
    ("0.0.0.0:8080", "http://127.0.0.1:8080"),
    (":8080", "http://127.0.0.1:8080"),
    ("", "http://127.0.0.1:11434"),
    ("::", "http://[::1]:11434"),
    ("[::1]:9000", "http://[::1]:9000"),
    ("http://gpu-box:11434/", "http://gpu-box:11434"),
    ("https://ollama.example.com", "https://ollama.example.com"),
    ("https://ollama.example.com/ollama/", "https://ollama.example.com/ollama"),
    ("example.com/proxy", "http://example.com:11434/proxy"),
])
def test_base_urls_in_ollama_host_forms_are_normalized(given, expected):
    assert normalize_base_url(given) == expected


@pytest.mark.parametrize("given", ["ftp://host", "host:port"])
def test_a_base_url_that_is_not_http_is_a_configuration_error(given):
    with pytest.raises(ConfigurationError, match="base_url"):
        normalize_base_url(given)
