"""The decoders' per-chunk fast paths give exactly what their general paths give.

Each protocol decodes its most common chunk (one choice, text only) on a short path; every other shape takes the
general one. These tests put the same events through both (a key that only the general path accepts, such as
``"error": null``, sends an event there) and check the boundaries: a shape that looks common but is not must
never lose a field."""

import json
from typing import Any, Dict, List

import pytest

from llm_connector.protocols import Endpoint, load
from llm_connector.protocols.anthropic import AnthropicStreamState

OPENAI_DELTAS = [
    {"content": "plain"},
    {"content": ""},
    {"content": None},
    {},
    {"role": "assistant", "content": "with role"},
    {"role": "assistant", "content": "", "refusal": None},
    {"content": "with reasoning", "reasoning_content": "why"},
    {"content": None, "reasoning": "why too"},
    {"tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}]},
    {"content": "text", "tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]},
]


def chunk_dict(chunk: Any) -> Dict[str, Any]:
    out = chunk.to_dict()
    out.pop("raw", None)
    return out


def decode(protocol: str, body: bytes, **options: Any) -> List[Any]:
    endpoint = Endpoint(provider=protocol, base_url="http://x", options=options)
    return list(load(protocol).decode_stream([body[:7], body[7:]], endpoint))


def sse(*objs: Any, done: bool = True) -> bytes:
    text = "".join("data: " + json.dumps(o) + "\n\n" for o in objs)
    return (text + ("data: [DONE]\n\n" if done else "")).encode()


@pytest.mark.parametrize("delta", OPENAI_DELTAS, ids=lambda d: json.dumps(d))
@pytest.mark.parametrize("index", [0, 1])
@pytest.mark.parametrize("extra", [{}, {"usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}},
                                   {"logprobs": {"content": []}}])
def test_openai_chunks_decode_the_same_on_the_fast_and_the_general_path(delta, index, extra):
    choice: Dict[str, Any] = {"index": index, "delta": delta, "finish_reason": None}
    obj: Dict[str, Any] = {"id": "c1", "object": "chat.completion.chunk", "created": 5, "model": "m",
                           "system_fingerprint": "fp", "choices": [choice]}
    if "logprobs" in extra:
        choice["logprobs"] = extra["logprobs"]
    elif extra:
        obj.update(extra)
    fast = decode("openai", sse(obj))
    general = decode("openai", sse(dict(obj, error=None)))  # "error": null is not an error, and not the fast path
    assert [chunk_dict(c) for c in fast] == [chunk_dict(c) for c in general]
    (chunk,) = fast
    assert (chunk.get_content() or "") == (delta.get("content") or "" if index == 0 else "")
    assert chunk.choices[0].delta.role == delta.get("role")
    assert chunk.choices[0].delta.reasoning_content == (delta.get("reasoning_content") or delta.get("reasoning"))
    assert bool(chunk.choices[0].delta.tool_calls) == ("tool_calls" in delta)


OLLAMA_MESSAGES = [
    {"role": "assistant", "content": "plain"},
    {"role": "assistant", "content": ""},
    {"content": "no role", "thinking": "hmm"},
    {"content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
    {"role": "assistant", "thinking": "only thinking"},
    {"role": "assistant", "content": "text", "images": None},
]


@pytest.mark.parametrize("message", OLLAMA_MESSAGES, ids=lambda m: json.dumps(m))
def test_ollama_lines_decode_the_same_on_the_fast_and_the_general_path(message):
    def body(extra: Dict[str, Any]) -> bytes:
        first = {"model": "llama3.2", "created_at": "2025-06-15T10:00:00Z", "message": {"role": "assistant",
                                                                                     "content": "a"}, "done": False}
        line = dict({"model": "llama3.2", "created_at": "2025-06-15T10:00:01Z", "message": message, "done": False},
                    **extra)
        last = {"model": "llama3.2", "created_at": "2025-06-15T10:00:02Z", "message": {"role": "assistant",
                                                                                    "content": ""}, "done": True,
                "done_reason": "stop"}
        return "".join(json.dumps(o) + "\n" for o in (first, line, last)).encode()

    fast = decode("ollama", body({}))
    general = decode("ollama", body({"error": None}))
    assert [chunk_dict(c) for c in fast] == [chunk_dict(c) for c in general]
    delta = fast[1].choices[0].delta
    assert (delta.content, delta.reasoning_content) == (message.get("content") or None, message.get("thinking"))
    assert bool(delta.tool_calls) == ("tool_calls" in message)


@pytest.mark.parametrize("delta", [{"type": "text_delta", "text": "plain"}, {"type": "text_delta", "text": ""},
                                   {"type": "text_delta"}, {"type": "thinking_delta", "thinking": "hmm"},
                                   {"type": "signature_delta", "signature": "sig"}])
def test_anthropic_deltas_decode_the_same_on_the_fast_and_the_general_path(delta):
    event = {"type": "content_block_delta", "index": 0, "delta": delta}
    fast, general = AnthropicStreamState("anthropic"), AnthropicStreamState("anthropic")
    assert chunk_dict(fast.decode_event(event)) == chunk_dict(general._block_delta(event))


def gemini_event(parts: List[Any], **extra: Any) -> Dict[str, Any]:
    candidate = dict({"content": {"parts": parts, "role": "model"}, "index": 0}, **extra.pop("candidate", {}))
    return dict({"candidates": [candidate], "responseId": "r1", "modelVersion": "gemini-x"}, **extra)


@pytest.mark.parametrize("parts", [[{"text": "plain"}], [{"text": ""}], [{"text": "a"}, {"text": "b"}],
                                   [{"text": "thought", "thought": True}],
                                   [{"functionCall": {"name": "f", "args": {}}}],
                                   [{"text": "signed", "thoughtSignature": "c2ln"}]], ids=json.dumps)
def test_gemini_events_after_the_first_decode_as_the_general_path_decodes_them(parts):
    first = gemini_event([{"text": "first"}])
    last = gemini_event([{"text": "!"}], candidate={"finishReason": "STOP"})
    # The general path reads the same event when it is the first of its candidate (no fast path for a first event).
    as_second = decode("gemini", sse(first, gemini_event(parts), last, done=False))
    as_first = decode("gemini", sse(gemini_event(parts), last, done=False))
    second, general = chunk_dict(as_second[1]), chunk_dict(as_first[0])
    for chunk in (second, general):
        chunk["choices"][0]["delta"].pop("role", None)  # the first event of a candidate carries the role
    assert second == general


def test_gemini_chunks_without_a_response_id_keep_theirs_empty():
    first = gemini_event([{"text": "a"}])
    second = gemini_event([{"text": "b"}])
    del second["responseId"], second["modelVersion"]
    last = gemini_event([{"text": "c"}], candidate={"finishReason": "STOP"})
    del last["responseId"]
    usage = {"usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 3, "totalTokenCount": 4}}
    chunks = decode("gemini", sse(first, second, last, usage, done=False))
    assert [c.id for c in chunks] == ["r1", "", "", ""]
    assert [c.model for c in chunks] == ["gemini-x", "", "gemini-x", ""]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 4


def test_gemini_the_usage_chunk_at_the_end_takes_the_response_id_a_fast_path_event_carried():
    first = gemini_event([{"text": "a"}])
    del first["responseId"], first["modelVersion"]
    second = gemini_event([{"text": "b"}])  # the only event with the ids, and on the fast path
    last = {"candidates": [{"content": {"parts": [{"text": "c"}]}, "index": 0, "finishReason": "STOP"},
                           {"content": {"parts": [{"text": "other"}]}, "index": 1}],
            "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 3, "totalTokenCount": 4}}
    chunks = decode("gemini", sse(first, second, last, done=False))
    assert chunks[-1].choices == [] and chunks[-1].usage is not None  # held back: candidate 1 never finished
    assert (chunks[-1].id, chunks[-1].model) == ("r1", "gemini-x")
