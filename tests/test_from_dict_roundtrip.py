"""from_dict keeps everything to_dict wrote: from_dict(to_dict(x)) == x for every chunk and response kind (a
property over generated chunks), also through JSON; from_dict of a service's wire chunk fills the convenience
fields (content, reasoning_content) from choice 0."""

import json
from typing import Any, List, Optional

from hypothesis import given, settings
from hypothesis import strategies as st

from llm_connector import ChatRequest, LlmClient, Message
from llm_connector.testing import LocalServer, Reply
from llm_connector.types import (
    ChatResponse,
    Choice,
    Delta,
    FunctionCall,
    OllamaMessage,
    OllamaStreamChunk,
    Role,
    StreamingChoice,
    StreamingResponse,
    ToolCall,
    Usage,
)

text = st.text(max_size=12)
maybe_text = st.none() | st.text(min_size=1, max_size=12)
finish = st.sampled_from([None, "stop", "length", "tool_calls", "content_filter"])
counts = st.integers(min_value=0, max_value=10**6)
usage = st.none() | st.builds(Usage, counts, counts, counts, st.none() | counts, st.none() | counts,
                              st.none() | counts)
tool_piece = st.builds(ToolCall, text, st.just("function"), st.builds(FunctionCall, text, text),
                       st.none() | st.integers(0, 3), st.none() | st.text(min_size=1, max_size=8))
tool_pieces = st.none() | st.lists(tool_piece, min_size=1, max_size=3)


@st.composite
def chunks(draw: Any) -> StreamingResponse:
    indexes: List[int] = draw(st.lists(st.integers(0, 3), max_size=3, unique=True))
    choices = []
    for index in indexes:
        reason = draw(finish)
        delta = Delta(draw(st.none() | st.just("assistant")), draw(maybe_text), draw(maybe_text), draw(tool_pieces),
                      draw(st.none() | st.text(min_size=1, max_size=8)))
        choices.append(StreamingChoice(index, delta, reason, reason and reason.upper()))
    first = next((c for c in choices if c.index == 0), choices[0] if choices else None)
    return StreamingResponse(draw(text), "chat.completion.chunk", draw(counts), draw(text), choices,
                             (first.delta.content or "") if first else "",
                             first.delta.reasoning_content if first else None, draw(usage),
                             draw(st.none() | st.text(min_size=1, max_size=8)))


@st.composite
def responses(draw: Any) -> ChatResponse:
    indexes: List[int] = draw(st.lists(st.integers(0, 3), min_size=0, max_size=3, unique=True))
    choices = []
    for index in indexes:
        message = Message(Role.ASSISTANT, draw(text), tool_calls=draw(tool_pieces),
                          reasoning_content=draw(maybe_text))
        reason = draw(finish)
        choices.append(Choice(index, message, reason, reason))
    first = next((c for c in choices if c.index == 0), choices[0] if choices else None)
    return ChatResponse(draw(text), "chat.completion", draw(counts), draw(text), choices,
                        first.message.text_content() if first else "",
                        first.message.reasoning_content if first else None, draw(usage))


ollama_chunks = st.builds(
    OllamaStreamChunk, text, text,
    st.builds(OllamaMessage, st.just("assistant"), text, maybe_text,
              st.none() | st.just([{"function": {"name": "f", "arguments": {"a": 1}}}])),
    st.booleans(), st.none() | st.sampled_from(["stop", "length", "load"]))


@settings(max_examples=200, deadline=None)
@given(chunks())
def test_a_chunk_survives_to_dict_and_from_dict(chunk: StreamingResponse) -> None:
    assert StreamingResponse.from_dict(chunk.to_dict()) == chunk
    assert StreamingResponse.from_dict(json.loads(chunk.to_json())) == chunk
    assert StreamingResponse.from_dict(json.loads(chunk.to_sse()[len("data: "):])) == chunk


@settings(max_examples=200, deadline=None)
@given(responses())
def test_a_response_survives_to_dict_and_from_dict(response: ChatResponse) -> None:
    assert ChatResponse.from_dict(response.to_dict()) == response
    assert ChatResponse.from_dict(json.loads(response.to_json())) == response


@settings(max_examples=100, deadline=None)
@given(ollama_chunks)
def test_an_ollama_chunk_survives_to_dict_and_from_dict(chunk: OllamaStreamChunk) -> None:
    assert OllamaStreamChunk.from_dict(json.loads(chunk.to_ndjson())) == chunk


def test_from_dict_of_a_wire_chunk_keeps_the_text_and_writes_it_back() -> None:
    wire = {"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "hé"}}]}
    chunk = StreamingResponse.from_dict(wire)
    assert chunk.get_content() == "hé"
    assert json.loads(chunk.to_json())["content"] == "hé"


def test_from_dict_of_a_wire_chunk_takes_choice_0_wherever_it_is_listed() -> None:
    wire = {"choices": [{"index": 1, "delta": {"content": "other", "reasoning_content": "r1"}},
                        {"index": 0, "delta": {"content": "mine", "reasoning_content": "r0"}}]}
    chunk = StreamingResponse.from_dict(wire)
    assert (chunk.get_content(), chunk.reasoning_content) == ("mine", "r0")


def test_from_dict_of_a_wire_response_keeps_content_and_reasoning() -> None:
    wire = {"id": "r", "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": "hé", "reasoning_content": "why"}}]}
    response = ChatResponse.from_dict(wire)
    assert (response.content, response.reasoning_content, response.get_content()) == ("hé", "why", "hé")


def test_explicit_convenience_fields_win_over_the_choice() -> None:
    chunk = StreamingResponse.from_dict({"content": "", "choices": [{"index": 0, "delta": {"content": "x"}}]})
    assert chunk.content == ""


def test_chunks_read_from_the_wire_survive_a_round_trip(server: LocalServer) -> None:
    parts = [{"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hé",
                                                            "reasoning_content": "hm"}}]},
             {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [
                 {"index": 0, "id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}]},
             {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}],
              "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}]
    server.add(Reply.sse(*parts, done=True))
    client = LlmClient.openai_compatible("sk-test", server.url + "/v1")
    received: Optional[List[StreamingResponse]] = list(
        client.chat_stream(ChatRequest(model="m", messages=[Message.user("hi")])))
    assert received
    for chunk in received:
        assert StreamingResponse.from_dict(json.loads(chunk.to_json())) == chunk
