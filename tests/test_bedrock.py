"""Claude on AWS Bedrock over the local server: SigV4-signed InvokeModel, event-stream frames, exceptions."""

import base64
import datetime
import json

import pytest

from llm_connector import (
    APIStatusError,
    BadRequestError,
    ChatRequest,
    IncompleteStreamError,
    LlmClient,
    Message,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    StreamParseError,
    Tool,
    UnsupportedOperationError,
)
from llm_connector.auth import AwsSigV4Auth
from llm_connector.eventstream import encode_event_stream_message
from llm_connector.testing import Reply

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
QUOTED = "anthropic.claude-3-5-sonnet-20240620-v1%3A0"
FIXED_TIME = datetime.datetime(2024, 5, 1, 12, 30, 0, tzinfo=datetime.timezone.utc)
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def client_for(server, **kw):
    return LlmClient.anthropic_bedrock("us-west-2", "AKIDEXAMPLE", SECRET, base_url=server.url, max_retries=0, **kw)


def request(**kw):
    kw.setdefault("messages", [Message.user("hi")])
    return ChatRequest(model=MODEL, **kw)


ANSWER = {"id": "msg_bdrk_1", "type": "message", "role": "assistant", "model": "claude-3-5-sonnet-20240620",
          "content": [{"type": "text", "text": "Hello from Bedrock"}], "stop_reason": "end_turn",
          "usage": {"input_tokens": 9, "output_tokens": 5}}


# -- frames, as Bedrock writes them ----------------------------------------------------------------------


def chunk_frame(event):
    """A ``chunk`` event frame carrying one Anthropic stream event as base64 ``bytes``."""
    encoded = base64.b64encode(json.dumps(event).encode("utf-8")).decode("ascii")
    payload = json.dumps({"bytes": encoded, "p": "abcdefghij"}).encode("utf-8")
    headers = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    return encode_event_stream_message(headers, payload)


def exception_frame(kind, text):
    headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
    return encode_event_stream_message(headers, json.dumps({"message": text}).encode("utf-8"))


START = {"type": "message_start", "message": {"id": "msg_bdrk_2", "model": "claude-3-5-sonnet-20240620",
                                              "usage": {"input_tokens": 11, "output_tokens": 1}}}
BLOCK = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}


def text_event(piece):
    return {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}


END = [
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 6}},
    {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 11, "outputTokenCount": 6}},
]


def text_frames(*pieces):
    return [chunk_frame(e) for e in [START, BLOCK] + [text_event(p) for p in pieces] + END]


def stream_reply(parts):
    return Reply(headers={"Content-Type": "application/vnd.amazon.eventstream"}, parts=parts)


def read_until_error(chat_stream):
    chunks = []
    with pytest.raises(Exception) as caught:
        for c in chat_stream:
            chunks.append(c)
    return chunks, caught.value


# -- request ---------------------------------------------------------------------------------------------


def test_invoke_posts_to_the_model_path_with_the_id_percent_encoded(server):
    server.add(Reply.json(ANSWER))
    response = client_for(server).chat(request())
    sent = server.requests[0]
    assert (sent.method, sent.path) == ("POST", "/model/" + QUOTED + "/invoke")
    assert (response.content, response.finish_reason, response.usage.total_tokens) == ("Hello from Bedrock", "stop", 14)


def test_a_stream_posts_to_invoke_with_response_stream(server):
    server.add(stream_reply(text_frames("x")))
    list(client_for(server).chat_stream(request()))
    sent = server.requests[0]
    assert sent.path == "/model/" + QUOTED + "/invoke-with-response-stream"
    assert sent.headers["accept"] == "application/vnd.amazon.eventstream"


def test_the_body_is_anthropic_messages_with_the_bedrock_version_and_no_model_or_stream(server):
    server.add(stream_reply(text_frames("x")))
    tool = Tool.function("get_weather", "Weather", {"type": "object"})
    list(client_for(server).chat_stream(request(
        messages=[Message.system("Be brief."), Message.user("hi")], tools=[tool], thinking_budget=1024, stop="END")))
    assert server.requests[0].json() == {
        "anthropic_version": "bedrock-2023-05-31",
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 4096,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "stop_sequences": ["END"],
        "tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}],
    }
    assert "anthropic-version" not in server.requests[0].headers


def test_the_request_is_signed_with_sigv4_for_bedrock_in_the_region(server):
    server.add(Reply.json(ANSWER))
    client_for(server).chat(request())
    headers = server.requests[0].headers
    authorization = headers["authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-west-2/bedrock/aws4_request, SignedHeaders=" in authorization
    assert len(headers["x-amz-date"]) == len("20240501T123000Z")
    assert SECRET not in json.dumps(dict(headers))


def test_a_session_token_is_sent_and_signed(server):
    server.add(Reply.json(ANSWER))
    client_for(server, session_token="FwoGZXIvYXdzEXAMPLE").chat(request())
    headers = server.requests[0].headers
    assert headers["x-amz-security-token"] == "FwoGZXIvYXdzEXAMPLE"
    assert "x-amz-security-token" in headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")


def test_the_signature_covers_the_exact_path_headers_and_body_that_arrived(server):
    server.add(Reply.json(ANSWER))
    auth = AwsSigV4Auth("AKIDEXAMPLE", SECRET, "us-east-1", "bedrock", clock=lambda: FIXED_TIME)
    LlmClient("anthropic_bedrock", base_url=server.url, auth=auth, max_retries=0).chat(request())
    sent = server.requests[0]
    signed = sent.headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert {"content-type", "host", "x-amz-date"} <= set(signed)
    assert sent.headers["x-amz-date"] == "20240501T123000Z"
    again = auth.sign("POST", server.url + sent.target, {name: sent.headers[name] for name in signed}, sent.body)
    assert again.authorization == sent.headers["authorization"]
    assert again.canonical_request.split("\n")[1] == "/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/invoke"


# -- stream ----------------------------------------------------------------------------------------------


def one_part(frames):
    return [b"".join(frames)]


def frame_per_part(frames):
    return list(frames)


def every_byte(frames):
    data = b"".join(frames)
    return [data[i:i + 1] for i in range(len(data))]


def seven_bytes(frames):
    data = b"".join(frames)
    return [data[i:i + 7] for i in range(0, len(data), 7)]


def across_boundaries(frames):
    """Cuts inside the prelude, inside the headers, and one byte either side of each frame boundary."""
    data = b"".join(frames)
    cuts, offset = {3, 11, 13, 30}, 0
    for frame in frames:
        offset += len(frame)
        cuts.update({offset - 1, offset + 1, offset + 5})
    points = [0] + sorted(c for c in cuts if 0 < c < len(data)) + [len(data)]
    return [data[a:b] for a, b in zip(points, points[1:])]


@pytest.mark.parametrize("split", [one_part, frame_per_part, every_byte, seven_bytes, across_boundaries])
def test_frames_split_anywhere_across_reads_decode_to_the_same_chunks(server, split):
    server.add(stream_reply(split(text_frames("Hel", "lo ", "wörld"))))
    chunks = list(client_for(server).chat_stream(request()))
    assert [c.content for c in chunks] == ["", "Hel", "lo ", "wörld", ""]
    assert chunks[0].choices[0].delta.role == "assistant"
    last = chunks[-1]
    assert (last.id, last.model) == ("msg_bdrk_2", "claude-3-5-sonnet-20240620")
    assert (last.finish_reason, last.usage.prompt_tokens, last.usage.completion_tokens) == ("stop", 11, 6)


def test_thinking_and_tool_use_events_inside_frames_are_handled_like_sse(server):
    events = [
        START,
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Use a tool."}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig-b"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1,
         "content_block": {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {}}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"c":'}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '"Oslo"}'}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 30}},
        {"type": "message_stop"},
    ]
    server.add(stream_reply([chunk_frame(e) for e in events]))
    response = client_for(server).chat_stream(request()).collect()
    assert response.reasoning_content == "Use a tool."
    assert response.message.thinking_blocks == [{"type": "thinking", "thinking": "Use a tool.", "signature": "sig-b"}]
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [("toolu_b", "get_weather", '{"c":"Oslo"}')]
    assert response.finish_reason == "tool_calls"


def test_frames_of_other_event_types_are_skipped(server):
    other = encode_event_stream_message({":message-type": "event", ":event-type": "metadata"}, b"{}")
    frames = text_frames("ok")
    server.add(stream_reply(frames[:2] + [other] + frames[2:]))
    assert client_for(server).chat_stream(request()).text() == "ok"


@pytest.mark.parametrize("kind, cls", [
    ("throttlingException", RateLimitError),
    ("validationException", BadRequestError),
    ("internalServerException", ServerError),
    ("serviceUnavailableException", ServerError),
    ("modelStreamErrorException", ServerError),
    ("modelTimeoutException", ServerError),
    ("modelNotReadyException", RateLimitError),
])
def test_an_exception_frame_mid_stream_raises_the_typed_error_after_the_chunks_before_it(server, kind, cls):
    frames = text_frames("partial", "never")
    server.add(stream_reply(frames[:3] + [exception_frame(kind, "Bedrock says " + kind)] + frames[3:]))
    chunks, err = read_until_error(client_for(server).chat_stream(request()))
    assert [c.content for c in chunks] == ["", "partial"]
    assert isinstance(err, cls)
    assert (err.code, err.message, err.provider) == (kind, "Bedrock says " + kind, "anthropic_bedrock")


def test_an_unknown_exception_type_is_still_an_api_status_error(server):
    server.add(stream_reply(text_frames()[:1] + [exception_frame("newKindOfException", "odd")]))
    chunks, err = read_until_error(client_for(server).chat_stream(request()))
    assert len(chunks) == 1
    assert isinstance(err, APIStatusError)
    assert (err.message, err.code) == ("odd", "newKindOfException")


def test_an_error_message_frame_raises_with_its_error_message_header(server):
    error = encode_event_stream_message(
        {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "it broke"}, b"")
    server.add(stream_reply(text_frames()[:1] + [error]))
    chunks, err = read_until_error(client_for(server).chat_stream(request()))
    assert isinstance(err, APIStatusError)
    assert (err.message, err.code) == ("it broke", "InternalFailure")


def test_a_frame_with_a_corrupt_message_crc_raises_stream_parse_error_after_the_good_frames(server):
    frames = text_frames("good", "bad")
    bad = bytearray(frames[3])
    bad[-10] ^= 0x01  # a payload byte: the message CRC no longer matches
    server.add(stream_reply(frames[:3] + [bytes(bad)] + frames[4:]))
    chunks, err = read_until_error(client_for(server).chat_stream(request()))
    assert [c.content for c in chunks] == ["", "good"]
    assert isinstance(err, StreamParseError)
    assert err.provider == "anthropic_bedrock"
    assert "CRC" in str(err)


def test_a_frame_with_a_corrupt_prelude_crc_raises_stream_parse_error(server):
    frames = text_frames("x")
    bad = bytearray(frames[1])
    bad[8] ^= 0xFF
    server.add(stream_reply(frames[:1] + [bytes(bad)] + frames[2:]))
    chunks, err = read_until_error(client_for(server).chat_stream(request()))
    assert len(chunks) == 1
    assert isinstance(err, StreamParseError)


def test_a_body_ending_inside_a_frame_raises_incomplete(server):
    frames = text_frames("x")
    server.add(stream_reply(frames[:3] + [frames[3][:20]]))
    chunks, err = read_until_error(client_for(server).chat_stream(request()))
    assert [c.content for c in chunks] == ["", "x"]
    assert isinstance(err, IncompleteStreamError)
    assert err.provider == "anthropic_bedrock"


def test_a_stream_without_message_stop_raises_incomplete(server):
    server.add(stream_reply(text_frames("x")[:-1]))
    chunks, err = read_until_error(client_for(server).chat_stream(request()))
    assert chunks[-1].finish_reason == "stop"
    assert isinstance(err, IncompleteStreamError)


def test_a_chunk_whose_bytes_are_not_base64_raises_stream_parse_error(server):
    bad = encode_event_stream_message({":message-type": "event", ":event-type": "chunk"},
                                      b'{"bytes": "not base64!!"}')
    server.add(stream_reply(text_frames()[:1] + [bad]))
    chunks, err = read_until_error(client_for(server).chat_stream(request()))
    assert len(chunks) == 1
    assert isinstance(err, StreamParseError)
    assert "base64" in str(err)


def test_a_chunk_whose_event_is_not_json_raises_stream_parse_error(server):
    payload = json.dumps({"bytes": base64.b64encode(b"{oops").decode("ascii")}).encode("utf-8")
    bad = encode_event_stream_message({":message-type": "event", ":event-type": "chunk"}, payload)
    server.add(stream_reply([bad]))
    with pytest.raises(StreamParseError, match="oops"):
        list(client_for(server).chat_stream(request()))


# -- HTTP errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status, kind, cls", [
    (400, "ValidationException", BadRequestError),
    (403, "AccessDeniedException", PermissionDeniedError),
    (404, "ResourceNotFoundException", NotFoundError),
    (429, "ThrottlingException", RateLimitError),
    (503, "ServiceUnavailableException", ServerError),
])
def test_http_errors_carry_bedrock_message_and_request_id(server, status, kind, cls):
    server.add(Reply.json({"message": "Bedrock: " + kind}, status=status, headers={
        "x-amzn-ErrorType": kind + ":http://internal.amazon.com/coral/com.amazon.bedrock/",
        "x-amzn-RequestId": "rid-123"}))
    with pytest.raises(cls) as caught:
        client_for(server).chat_stream(request())
    err = caught.value
    assert (err.status_code, err.message, err.request_id) == (status, "Bedrock: " + kind, "rid-123")


def test_bedrock_offers_no_model_list(server):
    with pytest.raises(UnsupportedOperationError):
        client_for(server).models()
    assert server.requests == []


@pytest.mark.parametrize("status, aws_type, cls", [
    (424, "ModelErrorException", "ServerError"),
    (429, "ThrottlingException", "RateLimitError"),
    (403, "UnrecognizedClientException", "AuthenticationError"),
    (400, "ValidationException", "BadRequestError"),
    (429, "ModelNotReadyException", "RateLimitError"),  # a rate limit over HTTP and in a stream alike
    (503, "ModelNotReadyException", "RateLimitError"),
])
def test_http_errors_are_classed_by_the_aws_error_type_header(server, status, aws_type, cls):
    import llm_connector
    from llm_connector import ChatRequest, LlmClient, Message
    from llm_connector.testing import Reply

    server.add(Reply.json({"message": "it went wrong"}, status=status,
                          headers={"x-amzn-ErrorType": aws_type + ":http://internal.amazon.com/coral/"}))
    client = LlmClient.anthropic_bedrock("us-east-1", "AKIDEXAMPLE", "secret", base_url=server.url, max_retries=0)
    with pytest.raises(getattr(llm_connector, cls)) as info:
        client.chat(ChatRequest(model="anthropic.claude-3-5-sonnet-20240620-v1:0", messages=[Message.user("hi")]))
    assert info.value.code == aws_type
    assert "it went wrong" in str(info.value)
