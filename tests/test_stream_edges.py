"""Stream edges as services really send them: usage inside a choice, choices interleaved, spaced [DONE], errors
inside a 200 stream (OpenAI, Ollama, Gemini's bare error object), Ollama's own done_reason, a 200 that is not a
stream."""

import json
from typing import Any, Dict, List

import pytest
from helpers import chunk, sse

from llm_connector import ChatRequest, LlmClient, Message
from llm_connector.errors import (
    IncompleteStreamError,
    RateLimitError,
    ServerError,
    StreamParseError,
)
from llm_connector.testing import Close, LocalServer, Pause, Reply
from llm_connector.types import Usage


def request(model: str = "m") -> ChatRequest:
    return ChatRequest(model=model, messages=[Message.user("hi")])


def openai(server: LocalServer) -> LlmClient:
    return LlmClient.openai_compatible("sk-test", server.url + "/v1", max_retries=0)


def choice_chunk(index: int, text: Any = None, finish: Any = None, usage: Any = None) -> Dict[str, Any]:
    choice: Dict[str, Any] = {"index": index, "delta": {} if text is None else {"content": text},
                              "finish_reason": finish}
    if usage is not None:
        choice["usage"] = usage
    return {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": [choice]}


# -- usage wherever a service puts it -----------------------------------------------------------------------


def test_usage_inside_the_last_choice_is_read_as_moonshot_sends_it(server: LocalServer) -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
    server.add(Reply(parts=sse(choice_chunk(0, "Hi"), choice_chunk(0, finish="stop", usage=usage))))
    chunks = list(openai(server).chat_stream(request()))
    assert chunks[-1].usage == Usage(5, 7, 12)
    server.add(Reply(parts=sse(choice_chunk(0, "Hi"), choice_chunk(0, finish="stop", usage=usage))))
    assert openai(server).chat_stream(request()).collect().usage == Usage(5, 7, 12)


def test_top_level_usage_wins_over_usage_inside_a_choice(server: LocalServer) -> None:
    last = choice_chunk(0, finish="stop", usage={"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12})
    last["usage"] = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    server.add(Reply(parts=sse(choice_chunk(0, "Hi"), last)))
    assert openai(server).chat_stream(request()).collect().usage == Usage(1, 2, 3)


# -- get_content() is choice 0's text ------------------------------------------------------------------------


def test_get_content_gives_only_choice_0_when_two_choices_interleave(server: LocalServer) -> None:
    server.add(Reply(parts=sse(choice_chunk(1, "B1"), choice_chunk(0, "A1"), choice_chunk(1, " B2"),
                               choice_chunk(0, " A2"), choice_chunk(1, finish="stop"), choice_chunk(0, finish="stop"))))
    stream = openai(server).chat_stream(request())
    chunks = list(stream)
    assert "".join(c.get_content() or "" for c in chunks) == "A1 A2"
    assert [c.get_content() for c in chunks[:4]] == [None, "A1", None, " A2"]


def test_get_content_gives_choice_0_when_a_chunk_lists_index_1_first(server: LocalServer) -> None:
    both = {"id": "c", "choices": [{"index": 1, "delta": {"content": "second", "reasoning_content": "r1"}},
                                   {"index": 0, "delta": {"content": "first", "reasoning_content": "r0"}}]}
    server.add(Reply(parts=sse(both, choice_chunk(0, finish="stop"))))
    first = next(iter(openai(server).chat_stream(request())))
    assert (first.get_content(), first.reasoning_content) == ("first", "r0")


# -- end markers and error lines -----------------------------------------------------------------------------


def test_a_done_marker_with_two_spaces_is_an_end_not_a_parse_error(server: LocalServer) -> None:
    server.add(Reply(parts=sse(chunk("Hi", finish="stop"), "data:  [DONE]\n\n", done=False)))
    assert openai(server).chat_stream(request()).text() == "Hi"


def test_an_error_object_inside_a_200_stream_carries_status_200(server: LocalServer) -> None:
    error = {"error": {"message": "slow down", "type": "rate_limit_exceeded"}}
    server.add(Reply(parts=sse(chunk("Hi"), error, done=False)))
    got: List[str] = []
    with pytest.raises(RateLimitError) as info:
        for c in openai(server).chat_stream(request()):
            got.append(c.content)
    assert got == ["Hi"]
    assert info.value.status_code == 200 and info.value.message == "slow down"


def test_an_ollama_error_line_mid_stream_is_a_server_error(server: LocalServer) -> None:
    server.add(Reply.ndjson({"model": "m", "message": {"role": "assistant", "content": "Hi"}, "done": False},
                            {"error": "llama runner process has terminated: exit status 2"}))
    client = LlmClient.ollama(server.url, max_retries=0)
    with pytest.raises(ServerError) as info:
        list(client.chat_stream(request()))
    assert info.value.message == "llama runner process has terminated: exit status 2"
    assert info.value.status_code == 200


def test_a_gemini_stream_ending_with_a_bare_pretty_printed_error_raises_it_with_its_status(
        server: LocalServer) -> None:
    event = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}, "index": 0}]}
    bare = json.dumps({"error": {"code": 503, "message": "The model is overloaded. Please try again later.",
                                 "status": "UNAVAILABLE"}}, indent=2)
    server.add(Reply(200, {"Content-Type": "text/event-stream"},
                     ["data: " + json.dumps(event) + "\r\n\r\n", bare + "\n"], framing="close"))
    client = LlmClient.google("k", base_url=server.url + "/v1beta", max_retries=0)
    got: List[str] = []
    with pytest.raises(ServerError) as info:
        for c in client.chat_stream(request("gemini-2.5-flash")):
            got.append(c.content)
    assert got == ["Hel"]
    assert info.value.status_code == 503
    assert info.value.message == "The model is overloaded. Please try again later."


def test_a_gemini_stream_cut_short_without_an_error_object_is_still_incomplete(server: LocalServer) -> None:
    event = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}, "index": 0}]}
    server.add(Reply(200, {"Content-Type": "text/event-stream"}, ["data: " + json.dumps(event) + "\r\n\r\n"],
                     framing="close"))
    client = LlmClient.google("k", base_url=server.url + "/v1beta", max_retries=0)
    with pytest.raises(IncompleteStreamError):
        list(client.chat_stream(request("gemini-2.5-flash")))


def ollama_line(text: str = "", done: bool = False, **extra: Any) -> Dict[str, Any]:
    line: Dict[str, Any] = {"model": "m", "created_at": "2025-01-01T00:00:00Z",
                            "message": {"role": "assistant", "content": text}, "done": done}
    line.update(extra)
    return line


@pytest.mark.parametrize("word", ["load", "unload", "stop", "length", "some_future_word"])
def test_chat_stream_ollama_passes_ollamas_own_done_reason_through(word: str, server: LocalServer) -> None:
    server.add(Reply.ndjson(ollama_line("Hi"), ollama_line(done=True, done_reason=word)))
    chunks = list(LlmClient.ollama(server.url).chat_stream_ollama(request()))
    assert chunks[-1].done and chunks[-1].done_reason == word


@pytest.mark.parametrize("finish, expected", [("stop", "stop"), ("length", "length"), ("tool_calls", "stop"),
                                              ("content_filter", "stop"), ("something_else", "stop")])
def test_chat_stream_ollama_maps_other_providers_reasons_to_ollamas_words(
        finish: str, expected: str, server: LocalServer) -> None:
    server.add(Reply(parts=sse(chunk("Hi"), chunk(finish=finish))))
    chunks = list(openai(server).chat_stream_ollama(request()))
    assert chunks[-1].done_reason == expected


def test_an_error_through_chat_stream_ollama_says_after_n_chunks_once(server: LocalServer) -> None:
    server.add(Reply(parts=sse(chunk("Once"), chunk(" upon"), done=False) + [Close]))
    with pytest.raises(IncompleteStreamError) as info:
        list(openai(server).chat_stream_ollama(request()))
    assert str(info.value).count("(after ") == 1
    assert "(after 2 chunks)" in str(info.value)


# -- a 200 that is not a stream ------------------------------------------------------------------------------


def test_a_web_page_answering_a_stream_request_is_a_typed_error_naming_it(server: LocalServer) -> None:
    title = "Hotel Wi-Fi — please log in to continue browsing " + "x" * 200
    page = f"<!DOCTYPE html><html><head><title>\n  {title}\n</title></head><body>login</body></html>"
    server.add(Reply(200, {"Content-Type": "text/html; charset=utf-8"}, [page], framing="length"))
    with pytest.raises(StreamParseError) as info:
        list(openai(server).chat_stream(request()))
    message = str(info.value)
    assert "text/html" in message and "Hotel Wi-Fi — please log in" in message
    assert "x" * 100 not in message  # the title is cut short
    assert info.value.status_code == 200


def test_a_web_page_without_a_title_is_named_by_its_content_type(server: LocalServer) -> None:
    server.add(Reply(200, {"Content-Type": "text/html"}, ["<p>proxy says no</p>"], framing="length"))
    with pytest.raises(StreamParseError, match="text/html, no page title"):
        list(openai(server).chat_stream(request()))


def test_a_whole_json_answer_to_a_stream_request_is_one_chunk_and_a_normal_end(server: LocalServer) -> None:
    answer = {"id": "x", "object": "chat.completion", "model": "m",
              "choices": [{"index": 0, "finish_reason": "tool_calls",
                           "message": {"role": "assistant", "content": "Hello",
                                       "tool_calls": [{"id": "t1", "type": "function", "function": {
                                           "name": "f", "arguments": "{\"a\": 1}"}}]}}],
              "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}
    server.add(Reply.json(answer))
    stream = openai(server).chat_stream(request())
    chunks = list(stream)
    assert len(chunks) == 1 and chunks[0].get_content() == "Hello"
    assert chunks[0].finish_reason == "tool_calls" and chunks[0].usage == Usage(3, 4, 7)
    assert stream.closed
    server.add(Reply.json(answer))
    response = openai(server).chat_stream(request()).collect()
    assert (response.content, response.usage) == ("Hello", Usage(3, 4, 7))
    assert [(c.function.name, c.arguments_json()) for c in response.tool_calls] == [("f", {"a": 1})]


def test_a_json_error_object_answering_a_stream_request_is_the_typed_error(server: LocalServer) -> None:
    server.add(Reply.json({"error": {"message": "quota", "type": "rate_limit_exceeded"}}))
    with pytest.raises(RateLimitError) as info:
        list(openai(server).chat_stream(request()))
    assert info.value.status_code == 200


def test_a_stream_labelled_application_json_is_still_read_as_a_stream_as_it_arrives(server: LocalServer) -> None:
    server.add(Reply(200, {"Content-Type": "application/json"}, sse(chunk("Hel"), chunk("lo", finish="stop"))))
    assert openai(server).chat_stream(request()).text() == "Hello"
    first, rest = sse(chunk("Hel"), chunk("lo", finish="stop"))[0], sse(chunk("lo", finish="stop"))
    server.add(Reply(200, {"Content-Type": "application/json"}, [first, Pause(20)] + rest))
    client = LlmClient.openai_compatible("sk-test", server.url + "/v1", max_retries=0, timeout=(5, 3))
    with client.chat_stream(request()) as stream:
        assert next(stream).content == "Hel"  # not held back until the body ends (the idle limit would fire)


def test_a_whole_answer_s_content_is_choice_0_s_even_when_choice_1_is_listed_first(server):
    answer = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m", "choices": [
        {"index": 1, "message": {"role": "assistant", "content": "second"}, "finish_reason": "stop"},
        {"index": 0, "message": {"role": "assistant", "content": "first", "reasoning_content": "why"},
         "finish_reason": "stop"}]}
    server.add(Reply.json(answer))
    response = openai(server).chat(request())
    assert response.content == "first" and response.reasoning_content == "why"
    assert [c.index for c in response.choices] == [1, 0]
