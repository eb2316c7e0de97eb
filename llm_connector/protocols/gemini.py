"""Google Gemini: ``generateContent`` and ``streamGenerateContent?alt=sse`` (the Gemini Developer API).

The key travels in the ``x-goog-api-key`` header (the preset's auth), never in the URL: URLs end up in
exception texts and logs. ``base_url`` includes the version (``https://generativelanguage.googleapis.com/v1beta``);
the model may be given as ``"gemini-2.5-flash"`` or ``"models/gemini-2.5-flash"``.

Request mapping (``ChatRequest`` -> Gemini):

- system messages -> ``systemInstruction.parts`` (text); user -> role ``user``; assistant -> role ``model``;
  consecutive tool results -> one role ``user`` turn of ``functionResponse`` parts. A tool result's function
  name comes from the earlier assistant tool call with the same id (``Message.tool(..., name=...)`` when there
  is none); its ``response`` is the result parsed as a JSON object, else ``{"result": <value or text>}``.
- images: inline (base64 or ``data:`` URL) -> ``inlineData {mimeType, data}``; other URLs -> ``fileData
  {fileUri, mimeType}`` (the MIME type from ``media_type`` or the URL's extension).
- assistant tool calls -> ``functionCall {name, args}`` parts, each with its ``thoughtSignature`` (Gemini
  rejects a replayed call of a thinking model without it).
- ``generationConfig``: temperature, topP, maxOutputTokens (``max_tokens``), stopSequences, seed,
  presencePenalty, frequencyPenalty; ``response_format`` json_object -> ``responseMimeType:
  "application/json"``, json_schema -> that plus ``responseJsonSchema`` (standard JSON Schema, the kind OpenAI
  schemas are; ``responseSchema`` takes only an OpenAPI subset).
- tools -> ``[{"functionDeclarations": [{name, description, parametersJsonSchema}]}]``; ``tool_choice`` ->
  ``toolConfig.functionCallingConfig``: auto -> AUTO, required/any -> ANY, none -> NONE, a named function ->
  ANY + ``allowedFunctionNames``.
- thinking -> ``generationConfig.thinkingConfig``: ``thinking_budget`` -> ``thinkingBudget`` (0 switches
  thinking off, -1 lets the model decide); ``reasoning_effort`` -> a budget (``_EFFORT_BUDGETS``: minimal 512,
  low 1024, medium 8192, high 24576, none 0 — the figures of Google's own OpenAI-compatible endpoint);
  ``enable_thinking=True`` alone lets the model pick the budget. Whenever reasoning is asked for,
  ``includeThoughts: true`` so the thoughts come back. ``enable_thinking=False`` sends ``thinkingBudget: 0``
  to the models that can switch thinking off (2.5 / 3 Flash and Flash-Lite); Pro models cannot and older
  models do not think, so nothing is sent for them.
- ``extra_body`` is merged last, one level deep: a mapping value (``generationConfig``, ``toolConfig``) is
  merged into the one built here, so ``{"generationConfig": {"candidateCount": 2}}`` keeps the rest.

Tool-call ids: Gemini may give each ``functionCall`` an ``id``; it is used as the ``ToolCall.id`` and sent back
in the replayed ``functionCall`` and the ``functionResponse``. A call without one gets ``call_<n>`` (the n-th
call of that candidate), which is never sent to the service; the function name of a result is found through
the id either way.

Decoding: every part of every candidate: text -> ``content``, ``thought: true`` text -> ``reasoning_content``,
``functionCall`` -> ``ToolCall`` (arguments as compact JSON, ``thought_signature`` kept); code execution and
other parts stay in ``.raw``. ``finishReason`` normalized (a candidate that called functions and stopped ->
``tool_calls``) and kept raw. ``usageMetadata`` -> ``Usage`` (completion = candidates + thoughts tokens).
Gemini repeats ``usageMetadata`` on every stream event; it is put on one chunk only: the one where every
candidate has finished (or a usage-only chunk at the end of the body when the figures came later). Gemini has
no end-of-stream marker: a body that ends before any candidate sent a ``finishReason`` raises
``IncompleteStreamError``. A prompt blocked by ``promptFeedback.blockReason`` raises ``BadRequestError`` with
the block reason as ``code`` and in the message; an ``{"error": ...}`` object raises the typed error.

Thought signatures on text parts (Gemini 3) are kept in ``.raw`` only: Gemini does not require them back.

Quirks a caller may set in ``Endpoint.options`` (``LlmClient(..., options={...})``):

- ``schema_style`` (default ``"json_schema"``): ``"openapi"`` sends ``parameters`` / ``responseSchema`` (the
  OpenAPI subset) instead of ``parametersJsonSchema`` / ``responseJsonSchema``, for deployments without them.
- ``send_call_ids`` (default True): False never sends ``functionCall.id`` / ``functionResponse.id``.

``models()`` asks for ``pageSize=1000`` (the largest page), which holds every model Google lists today;
``nextPageToken`` is not followed.
"""

import json
import mimetypes
import re
import time
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple
from urllib.parse import quote

from ..errors import BadRequestError, ConfigurationError, IncompleteStreamError, StreamParseError, shorten
from ..lines import iter_sse_batches
from ..transport import HttpRequest
from ..types import (
    ChatRequest,
    ChatResponse,
    Choice,
    Delta,
    FunctionCall,
    ImageBlock,
    Message,
    Role,
    StreamingChoice,
    StreamingResponse,
    TextBlock,
    ToolCall,
    Usage,
)
from . import (
    NO_CHUNKS,
    Endpoint,
    StreamState,
    finish_reader,
    join_url,
    json_body,
    loads,
    merge_extra,
    renamed_fields,
    stream_error,
)

#: Gemini's ``finishReason`` words (lower-cased) in OpenAI's words; a candidate that called functions and
#: stopped is ``tool_calls`` (``_finish``).
FINISH_REASONS: Dict[str, str] = {
    "stop": "stop",
    "finish_reason_unspecified": "stop",
    "max_tokens": "length",
    "safety": "content_filter",
    "recitation": "content_filter",
    "blocklist": "content_filter",
    "prohibited_content": "content_filter",
    "spii": "content_filter",
    "image_safety": "content_filter",
    "language": "content_filter",
    "malformed_function_call": "stop",
    "other": "stop",
}
_finish_reason = finish_reader(FINISH_REASONS)

__all__ = [
    "NAME",
    "chat_url",
    "GeminiStreamState",
    "decode_event",
    "decode_models",
    "decode_response",
    "decode_stream",
    "decode_usage",
    "encode_body",
    "encode_chat",
    "encode_contents",
    "encode_models",
    "function_calling_config",
    "generation_config",
    "model_path",
    "thinking_config",
]

NAME = "gemini"

#: ``reasoning_effort`` -> ``thinkingBudget`` (tokens).
_EFFORT_BUDGETS: Dict[str, int] = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576}

#: Model families that think and can switch it off with ``thinkingBudget: 0`` (Pro models are excluded).
_SWITCHABLE_THINKING = ("gemini-2.5-", "gemini-3", "gemini-flash-latest", "gemini-flash-lite-latest")

_TOOL_MODES: Dict[str, str] = {"auto": "AUTO", "required": "ANY", "any": "ANY", "none": "NONE"}

_GENERATION_FIELDS: Tuple[Tuple[str, str], ...] = (
    ("temperature", "temperature"),
    ("top_p", "topP"),
    ("max_tokens", "maxOutputTokens"),
    ("seed", "seed"),
    ("presence_penalty", "presencePenalty"),
    ("frequency_penalty", "frequencyPenalty"),
)

# -- request ----------------------------------------------------------------------------------------------


def model_path(model: str) -> str:
    """``models/<model>`` (a name that already has a collection, ``models/x`` or ``tunedModels/x``, is kept)."""
    name = model.strip().strip("/")
    if "/" not in name:
        name = "models/" + name
    return quote(name, safe="/")


def chat_url(endpoint: Endpoint, model: str, stream: bool) -> str:
    """The URL of ``generateContent`` or ``streamGenerateContent?alt=sse`` for ``model``."""
    action = ":streamGenerateContent?alt=sse" if stream else ":generateContent"
    return join_url(endpoint.base_url, model_path(model)) + action


def _is_generated_id(call_id: str) -> bool:
    """True for the ``call_<n>`` ids this module makes up for calls the service gave no id."""
    return call_id.startswith("call_") and call_id[5:].isdigit()


def _image_part(block: ImageBlock) -> Dict[str, Any]:
    inline = block.as_base64()
    if inline is not None:
        return {"inlineData": {"mimeType": inline[0], "data": inline[1]}}
    url = block.url or ""
    data: Dict[str, Any] = {"fileUri": url}
    mime = block.media_type or mimetypes.guess_type(url.split("?", 1)[0])[0]
    if mime:
        data["mimeType"] = mime
    return {"fileData": data}


def _content_parts(message: Message) -> List[Dict[str, Any]]:
    parts: List[Dict[str, Any]] = []
    for block in message.blocks():
        if isinstance(block, TextBlock):
            if block.text:
                parts.append({"text": block.text})
        elif isinstance(block, ImageBlock):
            parts.append(_image_part(block))
    return parts


def _call_args(call: ToolCall) -> Dict[str, Any]:
    try:
        args = call.arguments_json()
    except StreamParseError as exc:
        raise ConfigurationError(f"Message.tool_calls: {exc.message}") from None
    if not isinstance(args, dict):
        raise ConfigurationError(
            f"Message.tool_calls: Gemini needs the arguments of {call.function.name!r} ({call.id}) as a JSON "
            f"object, got {shorten(call.function.arguments, 100)}"
        )
    return args


def _function_call_part(call: ToolCall, send_ids: bool) -> Dict[str, Any]:
    fn: Dict[str, Any] = {"name": call.function.name, "args": _call_args(call)}
    if send_ids and call.id and not _is_generated_id(call.id):
        fn["id"] = call.id
    part: Dict[str, Any] = {"functionCall": fn}
    if call.thought_signature:
        part["thoughtSignature"] = call.thought_signature
    return part


def _result_object(text: str) -> Dict[str, Any]:
    """A tool result as the JSON object ``functionResponse.response`` must be."""
    try:
        value = json.loads(text)
    except ValueError:
        return {"result": text}
    return value if isinstance(value, dict) else {"result": value}


def _function_response_part(message: Message, names: Mapping[str, str], send_ids: bool) -> Dict[str, Any]:
    call_id = message.tool_call_id or ""
    name = names.get(call_id) or message.name
    if not name:
        raise ConfigurationError(
            f"Message.tool: tool_call_id {call_id!r} matches no earlier assistant tool call; Gemini needs the "
            "function name (pass Message.tool(content, tool_call_id, name=...))"
        )
    response: Dict[str, Any] = {"name": name, "response": _result_object(message.text_content())}
    if send_ids and call_id and not _is_generated_id(call_id):
        response["id"] = call_id
    return {"functionResponse": response}


def encode_contents(messages: Iterable[Message], send_ids: bool = True) -> Tuple[List[Dict[str, Any]],
                                                                                 List[Dict[str, Any]]]:
    """``(systemInstruction parts, contents)`` for the conversation."""
    system: List[Dict[str, Any]] = []
    contents: List[Dict[str, Any]] = []
    names: Dict[str, str] = {}  # tool call id -> function name, the latest call with that id winning
    results: Optional[List[Dict[str, Any]]] = None  # the functionResponse parts of the current tool turn
    for message in messages:
        role = message.role
        if role is Role.TOOL:
            if results is None:
                results = []
                contents.append({"role": "user", "parts": results})
            results.append(_function_response_part(message, names, send_ids))
            continue
        results = None
        if role is Role.SYSTEM or role is Role.DEVELOPER:
            text = message.text_content()
            if text:
                system.append({"text": text})
            continue
        parts = _content_parts(message)
        if role is Role.ASSISTANT:
            for call in message.tool_calls or ():
                names[call.id] = call.function.name
                parts.append(_function_call_part(call, send_ids))
        if parts:  # Gemini rejects a turn without parts
            contents.append({"role": "model" if role is Role.ASSISTANT else "user", "parts": parts})
    return system, contents


def _can_switch_off_thinking(model: str) -> bool:
    name = model.rsplit("/", 1)[-1].lower()
    return "-pro" not in name and name.startswith(_SWITCHABLE_THINKING)


def _thinking_off(model: str) -> Optional[Dict[str, Any]]:
    return {"thinkingBudget": 0} if _can_switch_off_thinking(model) else None


def thinking_config(request: ChatRequest) -> Optional[Dict[str, Any]]:
    """``generationConfig.thinkingConfig`` for the request's reasoning switches, or None."""
    if request.enable_thinking is False:
        return _thinking_off(request.model)
    budget = request.thinking_budget
    if budget is None and request.reasoning_effort is not None:
        effort = str(request.reasoning_effort).lower()
        if effort not in _EFFORT_BUDGETS:
            raise ConfigurationError(
                f"ChatRequest.reasoning_effort: {request.reasoning_effort!r} is not one of "
                f"{', '.join(_EFFORT_BUDGETS)}"
            )
        budget = _EFFORT_BUDGETS[effort]
        if budget == 0:
            return _thinking_off(request.model)
    if budget == 0:
        return {"thinkingBudget": 0}
    if budget is None and not request.enable_thinking:
        return None
    config: Dict[str, Any] = {"includeThoughts": True}
    if budget is not None:
        config["thinkingBudget"] = budget
    return config


def _response_format(fmt: Mapping[str, Any], config: Dict[str, Any], openapi: bool) -> None:
    kind = fmt.get("type")
    if kind == "text":
        return
    if kind not in ("json_object", "json_schema"):
        raise ConfigurationError(f"ChatRequest.response_format: unknown type {kind!r}")
    config["responseMimeType"] = "application/json"
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if schema is None:
            raise ConfigurationError("ChatRequest.response_format: json_schema needs json_schema.schema")
        config["responseSchema" if openapi else "responseJsonSchema"] = schema


def generation_config(request: ChatRequest, openapi: bool = False) -> Dict[str, Any]:
    """``generationConfig`` (empty when the request sets nothing)."""
    config = renamed_fields(request, _GENERATION_FIELDS)
    stop = request.stop_list()
    if stop:
        config["stopSequences"] = stop
    if request.response_format:
        _response_format(request.response_format, config, openapi)
    thinking = thinking_config(request)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return config


def _declaration(tool: Any, openapi: bool) -> Dict[str, Any]:
    decl: Dict[str, Any] = {"name": tool.name}
    if tool.description:
        decl["description"] = tool.description
    if tool.parameters is not None:
        decl["parameters" if openapi else "parametersJsonSchema"] = tool.parameters
    return decl


def function_calling_config(choice: Any) -> Dict[str, Any]:
    """``toolConfig.functionCallingConfig`` for a ``tool_choice`` value."""
    if isinstance(choice, str):
        mode = _TOOL_MODES.get(choice.lower())
        if mode is None:
            raise ConfigurationError(f"ChatRequest.tool_choice: unknown mode {choice!r} (auto, required, none)")
        return {"mode": mode}
    if isinstance(choice, Mapping):
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else choice.get("name")
        if name:
            return {"mode": "ANY", "allowedFunctionNames": [name]}
    raise ConfigurationError(f"ChatRequest.tool_choice: unsupported value {shorten(repr(choice), 100)}")


def encode_body(request: ChatRequest, endpoint: Endpoint) -> Dict[str, Any]:
    """The JSON body for ``generateContent`` (the streaming call takes the same body)."""
    openapi = endpoint.option("schema_style", "json_schema") == "openapi"
    system, contents = encode_contents(request.messages, bool(endpoint.option("send_call_ids", True)))
    body: Dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(t, openapi) for t in request.tools]}]
    if request.tool_choice is not None:
        body["toolConfig"] = {"functionCallingConfig": function_calling_config(request.tool_choice)}
    config = generation_config(request, openapi)
    if config:
        body["generationConfig"] = config
    merge_extra(body, request.extra_body)
    return body


def encode_chat(request: ChatRequest, endpoint: Endpoint, stream: bool) -> HttpRequest:
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream" if stream else "application/json"}
    return HttpRequest("POST", chat_url(endpoint, request.model, stream), headers,
                       json_body(encode_body(request, endpoint)), endpoint.auth)


def encode_models(endpoint: Endpoint) -> HttpRequest:
    url = join_url(endpoint.base_url, "models") + "?pageSize=1000"
    return HttpRequest("GET", url, {"Accept": "application/json"}, None, endpoint.auth)


def decode_models(data: Any, endpoint: Endpoint) -> List[str]:
    """Model names without the ``models/`` prefix."""
    if not isinstance(data, Mapping):
        raise StreamParseError("the model list is not a JSON object",
                               provider=endpoint.provider, body=str(data))
    if data.get("error"):
        raise stream_error(data, endpoint.provider)
    names = []
    for item in data.get("models") or ():
        name = str(item.get("name", "")) if isinstance(item, Mapping) else str(item)
        names.append(name[7:] if name.startswith("models/") else name)
    return names


# -- response ---------------------------------------------------------------------------------------------


def decode_usage(data: Any) -> Optional[Usage]:
    """``usageMetadata`` -> ``Usage`` (completion counts thoughts too), or None."""
    if not isinstance(data, Mapping):
        return None
    prompt = data.get("promptTokenCount") or 0
    thoughts = data.get("thoughtsTokenCount")
    completion = (data.get("candidatesTokenCount") or 0) + (thoughts or 0)
    usage = Usage(prompt, completion, data.get("totalTokenCount") or (prompt + completion))
    if thoughts is not None:
        usage.reasoning_tokens = thoughts
    cached = data.get("cachedContentTokenCount")
    if cached is not None:
        usage.cached_tokens = cached
    return usage


def _blocked_error(data: Mapping[str, Any], provider: str) -> Optional[BadRequestError]:
    """The error for a prompt Gemini refused to answer (``promptFeedback.blockReason``), or None."""
    feedback = data.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, Mapping) else None
    if not reason:
        return None
    assert isinstance(feedback, Mapping)
    detail = feedback.get("blockReasonMessage")
    message = f"Gemini blocked the prompt (blockReason {reason})" + (f": {detail}" if detail else "")
    return BadRequestError(message, provider=provider, code=str(reason), body=json_body(data).decode("utf-8"))


def _check_object(data: Any, provider: str) -> Mapping[str, Any]:
    """``data`` as a response object; the typed error for an error object or a blocked prompt."""
    if isinstance(data, list) and len(data) == 1:
        data = data[0]  # Gemini's non-SSE stream format wraps objects (and errors) in an array
    if not isinstance(data, dict):  # what JSON parsing gives (a typing.Mapping check costs 10x per chunk)
        raise StreamParseError(f"the service sent something that is not a JSON object: {shorten(data, 200)}",
                               provider=provider, body=str(data))
    if data.get("error"):
        raise stream_error(data, provider)
    if not data.get("candidates"):
        blocked = _blocked_error(data, provider)
        if blocked is not None:
            raise blocked
    return data


def _read_parts(
    parts: Any, calls_before: int
) -> Tuple[Optional[str], Optional[str], Optional[List[ToolCall]]]:
    """``(text, thoughts, tool calls)`` of one candidate's parts; calls are numbered from ``calls_before``."""
    text: List[str] = []
    thoughts: List[str] = []
    calls: Optional[List[ToolCall]] = None
    for part in parts or ():
        if not isinstance(part, dict):
            continue
        call = part.get("functionCall")
        if call is not None:
            n = calls_before + (len(calls) if calls else 0)
            args = call.get("args")
            tool_call = ToolCall(call.get("id") or f"call_{n}", "function",
                                 FunctionCall(call.get("name") or "",
                                              json_body(args).decode("utf-8") if args is not None else "{}"),
                                 n, part.get("thoughtSignature"))
            if calls is None:
                calls = [tool_call]
            else:
                calls.append(tool_call)
        elif "text" in part:
            (thoughts if part.get("thought") else text).append(part["text"])
    return ("".join(text) if text else None, "".join(thoughts) if thoughts else None, calls)


def _finish(raw: Any, called: bool) -> Tuple[Optional[str], Optional[str]]:
    """``(normalized, raw)`` finish reason; a candidate that called functions and stopped -> ``tool_calls``."""
    reason, word = _finish_reason(raw)
    if called and reason == "stop":
        reason = "tool_calls"
    return reason, word


def _choice(candidate: Mapping[str, Any]) -> Choice:
    content = candidate.get("content") or {}
    text, thoughts, calls = _read_parts(content.get("parts"), 0)
    reason, raw = _finish(candidate.get("finishReason"), bool(calls))
    return Choice(
        index=candidate.get("index", 0),
        message=Message(role=Role.ASSISTANT, content=text if text is not None else (None if calls else ""),
                        tool_calls=calls, reasoning_content=thoughts),
        finish_reason=reason,
        finish_reason_raw=raw,
        logprobs=candidate.get("logprobsResult"),
    )


def decode_response(data: Any, endpoint: Endpoint) -> ChatResponse:
    obj = _check_object(data, endpoint.provider)
    choices = sorted((_choice(c) for c in obj.get("candidates") or ()), key=lambda c: c.index)
    return ChatResponse.from_choices(
        choices,
        id=obj.get("responseId") or "",
        object="chat.completion",
        created=int(time.time()),
        model=obj.get("modelVersion") or "",
        usage=decode_usage(obj.get("usageMetadata")),
        raw=obj,
    )


# -- stream -----------------------------------------------------------------------------------------------


class GeminiStreamState(StreamState):
    """The state of one ``streamGenerateContent`` stream: what it remembers between events. ``finished`` turns
    True at the first ``finishReason``; the body may still carry events after it (usage, other candidates),
    so the framing reads to the end; ``end()`` then hands out usage that came after the last chunk."""

    __slots__ = ("created", "calls", "seen", "open", "usage", "emitted", "response_id", "model")

    def __init__(self, provider: str) -> None:
        super().__init__(provider)
        self.created = int(time.time())
        self.calls: Dict[int, int] = {}  # candidate index -> function calls so far
        self.seen: Set[int] = set()  # candidates that have sent a delta (the first one carries the role)
        self.open: Set[int] = set()  # candidates seen without a finishReason yet
        self.usage: Optional[Mapping[str, Any]] = None  # the latest usageMetadata
        self.emitted: Optional[Mapping[str, Any]] = None  # the usageMetadata already put on a chunk
        self.response_id = ""
        self.model = ""

    def handle(self, event: Any) -> Sequence[StreamingResponse]:
        chunk = decode_event(event, self)
        return NO_CHUNKS if chunk is None else (chunk,)

    def end(self) -> Sequence[StreamingResponse]:
        if not self.finished:
            raise IncompleteStreamError(
                "the stream ended before any candidate sent a finishReason", provider=self.provider
            )
        if self.usage is None or self.usage == self.emitted:
            return NO_CHUNKS
        self.open.clear()
        return (StreamingResponse(self.response_id, "chat.completion.chunk", self.created, self.model, [], "", None,
                                  self.take_usage(), None, None),)

    def take_usage(self) -> Optional[Usage]:
        """The final usage, once: when every candidate has finished and the figures are new."""
        if not self.finished or self.open or self.usage is None or self.usage == self.emitted:
            return None
        self.emitted = self.usage
        return decode_usage(self.usage)


def _stream_choice(candidate: Mapping[str, Any], state: GeminiStreamState) -> StreamingChoice:
    index = candidate.get("index", 0)
    content = candidate.get("content")
    calls_before = state.calls.get(index, 0)
    text, thoughts, calls = _read_parts(content.get("parts") if content else None, calls_before)
    if calls:
        calls_before += len(calls)
        state.calls[index] = calls_before
    role = None
    if index not in state.seen:
        state.seen.add(index)
        state.open.add(index)
        role = "assistant"
    reason, raw = _finish(candidate.get("finishReason"), calls_before > 0)
    if raw is not None:
        state.open.discard(index)
        state.finished = True
    return StreamingChoice(index, Delta(role, text, thoughts, calls), reason, raw, candidate.get("logprobsResult"))


def _plain_text_event(data: Any, state: GeminiStreamState) -> Optional[StreamingResponse]:
    """The hot path: one candidate already seen, one part of plain text, not finished. None otherwise."""
    if state.finished or type(data) is not dict or "error" in data:
        return None
    try:
        candidates = data["candidates"]
        candidate = candidates[0]
        parts = candidate["content"]["parts"]
        part = parts[0]
    except (KeyError, TypeError, IndexError):  # not this shape: the general path reads it (or says what is wrong)
        return None
    if len(candidates) != 1 or len(parts) != 1 or type(part) is not dict or len(part) != 1 \
            or "finishReason" in candidate:
        return None
    text = part.get("text")
    index = candidate.get("index", 0)
    if type(text) is not str or index not in state.seen:
        return None
    usage_data = data.get("usageMetadata")
    if usage_data:
        state.usage = usage_data
    response_id = data.get("responseId") or ""
    model = data.get("modelVersion") or ""
    if response_id:
        state.response_id = response_id
    if model:
        state.model = model
    return StreamingResponse(response_id, "chat.completion.chunk", state.created, model,
                             [StreamingChoice(index, Delta(None, text), None, None, candidate.get("logprobsResult"))],
                             text if index == 0 else "", None, None, None, data)


def decode_event(data: Any, state: GeminiStreamState) -> Optional[StreamingResponse]:
    """One parsed stream event -> a chunk (None when it carries nothing to hand out)."""
    fast = _plain_text_event(data, state)
    if fast is not None:
        return fast
    obj = _check_object(data, state.provider)
    choices = []
    content = ""
    reasoning = None
    for candidate in obj.get("candidates") or ():
        choice = _stream_choice(candidate, state)
        choices.append(choice)
        if choice.index == 0:
            content = choice.delta.content or ""
            reasoning = choice.delta.reasoning_content
    usage_data = obj.get("usageMetadata")
    if usage_data:
        state.usage = usage_data
    usage = state.take_usage() if state.finished else None
    if not choices and usage is None:
        return None
    chunk = StreamingResponse(obj.get("responseId") or "", "chat.completion.chunk", state.created,
                              obj.get("modelVersion") or "", choices, content, reasoning, usage, None, obj)
    state.response_id, state.model = chunk.id or state.response_id, chunk.model or state.model
    return chunk


class _Tail:
    """The body's bytes passed through, the last few pieces kept: Google's front end ends a failed stream with a
    bare JSON error object (no ``data:``), which the SSE parser rightly ignores."""

    __slots__ = ("chunks", "last")

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = chunks
        self.last: List[bytes] = []

    def __iter__(self) -> Iterator[bytes]:
        last = self.last
        for piece in self.chunks:
            last.append(piece)
            if len(last) > 16:
                del last[0]
            yield piece


def _bare_error(tail: bytes, provider: str) -> Optional[Exception]:
    """The typed error for a bare ``{"error": {...}}`` object at the end of a stream, with its status; else None."""
    text = tail.decode("utf-8", "replace")
    for start in [m.start() for m in re.finditer(r"(?m)^\{", text)][-4:]:
        try:
            data, _ = json.JSONDecoder().raw_decode(text, start)
        except ValueError:
            continue
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            code = error.get("code")
            return stream_error(data, provider, code if isinstance(code, int) and 100 <= code < 600 else None)
    return None


def decode_stream(chunks: Iterable[bytes], endpoint: Endpoint) -> Iterator[StreamingResponse]:
    """Server-sent events -> chunks, read to the end of the body (Gemini has no end marker beyond the body's
    end; ``IncompleteStreamError`` when no candidate ever finished)."""
    provider = endpoint.provider
    state = GeminiStreamState(provider)
    handle = state.handle
    plain = _plain_text_event
    tail = _Tail(chunks)
    for batch in iter_sse_batches(tail):  # a read's events at a time: no generator step per event
        for _, data in batch:
            if data:
                obj = loads(data, provider)
                chunk = plain(obj, state)
                if chunk is None:
                    yield from handle(obj)
                else:
                    yield chunk
    if not state.finished:
        bare = _bare_error(b"".join(tail.last), provider)
        if bare is not None:
            raise bare
    yield from state.end()
