"""Retries: which failures are tried again, how long between tries, and never once a body byte is out."""

import email.utils
import json
import socket
import time
from typing import Dict, List, Optional

import pytest
from helpers import chunk, sse

from llm_connector import ChatRequest, LlmClient, Message
from llm_connector.auth import Auth
from llm_connector.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    IncompleteStreamError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from llm_connector.testing import LocalServer, Pause, Reply, Reset
from llm_connector.transport import MAX_RETRY_DELAY, HttpRequest, Transport

KEY = "sk-retries-0123456789"
OK = {"id": "c", "choices": [{"index": 0, "message": {"role": "assistant", "content": "done"},
                              "finish_reason": "stop"}]}


def request() -> ChatRequest:
    return ChatRequest(model="gpt-test", messages=[Message.user("hi")])


def failure(status: int, headers: Optional[Dict[str, str]] = None, body: Optional[dict] = None) -> Reply:
    return Reply.json(body or {"error": {"message": "try later"}}, status=status, headers=headers)


def transport_for(waits: List[float], **options) -> Transport:
    """A transport whose waits between tries are recorded instead of slept."""
    return Transport("test", sleep=waits.append, **options)


def post(server: LocalServer) -> HttpRequest:
    return HttpRequest("POST", server.url + "/v1/chat/completions", {"Content-Type": "application/json"}, b"{}")


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_each_retryable_status_is_tried_again_and_the_retry_can_succeed(server, status):
    waits: List[float] = []
    server.add(failure(status))
    server.add(Reply.json({"ok": True}))
    transport = transport_for(waits)
    response = transport.send(post(server))
    assert transport.read_all(response) == b'{"ok":true}'
    assert len(server.requests) == 2 and len(waits) == 1


@pytest.mark.parametrize("status, cls", [(400, BadRequestError), (401, AuthenticationError),
                                         (403, PermissionDeniedError), (404, NotFoundError),
                                         (422, BadRequestError), (501, ServerError)])
def test_a_failure_that_will_fail_again_is_not_retried(server, status, cls):
    waits: List[float] = []
    server.add(failure(status))
    server.add(Reply.json({"ok": True}))
    with pytest.raises(cls):
        transport_for(waits).send(post(server))
    assert len(server.requests) == 1 and waits == []


def test_max_retries_defaults_to_two_and_the_last_rate_limit_error_carries_retry_after(server):
    for _ in range(4):
        server.add(failure(429, {"Retry-After": "0.01"}))
    client = LlmClient.openai(KEY, base_url=server.url + "/v1")
    with pytest.raises(RateLimitError) as info:
        client.chat(request())
    assert len(server.requests) == 3
    assert info.value.retry_after == pytest.approx(0.01)


def test_max_retries_zero_sends_once(server):
    server.add(failure(503))
    with pytest.raises(ServerError):
        LlmClient.openai(KEY, base_url=server.url + "/v1", max_retries=0).chat(request())
    assert len(server.requests) == 1


def test_a_retry_through_the_client_returns_the_answer(server):
    server.add(failure(503, {"Retry-After": "0.01"}))
    server.add(Reply.json(OK))
    assert LlmClient.openai(KEY, base_url=server.url + "/v1").chat(request()).content == "done"
    assert [r.json()["model"] for r in server.requests] == ["gpt-test", "gpt-test"]


def test_backoff_doubles_with_jitter_when_the_service_names_no_wait(server):
    waits: List[float] = []
    for _ in range(4):
        server.add(failure(500))
    with pytest.raises(ServerError):
        transport_for(waits, max_retries=3).send(post(server))
    assert len(waits) == 3
    for wait, base in zip(waits, (0.5, 1.0, 2.0)):
        assert 0.75 * base <= wait <= 1.25 * base


def test_jitter_spreads_the_waits_of_many_clients(server):
    server.route("POST", "/v1/chat/completions", failure(500))
    waits: List[float] = []
    for _ in range(8):
        with pytest.raises(ServerError):
            transport_for(waits, max_retries=1).send(post(server))
    assert len(set(waits)) > 1


def test_a_refused_connection_is_retried_with_backoff():
    waits: List[float] = []
    port = closed_port()
    with pytest.raises(APIConnectionError) as info:
        transport_for(waits).send(HttpRequest("GET", f"http://127.0.0.1:{port}/"))
    assert "connection refused" in str(info.value)
    assert len(waits) == 2 and 0.375 <= waits[0] <= 0.625


def test_retry_after_seconds_is_honoured(server):
    waits: List[float] = []
    server.add(failure(429, {"Retry-After": "1.5"}))
    server.add(Reply.json({"ok": True}))
    transport_for(waits).send(post(server))
    assert waits == [1.5]


def test_retry_after_as_an_http_date_is_honoured(server):
    waits: List[float] = []
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    server.add(failure(503, {"Retry-After": when}))
    server.add(Reply.json({"ok": True}))
    transport_for(waits).send(post(server))
    assert len(waits) == 1 and 27.0 <= waits[0] <= 30.5


def test_retry_after_ms_wins_over_retry_after(server):
    waits: List[float] = []
    server.add(failure(429, {"retry-after-ms": "250", "Retry-After": "2"}))
    server.add(Reply.json({"ok": True}))
    transport_for(waits).send(post(server))
    assert waits == [0.25]


def test_a_wait_longer_than_the_cap_is_not_waited_out_but_handed_to_the_caller(server):
    waits: List[float] = []
    server.add(failure(429, {"Retry-After": "3600"}))
    server.add(Reply.json({"ok": True}))
    started = time.monotonic()
    with pytest.raises(RateLimitError) as info:
        transport_for(waits).send(post(server))
    assert info.value.retry_after == 3600.0 > MAX_RETRY_DELAY
    assert waits == [] and len(server.requests) == 1
    assert time.monotonic() - started < 1.0


def test_geminis_retry_delay_in_the_body_counts(server):
    waits: List[float] = []
    body = {"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).",
                      "status": "RESOURCE_EXHAUSTED",
                      "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]}}
    server.add(failure(429, body=body))
    server.add(Reply.json({"ok": True}))
    transport_for(waits).send(post(server))
    assert waits == [7.0]


def test_insufficient_quota_is_not_retried(server):
    waits: List[float] = []
    body = {"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
                      "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}}
    server.add(failure(429, body=body))
    server.add(Reply.json({"ok": True}))
    with pytest.raises(RateLimitError) as info:
        transport_for(waits).send(post(server))
    assert info.value.code == "insufficient_quota"
    assert waits == [] and len(server.requests) == 1


def test_anthropics_overloaded_529_is_retried_then_raised_as_overloaded(server):
    waits: List[float] = []
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    for _ in range(3):
        server.add(failure(529, body=body))
    with pytest.raises(OverloadedError) as info:
        transport_for(waits).send(post(server))
    assert "Overloaded" in str(info.value)
    assert len(server.requests) == 3 and len(waits) == 2


@pytest.mark.parametrize("junk", ["soon", "-3", "nan", "inf", "1e999", "Wed, 32 Foo 2024 99:99:99 GMT",
                                  "0x10", "1, 2", "\u00e9\u00e8", "Sat, 01 Jan 10000 00:00:00 GMT"])
def test_junk_retry_after_values_fall_back_to_backoff(server, junk):
    waits: List[float] = []
    server.add(failure(429, {"Retry-After": junk, "retry-after-ms": junk}))
    server.add(failure(429, {"Retry-After": junk}))
    server.add(failure(429, {"Retry-After": junk}))
    with pytest.raises(RateLimitError) as info:
        transport_for(waits).send(post(server))
    assert info.value.retry_after is None
    assert len(waits) == 2 and 0.375 <= waits[0] <= 0.625


def test_a_stream_broken_after_its_first_chunk_is_never_retried(server):
    server.add(Reply(headers={"Content-Type": "text/event-stream"}, parts=sse(chunk("once"), done=False) + [Reset()]))
    server.add(Reply.sse(chunk("once"), chunk(" more", finish="stop"), done=True))
    received = []
    with pytest.raises(IncompleteStreamError):
        for piece in LlmClient.openai(KEY, base_url=server.url + "/v1").chat_stream(request()):
            received.append(piece.content)
    assert received == ["once"]
    assert len(server.requests) == 1


def test_an_overload_error_inside_a_200_stream_is_not_retried(server):
    server.add(Reply(headers={"Content-Type": "text/event-stream"},
                     parts=sse(chunk("half"), {"error": {"message": "overloaded", "type": "overloaded_error"}},
                               done=False)))
    server.add(Reply.sse(chunk("again", finish="stop"), done=True))
    received = []
    with pytest.raises(OverloadedError):
        for piece in LlmClient.openai(KEY, base_url=server.url + "/v1").chat_stream(request()):
            received.append(piece.content)
    assert received == ["half"]
    assert len(server.requests) == 1


def test_a_stream_that_is_slow_to_start_is_not_cut_or_retried(server):
    server.add(Reply(headers={"Content-Type": "text/event-stream"},
                     parts=[Pause(0.3)] + sse(chunk("slow"), chunk(" start", finish="stop"))))
    text = LlmClient.openai(KEY, base_url=server.url + "/v1", timeout=(2, 1)).chat_stream(request()).text()
    assert text == "slow start" and len(server.requests) == 1


class CountingSigner(Auth):
    """Signs each try with a new value, as SigV4 and TC3 do (their signature covers the time)."""

    def __init__(self) -> None:
        self.calls = 0

    def apply(self, method: str, url: str, headers: Dict[str, str], body: Optional[bytes]) -> None:
        self.calls += 1
        headers["Authorization"] = f"SIG-{self.calls}-{time.monotonic_ns()}"
        headers["X-Try"] = str(self.calls)


def test_a_signed_request_is_signed_anew_for_each_try(server):
    signer = CountingSigner()
    server.add(failure(503, {"Retry-After": "0"}))
    server.add(failure(429, {"Retry-After": "0"}))
    server.add(Reply.json(OK))
    client = LlmClient("openai_compatible", base_url=server.url + "/v1", auth=signer)
    assert client.chat(request()).content == "done"
    signatures = [r.headers["authorization"] for r in server.requests]
    assert signer.calls == 3
    assert len(set(signatures)) == 3
    assert [r.headers["x-try"] for r in server.requests] == ["1", "2", "3"]
    assert all(r.body == server.requests[0].body for r in server.requests)


def test_a_retry_reuses_the_kept_alive_connection(server):
    waits: List[float] = []
    server.add(failure(503))
    server.add(Reply.json({"ok": True}))
    transport_for(waits).send(post(server))
    assert server.requests[0].connection == server.requests[1].connection


def test_the_retry_log_names_the_try_and_the_wait_but_never_the_key(server, caplog):
    server.add(failure(503, {"Retry-After": "0"}))
    server.add(Reply.json(OK))
    with caplog.at_level("DEBUG", logger="llm_connector"):
        LlmClient.openai(KEY, base_url=server.url + "/v1").chat(request())
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("llm_connector"))
    assert "retry 1 of 2" in text and "ServerError" in text
    assert KEY not in text
    assert json.dumps(OK) not in text


def test_each_retry_is_one_info_line_on_the_llm_connector_logger_with_status_wait_and_attempt(server, caplog):
    server.add(failure(503, {"Retry-After": "0.01"}))
    server.add(failure(429, {"Retry-After": "0.01"}))
    server.add(Reply.json(OK))
    with caplog.at_level("INFO", logger="llm_connector"):
        LlmClient.openai(KEY, base_url=server.url + "/v1?key=query-secret").chat(request())
    retries = [r for r in caplog.records if r.name == "llm_connector" and r.levelname == "INFO"]
    assert [r.getMessage().split(" (")[0] for r in retries] == [
        "openai: retry 1 of 2 in 0.0s after HTTP 503", "openai: retry 2 of 2 in 0.0s after HTTP 429"]
    assert [(r.attempt, r.max_retries, r.status_code) for r in retries] == [(1, 2, 503), (2, 2, 429)]
    assert retries[0].delay == pytest.approx(0.01)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert KEY not in text and "query-secret" not in text
    assert "POST http://127.0.0.1" in text
