"""Anthropic Messages (``POST {base}/v1/messages``), spoken by Anthropic, LongCat's Anthropic mode and Claude on
Google Vertex AI; ``bedrock.py`` reuses the body and the event handling for Claude on AWS Bedrock.

Request mapping (``ChatRequest`` -> Messages body):

- System messages become the top-level ``system`` string (several joined with a blank line). Consecutive turns
  of one role are merged into one turn (the API requires user/assistant alternation); a tool result is a
  ``tool_result`` block in a user turn, so the results of one round of calls share one user turn.
- Images: inline (base64 or a ``data:`` URL) -> a ``base64`` source, any other URL -> a ``url`` source.
- An assistant turn is sent as its signed ``thinking_blocks`` (verbatim, first), its text, then one
  ``tool_use`` block per tool call (``input`` = the parsed arguments, ``{}`` when empty). Its
  ``reasoning_content`` alone is not sent: Anthropic only takes back thinking it signed.
- ``max_tokens`` is required by the API: 4096 when not given. Thinking is on with ``thinking_budget`` (tokens),
  ``enable_thinking=True`` (budget 2048) or ``reasoning_effort`` (low 1024, medium 4096, high 16384), and off
  when ``enable_thinking=False``. The API needs ``max_tokens`` above the budget: when it is not, it is raised to
  budget + 4096.
- ``stop`` -> ``stop_sequences``; ``user`` -> ``metadata.user_id``; ``tools`` -> ``{name, description,
  input_schema}``; ``tool_choice`` auto/required(any)/none/a function -> ``{"type": auto|any|none|tool}``.
- ``response_format`` (JSON object / JSON schema) has no native counterpart: an instruction to answer with
  JSON only (and the schema) is appended to ``system``. ``seed``, ``presence_penalty`` and
  ``frequency_penalty`` do not exist in the API and are not sent.
- ``extra_body`` is merged into the body last (``top_k``, ``anthropic_beta``, ...).

Response mapping: text blocks -> ``content``; thinking blocks -> ``reasoning_content`` and, with
``redacted_thinking`` blocks, ``message.thinking_blocks`` (for replay); ``tool_use`` -> tool calls. Server-side
tools (``server_tool_use``, ``web_search_tool_result``, ...) are not calls for the caller: they stay in ``.raw``.
``stop_reason`` end_turn/stop_sequence -> stop, max_tokens -> length, tool_use -> tool_calls (raw word kept).

Usage: ``prompt_tokens`` counts every input token, ``input_tokens + cache_read_input_tokens +
cache_creation_input_tokens`` (Anthropic's ``input_tokens`` leaves cached ones out), so that ``cached_tokens``
and ``cache_creation_tokens`` are parts of ``prompt_tokens`` as in OpenAI's usage.

Options a preset may set in ``Endpoint.options``:

- ``vertex`` (default False): Claude on Vertex AI. The base URL ends in ``.../publishers/anthropic/models``;
  the request goes to ``{base}/{model}:rawPredict`` (``:streamRawPredict`` for a stream), the body has no
  ``model`` and carries ``"anthropic_version": "vertex-2023-10-16"``, no ``anthropic-version`` header is sent.
  Vertex offers no model list.
- ``anthropic_version``: overrides the version (the header's ``2023-06-01``, Vertex's body value).
"""

import time
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import quote

from ..errors import ConfigurationError, IncompleteStreamError, StreamParseError, UnsupportedOperationError
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
    Tool,
    ToolCall,
    ToolChoice,
    Usage,
)
from . import NO_CHUNKS, Endpoint, finish_reader, join_url, json_body, loads, merge_extra, stream_error
from . import StreamState as _ProtocolState

#: Anthropic's ``stop_reason`` words in OpenAI's words (Bedrock's stream speaks the same).
FINISH_REASONS: Dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
_finish_reason = finish_reader(FINISH_REASONS)


__all__ = [
    "NAME",
    "API_VERSION",
    "VERTEX_VERSION",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_THINKING_BUDGET",
    "encode_chat",
    "encode_body",
    "encode_messages",
    "decode_response",
    "decode_stream",
    "decode_usage",
    "encode_models",
    "decode_models",
    "AnthropicStreamState",
    "StreamState",
    "decode_request",
    "encode_response",
    "encode_stream",
    "encode_sse",
    "encode_error",
    "encode_error_event",
]

NAME = "anthropic"
#: The ``anthropic-version`` header of the direct API.
API_VERSION = "2023-06-01"
#: The ``anthropic_version`` body field on Vertex AI.
VERTEX_VERSION = "vertex-2023-10-16"
#: Sent when the request gives no ``max_tokens`` (the API requires one).
DEFAULT_MAX_TOKENS = 4096
#: Thinking budget for ``enable_thinking=True`` without ``thinking_budget``.
DEFAULT_THINKING_BUDGET = 2048
#: Headroom above the thinking budget when ``max_tokens`` would not leave room for an answer.
_ANSWER_HEADROOM = 4096
_EFFORT_BUDGETS = {"low": 1024, "minimal": 1024, "medium": 4096, "high": 16384}

_JSON_HINT = "Respond with a single valid JSON object only, with no text before or after it."

# -- request ----------------------------------------------------------------------------------------------


def _image(block: ImageBlock) -> Dict[str, Any]:
    inline = block.as_base64()
    if inline is not None:
        media_type, data = inline
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": block.url or ""}}


def _content_blocks(message: Message) -> List[Dict[str, Any]]:
    """Text and image blocks of a message; empty text is left out (the API rejects empty text blocks)."""
    out: List[Dict[str, Any]] = []
    for block in message.blocks():
        if isinstance(block, TextBlock):
            if block.text:
                out.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            out.append(_image(block))
    return out


def _tool_input(call: ToolCall) -> Dict[str, Any]:
    """The call's arguments as the ``input`` object (``{}`` when empty); cut-off JSON cannot be sent."""
    try:
        value = call.arguments_json()
    except StreamParseError as exc:
        raise ConfigurationError(
            f"assistant tool call {call.function.name!r} ({call.id}) cannot be sent to Anthropic: {exc.message}"
        ) from None
    if not isinstance(value, dict):
        raise ConfigurationError(
            f"assistant tool call {call.function.name!r} ({call.id}): Anthropic needs the arguments to be a JSON"
            " object"
        )
    return value


def _assistant_blocks(message: Message) -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = [dict(b) for b in message.thinking_blocks or ()]
    out.extend(_content_blocks(message))
    for call in message.tool_calls or ():
        out.append({"type": "tool_use", "id": call.id, "name": call.function.name, "input": _tool_input(call)})
    return out


def _tool_result(message: Message) -> Dict[str, Any]:
    content: Any = message.text_content()
    if any(isinstance(b, ImageBlock) for b in message.blocks()):
        content = _content_blocks(message)
    return {"type": "tool_result", "tool_use_id": message.tool_call_id or "", "content": content}


def _turn_blocks(message: Message) -> Tuple[str, List[Dict[str, Any]]]:
    role = message.role
    if role is Role.ASSISTANT:
        return "assistant", _assistant_blocks(message)
    if role is Role.TOOL:
        return "user", [_tool_result(message)]
    return "user", _content_blocks(message)


def _compact(blocks: List[Dict[str, Any]]) -> Any:
    """A turn that is one plain text block is sent as a string, the way people write it."""
    if not blocks:
        return ""
    if len(blocks) == 1 and blocks[0]["type"] == "text":
        return blocks[0]["text"]
    return blocks


def encode_messages(messages: Iterable[Message]) -> Tuple[Optional[str], List[Dict[str, Any]]]:
    """``(system, turns)``: system messages joined, the rest as alternating Anthropic turns."""
    system: List[str] = []
    turns: List[Tuple[str, List[Dict[str, Any]]]] = []
    for message in messages:
        if message.role is Role.SYSTEM or message.role is Role.DEVELOPER:
            text = message.text_content()
            if text:
                system.append(text)
            continue
        role, blocks = _turn_blocks(message)
        if turns and turns[-1][0] == role:
            turns[-1][1].extend(blocks)
        else:
            turns.append((role, blocks))
    encoded = [{"role": role, "content": _compact(blocks)} for role, blocks in turns]
    return ("\n\n".join(system) if system else None), encoded


def _tool_choice(choice: Any) -> Dict[str, Any]:
    if isinstance(choice, str):
        mode = {"auto": "auto", "required": "any", "any": "any", "none": "none"}.get(choice.lower())
        if mode is not None:
            return {"type": mode}
    elif isinstance(choice, Mapping):
        kind = choice.get("type")
        if kind == "function":
            fn = choice.get("function")
            name = fn.get("name") if isinstance(fn, Mapping) else choice.get("name")
            if name:
                return {"type": "tool", "name": str(name)}
        elif kind in ("auto", "any", "none", "tool"):
            return dict(choice)  # already in Anthropic's shape
    raise ConfigurationError(
        f"ChatRequest.tool_choice: {choice!r} is not auto, required, none or ToolChoice.function(name)"
    )


def _thinking_budget(request: ChatRequest) -> Optional[int]:
    if request.enable_thinking is False:
        return None
    if request.thinking_budget:
        return int(request.thinking_budget)
    if request.enable_thinking:
        return DEFAULT_THINKING_BUDGET
    if request.reasoning_effort:
        return _EFFORT_BUDGETS.get(request.reasoning_effort.lower(), DEFAULT_THINKING_BUDGET)
    return None


def _json_instruction(response_format: Mapping[str, Any]) -> Optional[str]:
    kind = response_format.get("type")
    if kind == "json_object":
        return _JSON_HINT
    if kind == "json_schema":
        spec = response_format.get("json_schema") or {}
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if schema is None:
            return _JSON_HINT
        return _JSON_HINT + " It must follow this JSON schema: " + json_body(schema).decode("utf-8")
    return None


def _system(system: Optional[str], request: ChatRequest) -> Optional[str]:
    hint = _json_instruction(request.response_format) if request.response_format else None
    if hint is None:
        return system
    return system + "\n\n" + hint if system else hint


def encode_body(
    request: ChatRequest,
    stream: Optional[bool],
    *,
    include_model: bool = True,
    anthropic_version: Optional[str] = None,
) -> Dict[str, Any]:
    """The Messages body. ``stream=None`` leaves ``stream`` out (Bedrock); ``include_model=False`` leaves
    ``model`` out and ``anthropic_version`` goes in the body (Vertex, Bedrock). ``extra_body`` is merged last."""
    system, turns = encode_messages(request.messages)
    body: Dict[str, Any] = {}
    if anthropic_version:
        body["anthropic_version"] = anthropic_version
    if include_model:
        body["model"] = request.model
    system = _system(system, request)
    if system:
        body["system"] = system
    body["messages"] = turns
    budget = _thinking_budget(request)
    max_tokens = request.max_tokens if request.max_tokens is not None else DEFAULT_MAX_TOKENS
    if budget is not None and max_tokens <= budget:
        max_tokens = budget + _ANSWER_HEADROOM
    body["max_tokens"] = max_tokens
    if budget is not None:
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    stop = request.stop_list()
    if stop:
        body["stop_sequences"] = stop
    if request.user:
        body["metadata"] = {"user_id": request.user}
    if request.tools:
        body["tools"] = [_tool(t.name, t.description, t.schema()) for t in request.tools]
    if request.tool_choice is not None:
        body["tool_choice"] = _tool_choice(request.tool_choice)
    if stream:
        body["stream"] = True
    merge_extra(body, request.extra_body)
    return body


def _tool(name: str, description: Optional[str], schema: Dict[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {"name": name}
    if description is not None:
        out["description"] = description
    out["input_schema"] = schema
    return out


def _vertex_url(endpoint: Endpoint, model: str, stream: bool) -> str:
    method = "streamRawPredict" if stream else "rawPredict"
    return join_url(endpoint.base_url, f"{quote(model, safe='@')}:{method}")


def encode_chat(request: ChatRequest, endpoint: Endpoint, stream: bool) -> HttpRequest:
    """``POST {base}/v1/messages`` (Vertex: ``{base}/{model}:rawPredict`` or ``:streamRawPredict``)."""
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream" if stream else "application/json"}
    if endpoint.option("vertex", False):
        version = endpoint.option("anthropic_version") or VERTEX_VERSION
        body = encode_body(request, stream, include_model=False, anthropic_version=version)
        url = _vertex_url(endpoint, request.model, stream)
    else:
        headers["anthropic-version"] = endpoint.option("anthropic_version") or API_VERSION
        body = encode_body(request, stream)
        url = join_url(endpoint.base_url, "v1/messages")
    return HttpRequest("POST", url, headers, json_body(body), endpoint.auth)


def encode_models(endpoint: Endpoint) -> HttpRequest:
    """``GET {base}/v1/models?limit=1000`` (one page holds every model). Not offered on Vertex AI."""
    if endpoint.option("vertex", False):
        raise UnsupportedOperationError(
            "Vertex AI has no Anthropic model list", provider=endpoint.provider
        )
    headers = {"Accept": "application/json", "anthropic-version": endpoint.option("anthropic_version") or API_VERSION}
    return HttpRequest("GET", join_url(endpoint.base_url, "v1/models?limit=1000"), headers, None, endpoint.auth)


def decode_models(data: Any, endpoint: Endpoint) -> List[str]:
    """The ``id`` of every entry of ``data``."""
    items = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(items, list):
        raise StreamParseError("the model list has no 'data' array",
                               provider=endpoint.provider)
    return [str(m.get("id")) for m in items if isinstance(m, Mapping) and m.get("id")]


# -- response ---------------------------------------------------------------------------------------------


def decode_usage(data: Any) -> Optional[Usage]:
    """Anthropic usage -> ``Usage`` (cache reads and writes counted in ``prompt_tokens``), or None."""
    if not isinstance(data, Mapping):
        return None
    read = data.get("cache_read_input_tokens")
    created = data.get("cache_creation_input_tokens")
    prompt = (data.get("input_tokens") or 0) + (read or 0) + (created or 0)
    completion = data.get("output_tokens") or 0
    return Usage(prompt, completion, prompt + completion, None, read, created)


def decode_response(data: Any, endpoint: Endpoint) -> ChatResponse:
    """A Messages response body -> ``ChatResponse``; an ``{"type": "error"}`` body raises the typed error."""
    provider = endpoint.provider
    if not isinstance(data, Mapping):
        raise StreamParseError("the response is not a JSON object", provider=provider, body=str(data))
    if data.get("type") == "error" or (data.get("error") and "content" not in data):
        raise stream_error(data, provider)
    texts: List[str] = []
    thinking: List[str] = []
    blocks: List[Dict[str, Any]] = []
    calls: List[ToolCall] = []
    for block in data.get("content") or ():
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "thinking":
            thinking.append(block.get("thinking") or "")
            blocks.append(dict(block))
        elif kind == "redacted_thinking":
            blocks.append(dict(block))
        elif kind == "tool_use":
            arguments = json_body(block.get("input") or {}).decode("utf-8")
            calls.append(ToolCall(block.get("id") or "", "function",
                                  FunctionCall(block.get("name") or "", arguments), len(calls)))
    reasoning = "".join(thinking) if thinking else None
    reason, raw_reason = _finish_reason(data.get("stop_reason"))
    message = Message(
        role=Role.ASSISTANT,
        content="".join(texts) if texts or not calls else None,
        tool_calls=calls or None,
        reasoning_content=reasoning,
        thinking_blocks=blocks or None,
    )
    return ChatResponse(
        id=data.get("id") or "",
        object="chat.completion",
        created=int(time.time()),
        model=data.get("model") or "",
        choices=[Choice(0, message, reason, raw_reason)],
        content=message.text_content(),
        reasoning_content=reasoning,
        usage=decode_usage(data.get("usage")),
        raw=data,
    )


# -- stream -----------------------------------------------------------------------------------------------

_CHUNK = "chat.completion.chunk"


class AnthropicStreamState(_ProtocolState):
    """The state of one Anthropic event stream (``protocols.StreamState``): ``handle(event)`` takes each parsed
    event in order and returns the chunks it makes. Shared by the SSE framing here and Bedrock's event-stream
    framing.

    ``finished`` turns True at ``message_stop``. Tool calls are numbered 0, 1, ... in the order their
    ``tool_use`` blocks start (a map from content-block index to tool index), so ``collect()`` merges the pieces.
    A block that repeats an earlier call's id continues that call (LiteLLM's translation of OpenAI streams
    opens one block per argument fragment).
    """

    __slots__ = ("id", "model", "created", "_tools", "_tool_ids", "_usage")

    def __init__(self, provider: str) -> None:
        super().__init__(provider)
        self.id = ""
        self.model = ""
        self.created = int(time.time())
        self._tools: Dict[Any, int] = {}
        self._tool_ids: Dict[str, int] = {}
        self._usage: Optional[Dict[str, Any]] = None

    def handle(self, event: Any) -> Sequence[StreamingResponse]:
        """One parsed event -> its chunks (none for events that carry nothing for the caller).

        Raises the typed error for an ``error`` event and ``StreamParseError`` for an event that is not an object.
        """
        chunk = self.decode_event(event)
        return (chunk,) if chunk is not None else NO_CHUNKS

    def end(self) -> Sequence[StreamingResponse]:
        raise IncompleteStreamError("the stream ended without message_stop", provider=self.provider)

    def decode_event(self, event: Any) -> Optional[StreamingResponse]:
        """One parsed event -> a chunk, or None (``handle`` for callers that want at most one)."""
        if not isinstance(event, dict):
            raise StreamParseError("the service sent a stream event that is not a JSON object",
                                   provider=self.provider, body=str(event))
        kind = event.get("type")
        if kind == "content_block_delta":
            delta = event.get("delta")
            if type(delta) is dict and delta.get("type") == "text_delta":  # the hot path: most events of a stream
                text = delta.get("text") or ""
                return StreamingResponse(self.id, _CHUNK, self.created, self.model,
                                         [StreamingChoice(0, Delta(None, text), None, None, None)], text, None,
                                         None, None, event)
            return self._block_delta(event)
        if kind == "content_block_start":
            return self._block_start(event)
        if kind == "message_start":
            return self._message_start(event)
        if kind == "message_delta":
            return self._message_delta(event)
        if kind == "message_stop":
            self.finished = True
        elif kind == "error":
            raise stream_error(event, self.provider)
        return None  # content_block_stop, ping, and event types added after this was written

    def _chunk(self, delta: Delta, event: Any, reason: Optional[str] = None, raw_reason: Optional[str] = None,
               usage: Optional[Usage] = None) -> StreamingResponse:
        return StreamingResponse(
            self.id, _CHUNK, self.created, self.model, [StreamingChoice(0, delta, reason, raw_reason, None)],
            delta.content or "", delta.reasoning_content, usage, None, event,
        )

    def _message_start(self, event: Dict[str, Any]) -> StreamingResponse:
        message = event.get("message") or {}
        self.id = message.get("id") or self.id
        self.model = message.get("model") or self.model
        usage = message.get("usage")
        if isinstance(usage, Mapping):
            self._usage = dict(usage)
        return self._chunk(Delta("assistant"), event)

    def _block_start(self, event: Dict[str, Any]) -> Optional[StreamingResponse]:
        block = event.get("content_block") or {}
        kind = block.get("type")
        if kind == "tool_use":
            tool_id = block.get("id") or ""
            earlier = self._tool_ids.get(tool_id) if tool_id else None
            if earlier is not None:  # a new block for the same call (LiteLLM opens one per argument fragment)
                self._tools[event.get("index")] = earlier
                return None
            index = self._tools[event.get("index")] = len(self._tool_ids)
            self._tool_ids[tool_id or str(index)] = index
            call = ToolCall(tool_id, "function", FunctionCall(block.get("name") or "", ""), index)
            return self._chunk(Delta(None, None, None, [call]), event)
        if kind == "text" and block.get("text"):
            return self._chunk(Delta(None, block["text"]), event)
        if kind == "thinking" and block.get("thinking"):
            return self._chunk(Delta(None, None, block["thinking"]), event)
        if kind == "redacted_thinking":
            return self._chunk(Delta(thinking_block=dict(block)), event)
        return None  # server_tool_use, web_search_tool_result, ...

    def _block_delta(self, event: Dict[str, Any]) -> Optional[StreamingResponse]:
        delta = event.get("delta") or {}
        kind = delta.get("type")
        if kind == "text_delta":
            return self._chunk(Delta(None, delta.get("text") or ""), event)
        if kind == "thinking_delta":
            return self._chunk(Delta(None, None, delta.get("thinking") or ""), event)
        if kind == "input_json_delta":
            index = self._tools.get(event.get("index"))
            fragment = delta.get("partial_json")
            if index is None or not fragment:  # a server tool's input, or an empty first fragment
                return None
            call = ToolCall("", "function", FunctionCall("", fragment), index)
            return self._chunk(Delta(None, None, None, [call]), event)
        if kind == "signature_delta":
            return self._chunk(Delta(None, None, None, None, delta.get("signature") or ""), event)
        return None  # citations_delta and delta types added after this was written

    def _message_delta(self, event: Dict[str, Any]) -> StreamingResponse:
        delta = event.get("delta") or {}
        reason, raw_reason = _finish_reason(delta.get("stop_reason"))
        usage = event.get("usage")
        if isinstance(usage, Mapping):
            # The service's last word for each figure: message_delta's counts replace message_start's.
            merged = dict(self._usage or {})
            merged.update((k, v) for k, v in usage.items() if v is not None)
            self._usage = merged
        return self._chunk(Delta(), event, reason, raw_reason, decode_usage(self._usage))


def decode_stream(chunks: Iterable[bytes], endpoint: Endpoint) -> Iterator[StreamingResponse]:
    """Server-sent events -> chunks; ends at ``message_stop`` (``IncompleteStreamError`` if the body ends first)."""
    provider = endpoint.provider
    state = AnthropicStreamState(provider)
    decode_event = state.decode_event
    for batch in iter_sse_batches(chunks):  # a read's events at a time: no generator step per event
        for kind, data in batch:
            if data[:1] != "{" and (not data or data.strip() == "[DONE]"):
                continue
            if kind == "error":
                raise stream_error(loads(data, provider) if data[:1] == "{" else data, provider)
            chunk = decode_event(loads(data, provider))
            if chunk is not None:
                yield chunk
            elif state.finished:
                return
    yield from state.end()


StreamState = AnthropicStreamState  # the earlier name, kept working (Bedrock and gateways use it)


# -- a gateway's side: reading callers' requests, writing answers in Anthropic's shape ----------------------
#
# ``decode_request`` reads what an Anthropic-API caller sends to ``POST /v1/messages``; ``encode_response``,
# ``encode_stream`` / ``encode_sse`` and ``encode_error`` write the answer, whichever provider made it: the
# whole event sequence message_start, content blocks (thinking, text, tool_use) with their deltas and stops,
# message_delta (stop reason, usage), message_stop.

#: Anthropic's stop reasons, passed on as they are when the provider was Anthropic.
_STOP_REASONS = ("end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal")
#: Our (OpenAI's) finish reasons in Anthropic's words.
_STOP_FOR_FINISH = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 529: "overloaded_error"}


def _caller_text(content: Any, where: str) -> str:
    """A ``system`` or ``tool_result`` content: a string or a list of text blocks."""
    from ._caller import fail

    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        texts = []
        for i, block in enumerate(content):
            if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
                raise fail(f"{where}[{i}]", "expected a text block {\"type\": \"text\", \"text\": ...}")
            texts.append(block["text"])
        return "\n".join(texts)
    raise fail(where, "expected a string or an array of text blocks")


def _caller_blocks(content: Any, where: str) -> List[Dict[str, Any]]:
    from ._caller import fail

    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise fail(where, "expected a string or an array of content blocks")
    for i, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise fail(f"{where}[{i}]", "expected a content block (an object with a type)")
    return content


def _decode_user_turn(content: Any, where: str) -> List[Message]:
    """A user turn: its ``tool_result`` blocks become tool messages (first), the rest one user message."""
    from ._caller import fail, need

    results: List[Message] = []
    rest: List[Any] = []
    for i, block in enumerate(_caller_blocks(content, where)):
        at = f"{where}[{i}]" if isinstance(content, list) else where
        if block["type"] == "tool_result":
            text = _caller_text(block.get("content"), at + ".content")
            results.append(Message.tool(text, need(block, "tool_use_id", str, at)))
        elif block["type"] in ("text", "image"):
            rest.append(block)
        else:
            raise fail(at, f"a user turn cannot hold a {block['type']!r} block")
    if rest:
        try:
            results.append(Message.user(rest))
        except ConfigurationError as exc:
            raise fail(where, exc.message) from None
    return results


def _decode_assistant_turn(content: Any, where: str) -> Message:
    from ._caller import fail, get, need

    texts: List[str] = []
    reasoning: List[str] = []
    signed: List[Dict[str, Any]] = []
    calls: List[ToolCall] = []
    for i, block in enumerate(_caller_blocks(content, where)):
        at = f"{where}[{i}]" if isinstance(content, list) else where
        kind = block["type"]
        if kind == "text":
            texts.append(need(block, "text", str, at) if block.get("text") != "" else "")
        elif kind == "thinking":
            reasoning.append(get(block, "thinking", str, at) or "")
            if block.get("signature"):
                signed.append(dict(block))
        elif kind == "redacted_thinking":
            signed.append(dict(block))
        elif kind == "tool_use":
            arguments = json_body(get(block, "input", dict, at) or {}).decode("utf-8")
            calls.append(ToolCall(need(block, "id", str, at), "function",
                                  FunctionCall(need(block, "name", str, at), arguments), len(calls)))
        else:
            raise fail(at, f"an assistant turn cannot hold a {kind!r} block")
    message = Message(Role.ASSISTANT, "".join(texts) if texts or not calls else None, None, calls or None, None,
                      "".join(reasoning) or None, signed or None)
    return message


def _decode_tool_choice(choice: Dict[str, Any]) -> Any:
    from ._caller import fail, need

    kind = choice.get("type")
    if kind == "tool":
        return ToolChoice.function(need(choice, "name", str, "tool_choice"))
    mode = {"auto": "auto", "any": "required", "none": "none"}.get(str(kind))
    if mode is None:
        raise fail("tool_choice.type", f"expected auto, any, none or tool, got {kind!r}")
    return mode


def _decode_tools(items: List[Dict[str, Any]]) -> List[Tool]:
    from ._caller import fail, get, need

    tools = []
    for i, item in enumerate(items):
        where = f"tools[{i}]"
        if "input_schema" not in item:
            raise fail(where, f"only client tools (name, description, input_schema) can be served here, not "
                              f"{item.get('type') or item.get('name')!r}")
        tools.append(Tool(need(item, "name", str, where), get(item, "description", str, where),
                          need(item, "input_schema", dict, where)))
    return tools


def decode_request(data: Any) -> ChatRequest:
    """A caller's ``POST /v1/messages`` body -> ``ChatRequest`` (``stream`` set from the body).

    ``system`` becomes a system message; a user turn's ``tool_result`` blocks become tool messages; an assistant
    turn's thinking becomes ``reasoning_content`` (signed blocks kept in ``thinking_blocks`` for replay) and its
    ``tool_use`` blocks tool calls. ``thinking: {"type": "enabled", "budget_tokens": n}`` turns thinking on with
    that budget. Server tools, having no counterpart at other providers, are refused; a body of the wrong shape
    raises ``ConfigurationError`` naming the field.
    """
    from ._caller import body_object, fail, get, need, objects, stop_words

    body = body_object(data)
    model = need(body, "model", str)
    messages: List[Message] = []
    system = _caller_text(body.get("system"), "system")
    if system:
        messages.append(Message.system(system))
    turns = objects(body, "messages")
    if not turns:
        raise fail("messages", "expected a non-empty array of messages")
    for i, turn in enumerate(turns):
        where = f"messages[{i}]"
        role = need(turn, "role", str, where)
        if "content" not in turn:
            raise fail(f"{where}.content", "missing")
        if role == "user":
            messages.extend(_decode_user_turn(turn["content"], where + ".content"))
        elif role == "assistant":
            messages.append(_decode_assistant_turn(turn["content"], where + ".content"))
        else:
            raise fail(f"{where}.role", f"expected user or assistant, got {role!r}")
    request = ChatRequest(model, messages, get(body, "temperature", float), get(body, "top_p", float),
                          get(body, "max_tokens", int))
    request.stop = stop_words(body.get("stop_sequences"), "stop_sequences")
    metadata = get(body, "metadata", dict)
    if metadata:
        request.user = get(metadata, "user_id", str, "metadata")
    tools = objects(body, "tools")
    if tools:
        request.tools = _decode_tools(tools)
    choice = get(body, "tool_choice", dict)
    if choice is not None:
        request.tool_choice = _decode_tool_choice(choice)
    thinking = get(body, "thinking", dict)
    if thinking is not None:
        kind = thinking.get("type")
        request.enable_thinking = kind != "disabled"
        if kind == "enabled":
            request.thinking_budget = get(thinking, "budget_tokens", int, "thinking")
    request.stream = bool(get(body, "stream", bool))
    return request


def _stop_reason(finish: Optional[str], raw: Optional[str]) -> str:
    if raw in _STOP_REASONS:
        return str(raw)
    return _STOP_FOR_FINISH.get(finish or "stop", "end_turn")


def _wire_usage(usage: Optional[Usage]) -> Dict[str, Any]:
    """Our usage in Anthropic's words: ``input_tokens`` leaves the cached prompt tokens out."""
    if usage is None:
        return {"input_tokens": 0, "output_tokens": 0}
    read = usage.cached_tokens or 0
    created = usage.cache_creation_tokens or 0
    out: Dict[str, Any] = {"input_tokens": max(0, usage.prompt_tokens - read - created),
                           "output_tokens": usage.completion_tokens}
    if usage.cached_tokens is not None:
        out["cache_read_input_tokens"] = usage.cached_tokens
    if usage.cache_creation_tokens is not None:
        out["cache_creation_input_tokens"] = usage.cache_creation_tokens
    return out


def _tool_use(call: ToolCall, n: int) -> Dict[str, Any]:
    try:
        arguments = call.arguments_json()
    except StreamParseError:
        arguments = {}
    return {"type": "tool_use", "id": call.id or f"toolu_gw{n}", "name": call.function.name,
            "input": arguments if isinstance(arguments, dict) else {}}


def encode_response(response: ChatResponse) -> Dict[str, Any]:
    """A ``ChatResponse`` as Anthropic's ``message`` object: thinking (the signed blocks when the provider was
    Anthropic), text and ``tool_use`` blocks, the stop reason in Anthropic's words, usage."""
    choice = response.choices[0] if response.choices else None
    message = choice.message if choice else Message(Role.ASSISTANT, response.content)
    content: List[Dict[str, Any]] = []
    if message.thinking_blocks:
        content.extend(dict(b) for b in message.thinking_blocks)
    elif message.reasoning_content:
        content.append({"type": "thinking", "thinking": message.reasoning_content, "signature": ""})
    text = message.text_content()
    if text:
        content.append({"type": "text", "text": text})
    content.extend(_tool_use(c, i) for i, c in enumerate(message.tool_calls or ()))
    return {"id": response.id or f"msg_gw{int(time.time() * 1000)}", "type": "message", "role": "assistant",
            "model": response.model, "content": content,
            "stop_reason": _stop_reason(choice.finish_reason if choice else None,
                                        choice.finish_reason_raw if choice else None),
            "stop_sequence": None, "usage": _wire_usage(response.usage)}


class _Blocks:
    """The content block being written in an Anthropic event stream: opening and closing them in order."""

    def __init__(self) -> None:
        self.index = -1
        self.open: Optional[Tuple[str, Any]] = None  # (kind, tool index)

    def start(self, kind: str, block: Dict[str, Any], key: Any = None) -> Iterator[Dict[str, Any]]:
        yield from self.stop()
        self.index += 1
        self.open = (kind, key)
        yield {"type": "content_block_start", "index": self.index, "content_block": block}

    def stop(self) -> Iterator[Dict[str, Any]]:
        if self.open is not None:
            self.open = None
            yield {"type": "content_block_stop", "index": self.index}

    def delta(self, delta: Dict[str, Any]) -> Dict[str, Any]:
        return {"type": "content_block_delta", "index": self.index, "delta": delta}


def _chunk_events(chunk: StreamingResponse, blocks: _Blocks, calls: Dict[Any, int]) -> Iterator[Dict[str, Any]]:
    """The events one chunk's first choice makes."""
    delta = chunk.choices[0].delta
    if delta.thinking_block is not None:  # a redacted_thinking block arrives whole
        yield from blocks.start("redacted", dict(delta.thinking_block))
        yield from blocks.stop()
    if delta.reasoning_content:
        if blocks.open is None or blocks.open[0] != "thinking":
            yield from blocks.start("thinking", {"type": "thinking", "thinking": "", "signature": ""})
        yield blocks.delta({"type": "thinking_delta", "thinking": delta.reasoning_content})
    if delta.thinking_signature and blocks.open is not None and blocks.open[0] == "thinking":
        yield blocks.delta({"type": "signature_delta", "signature": delta.thinking_signature})
    if delta.content:
        if blocks.open is None or blocks.open[0] != "text":
            yield from blocks.start("text", {"type": "text", "text": ""})
        yield blocks.delta({"type": "text_delta", "text": delta.content})
    for call in delta.tool_calls or ():
        key = call.index if call.index is not None else (len(calls) if call.id else max(calls.values(), default=0))
        if blocks.open != ("tool", key):
            calls.setdefault(key, len(calls))
            yield from blocks.start("tool", {"type": "tool_use", "id": call.id or f"toolu_gw{calls[key]}",
                                             "name": call.function.name, "input": {}}, key)
        if call.function.arguments:
            yield blocks.delta({"type": "input_json_delta", "partial_json": call.function.arguments})


def encode_stream(chunks: Iterable[StreamingResponse], model: str = "") -> Iterator[Dict[str, Any]]:
    """Any provider's chunks as Anthropic's stream events (each a dict whose ``type`` is the event name).

    ``message_start`` goes out with the first chunk (``usage.input_tokens`` when the provider already gave it,
    else 0); thinking, text and each tool call become content blocks, each opened, filled with deltas and
    stopped in turn; after the last chunk ``message_delta`` carries the stop reason and the final usage
    (``input_tokens`` too, for providers that count them at the end), then ``message_stop``.
    """
    blocks = _Blocks()
    calls: Dict[Any, int] = {}
    started = False
    finish: Optional[str] = None
    raw: Optional[str] = None
    usage: Optional[Usage] = None
    ident = ""
    for chunk in chunks:
        if chunk.usage is not None:
            usage = chunk.usage
        if not started:
            started = True
            ident = chunk.id or f"msg_gw{int(time.time() * 1000)}"
            start_usage = _wire_usage(usage)
            start_usage["output_tokens"] = 0
            yield {"type": "message_start", "message": {
                "id": ident, "type": "message", "role": "assistant", "model": chunk.model or model, "content": [],
                "stop_reason": None, "stop_sequence": None, "usage": start_usage}}
        if not chunk.choices:
            continue
        yield from _chunk_events(chunk, blocks, calls)
        if chunk.choices[0].finish_reason is not None:
            finish, raw = chunk.choices[0].finish_reason, chunk.choices[0].finish_reason_raw
    if not started:
        yield {"type": "message_start", "message": {
            "id": f"msg_gw{int(time.time() * 1000)}", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None, "usage": _wire_usage(None)}}
    yield from blocks.stop()
    yield {"type": "message_delta", "delta": {"stop_reason": _stop_reason(finish, raw), "stop_sequence": None},
           "usage": _wire_usage(usage)}
    yield {"type": "message_stop"}


def _sse(event: Dict[str, Any]) -> bytes:
    return b"event: " + str(event["type"]).encode("ascii") + b"\ndata: " + json_body(event) + b"\n\n"


def encode_sse(chunks: Iterable[StreamingResponse], model: str = "") -> Iterator[bytes]:
    """``encode_stream`` as the bytes of server-sent events: ``event: <type>\\ndata: {...}\\n\\n`` each."""
    for event in encode_stream(chunks, model):
        yield _sse(event)


def encode_error(message: str, status: int, code: Optional[str] = None) -> Dict[str, Any]:
    """Anthropic's error object: ``{"type": "error", "error": {"type", "message"}}``."""
    kind = _ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def encode_error_event(message: str, status: int, code: Optional[str] = None) -> bytes:
    """An error inside a stream already under way: ``event: error`` (no ``message_stop`` follows)."""
    return _sse(encode_error(message, status, code))
