"""Gemini streaming (``streamGenerateContent?alt=sse``) over the local server, byte for byte."""

import json
from typing import Any, Dict, Iterator, List, Optional

import pytest

from llm_connector import ChatRequest, LlmClient, Message, Tool
from llm_connector.errors import (
    AuthenticationError,
    BadRequestError,
    IncompleteStreamError,
    RateLimitError,
    StreamParseError,
)
from llm_connector.testing import Close, LocalServer, Reply
from llm_connector.types import StreamingResponse

KEY = "AIza-stream-key-456"
WEATHER = Tool.function("get_weather", "Weather for a city",
                        {"type": "object", "properties": {"city": {"type": "string"}}})


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as local:
        yield local


def _client(server: LocalServer) -> LlmClient:
    return LlmClient.google(KEY, base_url=server.url, max_retries=0)


def _ask(*messages: Message, **fields: Any) -> ChatRequest:
    return ChatRequest(model="gemini-2.5-flash", messages=list(messages) or [Message.user("hi")], **fields)


def _candidate(*parts: Dict[str, Any], finish: Optional[str] = None, index: Optional[int] = None) -> Dict[str, Any]:
    candidate: Dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}}
    if finish is not None:
        candidate["finishReason"] = finish
    if index is not None:
        candidate["index"] = index
    return candidate


def _usage(prompt: int, candidates: Optional[int], total: int, thoughts: Optional[int] = None) -> Dict[str, Any]:
    usage: Dict[str, Any] = {"promptTokenCount": prompt, "totalTokenCount": total}
    if candidates is not None:
        usage["candidatesTokenCount"] = candidates
    if thoughts is not None:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _event(*candidates: Dict[str, Any], usage: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    event: Dict[str, Any] = {"candidates": list(candidates), "modelVersion": "gemini-2.5-flash",
                             "responseId": "resp-s"}
    if usage is not None:
        event["usageMetadata"] = usage
    return event


def _text(text: str, finish: Optional[str] = None, usage: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    return _event(_candidate({"text": text}, finish=finish), usage=usage)


def _stream(server: LocalServer, reply: Reply, request: Optional[ChatRequest] = None) -> List[StreamingResponse]:
    server.add(reply)
    return list(_client(server).chat_stream(request or _ask()))


# -- the request ------------------------------------------------------------------------------------------


def test_a_stream_posts_to_stream_generate_content_with_alt_sse_and_the_key_in_a_header(
    server: LocalServer,
) -> None:
    _stream(server, Reply.sse(_text("hi", finish="STOP")))
    sent = server.requests[0]
    assert sent.path == "/models/gemini-2.5-flash:streamGenerateContent"
    assert sent.query == {"alt": ["sse"]}
    assert sent.headers.get("x-goog-api-key") == KEY
    assert sent.headers.get("accept") == "text/event-stream"
    assert KEY not in sent.target
    assert sent.json() == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


# -- decoding ---------------------------------------------------------------------------------------------


def test_the_text_parts_of_one_event_are_joined_in_order(server: LocalServer) -> None:
    chunks = _stream(server, Reply.sse(
        _event(_candidate({"text": "Hello"}, {"text": ", "}, {"text": "world"})),
        _text("!", finish="STOP"),
    ))
    assert [c.content for c in chunks] == ["Hello, world", "!"]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[1].choices[0].delta.role is None
    assert (chunks[0].id, chunks[0].model) == ("resp-s", "gemini-2.5-flash")


def test_thought_parts_become_reasoning_and_never_content(server: LocalServer) -> None:
    chunks = _stream(server, Reply.sse(
        _event(_candidate({"text": "Considering", "thought": True}, {"text": " options.", "thought": True})),
        _event(_candidate({"text": "Done thinking.", "thought": True}, {"text": "Answer: 4"})),
        _text("", finish="STOP"),
    ), _ask(thinking_budget=1024))
    assert [c.reasoning_content for c in chunks] == ["Considering options.", "Done thinking.", None]
    assert [c.content for c in chunks] == ["", "Answer: 4", ""]
    assert chunks[0].get_content() is None
    assert chunks[1].choices[0].delta.reasoning_content == "Done thinking."


def test_several_candidates_become_choices_with_their_own_indexes(server: LocalServer) -> None:
    chunks = _stream(server, Reply.sse(
        _event(_candidate({"text": "A1"}), _candidate({"text": "B1"}, index=1)),
        _event(_candidate({"text": "B2"}, index=1, finish="MAX_TOKENS")),
        _event(_candidate({"text": "A2"}, finish="STOP"), usage=_usage(5, 8, 13)),
    ))
    assert [[(c.index, c.delta.content) for c in chunk.choices] for chunk in chunks] == [
        [(0, "A1"), (1, "B1")], [(1, "B2")], [(0, "A2")],
    ]
    assert [c.content for c in chunks] == ["A1", "", "A2"]  # chunk.content is candidate 0's text
    assert chunks[1].choices[0].finish_reason == "length"
    assert [c.usage is not None for c in chunks] == [False, False, True]


def test_function_calls_arrive_as_complete_tool_calls_and_the_candidate_finishes_with_tool_calls(
    server: LocalServer,
) -> None:
    chunks = _stream(server, Reply.sse(
        _event(_candidate({"functionCall": {"name": "get_weather", "args": {"city": "Lima"}},
                           "thoughtSignature": "U0lHMQ=="})),
        _event(_candidate({"functionCall": {"id": "fc-7", "name": "get_weather", "args": {"city": "Quito"}}},
                          finish="STOP")),
    ), _ask(tools=[WEATHER]))
    first, second = chunks[0].tool_calls, chunks[1].tool_calls
    assert [(c.index, c.id, c.name, c.arguments, c.thought_signature) for c in first + second] == [
        (0, "call_0", "get_weather", '{"city":"Lima"}', "U0lHMQ=="),
        (1, "fc-7", "get_weather", '{"city":"Quito"}', None),
    ]
    assert (chunks[1].finish_reason, chunks[1].choices[0].finish_reason_raw) == ("tool_calls", "STOP")


def test_collect_adds_up_text_reasoning_tool_calls_finish_and_usage(server: LocalServer) -> None:
    server.add(Reply.sse(
        _event(_candidate({"text": "Plan: call the tool.", "thought": True}), usage=_usage(9, None, 9)),
        _event(_candidate({"text": "Let me check "}, {"text": "the weather."}), usage=_usage(9, 5, 14, 3)),
        _event(_candidate({"functionCall": {"name": "get_weather", "args": {"city": "Lima"}},
                           "thoughtSignature": "U0lHMQ=="}, finish="STOP"), usage=_usage(9, 12, 24, 3)),
    ))
    response = _client(server).chat_stream(_ask(tools=[WEATHER])).collect()
    assert response.content == "Let me check the weather."
    assert response.reasoning_content == "Plan: call the tool."
    assert [(c.id, c.name, c.arguments_json(), c.thought_signature) for c in response.tool_calls] == [
        ("call_0", "get_weather", {"city": "Lima"}, "U0lHMQ=="),
    ]
    assert response.finish_reason == "tool_calls"
    assert response.usage is not None
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (9, 15, 24)
    assert response.usage.reasoning_tokens == 3
    assert response.id == "resp-s"


def test_a_thought_signature_from_a_stream_is_replayed_in_the_next_request(server: LocalServer) -> None:
    client = _client(server)
    server.add(Reply.sse(_event(_candidate(
        {"functionCall": {"name": "get_weather", "args": {"city": "Lima"}}, "thoughtSignature": "U0lHMQ=="},
        finish="STOP"))))
    server.add(Reply.sse(_text("It is 18°C in Lima.", finish="STOP")))
    messages = [Message.user("Weather in Lima?")]
    response = client.chat_stream(_ask(*messages, tools=[WEATHER])).collect()
    messages.append(response.to_message())
    messages.extend(Message.tool('{"temp_c": 18}', tool_call_id=call.id) for call in response.tool_calls)
    assert client.chat_stream(_ask(*messages, tools=[WEATHER])).text() == "It is 18°C in Lima."
    assert server.requests[1].json()["contents"][1:] == [
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Lima"}},
                                     "thoughtSignature": "U0lHMQ=="}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 18}}}]},
    ]


def test_the_stream_decodes_the_same_when_every_byte_arrives_alone(server: LocalServer) -> None:
    events = [_event(_candidate({"text": "Grüße, ", "thought": True}, {"text": "naïve 日本"})),
              _text("\u2028 end", finish="STOP", usage=_usage(2, 3, 5))]
    body = "".join("data: " + json.dumps(e, ensure_ascii=False) + "\r\n\r\n" for e in events).encode("utf-8")
    whole = _stream(server, Reply(headers={"Content-Type": "text/event-stream"}, parts=[body]))
    split = _stream(server, Reply(headers={"Content-Type": "text/event-stream"},
                                  parts=[body[i:i + 1] for i in range(len(body))]))
    assert [c.to_dict() for c in split] == [c.to_dict() for c in whole]
    assert "".join(c.content for c in split) == "naïve 日本\u2028 end"


# -- usage ------------------------------------------------------------------------------------------------


def test_usage_repeated_on_every_event_is_emitted_once_on_the_last_chunk(server: LocalServer) -> None:
    chunks = _stream(server, Reply.sse(
        _text("a", usage=_usage(4, 1, 5)),
        _text("b", usage=_usage(4, 2, 6)),
        _text("c", finish="STOP", usage=_usage(4, 3, 7, thoughts=2)),
    ))
    assert [c.usage is not None for c in chunks] == [False, False, True]
    usage = chunks[-1].usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens, usage.reasoning_tokens) == (4, 5, 7, 2)


def test_usage_sent_only_before_the_finish_is_put_on_the_finishing_chunk(server: LocalServer) -> None:
    chunks = _stream(server, Reply.sse(
        _text("a", usage=_usage(4, 1, 5)),
        _text("b", finish="STOP"),
    ))
    assert [c.usage is not None for c in chunks] == [False, True]
    usage = chunks[-1].usage
    assert usage is not None and usage.total_tokens == 5


def test_a_usage_only_event_after_the_finish_is_one_usage_chunk(server: LocalServer) -> None:
    chunks = _stream(server, Reply.sse(
        _text("a", finish="STOP"),
        {"usageMetadata": _usage(4, 1, 5), "modelVersion": "gemini-2.5-flash", "responseId": "resp-s"},
    ))
    assert [c.usage is not None for c in chunks] == [False, True]
    assert chunks[-1].choices == [] and chunks[-1].id == "resp-s"


def test_usage_held_back_for_an_unfinished_candidate_comes_in_a_final_usage_chunk(server: LocalServer) -> None:
    chunks = _stream(server, Reply.sse(
        _event(_candidate({"text": "A"}, finish="STOP"), _candidate({"text": "B"}, index=1),
               usage=_usage(4, 2, 6)),
    ))
    assert len(chunks) == 2
    assert chunks[0].usage is None
    assert chunks[1].choices == [] and chunks[1].id == "resp-s" and chunks[1].model == "gemini-2.5-flash"
    usage = chunks[1].usage
    assert usage is not None and usage.total_tokens == 6


def test_a_stream_without_usage_metadata_reports_no_usage(server: LocalServer) -> None:
    chunks = _stream(server, Reply.sse(_text("a"), _text("b", finish="STOP")))
    assert [c.usage for c in chunks] == [None, None]


# -- errors and cut streams -------------------------------------------------------------------------------


def test_a_blocked_prompt_in_a_stream_raises_bad_request_naming_the_block_reason(server: LocalServer) -> None:
    server.add(Reply.sse({"promptFeedback": {"blockReason": "SAFETY", "blockReasonMessage": "unsafe prompt"},
                          "usageMetadata": _usage(7, None, 7)}))
    stream = _client(server).chat_stream(_ask())
    with pytest.raises(BadRequestError, match="blockReason SAFETY") as caught:
        list(stream)
    assert caught.value.code == "SAFETY"
    assert "unsafe prompt" in str(caught.value)


def test_an_error_mid_stream_raises_its_typed_error_after_the_chunks_before_it(server: LocalServer) -> None:
    server.add(Reply.sse(
        _text("Once "), _text("upon "),
        {"error": {"code": 429, "message": "Resource has been exhausted.", "status": "RESOURCE_EXHAUSTED"}},
        _text("never seen", finish="STOP"),
    ))
    seen: List[str] = []
    with pytest.raises(RateLimitError, match="exhausted"):
        for chunk in _client(server).chat_stream(_ask()):
            seen.append(chunk.content)
    assert seen == ["Once ", "upon "]


def test_a_body_that_ends_without_a_finish_reason_raises_incomplete_stream_error(server: LocalServer) -> None:
    server.add(Reply.sse(_text("Once "), _text("upon ", usage=_usage(3, 2, 5))))
    seen: List[str] = []
    with pytest.raises(IncompleteStreamError, match="finishReason") as caught:
        for chunk in _client(server).chat_stream(_ask()):
            seen.append(chunk.content)
    assert seen == ["Once ", "upon "]
    assert caught.value.chunks_received == 2


def test_a_connection_closed_mid_stream_raises_incomplete_stream_error(server: LocalServer) -> None:
    server.add(Reply(headers={"Content-Type": "text/event-stream"},
                     parts=["data: " + json.dumps(_text("Once ")) + "\n\n", "data: {\"candi", Close()]))
    seen: List[str] = []
    with pytest.raises(IncompleteStreamError):
        for chunk in _client(server).chat_stream(_ask()):
            seen.append(chunk.content)
    assert seen == ["Once "]


def test_an_event_that_is_not_json_raises_stream_parse_error(server: LocalServer) -> None:
    server.add(Reply.sse(_text("ok "), "{not json"))
    with pytest.raises(StreamParseError, match="not valid JSON"):
        list(_client(server).chat_stream(_ask()))


def test_api_key_invalid_fails_the_stream_call_itself_with_an_authentication_error(server: LocalServer) -> None:
    server.add(Reply.json({"error": {
        "code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
    }}, status=400))
    with pytest.raises(AuthenticationError) as caught:
        _client(server).chat_stream(_ask())
    assert KEY not in str(caught.value)


def test_rate_limit_on_a_stream_call_carries_retry_after_from_retry_info(server: LocalServer) -> None:
    server.add(Reply.json({"error": {
        "code": 429, "message": "Quota exceeded.", "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}],
    }}, status=429))
    with pytest.raises(RateLimitError) as caught:
        _client(server).chat_stream(_ask())
    assert caught.value.retry_after == 12.0
    assert len(server.requests) == 1
