"""Every capture of a real server (tests/captures/real-servers/, see its README: LiteLLM proxy, llama-cpp-python
with a real model, fakellm, oai2ollama) replayed byte for byte through LocalServer: the recorded status line,
headers and body. Each test checks what the library reads from it: text, reasoning, tool calls with parsed
arguments, finish reason, usage, or the typed error."""

import gzip
import json
import re
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from llm_connector import ChatRequest, LlmClient, Message
from llm_connector.errors import LlmConnectorError
from llm_connector.stream import StreamAccumulator
from llm_connector.testing import LocalServer, Reply

HERE = Path(__file__).parent / "captures" / "real-servers"

MOCK = "Hello from the LiteLLM mock! The quick brown fox jumps over the lazy dog."
SEA = ("The sea is a vast, unforgiving expanse of blue that stretches across the horizon, its fury and majesty "
       "etched into the very fabric of our planet.")
COUNTING = "1. 1\n2. "
TWO_CITIES = [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Tokyo"})]
PARIS = [("get_weather", {"city": "Paris"})]
LITELLM_MODELS = ["mock-gpt", "mock-claude", "mock-gemini", "mock-ratelimit", "mock-midstream-error", "free",
                  "smol-fc", "smol", "fake", "mock-big", "mock-reasoning"]

#: capture name -> what the library reads from it.
#: For answers: text, finish, and where the capture has them reasoning, tools (name, parsed arguments), usage
#: (prompt, completion, total) -- "usage": None asserts that the service sent none. For failures: error
#: (class name, status_code, words of the message).
EXPECTED: Dict[str, Dict[str, Any]] = {
    # LiteLLM proxy, OpenAI mode
    "litellm-openai-stream-text-usage": {"text": MOCK, "finish": "stop", "usage": (8, 18, 26)},
    "litellm-openai-chat-text": {"text": MOCK, "finish": "stop", "usage": (10, 20, 30)},
    "litellm-openai-chat-reasoning-content": {"text": "9.9 is larger.", "finish": "stop",
                                              "reasoning": "Compare 9.11 and 9.9: tenths 1 < 9.",
                                              "usage": (12, 30, 42)},
    "litellm-openai-stream-tools-via-fakellm": {"text": "", "finish": "tool_calls", "tools": TWO_CITIES,
                                                "usage": (10, 71, 81)},
    "litellm-openai-stream-text-via-llamacpp": {"text": SEA, "finish": "stop", "usage": (15, 34, 49)},
    "litellm-openai-stream-big-26KB": {"text": " ".join(f"word{i}" for i in range(3000)), "finish": "stop",
                                       "usage": None, "chunks": 8631},
    "litellm-openai-error-429-stream": {"error": ("RateLimitError", 429, "this is a mock rate limit error")},
    "litellm-openai-error-400-unknown-model": {"error": ("BadRequestError", 400, "Invalid model name")},
    "litellm-openai-error-400-bad-key-nodb": {"error": ("BadRequestError", 400, "No connected db")},
    "litellm-openai-error-529-stream": {"error": ("OverloadedError", 529, "mock error raised mid-stream")},
    "litellm-openai-models": {"models": LITELLM_MODELS},
    # LiteLLM proxy, Anthropic mode
    "litellm-anthropic-stream-text-via-fakellm": {
        "text": "Hello from fakellm. The quick brown fox jumps over the lazy dog.", "finish": "stop",
        "usage": (8, 16, 24)},
    "litellm-anthropic-stream-tools-via-fakellm": {"text": "", "finish": "tool_calls", "tools": TWO_CITIES,
                                                   "usage": (10, 69, 79)},
    "litellm-anthropic-stream-text-via-llamacpp": {"text": SEA, "finish": "stop", "usage": (15, 34, 49)},
    "litellm-anthropic-stream-maxtokens-via-llamacpp": {"text": COUNTING, "finish": "length",
                                                        "usage": (15, 8, 23)},
    # one tool_use block per argument fragment, all with the same id: one call
    "litellm-anthropic-stream-tool-via-llamacpp": {"text": "", "finish": "tool_calls", "tools": PARIS,
                                                   "usage": (14, 75, 89)},
    # "stream": true answered with a whole Messages object as application/json: one chunk, a normal end
    "litellm-anthropic-stream-true-answered-with-json": {
        "text": "Hello from the Claude mock. Two sentences here.", "finish": "stop", "usage": (2095, 503, 2598),
        "chunks": 1},
    "litellm-anthropic-stream-error-event-after-message_start": {
        "error": ("ServerError", 200, "'ModelResponse' object has no attribute '__aiter__'"), "chunks": 1},
    "litellm-anthropic-chat-thinking-block": {"text": "9.9 is larger.", "finish": "stop",
                                              "reasoning": "Compare 9.11 and 9.9: tenths 1 < 9.",
                                              "usage": (12, 30, 42)},
    "litellm-anthropic-error-429": {"error": ("RateLimitError", 429, "this is a mock rate limit error")},
    # LiteLLM proxy, Gemini mode (its last chunk carries usageMetadata with every count 0: that is what it sent)
    "litellm-gemini-stream-text": {"text": MOCK, "finish": "stop", "usage": (0, 0, 0)},
    "litellm-gemini-stream-tools-via-fakellm": {"text": "", "finish": "tool_calls", "tools": TWO_CITIES,
                                                "usage": (0, 0, 0)},
    "litellm-gemini-chat-text": {"text": MOCK, "finish": "stop", "usage": (10, 20, 30)},
    "litellm-gemini-stream-text-via-llamacpp": {"text": SEA, "finish": "stop", "usage": (0, 0, 0)},
    "litellm-gemini-stream-maxtokens-via-llamacpp": {"text": COUNTING, "finish": "length", "usage": (0, 0, 0)},
    "litellm-gemini-stream-tool-forced-parameters-via-llamacpp": {"text": "", "finish": "stop", "tools": [],
                                                                  "usage": (0, 0, 0)},
    "litellm-gemini-stream-tool-forced-parametersJsonSchema-via-llamacpp": {"text": "", "finish": "stop",
                                                                            "tools": [], "usage": (0, 0, 0)},
    "litellm-gemini-error-400-unknown-model": {"error": ("BadRequestError", 400, "Invalid model name")},
    # fakellm
    "fakellm-openai-stream-tools": {"text": "", "finish": "tool_calls", "tools": TWO_CITIES, "usage": None},
    "fakellm-openai-stream-unicode": {"text": "Grüße 🌍 — 東京 ✓ done.", "finish": "stop", "usage": None},
    "fakellm-anthropic-stream-text-and-tools": {"text": "Let me check both.", "finish": "tool_calls",
                                                "tools": TWO_CITIES, "usage": (1, 4, 5)},
    "fakellm-anthropic-error-429": {"error": ("RateLimitError", 429, "Slow down (mock)")},
    # llama-cpp-python with SmolLM2-135M
    "llamacpp-openai-stream-text": {"text": SEA, "finish": "stop", "usage": None},
    "llamacpp-openai-stream-length": {"text": COUNTING, "finish": "length", "usage": None},
    # id and name repeated in every tool-call delta, plus a legacy function_call field
    "llamacpp-openai-stream-tool-forced": {"text": "", "finish": "tool_calls", "tools": PARIS, "usage": None},
    "llamacpp-openai-chat-tool-forced": {"text": "", "finish": "tool_calls", "tools": PARIS, "usage": (23, 8, 31)},
    # 200 text/event-stream with an empty body: the server failed after sending its headers
    "llamacpp-openai-stream-tool-auto-empty-200": {
        "error": ("IncompleteStreamError", None, "the stream ended without data: [DONE] (after 0 chunks)")},
    "llamacpp-openai-error-401": {"error": ("AuthenticationError", 401, "Invalid API key")},
    "llamacpp-openai-error-400-context-length": {
        "error": ("ContextLengthExceededError", 400, "maximum context length is 2048 tokens")},
    "llamacpp-v1-models": {"models": ["smollm2", "smollm2-fc"]},
    # oai2ollama: Ollama's model management only
    "oai2ollama-api-tags": {"models": LITELLM_MODELS},
    "oai2ollama-api-version": {"version": "0.12.10"},
}


def index() -> List[Tuple[str, str]]:
    """(name, URL) of every capture in INDEX.tsv."""
    lines = (HERE / "INDEX.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [(line.split("\t")[0], line.split("\t")[1]) for line in lines if line.strip()]


def recorded_head(name: str) -> Tuple[int, str, Dict[str, str]]:
    """The status, reason phrase and headers exactly as the server sent them."""
    lines = (HERE / f"{name}.headers").read_bytes().decode("latin-1").split("\r\n")
    _, status, reason = (lines[0].split(" ", 2) + [""])[:3]
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        if line:
            key, _, value = line.partition(":")
            headers[key] = value.strip()
    return int(status), reason, headers


def recorded_body(name: str) -> bytes:
    packed = HERE / f"{name}.body.gz"
    return gzip.decompress(packed.read_bytes()) if packed.exists() else (HERE / f"{name}.body").read_bytes()


def replay(name: str) -> Reply:
    """The capture as a Reply: its head verbatim; a chunked body sent one event per chunk, as servers do."""
    status, reason, headers = recorded_head(name)
    body = recorded_body(name)
    framing_headers = {k.lower(): v for k, v in headers.items()}
    if "chunked" in framing_headers.get("transfer-encoding", ""):
        return Reply(status, headers, [p for p in re.split(rb"(?<=\n\n)", body) if p], reason=reason)
    if "content-length" in framing_headers:
        return Reply(status, headers, [body], framing="length", reason=reason)
    return Reply(status, headers, [body], framing="close", reason=reason)


def read(name: str, url: str, server: LocalServer) -> Dict[str, Any]:
    """Call the library the way the capture's request was made, and report what it read."""
    path = url.split("/", 3)[3]
    request_file = HERE / f"{name}.request.json"
    sent = json.loads(request_file.read_text(encoding="utf-8")) if request_file.exists() else {}
    model = sent.get("model") or path.split("/")[-1].split(":")[0]
    request = ChatRequest(model=model, messages=[Message.user("hi")])
    if path == "v1/models":
        return {"models": LlmClient.openai_compatible("sk-test", server.url + "/v1").models()}
    if path == "api/tags":
        return {"models": [m.name for m in LlmClient.ollama(server.url).list_models()]}
    if path == "api/version":
        return {"version": LlmClient.ollama(server.url).version()}
    if path.startswith("v1/chat/completions"):
        client = LlmClient.openai_compatible("sk-test", server.url + "/v1", max_retries=0)
        stream = bool(sent.get("stream"))
    elif path.startswith("v1/messages"):
        client = LlmClient.anthropic("sk-test", base_url=server.url, max_retries=0)
        stream = bool(sent.get("stream"))
    else:
        assert path.startswith("v1beta/models/"), path
        client = LlmClient.google("sk-test", base_url=server.url + "/v1beta", max_retries=0)
        stream = "streamGenerateContent" in path
    pieces: List[str] = []
    acc = StreamAccumulator()
    try:
        if stream:
            for chunk in client.chat_stream(request):
                acc.add(chunk)
                pieces.append(chunk.get_content() or "")
            response = acc.result()
            assert "".join(pieces) == response.content  # the chunks' text adds up to what collect() gives
        else:
            response = client.chat(request)
    except LlmConnectorError as exc:
        return {"error": (type(exc).__name__, exc.status_code, exc.message), "chunks": len(pieces)}
    assert server.requests[0].path.split("?")[0] == "/" + path.split("?")[0]
    usage = response.usage
    out: Dict[str, Any] = {
        "text": response.content,
        "finish": response.finish_reason,
        "tools": [(c.function.name, c.arguments_json()) for c in response.tool_calls],
        "usage": (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) if usage else None,
        "chunks": len(pieces),
    }
    if response.reasoning_content:
        out["reasoning"] = response.reasoning_content
    return out


def test_every_capture_has_an_expectation() -> None:
    assert sorted(name for name, _ in index()) == sorted(EXPECTED)
    for name, _ in index():
        assert (HERE / f"{name}.headers").exists()
        assert (HERE / f"{name}.body").exists() or (HERE / f"{name}.body.gz").exists()


@pytest.mark.parametrize("name, url", index(), ids=[name for name, _ in index()])
def test_what_the_library_reads_from_a_real_server_capture(name: str, url: str, server: LocalServer) -> None:
    server.add(replay(name))
    got = read(name, url, server)
    expected = EXPECTED[name]
    if "error" in expected:
        kind, status, words = expected["error"]
        assert got.get("error", ("no error",))[0] == kind, got
        assert got["error"][1] == status
        assert words in got["error"][2]
        if "chunks" in expected:
            assert got["chunks"] == expected["chunks"]
        return
    assert "error" not in got, got
    for key, value in expected.items():
        assert got[key] == value, (key, got[key])
    if "tools" not in expected and "text" in expected:
        assert got["tools"] == []


def test_the_raw_chunked_capture_replayed_with_its_own_chunk_boundaries(server: LocalServer) -> None:
    """llama-cpp-python's bytes as curl --raw saw them: chunk-size lines and all, written as they came."""
    status, reason, headers = recorded_head("llamacpp-openai-stream-text")
    raw = (HERE / "llamacpp-openai-stream-text.raw-chunked-transfer").read_bytes()
    server.add(Reply(status, headers, [raw], framing="close", reason=reason))
    client = LlmClient.openai_compatible("sk-test", server.url + "/v1", max_retries=0)
    chunks = list(client.chat_stream(ChatRequest(model="smollm2", messages=[Message.user("hi")])))
    assert "".join(c.content for c in chunks) == "Hello there! I'm here"
    assert chunks[-1].finish_reason == "length"
    assert chunks[0].choices[0].delta.role == "assistant"
