"""The error tree: classes, mapping from statuses and service codes, readable text."""

import pytest

from llm_connector import errors as E


def test_every_error_is_an_llm_connector_error():
    for name in E.__all__:
        obj = getattr(E, name)
        if isinstance(obj, type):
            assert issubclass(obj, E.LlmConnectorError)


def test_incomplete_stream_is_a_connection_error_and_timeout_too():
    assert issubclass(E.IncompleteStreamError, E.APIConnectionError)
    assert issubclass(E.APITimeoutError, E.APIConnectionError)
    assert issubclass(E.ContextLengthExceededError, E.BadRequestError)
    assert issubclass(E.OverloadedError, E.ServerError)


@pytest.mark.parametrize("status, codes, cls", [
    (401, [], E.AuthenticationError), (403, [], E.PermissionDeniedError), (404, [], E.NotFoundError),
    (429, [], E.RateLimitError), (500, [], E.ServerError), (503, [], E.ServerError), (529, [], E.OverloadedError),
    (400, ["API_KEY_INVALID", "INVALID_ARGUMENT"], E.AuthenticationError),
    (400, ["context_length_exceeded"], E.ContextLengthExceededError),
    (None, ["overloaded_error"], E.OverloadedError), (None, ["rate_limit_error"], E.RateLimitError),
    (429, ["insufficient_quota"], E.RateLimitError), (418, [], E.APIStatusError),
])
def test_error_for_status_picks_the_class(status, codes, cls):
    err = E.error_for_status(status, "msg", codes=codes)
    assert type(err) is cls


def test_str_is_one_line_with_provider_status_code_and_request_id():
    err = E.error_for_status(401, "Bad key\nsecond line", codes=["invalid_api_key"], provider="openai",
                             request_id="req-1")
    assert str(err) == "[openai HTTP 401] Bad key second line (code=invalid_api_key, request_id=req-1)"


def test_body_is_cut_to_a_sane_length():
    err = E.LlmConnectorError("x", body="y" * 100000)
    assert len(err.body) < 600 and "100000 chars" in err.body


@pytest.mark.parametrize("body, message", [
    (b'{"error": {"message": "m1", "type": "t"}}', "m1"),
    (b'{"type": "error", "error": {"type": "overloaded_error", "message": "m2"}}', "m2"),
    (b'{"error": "model not found"}', "model not found"),
    (b'{"Response": {"Error": {"Code": "AuthFailure", "Message": "m4"}, "RequestId": "r"}}', "m4"),
    (b'{"code": "InvalidApiKey", "message": "m5", "request_id": "r5"}', "m5"),
    (b"<html><head><title>502 Bad Gateway</title></head></html>", "502 Bad Gateway"),
    (b"", "HTTP 502 with an empty body"),
])
def test_error_from_response_reads_every_common_shape(body, message):
    err = E.error_from_response(502, body, {}, provider="p")
    assert message in str(err)


def test_retry_after_seconds_date_ms_and_junk():
    assert E.parse_retry_after({"retry-after": "3"}) == 3.0
    assert E.parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert E.parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert E.parse_retry_after({"retry-after": "soon"}) is None
    assert E.parse_retry_after({"retry-after": "-5"}) is None
    assert E.parse_retry_after({}) is None


@pytest.mark.parametrize("body, message, codes, request_id, delay", [
    ({"error": {"message": "bad key", "type": "invalid_request_error", "code": "invalid_api_key"}, "request_id": "r1"},
     "bad key", ["invalid_api_key", "invalid_request_error"], "r1", None),  # OpenAI
    ({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}, "busy", ["overloaded_error"],
     None, None),  # Anthropic
    ({"error": {"code": 429, "message": "slow", "status": "RESOURCE_EXHAUSTED",
                "details": [{"reason": "RATE"}, {"retryDelay": "7s"}]}}, "slow", ["RATE", "RESOURCE_EXHAUSTED", "429"],
     None, 7.0),  # Google
    ({"error": "model 'x' not found"}, "model 'x' not found", [], None, None),  # Ollama
    ({"Response": {"Error": {"Code": "AuthFailure", "Message": "sig"}, "RequestId": "t1"}}, "sig", ["AuthFailure"],
     "t1", None),  # Tencent
    ({"code": "InvalidParameter", "message": "bad", "request_id": "d1"}, "bad", ["InvalidParameter"], "d1",
     None),  # DashScope
])
def test_describe_error_reads_each_shape_into_a_named_result(body, message, codes, request_id, delay):
    found = E.describe_error(body)
    assert (found.message, found.codes, found.request_id, found.retry_delay) == (message, codes, request_id, delay)


def test_an_error_body_is_decoded_by_its_charset_not_shown_as_mojibake(server):
    from llm_connector import ChatRequest, LlmClient, Message
    from llm_connector.testing import Reply

    page = "<html><head><title>Zugriff verweigert: Schlüssel ungültig</title></head></html>"
    server.add(Reply(status=403, headers={"Content-Type": "text/html; charset=ISO-8859-1"},
                     parts=[page.encode("iso-8859-1")]))
    server.add(Reply(status=400, headers={"Content-Type": 'application/json; charset="windows-1252"'},
                     parts=['{"error": {"message": "café – prix invalide"}}'.encode("cp1252")]))
    server.add(Reply(status=400, headers={"Content-Type": "application/json; charset=no-such-charset"},
                     parts=['{"error": {"message": "naïve"}}'.encode()]))
    client = LlmClient.openai("sk-test", base_url=server.url, max_retries=0)
    request = ChatRequest(model="m", messages=[Message.user("hi")])
    messages = []
    for _ in range(3):
        with pytest.raises(E.APIStatusError) as info:
            client.chat(request)
        messages.append(info.value.message)
    assert messages == ["the server answered with an HTML error page: Zugriff verweigert: Schlüssel ungültig",
                        "café – prix invalide", "naïve"]
