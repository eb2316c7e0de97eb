"""The stream object: iteration, closing on every way out, collect(), the accumulator."""

import gc
import time

import pytest
from helpers import chunk, sse

from llm_connector import (
    ChatRequest,
    Delta,
    FunctionCall,
    LlmClient,
    Message,
    StreamAccumulator,
    StreamingChoice,
    StreamingResponse,
    ToolCall,
    Usage,
)
from llm_connector.testing import Pause, Reply


def request():
    return ChatRequest(model="m", messages=[Message.user("hi")])


def slow_reply():
    return Reply(parts=sse(chunk("a"), chunk("b")) [:2] + [Pause(5.0)] + sse(chunk("c", finish="stop")))


def client_for(server):
    return LlmClient.openai("k", base_url=server.url, max_retries=0)


def test_break_closes_the_connection_on_the_server_side(server):
    server.add(slow_reply())
    for c in client_for(server).chat_stream(request()):
        if c.content == "b":
            break
    assert server.requests[0].closed_by_client.wait(2.0)


def test_an_exception_in_the_loop_body_closes_the_connection(server):
    server.add(slow_reply())
    with pytest.raises(KeyError):
        for _ in client_for(server).chat_stream(request()):
            raise KeyError("boom")
    assert server.requests[0].closed_by_client.wait(2.0)


def test_close_and_with_close_the_connection(server):
    server.add(slow_reply())
    server.add(slow_reply())
    stream = client_for(server).chat_stream(request())
    next(stream)
    stream.close()
    stream.close()  # idempotent
    assert stream.closed
    with client_for(server).chat_stream(request()) as s2:
        next(s2)
    assert server.requests[0].closed_by_client.wait(2.0)
    assert server.requests[1].closed_by_client.wait(2.0)


def test_garbage_collection_closes_an_abandoned_stream(server):
    server.add(slow_reply())
    stream = client_for(server).chat_stream(request())
    next(stream)
    del stream
    gc.collect()
    assert server.requests[0].closed_by_client.wait(2.0)


def test_reading_a_closed_stream_is_a_runtime_error(server):
    server.add(Reply(parts=sse(chunk("a", finish="stop"))))
    stream = client_for(server).chat_stream(request())
    stream.close()
    with pytest.raises(RuntimeError):
        next(stream)


def test_stream_exposes_the_http_response_and_request_id(server):
    server.add(Reply(headers={"Content-Type": "text/event-stream", "x-request-id": "req-7"},
                     parts=sse(chunk("a", finish="stop"))))
    stream = client_for(server).chat_stream(request())
    assert stream.response.status_code == 200
    assert stream.request_id == "req-7"
    assert stream.text() == "a"


def test_first_chunk_arrives_before_the_server_writes_the_second(server):
    server.add(Reply(parts=sse(chunk("first"))[:1] + [Pause(1.0)] + sse(chunk("second", finish="stop")),
                     framing="close"))
    start = time.monotonic()
    seen = []
    for c in client_for(server).chat_stream(request()):
        seen.append((c.content, time.monotonic() - start))
    assert seen[0][0] == "first" and seen[0][1] < 0.5
    assert seen[1][1] >= 0.9


def _piece(index, content=None, reasoning=None, calls=None, finish=None, usage=None):
    return StreamingResponse(id="x", model="m", choices=[StreamingChoice(index, Delta(content=content,
                             reasoning_content=reasoning, tool_calls=calls), finish, finish)], usage=usage)


def test_accumulator_works_without_a_stream_and_keeps_choices_apart():
    acc = StreamAccumulator()
    acc.add(_piece(0, "he"))
    acc.add(_piece(1, "other"))
    acc.add(_piece(0, "llo", reasoning="r"))
    acc.add(_piece(0, calls=[ToolCall("c1", "function", FunctionCall("f", '{"a"'), 0)]))
    acc.add(_piece(0, calls=[ToolCall("", "function", FunctionCall("", ":1}"), 0)], finish="tool_calls"))
    acc.add(StreamingResponse(id="x", usage=Usage(1, 2, 3)))
    result = acc.result()
    assert [c.message.content for c in result.choices] == ["hello", "other"]
    assert result.content == "hello" and result.reasoning_content == "r"
    assert result.tool_calls[0].arguments_json() == {"a": 1}
    assert result.finish_reason == "tool_calls"
    assert result.usage == Usage(1, 2, 3)


def test_cut_off_tool_arguments_are_kept_raw_and_parse_with_a_clear_error():
    acc = StreamAccumulator()
    acc.add(_piece(0, calls=[ToolCall("c1", "function", FunctionCall("f", '{"city": "Par'), 0)], finish="length"))
    call = acc.result().tool_calls[0]
    assert call.arguments == '{"city": "Par'
    with pytest.raises(Exception) as info:
        call.arguments_json()
    assert "not complete JSON" in str(info.value) and "f" in str(info.value)


def test_each_signature_closes_its_own_thinking_block_and_redacted_blocks_are_kept_in_order():
    acc = StreamAccumulator()
    acc.add(_piece(0, reasoning="first "))
    acc.add(_piece(0, reasoning="thought"))
    acc.add(StreamingResponse(choices=[StreamingChoice(0, Delta(thinking_signature="sig1"))]))
    acc.add(StreamingResponse(choices=[StreamingChoice(0, Delta(thinking_block={"type": "redacted_thinking",
                                                                                "data": "xyz"}))]))
    acc.add(_piece(0, reasoning="second"))
    acc.add(StreamingResponse(choices=[StreamingChoice(0, Delta(thinking_signature="sig2"))]))
    acc.add(_piece(0, "answer", finish="stop"))
    message = acc.result().message
    assert message.reasoning_content == "first thoughtsecond"
    assert message.thinking_blocks == [
        {"type": "thinking", "thinking": "first thought", "signature": "sig1"},
        {"type": "redacted_thinking", "data": "xyz"},
        {"type": "thinking", "thinking": "second", "signature": "sig2"},
    ]
