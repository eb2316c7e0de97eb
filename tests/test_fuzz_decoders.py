"""Fuzz targets: arbitrary bytes (and arbitrary JSON in each protocol's framing) fed to every protocol's
``decode_stream``, and arbitrary error answers fed to the error readers. Only the library's own errors may
come out; a decoder that raises anything else fails here with the input that did it."""

import base64
import importlib.util
import json
from typing import Any, Dict, Iterable, List

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from llm_connector.errors import (
    LlmConnectorError,
    describe_error,
    error_from_response,
    parse_retry_after,
)
from llm_connector.protocols import Endpoint, load
from llm_connector.stream import ChatStream

PROTOCOLS = [name for name in ("openai", "anthropic", "gemini", "ollama", "bedrock", "tencent", "dashscope", "zhipu")
             if importlib.util.find_spec("llm_connector.protocols." + name) is not None]

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode_all(protocol: str, chunks: Iterable[bytes]) -> List[Any]:
    """Run one protocol's stream decoder to the end, as ``chat_stream`` does (inside the stream object, which
    turns JSON of an unexpected shape into a StreamParseError once for every protocol); return the chunks (an
    LlmConnectorError is fine)."""
    endpoint = Endpoint(provider=protocol, base_url="http://127.0.0.1:9")
    out: List[Any] = []
    try:
        for piece in ChatStream(load(protocol).decode_stream(iter(chunks), endpoint)):
            out.append(piece)
    except LlmConnectorError:
        pass
    return out


def split(data: bytes, cuts: List[int]) -> List[bytes]:
    """``data`` cut at the given offsets (reads of any size, even one byte)."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(data[last:p])
        last = p
    pieces.append(data[last:])
    return [p for p in pieces if p]


# -- arbitrary bytes ------------------------------------------------------------------------------------------

byte_chunks = st.lists(st.binary(max_size=300), max_size=8)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_arbitrary_bytes_give_chunks_or_a_library_error(protocol):
    @FUZZ
    @given(chunks=byte_chunks)
    @example(chunks=[b"data: {\"choices\": []}\n\n", b"\xff\xfe\x00"])
    @example(chunks=[b"\x00\x00\x00\x10\x00\x00\x00\x00"])
    @example(chunks=[b'{"done": tr', b"ue}\n"])
    def run(chunks: List[bytes]) -> None:
        decode_all(protocol, chunks)

    run()


@pytest.mark.parametrize("protocol", [p for p in PROTOCOLS if p != "bedrock"])
def test_arbitrary_text_lines_give_chunks_or_a_library_error(protocol):
    line = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
    prefixes = st.sampled_from(["data: ", "data:", "event: ", "id: ", "retry: ", ": ", ""])

    @FUZZ
    @given(lines=st.lists(st.tuples(prefixes, line), max_size=8), cuts=st.lists(st.integers(0, 10 ** 6), max_size=6))
    def run(lines: List[Any], cuts: List[int]) -> None:
        body = "".join(p + text + "\n" for p, text in lines).encode("utf-8")
        decode_all(protocol, split(body, cuts))

    run()


# -- arbitrary JSON in the protocol's framing ----------------------------------------------------------------

KEYS: Dict[str, List[str]] = {
    "openai": ["choices", "delta", "message", "content", "reasoning_content", "reasoning", "tool_calls", "function",
               "name", "arguments", "index", "id", "type", "finish_reason", "usage", "prompt_tokens",
               "completion_tokens", "total_tokens", "completion_tokens_details", "reasoning_tokens",
               "prompt_tokens_details", "cached_tokens", "error", "code", "model", "created", "role", "logprobs"],
    "anthropic": ["type", "message", "content_block", "delta", "index", "text", "thinking", "signature",
                  "partial_json", "input", "name", "id", "usage", "input_tokens", "output_tokens",
                  "cache_read_input_tokens", "stop_reason", "stop_sequence", "content", "error", "model", "role"],
    "gemini": ["candidates", "content", "parts", "text", "thought", "thoughtSignature", "functionCall", "args",
               "name", "id", "finishReason", "index", "usageMetadata", "promptTokenCount",
               "candidatesTokenCount", "totalTokenCount", "thoughtsTokenCount", "cachedContentTokenCount",
               "responseId", "modelVersion", "promptFeedback", "blockReason", "error", "role"],
    "ollama": ["model", "created_at", "message", "role", "content", "thinking", "tool_calls", "function", "name",
               "arguments", "index", "done", "done_reason", "total_duration", "load_duration",
               "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration", "error", "images"],
    "tencent": ["Response", "Error", "Code", "Message", "RequestId", "ErrorMsg", "Msg", "Choices", "Delta",
                "Message", "Role", "Content", "ReasoningContent", "ToolCalls", "Function", "Name", "Arguments",
                "Index", "Id", "Type", "FinishReason", "Usage", "PromptTokens", "CompletionTokens", "TotalTokens",
                "PromptTokensDetails", "CachedTokens", "Created", "Note"],
    "dashscope": ["output", "choices", "message", "content", "reasoning_content", "tool_calls", "function", "name",
                  "arguments", "index", "id", "type", "finish_reason", "usage", "input_tokens", "output_tokens",
                  "total_tokens", "output_tokens_details", "reasoning_tokens", "request_id", "code", "message",
                  "text", "role"],
}
KEYS["bedrock"] = KEYS["anthropic"]
KEYS["zhipu"] = KEYS["openai"]
WORDS = ["message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta",
         "message_stop", "ping", "error", "text", "text_delta", "thinking", "thinking_delta", "signature_delta",
         "input_json_delta", "tool_use", "tool_calls", "function", "stop", "STOP", "MAX_TOKENS", "SAFETY",
         "end_turn", "max_tokens", "assistant", "model", "[DONE]", "", "null", "2024-01-01T00:00:00Z",
         "sensitive", "AuthFailure.SignatureFailure", "LimitExceeded", "network_error", "1261", "1113"]


def json_values(protocol: str) -> st.SearchStrategy[Any]:
    keys = st.sampled_from(KEYS[protocol]) | st.text(max_size=4)
    leaves = (st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False, allow_infinity=False)
              | st.sampled_from(WORDS) | st.text(max_size=6))
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=5),
                        max_leaves=25)


def frame(protocol: str, value: Any) -> bytes:
    """One JSON value as the protocol puts it on the wire."""
    text = json.dumps(value)
    if protocol == "ollama":
        return (text + "\n").encode()
    if protocol == "bedrock":
        from llm_connector.eventstream import encode_event_stream_message

        payload = json.dumps({"bytes": base64.b64encode(text.encode()).decode()}).encode()
        headers = {":message-type": "event", ":event-type": "chunk", ":content-type": "application/json"}
        return encode_event_stream_message(headers, payload)
    if protocol == "dashscope":
        kind = "error" if isinstance(value, dict) and "code" in value else "result"
        return f"id:1\nevent:{kind}\n:HTTP_STATUS/200\ndata:{text}\n\n".encode()
    name = value.get("type") if isinstance(value, dict) and isinstance(value.get("type"), str) else None
    event = f"event: {name}\n" if protocol == "anthropic" and name and "\n" not in name else ""
    return (f"{event}data: {text}\n\n").encode()


KNOWN_SHAPES: Dict[str, List[Any]] = {
    "openai": [{"choices": [1]}, {"choices": [{"delta": "x"}]}, {"choices": 5},
               {"choices": [], "usage": {"prompt_tokens": "x"}}],
    "anthropic": [{"type": "message_start", "message": 5}, {"type": "content_block_delta", "index": 0, "delta": 5}],
    "gemini": [{"candidates": [5]}, {"candidates": 5}, {"candidates": [{"content": 5}]}],
    "ollama": [{"done": True, "eval_count": "x", "prompt_eval_count": 1}, {"message": 5}],
}
KNOWN_SHAPES["bedrock"] = KNOWN_SHAPES["anthropic"]
KNOWN_SHAPES["zhipu"] = KNOWN_SHAPES["openai"] + [{"error": {"code": 1261}}, {"error": {"code": ["x"]}}]
KNOWN_SHAPES["dashscope"] = [{"output": 5}, {"output": {"choices": [5]}}, {"output": {"choices": [{"message": 5}]}},
                             {"output": {"choices": [{"message": {"content": [5, {"text": 1}]}}]}},
                             {"code": 5}, {"usage": {"input_tokens": "x"}}]
KNOWN_SHAPES["tencent"] = [{"Choices": [5]}, {"Choices": [{"Delta": "x"}]}, {"Response": 5}, {"ErrorMsg": 5},
                           {"Choices": [{"Delta": {"ToolCalls": [5]}}]}, {"Usage": {"PromptTokens": "x"}}]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_arbitrary_json_in_the_protocols_framing_gives_chunks_or_a_library_error(protocol):
    for value in KNOWN_SHAPES[protocol]:  # shapes that once let a foreign exception out
        decode_all(protocol, [frame(protocol, value)])
    values = json_values(protocol)

    @FUZZ
    @given(events=st.lists(values, max_size=6), cuts=st.lists(st.integers(0, 10 ** 6), max_size=4))
    def run(events: List[Any], cuts: List[int]) -> None:
        decode_all(protocol, split(b"".join(frame(protocol, v) for v in events), cuts))

    run()


# -- the error readers ----------------------------------------------------------------------------------------

json_anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10)
    | st.sampled_from(["error", "message", "details", "retryDelay", "30s", "-1s", "nans", "reason"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["error", "message", "code", "type", "status", "details", "reason", "retryDelay",
                         "Response", "Error", "Code", "Message", "RequestId", "request_id", "msg"])
        | st.text(max_size=4), inner, max_size=4),
    max_leaves=20)


@FUZZ
@given(data=json_anything)
def test_describe_error_reads_any_json_without_raising(data):
    message, codes, request_id, delay = describe_error(data)
    assert isinstance(message, str) and all(isinstance(c, str) for c in codes)
    assert delay is None or delay >= 0


@FUZZ
@given(status=st.integers(100, 599), body=st.binary(max_size=200) | json_anything.map(lambda v: json.dumps(v).encode()),
       retry_after=st.text(max_size=30), retry_after_ms=st.text(max_size=10))
def test_error_from_response_never_raises_and_always_says_something(status, body, retry_after, retry_after_ms):
    headers = {"retry-after": retry_after, "retry-after-ms": retry_after_ms, "x-request-id": "r"}
    error = error_from_response(status, body, headers, provider="p")
    assert isinstance(error, LlmConnectorError) and error.status_code == status
    assert str(error) and "\n" not in str(error)
    assert error.retry_after is None or error.retry_after >= 0


@FUZZ
@given(value=st.text(max_size=40))
def test_parse_retry_after_takes_any_text(value):
    for headers in ({"retry-after": value}, {"retry-after-ms": value}):
        seconds = parse_retry_after(headers)
        assert seconds is None or (seconds >= 0 and seconds < float("inf"))

