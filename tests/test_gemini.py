"""Gemini over the local server: the request on the wire, the answer decoded, errors typed.

Streaming lives in test_gemini_stream.py.
"""

from typing import Any, Dict, Iterator, List, Optional

import pytest

from llm_connector import ChatRequest, LlmClient, Message, Tool, ToolCall
from llm_connector.errors import AuthenticationError, BadRequestError, ConfigurationError, RateLimitError
from llm_connector.testing import LocalServer, RecordedRequest, Reply
from llm_connector.types import ImageBlock, ResponseFormat, TextBlock, ToolChoice

KEY = "AIza-test-key-123"

WEATHER = Tool.function(
    "get_weather",
    "Weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
     "additionalProperties": False},
)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as local:
        yield local


def _client(server: LocalServer, **options: Any) -> LlmClient:
    return LlmClient.google(KEY, base_url=server.url, max_retries=0, **options)


def _answer(*candidates: Dict[str, Any], usage: Optional[Dict[str, Any]] = None) -> Reply:
    body: Dict[str, Any] = {"candidates": list(candidates), "modelVersion": "gemini-2.5-flash", "responseId": "resp-1"}
    if usage is not None:
        body["usageMetadata"] = usage
    return Reply.json(body)


def _candidate(*parts: Dict[str, Any], finish: Optional[str] = "STOP", index: Optional[int] = None) -> Dict[str, Any]:
    candidate: Dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}}
    if finish is not None:
        candidate["finishReason"] = finish
    if index is not None:
        candidate["index"] = index
    return candidate


OK = _answer(_candidate({"text": "ok"}))


def _sent(server: LocalServer, request: ChatRequest, **options: Any) -> RecordedRequest:
    """Send ``request`` with chat() against a canned answer; the request the server received."""
    server.add(OK)
    _client(server, **options).chat(request)
    return server.requests[-1]


def _body(server: LocalServer, request: ChatRequest, **options: Any) -> Dict[str, Any]:
    body: Dict[str, Any] = _sent(server, request, **options).json()
    return body


def _ask(*messages: Message, model: str = "gemini-2.5-flash", **fields: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=list(messages), **fields)


# -- the request ------------------------------------------------------------------------------------------


def test_chat_posts_to_generate_content_with_the_key_in_the_header_only(server: LocalServer) -> None:
    sent = _sent(server, _ask(Message.user("hi")))
    assert sent.method == "POST"
    assert sent.path == "/models/gemini-2.5-flash:generateContent"
    assert sent.query == {}
    assert sent.headers.get("x-goog-api-key") == KEY
    assert KEY not in sent.target
    assert sent.headers.get("content-type") == "application/json"


def test_a_model_given_with_its_models_prefix_is_not_doubled(server: LocalServer) -> None:
    sent = _sent(server, _ask(Message.user("hi"), model="models/gemini-2.0-flash"))
    assert sent.path == "/models/gemini-2.0-flash:generateContent"


def test_roles_become_user_and_model_and_system_messages_become_the_system_instruction(
    server: LocalServer,
) -> None:
    body = _body(server, _ask(
        Message.system("Be brief."),
        Message.user("Hi"),
        Message.assistant("Hello!"),
        Message.system("Answer in French."),
        Message.user("How are you?"),
    ))
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Answer in French."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": [{"text": "Hello!"}]},
        {"role": "user", "parts": [{"text": "How are you?"}]},
    ]
    assert "generationConfig" not in body


def test_generation_config_carries_every_sampling_field(server: LocalServer) -> None:
    body = _body(server, _ask(
        Message.user("hi"), temperature=0.3, top_p=0.9, max_tokens=256, stop=["END", "STOP"], seed=7,
        presence_penalty=0.5, frequency_penalty=0.25,
    ))
    assert body["generationConfig"] == {
        "temperature": 0.3, "topP": 0.9, "maxOutputTokens": 256, "seed": 7, "presencePenalty": 0.5,
        "frequencyPenalty": 0.25, "stopSequences": ["END", "STOP"],
    }


def test_a_single_stop_string_becomes_a_one_item_stop_sequence_list(server: LocalServer) -> None:
    body = _body(server, _ask(Message.user("hi"), stop="END"))
    assert body["generationConfig"] == {"stopSequences": ["END"]}


def test_json_object_mode_asks_for_an_application_json_answer(server: LocalServer) -> None:
    body = _body(server, _ask(Message.user("hi"), response_format=ResponseFormat.json_object()))
    assert body["generationConfig"] == {"responseMimeType": "application/json"}


def test_a_json_schema_is_sent_as_response_json_schema(server: LocalServer) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"],
              "additionalProperties": False}
    body = _body(server, _ask(Message.user("hi"), response_format=ResponseFormat.json_schema("count", schema)))
    assert body["generationConfig"] == {"responseMimeType": "application/json", "responseJsonSchema": schema}


def test_the_openapi_schema_style_uses_response_schema_and_parameters(server: LocalServer) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    body = _body(
        server,
        _ask(Message.user("hi"), response_format=ResponseFormat.json_schema("count", schema), tools=[WEATHER]),
        options={"schema_style": "openapi"},
    )
    assert body["generationConfig"]["responseSchema"] == schema
    assert "responseJsonSchema" not in body["generationConfig"]
    assert body["tools"][0]["functionDeclarations"][0]["parameters"] == WEATHER.parameters


def test_images_become_inline_data_or_file_data(server: LocalServer) -> None:
    body = _body(server, _ask(Message.user([
        TextBlock("What is in these?"),
        ImageBlock.from_base64("image/png", "iVBORw0KGgo="),
        ImageBlock.from_url("data:image/jpeg;base64,/9j/4AAQ"),
        ImageBlock.from_url("https://example.com/cat.webp?size=big"),
        {"type": "image_url", "image_url": {"url": "https://example.com/files/abc"}},
    ])))
    assert body["contents"][0]["parts"] == [
        {"text": "What is in these?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
        {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQ"}},
        {"fileData": {"fileUri": "https://example.com/cat.webp?size=big", "mimeType": "image/webp"}},
        {"fileData": {"fileUri": "https://example.com/files/abc"}},
    ]


def test_tools_become_function_declarations_with_their_json_schema(server: LocalServer) -> None:
    bare = Tool.function("now")
    body = _body(server, _ask(Message.user("weather?"), tools=[WEATHER, bare]))
    assert body["tools"] == [{"functionDeclarations": [
        {"name": "get_weather", "description": "Weather for a city", "parametersJsonSchema": WEATHER.parameters},
        {"name": "now"},
    ]}]
    assert "toolConfig" not in body


@pytest.mark.parametrize(
    "choice, expected",
    [
        ("auto", {"mode": "AUTO"}),
        ("required", {"mode": "ANY"}),
        ("any", {"mode": "ANY"}),
        ("none", {"mode": "NONE"}),
        (ToolChoice.function("get_weather"), {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}),
    ],
)
def test_tool_choice_becomes_the_function_calling_config(
    server: LocalServer, choice: Any, expected: Dict[str, Any]
) -> None:
    body = _body(server, _ask(Message.user("weather?"), tools=[WEATHER], tool_choice=choice))
    assert body["toolConfig"] == {"functionCallingConfig": expected}


def test_a_thinking_budget_asks_for_the_thoughts_too(server: LocalServer) -> None:
    body = _body(server, _ask(Message.user("hi"), thinking_budget=2048))
    assert body["generationConfig"] == {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 2048}}


def test_enable_thinking_alone_asks_for_thoughts_and_leaves_the_budget_to_the_model(server: LocalServer) -> None:
    body = _body(server, _ask(Message.user("hi"), enable_thinking=True))
    assert body["generationConfig"] == {"thinkingConfig": {"includeThoughts": True}}


@pytest.mark.parametrize("effort, budget", [("minimal", 512), ("low", 1024), ("medium", 8192), ("high", 24576)])
def test_reasoning_effort_maps_to_a_thinking_budget(server: LocalServer, effort: str, budget: int) -> None:
    body = _body(server, _ask(Message.user("hi"), reasoning_effort=effort))
    assert body["generationConfig"]["thinkingConfig"] == {"includeThoughts": True, "thinkingBudget": budget}


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "models/gemini-2.5-flash-lite", "gemini-flash-latest"])
def test_enable_thinking_false_sends_a_zero_budget_to_models_that_can_stop_thinking(
    server: LocalServer, model: str
) -> None:
    body = _body(server, _ask(Message.user("hi"), model=model, enable_thinking=False))
    assert body["generationConfig"] == {"thinkingConfig": {"thinkingBudget": 0}}


@pytest.mark.parametrize("model", ["gemini-2.5-pro", "gemini-2.0-flash", "gemini-1.5-pro"])
def test_enable_thinking_false_sends_nothing_to_models_that_cannot_switch_it_off(
    server: LocalServer, model: str
) -> None:
    body = _body(server, _ask(Message.user("hi"), model=model, enable_thinking=False))
    assert "generationConfig" not in body


def test_an_unknown_reasoning_effort_is_refused_before_sending(server: LocalServer) -> None:
    with pytest.raises(ConfigurationError, match="reasoning_effort"):
        _client(server).chat(_ask(Message.user("hi"), reasoning_effort="extreme"))
    assert server.requests == []


def test_extra_body_is_merged_last_and_one_level_deep(server: LocalServer) -> None:
    body = _body(server, _ask(
        Message.user("hi"), temperature=0.5,
        extra_body={"generationConfig": {"candidateCount": 2, "temperature": 1.0},
                    "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]},
    ))
    assert body["generationConfig"] == {"temperature": 1.0, "candidateCount": 2}
    assert body["safetySettings"] == [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]


# -- tool round trips -------------------------------------------------------------------------------------


def test_a_tool_round_trip_runs_with_the_same_user_code_as_on_openai(server: LocalServer) -> None:
    client = _client(server)
    server.add(_answer(_candidate(
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLTE="},
    )))
    server.add(OK)
    messages: List[Message] = [Message.user("Weather in Paris?")]
    request = ChatRequest(model="gemini-2.5-flash", messages=messages, tools=[WEATHER])

    response = client.chat(request)
    assert response.finish_reason == "tool_calls"
    messages.append(response.to_message())
    for call in response.tool_calls:
        assert call.arguments_json() == {"city": "Paris"}
        messages.append(Message.tool('{"temp_c": 21}', tool_call_id=call.id))
    client.chat(ChatRequest(model="gemini-2.5-flash", messages=messages, tools=[WEATHER]))

    contents = server.requests[1].json()["contents"]
    assert contents[1:] == [
        {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLTE="},
        ]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}}]},
    ]


def test_a_call_id_given_by_the_service_is_sent_back_in_the_call_and_its_result(server: LocalServer) -> None:
    call = ToolCall.create("fc-91a", "get_weather", {"city": "Oslo"})
    body = _body(server, _ask(
        Message.user("Weather in Oslo?"), Message.assistant(None, tool_calls=[call]),
        Message.tool("sunny", tool_call_id="fc-91a"),
    ))
    assert body["contents"][1]["parts"] == [{"functionCall": {"name": "get_weather", "args": {"city": "Oslo"},
                                                              "id": "fc-91a"}}]
    assert body["contents"][2]["parts"] == [{"functionResponse": {"name": "get_weather",
                                                                  "response": {"result": "sunny"}, "id": "fc-91a"}}]


def test_send_call_ids_false_keeps_ids_out_of_the_request(server: LocalServer) -> None:
    call = ToolCall.create("fc-91a", "get_weather", {"city": "Oslo"})
    body = _body(server, _ask(
        Message.user("Weather in Oslo?"), Message.assistant(None, tool_calls=[call]),
        Message.tool("sunny", tool_call_id="fc-91a"),
    ), options={"send_call_ids": False})
    assert "id" not in body["contents"][1]["parts"][0]["functionCall"]
    assert "id" not in body["contents"][2]["parts"][0]["functionResponse"]


def test_results_of_parallel_calls_share_one_user_turn_and_find_their_own_names(server: LocalServer) -> None:
    calls = [ToolCall.create("call_0", "get_weather", {"city": "Rome"}), ToolCall.create("call_1", "now", {})]
    body = _body(server, _ask(
        Message.user("Weather and time?"), Message.assistant("Checking.", tool_calls=calls),
        Message.tool("[1, 2]", tool_call_id="call_1"), Message.tool("not json {", tool_call_id="call_0"),
    ))
    assert body["contents"][1] == {"role": "model", "parts": [
        {"text": "Checking."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
        {"functionCall": {"name": "now", "args": {}}},
    ]}
    assert body["contents"][2] == {"role": "user", "parts": [
        {"functionResponse": {"name": "now", "response": {"result": [1, 2]}}},
        {"functionResponse": {"name": "get_weather", "response": {"result": "not json {"}}},
    ]}


def test_a_result_for_an_unknown_call_uses_its_own_name_or_is_refused(server: LocalServer) -> None:
    body = _body(server, _ask(Message.user("hi"), Message.tool("{}", tool_call_id="x", name="lookup")))
    assert body["contents"][1]["parts"] == [{"functionResponse": {"name": "lookup", "response": {}, "id": "x"}}]
    with pytest.raises(ConfigurationError, match="tool_call_id 'y'"):
        _client(server).chat(_ask(Message.user("hi"), Message.tool("{}", tool_call_id="y")))


# -- the answer -------------------------------------------------------------------------------------------


def test_every_part_of_every_candidate_is_decoded(server: LocalServer) -> None:
    server.add(_answer(
        _candidate({"text": "Let me think. ", "thought": True}, {"text": "Hmm.", "thought": True},
                   {"text": "Hello, "}, {"text": "world."}),
        _candidate({"text": "Bonjour."}, finish="MAX_TOKENS", index=1),
        usage={"promptTokenCount": 10, "candidatesTokenCount": 6, "thoughtsTokenCount": 4, "totalTokenCount": 20,
               "cachedContentTokenCount": 3},
    ))
    response = _client(server).chat(_ask(Message.user("hi")))
    assert response.content == "Hello, world."
    assert response.reasoning_content == "Let me think. Hmm."
    assert [c.index for c in response.choices] == [0, 1]
    assert response.choices[1].message.content == "Bonjour."
    assert response.choices[1].message.reasoning_content is None
    assert (response.choices[0].finish_reason, response.choices[0].finish_reason_raw) == ("stop", "STOP")
    assert (response.choices[1].finish_reason, response.choices[1].finish_reason_raw) == ("length", "MAX_TOKENS")
    assert response.id == "resp-1" and response.model == "gemini-2.5-flash"
    usage = response.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (10, 10, 20)
    assert (usage.reasoning_tokens, usage.cached_tokens) == (4, 3)


def test_function_call_parts_become_tool_calls_with_ids_arguments_and_signatures(server: LocalServer) -> None:
    server.add(_answer(_candidate(
        {"text": "Looking up."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Zürich"}}, "thoughtSignature": "sig=="},
        {"functionCall": {"id": "fc-2", "name": "now", "args": {}}},
        {"functionCall": {"name": "ping"}},
    )))
    response = _client(server).chat(_ask(Message.user("hi"), tools=[WEATHER]))
    calls = response.tool_calls
    assert [(c.id, c.name, c.arguments, c.thought_signature) for c in calls] == [
        ("call_0", "get_weather", '{"city":"Zürich"}', "sig=="),
        ("fc-2", "now", "{}", None),
        ("call_2", "ping", "{}", None),
    ]
    assert response.content == "Looking up."
    assert (response.finish_reason, response.choices[0].finish_reason_raw) == ("tool_calls", "STOP")


@pytest.mark.parametrize("raw, normalized", [
    ("SAFETY", "content_filter"), ("RECITATION", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"),
    ("MAX_TOKENS", "length"), ("STOP", "stop"),
])
def test_finish_reasons_are_normalized_and_kept_raw(server: LocalServer, raw: str, normalized: str) -> None:
    server.add(_answer(_candidate(finish=raw)))
    response = _client(server).chat(_ask(Message.user("hi")))
    assert (response.finish_reason, response.choices[0].finish_reason_raw) == (normalized, raw)
    assert response.content == ""


def test_an_answer_without_usage_metadata_has_no_usage(server: LocalServer) -> None:
    server.add(OK)
    assert _client(server).chat(_ask(Message.user("hi"))).usage is None


def test_a_blocked_prompt_raises_bad_request_naming_the_block_reason(server: LocalServer) -> None:
    server.add(Reply.json({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT",
                                              "safetyRatings": []}, "modelVersion": "gemini-2.5-flash"}))
    with pytest.raises(BadRequestError, match="PROHIBITED_CONTENT") as caught:
        _client(server).chat(_ask(Message.user("something bad")))
    assert caught.value.code == "PROHIBITED_CONTENT"
    assert caught.value.provider == "google"


# -- errors -----------------------------------------------------------------------------------------------

API_KEY_INVALID = {"error": {
    "code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
    "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                 "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}],
}}

RESOURCE_EXHAUSTED = {"error": {
    "code": 429, "message": "You exceeded your current quota.", "status": "RESOURCE_EXHAUSTED",
    "details": [
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaId": "PerMinute"}]},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37.5s"},
    ],
}}


def test_api_key_invalid_is_an_authentication_error_without_the_key_in_it(server: LocalServer) -> None:
    server.add(Reply.json(API_KEY_INVALID, status=400))
    with pytest.raises(AuthenticationError, match="API key not valid") as caught:
        _client(server).chat(_ask(Message.user("hi")))
    assert caught.value.status_code == 400
    assert caught.value.code == "API_KEY_INVALID"
    assert KEY not in str(caught.value) and KEY not in repr(caught.value)


def test_resource_exhausted_carries_the_retry_delay_as_retry_after(server: LocalServer) -> None:
    server.add(Reply.json(RESOURCE_EXHAUSTED, status=429))
    with pytest.raises(RateLimitError) as caught:
        _client(server).chat(_ask(Message.user("hi")))
    assert caught.value.retry_after == 37.5
    assert caught.value.code == "RESOURCE_EXHAUSTED"
    assert len(server.requests) == 1


def test_an_error_object_in_a_200_body_is_raised_as_its_typed_error(server: LocalServer) -> None:
    server.add(Reply.json(RESOURCE_EXHAUSTED))
    with pytest.raises(RateLimitError, match="quota"):
        _client(server).chat(_ask(Message.user("hi")))


# -- models -----------------------------------------------------------------------------------------------


def test_models_lists_names_without_the_models_prefix(server: LocalServer) -> None:
    server.add(Reply.json({"models": [
        {"name": "models/gemini-2.5-flash", "supportedGenerationMethods": ["generateContent"]},
        {"name": "models/text-embedding-004"},
    ], "nextPageToken": ""}))
    assert _client(server).models() == ["gemini-2.5-flash", "text-embedding-004"]
    sent = server.requests[0]
    assert (sent.method, sent.path, sent.query) == ("GET", "/models", {"pageSize": ["1000"]})
    assert sent.headers.get("x-goog-api-key") == KEY
    assert KEY not in sent.target
