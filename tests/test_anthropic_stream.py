"""Anthropic's server-sent event stream over the local server: every event type, every failure."""

import json

import pytest

from llm_connector import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ChatRequest,
    IncompleteStreamError,
    LlmClient,
    Message,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    StreamParseError,
    Tool,
)
from llm_connector.testing import Close, Reply, Reset

WEATHER = Tool.function("get_weather", "Weather for a city", {"type": "object"})


def client_for(server):
    return LlmClient.anthropic("sk-ant-test", base_url=server.url, max_retries=0)


def request(**kw):
    kw.setdefault("model", "claude-test")
    kw.setdefault("messages", [Message.user("hi")])
    return ChatRequest(**kw)


# -- events, as the service writes them -------------------------------------------------------------------


def ev(obj):
    """One event: ``event: <type>`` and its JSON data."""
    return (obj["type"], obj)


def message_start(input_tokens=12, **usage):
    usage = dict({"input_tokens": input_tokens, "output_tokens": 1}, **usage)
    return ev({"type": "message_start", "message": {
        "id": "msg_abc", "type": "message", "role": "assistant", "content": [], "model": "claude-test",
        "stop_reason": None, "stop_sequence": None, "usage": usage}})


def block_start(index, block):
    return ev({"type": "content_block_start", "index": index, "content_block": block})


def block_delta(index, delta):
    return ev({"type": "content_block_delta", "index": index, "delta": delta})


def text(index, piece):
    return block_delta(index, {"type": "text_delta", "text": piece})


def thinking(index, piece):
    return block_delta(index, {"type": "thinking_delta", "thinking": piece})


def signature(index, sig):
    return block_delta(index, {"type": "signature_delta", "signature": sig})


def json_piece(index, piece):
    return block_delta(index, {"type": "input_json_delta", "partial_json": piece})


def block_stop(index):
    return ev({"type": "content_block_stop", "index": index})


def message_delta(stop_reason="end_turn", **usage):
    obj = {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}}
    if usage:
        obj["usage"] = usage
    return ev(obj)


PING = ev({"type": "ping"})
MESSAGE_STOP = ev({"type": "message_stop"})


def text_stream(*pieces):
    return [message_start(), block_start(0, {"type": "text", "text": ""})] + [text(0, p) for p in pieces] + [
        block_stop(0), message_delta(output_tokens=15), MESSAGE_STOP]


def wire(*events):
    """The events as the service writes them: ``event: <type>`` then ``data: <json>``, one string each."""
    return [f"event: {name}\ndata: {json.dumps(obj)}\n\n" for name, obj in events]


def stream(server, *events, **kw):
    server.add(Reply.sse(*events))
    return client_for(server).chat_stream(request(**kw))


def read_until_error(chat_stream):
    """The chunks delivered before the stream raised, and the error."""
    chunks = []
    with pytest.raises(Exception) as caught:
        for c in chat_stream:
            chunks.append(c)
    return chunks, caught.value


# -- every event type ------------------------------------------------------------------------------------


def test_a_text_stream_gives_role_then_text_then_finish_with_usage(server):
    chunks = list(stream(server, *text_stream("Hello", ", world")))
    assert [c.content for c in chunks] == ["", "Hello", ", world", ""]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert {(c.id, c.model, c.object) for c in chunks} == {("msg_abc", "claude-test", "chat.completion.chunk")}
    last = chunks[-1]
    assert (last.finish_reason, last.choices[0].finish_reason_raw) == ("stop", "end_turn")
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (12, 15, 27)
    assert all(c.usage is None for c in chunks[:-1])


def test_the_request_asks_for_a_stream(server):
    list(stream(server, *text_stream("x")))
    sent = server.requests[0]
    assert sent.json()["stream"] is True
    assert sent.headers["accept"] == "text/event-stream"


def test_ping_and_content_block_stop_events_yield_nothing(server):
    chunks = list(stream(server, message_start(), PING, block_start(0, {"type": "text", "text": ""}), PING,
                         text(0, "a"), block_stop(0), PING, message_delta(output_tokens=2), MESSAGE_STOP))
    assert [c.content for c in chunks] == ["", "a", ""]


def test_unknown_event_and_delta_types_are_skipped(server):
    chunks = list(stream(
        server, message_start(), ev({"type": "brand_new_event", "x": 1}), block_start(0, {"type": "text", "text": ""}),
        block_delta(0, {"type": "citations_delta", "citation": {"cited_text": "c"}}),
        block_delta(0, {"type": "shiny_delta", "value": 3}), text(0, "ok"), message_delta(output_tokens=2),
        MESSAGE_STOP))
    assert "".join(c.content for c in chunks) == "ok"


def test_usage_is_the_last_word_of_the_service_not_a_sum(server):
    events = [message_start(input_tokens=30), text(0, "x"),
              message_delta(output_tokens=42, input_tokens=31), MESSAGE_STOP]
    usage = stream(server, *events).collect().usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (31, 42, 73)


def test_stream_usage_counts_cache_reads_and_writes_in_prompt_tokens(server):
    events = [message_start(input_tokens=4, cache_read_input_tokens=1000, cache_creation_input_tokens=50),
              text(0, "x"), message_delta(output_tokens=3), MESSAGE_STOP]
    usage = stream(server, *events).collect().usage
    assert (usage.prompt_tokens, usage.cached_tokens, usage.cache_creation_tokens) == (1054, 1000, 50)


def test_a_stream_that_reports_no_usage_has_usage_none(server):
    start = ev({"type": "message_start", "message": {"id": "m", "model": "claude-test"}})
    chunks = list(stream(server, start, text(0, "x"), message_delta(), MESSAGE_STOP))
    assert [c.usage for c in chunks] == [None, None, None]


@pytest.mark.parametrize("raw, normalized", [
    ("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("tool_use", "tool_calls"),
])
def test_stop_reason_is_normalized_with_the_raw_word_kept(server, raw, normalized):
    response = stream(server, message_start(), text(0, "x"), message_delta(raw, output_tokens=1),
                      MESSAGE_STOP).collect()
    assert (response.finish_reason, response.choices[0].finish_reason_raw) == (normalized, raw)


def test_thinking_deltas_are_reasoning_and_never_content(server):
    chunks = list(stream(
        server, message_start(), block_start(0, {"type": "thinking", "thinking": ""}), thinking(0, "Let me "),
        thinking(0, "think."), signature(0, "sig-xyz"), block_stop(0),
        block_start(1, {"type": "text", "text": ""}), text(1, "42"), block_stop(1),
        message_delta(output_tokens=9), MESSAGE_STOP, thinking_budget=2048))
    assert [c.reasoning_content for c in chunks if c.reasoning_content] == ["Let me ", "think."]
    assert "".join(c.content for c in chunks) == "42"
    assert [c.choices[0].delta.thinking_signature for c in chunks if c.choices[0].delta.thinking_signature] == [
        "sig-xyz"]


def test_collect_builds_a_signed_thinking_block_from_the_deltas(server):
    response = stream(
        server, message_start(), block_start(0, {"type": "thinking", "thinking": ""}), thinking(0, "Hmm, "),
        thinking(0, "ok."), signature(0, "EqQBCgIYAh"), block_stop(0), block_start(1, {"type": "text", "text": ""}),
        text(1, "Yes."), message_delta(output_tokens=9), MESSAGE_STOP).collect()
    assert (response.content, response.reasoning_content) == ("Yes.", "Hmm, ok.")
    assert response.message.thinking_blocks == [{"type": "thinking", "thinking": "Hmm, ok.", "signature": "EqQBCgIYAh"}]


def test_a_tool_use_block_starts_with_id_name_and_empty_arguments_never_braces(server):
    chunks = list(stream(
        server, message_start(), block_start(0, {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                                 "input": {}}),
        json_piece(0, ""), json_piece(0, '{"city": "bei'), json_piece(0, 'jing"}'), block_stop(0),
        message_delta("tool_use", output_tokens=20), MESSAGE_STOP, tools=[WEATHER]))
    pieces = [(t.id, t.function.name, t.function.arguments, t.index) for c in chunks for t in c.tool_calls]
    assert pieces == [("toolu_1", "get_weather", "", 0), ("", "", '{"city": "bei', 0), ("", "", 'jing"}', 0)]


def test_tool_calls_after_a_text_block_are_numbered_from_zero_and_collect_merges_them(server):
    response = stream(
        server, message_start(), block_start(0, {"type": "text", "text": ""}), text(0, "Two calls."), block_stop(0),
        block_start(1, {"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}}),
        json_piece(1, '{"city":'), json_piece(1, '"Oslo"}'), block_stop(1),
        block_start(2, {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {}}),
        json_piece(2, '{"city":"Rome"}'), block_stop(2),
        message_delta("tool_use", output_tokens=30), MESSAGE_STOP, tools=[WEATHER]).collect()
    assert [(c.id, c.index, c.arguments_json()) for c in response.tool_calls] == [
        ("toolu_a", 0, {"city": "Oslo"}), ("toolu_b", 1, {"city": "Rome"})]
    assert (response.content, response.finish_reason) == ("Two calls.", "tool_calls")


def test_a_tool_without_input_collects_to_empty_arguments(server):
    response = stream(
        server, message_start(), block_start(0, {"type": "tool_use", "id": "toolu_1", "name": "now", "input": {}}),
        block_stop(0), message_delta("tool_use", output_tokens=3), MESSAGE_STOP).collect()
    call = response.tool_calls[0]
    assert (call.id, call.name, call.arguments, call.arguments_json()) == ("toolu_1", "now", "", {})


def test_server_tool_use_in_a_stream_is_not_a_tool_call(server):
    response = stream(
        server, message_start(),
        block_start(0, {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}}),
        json_piece(0, '{"query": "news"}'), block_stop(0),
        block_start(1, {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []}),
        block_stop(1), block_start(2, {"type": "text", "text": ""}), text(2, "News."),
        message_delta(output_tokens=5), MESSAGE_STOP).collect()
    assert response.tool_calls == []
    assert response.content == "News."


def test_events_written_one_byte_at_a_time_decode_the_same(server):
    raw = "".join(wire(*text_stream("héllo", " ✓"))).encode("utf-8")
    server.add(Reply(headers={"Content-Type": "text/event-stream"}, parts=[raw[i:i + 1] for i in range(len(raw))]))
    response = client_for(server).chat_stream(request()).collect()
    assert response.content == "héllo ✓"
    assert response.usage.completion_tokens == 15


def test_data_lines_without_event_names_decode_the_same(server):
    server.add(Reply.sse(*[obj for _, obj in text_stream("plain")]))
    assert client_for(server).chat_stream(request()).text() == "plain"


# -- failures --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, cls", [
    ("overloaded_error", OverloadedError),
    ("rate_limit_error", RateLimitError),
    ("api_error", ServerError),
    ("invalid_request_error", BadRequestError),
    ("authentication_error", AuthenticationError),
    ("permission_error", PermissionDeniedError),
    ("not_found_error", NotFoundError),
])
def test_an_error_event_mid_stream_raises_the_typed_error_after_the_chunks_before_it(server, kind, cls):
    error = ev({"type": "error", "error": {"type": kind, "message": "Stream failed: " + kind}})
    chunks, err = read_until_error(stream(server, message_start(), text(0, "partial "), text(0, "answer"), error,
                                          text(0, "never"), MESSAGE_STOP))
    assert "".join(c.content for c in chunks) == "partial answer"
    assert type(err) is cls
    assert (err.code, err.message, err.status_code) == (kind, "Stream failed: " + kind, 200)  # the stream's status


def test_an_error_event_with_plain_text_data_still_raises(server):
    server.add(Reply(headers={"Content-Type": "text/event-stream"},
                     parts=["event: error\ndata: upstream went away\n\n"]))
    with pytest.raises(APIStatusError, match="upstream went away"):
        list(client_for(server).chat_stream(request()))


def test_a_stream_cut_before_message_stop_raises_incomplete_after_the_chunks(server):
    events = [message_start(), text(0, "Hel"), text(0, "lo")]
    server.add(Reply(headers={"Content-Type": "text/event-stream"}, framing="close",
                     parts=wire(*events) + [Close()]))
    chunks, err = read_until_error(client_for(server).chat_stream(request()))
    assert "".join(c.content for c in chunks) == "Hello"
    assert isinstance(err, IncompleteStreamError)
    assert "message_stop" in str(err)


def test_a_stream_ending_cleanly_without_message_stop_raises_incomplete(server):
    chunks, err = read_until_error(stream(server, message_start(), text(0, "x"), message_delta(output_tokens=1)))
    assert len(chunks) == 3
    assert isinstance(err, IncompleteStreamError)


def test_a_connection_reset_mid_stream_raises_incomplete(server):
    server.add(Reply(headers={"Content-Type": "text/event-stream"},
                     parts=wire(message_start()) + [Reset()]))
    chunks, err = read_until_error(client_for(server).chat_stream(request()))
    assert len(chunks) == 1
    assert isinstance(err, IncompleteStreamError)


def test_a_data_line_that_is_not_json_raises_stream_parse_error_naming_the_provider(server):
    server.add(Reply(headers={"Content-Type": "text/event-stream"}, parts=wire(message_start()) + [
        "event: content_block_delta\ndata: {not json at all\n\n",
    ]))
    chunks, err = read_until_error(client_for(server).chat_stream(request()))
    assert len(chunks) == 1
    assert isinstance(err, StreamParseError)
    assert err.provider == "anthropic"
    assert "{not json at all" in str(err)


def test_a_data_line_that_is_json_but_not_an_object_raises_stream_parse_error(server):
    server.add(Reply(headers={"Content-Type": "text/event-stream"}, parts=["data: [1, 2]\n\n"]))
    with pytest.raises(StreamParseError):
        list(client_for(server).chat_stream(request()))


# -- a thinking tool round trip over streams -------------------------------------------------------------


def test_a_streamed_thinking_tool_round_trip_sends_the_signed_thinking_back_before_the_tool_use(server):
    server.add(Reply.sse(
        message_start(), block_start(0, {"type": "thinking", "thinking": ""}), thinking(0, "Call the tool."),
        signature(0, "sig-777"), block_stop(0),
        block_start(1, {"type": "tool_use", "id": "toolu_5", "name": "get_weather", "input": {}}),
        json_piece(1, '{"city":"Lima"}'), block_stop(1), message_delta("tool_use", output_tokens=12), MESSAGE_STOP))
    server.add(Reply.sse(*text_stream("Warm in Lima.")))
    client = client_for(server)
    messages = [Message.user("Lima?")]
    first = client.chat_stream(request(messages=messages, tools=[WEATHER], thinking_budget=2048)).collect()
    messages += [first.to_message(), Message.tool("25C", tool_call_id=first.tool_calls[0].id)]
    final = client.chat_stream(request(messages=messages, tools=[WEATHER], thinking_budget=2048)).collect()
    assert final.content == "Warm in Lima."
    assert server.requests[1].json()["messages"][1:] == [
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Call the tool.", "signature": "sig-777"},
            {"type": "tool_use", "id": "toolu_5", "name": "get_weather", "input": {"city": "Lima"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_5", "content": "25C"}]},
    ]


def test_streamed_redacted_thinking_is_kept_for_replay_by_collect(server):
    from llm_connector import ChatRequest, LlmClient, Message
    from llm_connector.testing import Reply

    server.add(Reply.sse(
        ("message_start", {"type": "message_start", "message": {"id": "msg_r", "model": "claude", "usage":
                                                                {"input_tokens": 1, "output_tokens": 0}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "redacted_thinking", "data": "ENCRYPTED"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                 "delta": {"type": "text_delta", "text": "ok"}}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 3}}),
        ("message_stop", {"type": "message_stop"}),
    ))
    client = LlmClient.anthropic("k", base_url=server.url, max_retries=0)
    response = client.chat_stream(ChatRequest(model="claude", messages=[Message.user("hi")])).collect()
    assert response.content == "ok"
    assert response.message.thinking_blocks == [{"type": "redacted_thinking", "data": "ENCRYPTED"}]
