"""chat_stream_ollama: any provider's stream re-expressed as Ollama /api/chat chunks.

Every test checks the same promises: exactly one ``done: true`` chunk and it is the last, no text lost, the
finish reason as ``done_reason``, the provider's real token counts, and chunks that write out as JSON lines.
"""

import json
import re

import pytest
from helpers import chunk, sse

from llm_connector import (
    ChatRequest,
    Delta,
    FunctionCall,
    LlmClient,
    Message,
    OllamaStreamChunk,
    ServerError,
    StreamAccumulator,
    StreamingChoice,
    StreamingResponse,
    Tool,
    ToolCall,
    Usage,
)
from llm_connector.mock import MockReply
from llm_connector.protocols import load
from llm_connector.testing import Pause, Reply

WEATHER = Tool.function("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}})
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def request(model="bridge-model", **kw):
    return ChatRequest(model=model, messages=[Message.user("Tell me a story")], **kw)


def openai_client(server):
    return LlmClient.openai("sk-test-key", base_url=server.url, max_retries=0)


def usage_chunk(prompt, completion):
    """OpenAI's separate usage chunk: no choices, after the finish chunk."""
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-test",
            "choices": [], "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                                     "total_tokens": prompt + completion}}


def check_ollama_stream(chunks, model="bridge-model"):
    """The promises every bridged stream keeps; returns the final chunk."""
    assert all(isinstance(c, OllamaStreamChunk) for c in chunks)
    assert [c.done for c in chunks].count(True) == 1
    assert chunks[-1].done is True
    assert chunks[-1].message.content == ""
    for c in chunks:
        assert c.model == model
        assert c.message.role == "assistant"
        assert RFC3339_UTC.match(c.created_at)
        assert json.loads(c.to_ndjson()) == json.loads(c.to_json()) == c.to_dict()
        assert c.to_ndjson().endswith("}\n") and c.to_ndjson().count("\n") == 1
        assert c.to_sse().startswith("data: {") and c.to_sse().endswith("}\n\n")
    return chunks[-1]


def joined(chunks):
    return "".join(c.message.content for c in chunks)


# -- over OpenAI ------------------------------------------------------------------------------------------


def test_openai_stream_with_text_in_the_finish_chunk_and_a_later_usage_chunk(server):
    server.add(Reply(parts=sse(chunk("", role="assistant"), chunk("Once"), chunk(" upon"),
                               chunk(" a time", finish="stop"), usage_chunk(12, 4))))
    chunks = list(openai_client(server).chat_stream_ollama(request()))
    done = check_ollama_stream(chunks)
    assert joined(chunks) == "Once upon a time"
    assert [c.message.content for c in chunks[:-1]] == ["Once", " upon", " a time"]
    assert done.done_reason == "stop"
    assert (done.prompt_eval_count, done.eval_count) == (12, 4)
    assert done.total_duration is None and done.eval_duration is None  # never made up


def test_openai_length_finish_is_done_reason_length(server):
    server.add(Reply(parts=sse(chunk("Once upon", finish="length"), usage_chunk(3, 2))))
    done = check_ollama_stream(list(openai_client(server).chat_stream_ollama(request())))
    assert done.done_reason == "length"


def test_openai_stream_without_usage_has_no_token_counts_in_the_done_chunk(server):
    server.add(Reply(parts=sse(chunk("Hi"), chunk(finish="stop"))))
    done = check_ollama_stream(list(openai_client(server).chat_stream_ollama(request())))
    assert (done.prompt_eval_count, done.eval_count) == (None, None)
    assert "prompt_eval_count" not in done.to_dict()


def test_openai_reasoning_becomes_message_thinking_and_stays_out_of_the_content(server):
    server.add(Reply(parts=sse(chunk(reasoning="Think first."), chunk("Answer", finish="stop"),
                               usage_chunk(1, 2))))
    chunks = list(openai_client(server).chat_stream_ollama(request()))
    check_ollama_stream(chunks)
    assert [(c.message.thinking, c.message.content) for c in chunks[:-1]] == [("Think first.", ""), (None, "Answer")]


def test_openai_tool_call_pieces_are_sent_whole_in_one_chunk_before_the_done_chunk(server):
    server.add(Reply(parts=sse(
        chunk(tool_calls=[{"index": 0, "id": "call_abc", "type": "function",
                           "function": {"name": "get_weather", "arguments": ""}}]),
        chunk(tool_calls=[{"index": 0, "function": {"arguments": '{"city":'}}]),
        chunk(tool_calls=[{"index": 0, "function": {"arguments": ' "Paris"}'}}]),
        chunk(finish="tool_calls"), usage_chunk(20, 9))))
    chunks = list(openai_client(server).chat_stream_ollama(request(tools=[WEATHER])))
    done = check_ollama_stream(chunks)
    with_tools = [c for c in chunks if c.message.tool_calls]
    assert len(with_tools) == 1 and with_tools[0] is chunks[-2]
    assert with_tools[0].message.tool_calls == [
        {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}, "id": "call_abc"}]
    assert done.done_reason == "stop"  # Ollama's word for a turn that ends in tool calls
    assert (done.prompt_eval_count, done.eval_count) == (20, 9)


def test_an_upstream_error_propagates_without_a_done_chunk(server):
    server.add(Reply(parts=sse(chunk("Once"), {"error": {"message": "server melted", "type": "server_error"}},
                               done=False)))
    seen = []
    with pytest.raises(ServerError, match="server melted"):
        for c in openai_client(server).chat_stream_ollama(request()):
            seen.append(c)
    assert [c.message.content for c in seen] == ["Once"]
    assert not any(c.done for c in seen)


def test_leaving_the_loop_closes_the_upstream_connection(server):
    first, rest = sse(chunk("Once")), sse(chunk(" upon", finish="stop"))
    server.add(Reply(parts=first[:1] + [Pause(2.0)] + rest))
    for _ in openai_client(server).chat_stream_ollama(request()):
        break
    assert server.requests[0].closed_by_client.wait(3.0)


def test_a_held_ollama_stream_stays_open_after_break_and_close_closes_upstream(server):
    first, rest = sse(chunk("Once")), sse(chunk(" upon", finish="stop"))
    server.add(Reply(parts=first[:1] + [Pause(2.0)] + rest))
    stream = openai_client(server).chat_stream_ollama(request())
    for _ in stream:
        break
    assert not stream.closed and not server.requests[0].closed_by_client.wait(0.2)
    stream.close()
    assert stream.closed
    assert server.requests[0].closed_by_client.wait(3.0)


# -- over Ollama itself ------------------------------------------------------------------------------------


def ollama_line(content="", thinking=None, tool_calls=None, done=False, **extra):
    message = {"role": "assistant", "content": content}
    if thinking is not None:
        message["thinking"] = thinking
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    obj = {"model": "llama3.2", "created_at": "2025-01-01T00:00:00Z", "message": message, "done": done}
    obj.update(extra)
    return obj


def test_ollama_through_the_bridge_keeps_text_thinking_counts_and_its_measured_durations(server):
    server.add(Reply.ndjson(
        ollama_line(thinking="Hmm."), ollama_line("Once"), ollama_line(" upon"),
        ollama_line(" a time", done=True, done_reason="stop", total_duration=900, load_duration=100,
                    prompt_eval_count=26, prompt_eval_duration=200, eval_count=5, eval_duration=600)))
    client = LlmClient.ollama(base_url=server.url, max_retries=0)
    chunks = list(client.chat_stream_ollama(request()))
    done = check_ollama_stream(chunks)
    assert joined(chunks) == "Once upon a time"
    assert chunks[0].message.thinking == "Hmm."
    assert done.done_reason == "stop"
    assert (done.prompt_eval_count, done.eval_count) == (26, 5)
    assert (done.total_duration, done.load_duration, done.prompt_eval_duration, done.eval_duration) == (
        900, 100, 200, 600)


def test_ollama_tool_calls_through_the_bridge_come_out_in_ollamas_shape(server):
    call = {"function": {"name": "get_weather", "arguments": {"city": "Rome"}}}
    server.add(Reply.ndjson(ollama_line(tool_calls=[call]),
                            ollama_line(done=True, done_reason="stop", prompt_eval_count=3, eval_count=4)))
    chunks = list(LlmClient.ollama(base_url=server.url, max_retries=0).chat_stream_ollama(request(tools=[WEATHER])))
    done = check_ollama_stream(chunks)
    assert chunks[-2].message.tool_calls == [
        {"function": {"name": "get_weather", "arguments": {"city": "Rome"}}, "id": "call_0"}]
    assert done.done_reason == "stop"


# -- over the mock provider --------------------------------------------------------------------------------


def test_mock_stream_through_the_bridge_keeps_every_word_and_the_usage():
    client = LlmClient.mock(reply=MockReply(text="Once upon a time there was a llama", usage=Usage(7, 8, 15)))
    chunks = list(client.chat_stream_ollama(request()))
    done = check_ollama_stream(chunks)
    assert joined(chunks) == "Once upon a time there was a llama"
    assert done.done_reason == "stop"
    assert (done.prompt_eval_count, done.eval_count) == (7, 8)


def test_mock_stream_without_usage_writes_no_counts():
    client = LlmClient.mock(reply="Hello there", usage=False)
    done = check_ollama_stream(list(client.chat_stream_ollama(request())))
    assert (done.prompt_eval_count, done.eval_count) == (None, None)


def test_mock_error_mid_stream_propagates_after_the_text_before_it():
    client = LlmClient.mock(reply=MockReply(text="one two three", error=ServerError("boom"), error_after=1))
    seen = []
    with pytest.raises(ServerError, match="boom"):
        for c in client.chat_stream_ollama(request()):
            seen.append(c)
    assert [c.message.content for c in seen] == ["one"]


def test_the_bridge_written_as_ndjson_is_one_parseable_json_object_per_line():
    client = LlmClient.mock(reply="Line one and two", usage=True)
    text = "".join(c.to_ndjson() for c in client.chat_stream_ollama(request()))
    objects = [json.loads(line) for line in text.split("\n") if line]
    assert [o["done"] for o in objects][-1] is True
    assert sum(o["done"] for o in objects) == 1
    assert "".join(o["message"]["content"] for o in objects) == "Line one and two"


# -- over Anthropic and Gemini ----------------------------------------------------------------------------


def _anthropic_events(*texts, stop="end_turn", input_tokens=11, output_tokens=7):
    events = [("message_start", {"type": "message_start", "message": {
        "id": "msg_1", "model": "claude", "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "thinking", "thinking": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "thinking_delta", "thinking": "hmm"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1,
                                 "content_block": {"type": "text", "text": ""}})]
    for t in texts:
        events.append(("content_block_delta", {"type": "content_block_delta", "index": 1,
                                               "delta": {"type": "text_delta", "text": t}}))
    events += [("content_block_stop", {"type": "content_block_stop", "index": 1}),
               ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop},
                                  "usage": {"output_tokens": output_tokens}}),
               ("message_stop", {"type": "message_stop"})]
    return events


def test_anthropic_stream_through_the_bridge_keeps_text_thinking_and_counts(server):
    server.add(Reply.sse(*_anthropic_events("Once", " upon", " a time")))
    client = LlmClient.anthropic("sk-ant", base_url=server.url, max_retries=0)
    chunks = list(client.chat_stream_ollama(request()))
    final = check_ollama_stream(chunks)
    assert joined(chunks) == "Once upon a time"
    assert "".join(c.message.thinking or "" for c in chunks) == "hmm"
    assert (final.done_reason, final.prompt_eval_count, final.eval_count) == ("stop", 11, 7)


def test_anthropic_max_tokens_is_done_reason_length(server):
    server.add(Reply.sse(*_anthropic_events("cut", stop="max_tokens")))
    client = LlmClient.anthropic("sk-ant", base_url=server.url, max_retries=0)
    assert check_ollama_stream(list(client.chat_stream_ollama(request()))).done_reason == "length"


def test_gemini_stream_through_the_bridge_keeps_text_in_the_last_event_and_the_usage_once(server):
    def event(text, finish=None, usage=None):
        candidate = {"index": 0, "content": {"role": "model", "parts": [{"text": text}]}}
        if finish:
            candidate["finishReason"] = finish
        obj = {"candidates": [candidate], "modelVersion": "gemini-x"}
        if usage:
            obj["usageMetadata"] = usage
        return obj

    partial = {"promptTokenCount": 4, "totalTokenCount": 4}
    server.add(Reply.sse(event("Hello", usage=partial), event(" there", usage=partial),
                         event(" friend", finish="STOP",
                               usage={"promptTokenCount": 4, "candidatesTokenCount": 3, "totalTokenCount": 7})))
    client = LlmClient.google("g-key", base_url=server.url, max_retries=0)
    chunks = list(client.chat_stream_ollama(request()))
    final = check_ollama_stream(chunks)
    assert joined(chunks) == "Hello there friend"
    assert (final.done_reason, final.prompt_eval_count, final.eval_count) == ("stop", 4, 3)



def _pieces_chunk(*pieces):
    return StreamingResponse("c", "chat.completion.chunk", 0, "m", [StreamingChoice(0, Delta(None, None, None,
                             list(pieces)))])


def test_sparse_tool_call_indexes_merge_the_same_in_collect_and_in_the_ollama_bridge():
    chunks = [
        _pieces_chunk(ToolCall("call_a", "function", FunctionCall("a", "{"), 0)),
        _pieces_chunk(ToolCall("call_c", "function", FunctionCall("c", "{"), 2)),
        # No index, no id: the rest of the latest call (call 2), in collect() and in the bridge alike.
        _pieces_chunk(ToolCall("", "function", FunctionCall("", "}"), None)),
        _pieces_chunk(ToolCall("", "function", FunctionCall("", "}"), 0)),
        # No index but an id: a new call after the highest index.
        _pieces_chunk(ToolCall("call_d", "function", FunctionCall("d", "{}"), None)),
    ]
    accumulator = StreamAccumulator()
    for c in chunks:
        accumulator.add(c)
    assert [(c.id, c.function.name, c.function.arguments, c.index) for c in accumulator.result().tool_calls] == [
        ("call_a", "a", "{}", 0), ("call_c", "c", "{}", 2), ("call_d", "d", "{}", 3)]
    bridged = list(load("ollama").encode_stream(iter(chunks), "bridge-model"))
    check_ollama_stream(bridged)
    assert bridged[-2].message.tool_calls == [
        {"function": {"name": "a", "arguments": {}}, "id": "call_a"},
        {"function": {"name": "c", "arguments": {}}, "id": "call_c"},
        {"function": {"name": "d", "arguments": {}}, "id": "call_d"}]
