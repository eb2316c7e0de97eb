"""Claude on Google Vertex AI over the local server: rawPredict / streamRawPredict, model in the URL."""

import pytest

from llm_connector import (
    ChatRequest,
    ConfigurationError,
    LlmClient,
    Message,
    RateLimitError,
    UnsupportedOperationError,
)
from llm_connector.testing import Reply

MODEL = "claude-sonnet-4@20250514"
MODELS_PATH = "/v1/projects/my-proj/locations/us-east5/publishers/anthropic/models"


def client_for(server):
    return LlmClient.anthropic_vertex("my-proj", "us-east5", "ya29.token", base_url=server.url + MODELS_PATH,
                                      max_retries=0)


def request(**kw):
    return ChatRequest(model=MODEL, messages=[Message.system("Be brief."), Message.user("hi")], **kw)


ANSWER = {"id": "msg_vrtx_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
          "content": [{"type": "text", "text": "Hello from Vertex"}], "stop_reason": "end_turn",
          "usage": {"input_tokens": 8, "output_tokens": 4}}


def test_chat_posts_raw_predict_with_the_model_in_the_url(server):
    server.add(Reply.json(ANSWER))
    response = client_for(server).chat(request())
    sent = server.requests[0]
    assert (sent.method, sent.path) == ("POST", MODELS_PATH + "/" + MODEL + ":rawPredict")
    assert response.content == "Hello from Vertex"
    assert response.usage.total_tokens == 12


def test_the_body_has_the_vertex_version_and_no_model(server):
    server.add(Reply.json(ANSWER))
    client_for(server).chat(request(max_tokens=100))
    assert server.requests[0].json() == {
        "anthropic_version": "vertex-2023-10-16", "system": "Be brief.",
        "messages": [{"role": "user", "content": "hi"}], "max_tokens": 100,
    }


def test_headers_carry_the_bearer_token_and_no_anthropic_key_or_version(server):
    server.add(Reply.json(ANSWER))
    client_for(server).chat(request())
    headers = server.requests[0].headers
    assert headers["authorization"] == "Bearer ya29.token"
    assert "x-api-key" not in headers
    assert "anthropic-version" not in headers
    assert headers["content-type"] == "application/json"


def test_a_stream_posts_stream_raw_predict_and_decodes_anthropic_events(server):
    server.add(Reply.sse(
        ("message_start", {"type": "message_start", "message": {"id": "msg_v", "model": "claude",
                                                                 "usage": {"input_tokens": 3, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "Streamed"}}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                           "usage": {"output_tokens": 2}}),
        ("message_stop", {"type": "message_stop"}),
    ))
    response = client_for(server).chat_stream(request()).collect()
    sent = server.requests[0]
    assert sent.path == MODELS_PATH + "/" + MODEL + ":streamRawPredict"
    body = sent.json()
    assert (body["stream"], body["anthropic_version"], "model" in body) == (True, "vertex-2023-10-16", False)
    assert (response.content, response.finish_reason, response.usage.total_tokens) == ("Streamed", "stop", 5)


def test_a_google_style_429_is_a_rate_limit_error(server):
    server.add(Reply.json({"error": {"code": 429, "message": "Quota exceeded for aiplatform", "status":
                                     "RESOURCE_EXHAUSTED"}}, status=429))
    with pytest.raises(RateLimitError, match="Quota exceeded"):
        client_for(server).chat(request())


def test_vertex_offers_no_model_list(server):
    with pytest.raises(UnsupportedOperationError):
        client_for(server).models()
    assert server.requests == []


def test_vertex_needs_an_access_token():
    with pytest.raises(ConfigurationError, match="access_token"):
        LlmClient.anthropic_vertex("my-proj", "us-east5", "")
