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


def three_chunks_with_a_pause(pause=1.0):
    return Reply(parts=sse(chunk("a"), chunk("b"))[:2] + [Pause(pause)] + sse(chunk("c", finish="stop")))


def test_next_of_iter_then_collect_continues_the_same_stream(server):
    server.add(Reply(parts=sse(chunk("a"), chunk("b"), chunk("c", finish="stop"))))
    stream = client_for(server).chat_stream(request())
    assert next(iter(stream)).content == "a"
    response = stream.collect()  # the whole stream, the chunk already read included
    assert response.content == "abc" and response.choices[0].finish_reason == "stop"
    assert stream.closed


def test_loops_next_and_collect_in_any_mix_read_each_chunk_once_in_order(server):
    server.add(Reply(parts=sse(*(chunk(str(n)) for n in range(6)), chunk("", finish="stop"))))
    stream = client_for(server).chat_stream(request())
    seen = [next(stream).content]
    for c in stream:
        seen.append(c.content)
        break
    seen.append(next(stream).content)
    for c in stream:
        seen.append(c.content)
        if c.content == "4":
            break
    assert iter(stream) is iter(stream)
    assert seen == ["0", "1", "2", "3", "4"]
    assert stream.collect().content == "012345"  # each chunk read once from the wire, the whole answer
    assert stream.chunks_received == 7


def test_a_held_stream_stays_open_after_break_and_a_later_collect_reads_the_rest(server):
    server.add(three_chunks_with_a_pause(0.5))
    stream = client_for(server).chat_stream(request())
    for c in stream:
        assert c.content == "a"
        break
    assert not stream.closed
    assert not server.requests[0].closed_by_client.wait(0.2)
    assert stream.collect().content == "abc"
    assert stream.closed and stream.chunks_received == 3
    assert stream.collect().content == "abc"  # again: the same whole answer, nothing read twice


def test_breaking_out_of_an_unheld_stream_closes_at_once_without_the_garbage_collector(server):
    server.add(slow_reply())
    gc.disable()
    try:
        for _ in client_for(server).chat_stream(request()):
            break
        assert server.requests[0].closed_by_client.wait(2.0)
    finally:
        gc.enable()


def test_dropping_a_held_stream_closes_it_without_the_garbage_collector(server):
    server.add(slow_reply())
    stream = client_for(server).chat_stream(request())
    gc.disable()  # no reference cycle: the last reference going is enough
    try:
        for _ in stream:
            break
        assert not server.requests[0].closed_by_client.wait(0.2)
        del stream
        assert server.requests[0].closed_by_client.wait(2.0)
    finally:
        gc.enable()


def test_a_stream_closes_at_its_end_and_a_further_next_is_stop_iteration(server):
    server.add(Reply(parts=sse(chunk("a"), chunk("b", finish="stop"))))
    stream = client_for(server).chat_stream(request())
    assert [c.content for c in stream] == ["a", "b"]
    assert stream.closed and stream.chunks_received == 2
    with pytest.raises(StopIteration):
        next(stream)


def test_repr_names_provider_model_and_state(server):
    server.add(Reply(parts=sse(chunk("a"), chunk("b", finish="stop"))))
    server.add(slow_reply())
    client = LlmClient.deepseek("sk-secret-key-1234", base_url=server.url, max_retries=0)
    stream = client.chat_stream(ChatRequest(model="deepseek-chat", messages=[Message.user("hi")]))
    assert repr(stream) == "<ChatStream deepseek 'deepseek-chat' open>"
    stream.collect()
    assert repr(stream) == "<ChatStream deepseek 'deepseek-chat' ended after 2 chunks>"
    other = client.chat_stream(ChatRequest(model="deepseek-chat", messages=[Message.user("hi")]))
    other.close()
    assert repr(other) == "<ChatStream deepseek 'deepseek-chat' closed>"
    assert "sk-secret" not in repr(stream) + repr(other)


def test_pickling_a_stream_is_a_type_error_saying_it_is_a_live_connection(server):
    import pickle

    server.add(Reply(parts=sse(chunk("a", finish="stop"))))
    with client_for(server).chat_stream(request()) as stream:
        with pytest.raises(TypeError, match="live connection"):
            pickle.dumps(stream)
    with pytest.raises(TypeError, match="live connection"):
        pickle.dumps(LlmClient.mock().chat_stream(request()))


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
