"""OpenAI chat completions, spoken by OpenAI, Azure OpenAI and every OpenAI-compatible service.

Quirks a preset may set in ``Endpoint.options``:

- ``api_version``: sent as the ``api-version`` query parameter (Azure).
- ``stream_usage`` (default True): send ``stream_options.include_usage`` so a stream reports usage.
- ``thinking_style``: how ``enable_thinking`` is sent: ``"enable_thinking"`` (DashScope compatible mode:
  a top-level bool), ``"thinking_type"`` (Zhipu, Ark: ``thinking: {"type": "enabled"|"disabled"}``), or
  absent (the switch is not sent; reasoning models reason by model choice).
- ``send_reasoning`` (default False): send an assistant turn's ``reasoning_content`` back (Moonshot needs it
  in multi-turn tool calls; DeepSeek rejects it).
- ``done_marker`` (default True): the stream must end with ``data: [DONE]``.
- ``max_tokens_field`` (default ``"max_tokens"``): the name ``max_tokens`` is sent under. OpenAI and Azure use
  ``"max_completion_tokens"`` (the o-series and gpt-5 reject ``max_tokens``); compatible services keep
  ``max_tokens``.
- ``developer_role`` (default False): send a ``developer`` message as is (OpenAI, Azure); otherwise it is sent
  as ``system``, the role every compatible service knows.

This module also writes chunks in OpenAI's wire shape (``encode_chunk``; ``chunk_to_wire`` is the earlier name),
for gateways.
"""

import time
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence

from ..errors import ConfigurationError, IncompleteStreamError, StreamParseError
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
    Usage,
)
from . import (
    NO_CHUNKS,
    Endpoint,
    FinishReader,
    StreamState,
    finish_reader,
    join_url,
    json_body,
    loads,
    merge_extra,
    stream_error,
)

#: OpenAI's ``finish_reason`` words in the normalized vocabulary (which is OpenAI's own; ``function_call`` is the
#: legacy name of ``tool_calls``). Zhipu's module, which decodes with this one, passes its own reader.
FINISH_REASONS: Dict[str, str] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
_finish_reason = finish_reader(FINISH_REASONS)


NAME = "openai"

# -- request ----------------------------------------------------------------------------------------------


def _content(message: Message) -> Any:
    content = message.content
    if content is None or isinstance(content, str):
        return content
    if all(isinstance(b, TextBlock) for b in content):
        # Many compatible services reject an array of text parts: send one string.
        return "\n".join(b.text for b in content if isinstance(b, TextBlock))
    parts: List[Dict[str, Any]] = []
    for block in content:
        if isinstance(block, TextBlock):
            parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            image: Dict[str, Any] = {"url": block.as_url()}
            if block.detail:
                image["detail"] = block.detail
            parts.append({"type": "image_url", "image_url": image})
    return parts


def _tool_call(call: ToolCall) -> Dict[str, Any]:
    return {
        "id": call.id,
        "type": call.type or "function",
        "function": {"name": call.function.name, "arguments": call.function.arguments or "{}"},
    }


def encode_message(message: Message, send_reasoning: bool = False, developer_role: bool = False) -> Dict[str, Any]:
    """One message in OpenAI's shape (a ``developer`` message as ``system`` unless ``developer_role``)."""
    out: Dict[str, Any] = {"role": message.role.value if developer_role else message.role.wire_value}
    if message.role is Role.ASSISTANT and message.tool_calls:
        text = message.text_content()
        out["content"] = text if text else None
        out["tool_calls"] = [_tool_call(c) for c in message.tool_calls]
    else:
        content = _content(message)
        out["content"] = "" if content is None else content
    if message.role is Role.TOOL:
        out["tool_call_id"] = message.tool_call_id or ""
    if message.name:
        out["name"] = message.name
    if send_reasoning and message.reasoning_content and message.role is Role.ASSISTANT:
        out["reasoning_content"] = message.reasoning_content
    return out


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str) and choice == "any":
        return "required"
    return choice


def encode_body(request: ChatRequest, endpoint: Endpoint, stream: bool) -> Dict[str, Any]:
    """The JSON body for ``POST /chat/completions``."""
    send_reasoning = bool(endpoint.option("send_reasoning", False))
    developer_role = bool(endpoint.option("developer_role", False))
    body: Dict[str, Any] = {
        "model": request.model,
        "messages": [encode_message(m, send_reasoning, developer_role) for m in request.messages],
    }
    for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty", "seed", "user",
                 "reasoning_effort", "response_format"):
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    if request.max_tokens is not None:
        body[endpoint.option("max_tokens_field") or "max_tokens"] = request.max_tokens
    stop = request.stop_list()
    if stop:
        body["stop"] = stop
    if request.tools:
        body["tools"] = [t.to_dict() for t in request.tools]
    if request.tool_choice is not None:
        body["tool_choice"] = _tool_choice(request.tool_choice)
    if request.enable_thinking is not None:
        style = endpoint.option("thinking_style")
        if style == "enable_thinking":
            body["enable_thinking"] = request.enable_thinking
        elif style == "thinking_type":
            body["thinking"] = {"type": "enabled" if request.enable_thinking else "disabled"}
    body["stream"] = stream
    if stream and endpoint.option("stream_usage", True):
        body["stream_options"] = {"include_usage": True}
    merge_extra(body, request.extra_body)
    return body


def _url(endpoint: Endpoint, path: str) -> str:
    url = join_url(endpoint.base_url, path)
    version = endpoint.option("api_version")
    if version:
        url += ("&" if "?" in url else "?") + "api-version=" + str(version)
    return url


def encode_chat(request: ChatRequest, endpoint: Endpoint, stream: bool) -> HttpRequest:
    headers = {"Content-Type": "application/json"}
    headers["Accept"] = "text/event-stream" if stream else "application/json"
    return HttpRequest(
        "POST", _url(endpoint, "chat/completions"), headers, json_body(encode_body(request, endpoint, stream)),
        endpoint.auth,
    )


def encode_models(endpoint: Endpoint) -> HttpRequest:
    return HttpRequest("GET", _url(endpoint, "models"), {"Accept": "application/json"}, None, endpoint.auth)


def decode_models(data: Any, endpoint: Endpoint) -> List[str]:
    items = data.get("data") if isinstance(data, Mapping) else data
    if not isinstance(items, list):
        raise StreamParseError("the model list has no 'data' array", provider=endpoint.provider)
    return [str(m.get("id")) if isinstance(m, Mapping) else str(m) for m in items]


# -- response ---------------------------------------------------------------------------------------------


def decode_usage(data: Any) -> Optional[Usage]:
    """OpenAI-shaped usage (also DeepSeek's cache fields) or None."""
    if not isinstance(data, Mapping):
        return None
    prompt = data.get("prompt_tokens") or 0
    completion = data.get("completion_tokens") or 0
    usage = Usage(prompt, completion, data.get("total_tokens") or (prompt + completion))
    details = data.get("completion_tokens_details")
    if isinstance(details, Mapping) and details.get("reasoning_tokens") is not None:
        usage.reasoning_tokens = details["reasoning_tokens"]
    details = data.get("prompt_tokens_details")
    if isinstance(details, Mapping) and details.get("cached_tokens") is not None:
        usage.cached_tokens = details["cached_tokens"]
    elif data.get("prompt_cache_hit_tokens") is not None:
        usage.cached_tokens = data["prompt_cache_hit_tokens"]
    return usage


def _decode_tool_calls(items: Any) -> Optional[List[ToolCall]]:
    if not items:
        return None
    calls = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            continue
        fn = item.get("function") or {}
        arguments = fn.get("arguments")
        if arguments is not None and not isinstance(arguments, str):
            arguments = json_body(arguments).decode("utf-8")
        calls.append(ToolCall(
            id=item.get("id") or "",
            type=item.get("type") or "function",
            function=FunctionCall(fn.get("name") or "", arguments or ""),
            index=item.get("index", i),
        ))
    return calls


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping) and p.get("type") == "text")
    return str(content)


def decode_response(data: Any, endpoint: Endpoint, finish: FinishReader = _finish_reason) -> ChatResponse:
    """The parsed answer; ``finish`` reads its finish words (a module decoding with this one passes its own)."""
    provider = endpoint.provider
    if not isinstance(data, Mapping):
        raise StreamParseError("the response is not a JSON object", provider=provider, body=str(data))
    if data.get("error") and not data.get("choices"):
        raise stream_error(data, provider)
    choices = []
    for i, c in enumerate(data.get("choices") or ()):
        msg = c.get("message") or {}
        reasoning = msg.get("reasoning_content") or msg.get("reasoning") or None
        reason, raw_reason = finish(c.get("finish_reason"))
        choices.append(Choice(
            index=c.get("index", i),
            message=Message(
                role=Role.ASSISTANT,
                content=_text(msg.get("content")),
                tool_calls=_decode_tool_calls(msg.get("tool_calls")),
                reasoning_content=reasoning,
            ),
            finish_reason=reason,
            finish_reason_raw=raw_reason,
            logprobs=c.get("logprobs"),
        ))
    return ChatResponse.from_choices(
        choices,
        id=data.get("id") or "",
        object=data.get("object") or "chat.completion",
        created=data.get("created") or 0,
        model=data.get("model") or "",
        usage=decode_usage(data.get("usage")),
        system_fingerprint=data.get("system_fingerprint"),
        raw=data,
    )


# -- stream -----------------------------------------------------------------------------------------------


def _delta_tool_calls(items: List[Any]) -> List[ToolCall]:
    calls = []
    for i, item in enumerate(items):
        fn = item.get("function") or {}
        arguments = fn.get("arguments")
        if arguments is not None and not isinstance(arguments, str):
            arguments = json_body(arguments).decode("utf-8")
        calls.append(ToolCall(item.get("id") or "", item.get("type") or "function",
                              FunctionCall(fn.get("name") or "", arguments or ""), item.get("index", i)))
    return calls


def decode_chunk(obj: Any, provider: str, finish: FinishReader = _finish_reason) -> StreamingResponse:
    """One parsed stream object -> a ``StreamingResponse`` (raises the typed error for an error object);
    ``finish`` reads its finish words (a module decoding with this one passes its own)."""
    raw_choices = obj.get("choices") if type(obj) is dict else None
    if type(raw_choices) is list and len(raw_choices) == 1 and "error" not in obj:
        # The hot path: one choice whose delta carries text only (most chunks of every stream).
        c = raw_choices[0]
        d = c.get("delta") if type(c) is dict else None
        if type(d) is dict and c.get("finish_reason") is None:
            fast = True
            if len(d) == 1 and "content" in d:  # {"content": "..."}: most chunks
                role, text = None, d["content"]
            elif "tool_calls" in d or "reasoning_content" in d or "reasoning" in d:
                fast = False
            else:
                role, text = d.get("role"), d.get("content")
            if fast:
                usage = obj.get("usage")
                index = c.get("index", 0)
                return StreamingResponse(
                    obj.get("id") or "", obj.get("object") or "chat.completion.chunk", obj.get("created") or 0,
                    obj.get("model") or "",
                    [StreamingChoice(index, Delta(role, text), None, None, c.get("logprobs"))],
                    text if type(text) is str and not index else "", None, decode_usage(usage) if usage else None,
                    obj.get("system_fingerprint"), obj,
                )
    if not isinstance(obj, dict):
        raise StreamParseError("the service sent a stream line that is not a JSON object", provider=provider,
                               body=str(obj))
    if "error" in obj and obj["error"]:
        raise stream_error(obj, provider)
    choices = []
    content = ""
    reasoning = None
    usage = obj.get("usage")
    for c in raw_choices or ():
        d = c.get("delta") or c.get("message") or {}
        text = d.get("content")
        r = d.get("reasoning_content") or d.get("reasoning")
        tcs = d.get("tool_calls")
        reason, raw_reason = finish(c.get("finish_reason"))
        choices.append(StreamingChoice(
            c.get("index", 0),
            Delta(d.get("role"), text, r or None, _delta_tool_calls(tcs) if tcs else None),
            reason,
            raw_reason,
            c.get("logprobs"),
        ))
        if not c.get("index", 0):  # the chunk's text is choice 0's, wherever it is listed (n > 1 interleaves)
            content = text if isinstance(text, str) else ""
            reasoning = r or None
        if not usage and c.get("usage"):  # Moonshot puts the stream's usage in the last chunk's choice
            usage = c["usage"]
    return StreamingResponse(
        obj.get("id") or "",
        obj.get("object") or "chat.completion.chunk",
        obj.get("created") or 0,
        obj.get("model") or "",
        choices,
        content,
        reasoning,
        decode_usage(usage) if usage else None,
        obj.get("system_fingerprint"),
        obj,
    )


class OpenAIStreamState(StreamState):
    """The state of one chat-completions stream: each parsed ``data:`` object is one chunk. ``[DONE]`` is the end
    marker (seen by the framing, which sets ``finished``); ``done_marker=False`` (a preset option) lets the
    body end without it."""

    __slots__ = ("done_marker",)

    def __init__(self, provider: str, done_marker: bool = True) -> None:
        super().__init__(provider)
        self.done_marker = done_marker

    def handle(self, event: Any) -> Sequence[StreamingResponse]:
        return (decode_chunk(event, self.provider),)

    def end(self) -> Sequence[StreamingResponse]:
        if self.done_marker:
            raise IncompleteStreamError("the stream ended without data: [DONE]", provider=self.provider)
        return NO_CHUNKS


def decode_stream(chunks: Iterable[bytes], endpoint: Endpoint) -> Iterator[StreamingResponse]:
    provider = endpoint.provider
    state = OpenAIStreamState(provider, endpoint.option("done_marker", True))
    decode, parse = decode_chunk, loads
    for batch in iter_sse_batches(chunks):  # a read's events at a time: no generator step per event
        for kind, data in batch:
            if data[:1] == "{" and kind == "message":
                # The hot path: one object is one chunk, so the state's handle is decode_chunk itself.
                yield decode(parse(data, provider), provider)
            elif data == "[DONE]" or (data[:1] == " " and data.strip() == "[DONE]"):  # "data:  [DONE]" (gateways)
                state.finished = True
                return
            elif kind == "error":
                raise stream_error(loads(data, provider) if data[:1] == "{" else data, provider)
            elif data:
                yield decode_chunk(loads(data, provider), provider)
    yield from state.end()


# -- writing OpenAI's wire shape (for gateways) -----------------------------------------------------------


def _encode_tool_piece(piece: ToolCall) -> Dict[str, Any]:
    """One tool-call piece as OpenAI streams it: the first piece of a call carries ``id``, ``type`` and the
    function's ``name``; the pieces after it carry the index and more ``arguments`` only (no ``"name": null``)."""
    out: Dict[str, Any] = {} if piece.index is None else {"index": piece.index}
    if piece.id:
        out["id"] = piece.id
        out["type"] = piece.type
    function: Dict[str, Any] = {"name": piece.function.name} if piece.function.name else {}
    function["arguments"] = piece.function.arguments
    out["function"] = function
    return out


def encode_chunk(chunk: StreamingResponse) -> Dict[str, Any]:
    """A ``StreamingResponse`` in OpenAI's exact chunk shape (``finish_reason`` as OpenAI words)."""
    choices = []
    for c in chunk.choices:
        delta: Dict[str, Any] = {}
        if c.delta.role:
            delta["role"] = c.delta.role
        if c.delta.content is not None:
            delta["content"] = c.delta.content
        if c.delta.reasoning_content is not None:
            delta["reasoning_content"] = c.delta.reasoning_content
        if c.delta.tool_calls:
            delta["tool_calls"] = [_encode_tool_piece(t) for t in c.delta.tool_calls]
        choices.append({"index": c.index, "delta": delta, "finish_reason": c.finish_reason})
    out: Dict[str, Any] = {"id": chunk.id, "object": "chat.completion.chunk", "created": chunk.created,
                           "model": chunk.model, "choices": choices}
    if chunk.usage is not None:
        out["usage"] = {"prompt_tokens": chunk.usage.prompt_tokens,
                        "completion_tokens": chunk.usage.completion_tokens,
                        "total_tokens": chunk.usage.total_tokens}
    return out


chunk_to_wire = encode_chunk  # the earlier name, kept working

# -- a gateway's side: reading callers' requests, writing answers in OpenAI's shape -------------------------
#
# ``decode_request`` reads what an OpenAI-API caller sends to ``POST /v1/chat/completions``; ``encode_response``,
# ``encode_stream`` and ``encode_error`` write the answer (``llm_connector.gateway`` serves them). Fields with
# no counterpart in ``ChatRequest`` (``n``, ``logprobs``, ``logit_bias``, ...) are ignored, never forwarded to
# a service of another protocol.

_REQUEST_FIELDS = (("temperature", float), ("top_p", float), ("presence_penalty", float),
                   ("frequency_penalty", float), ("seed", int), ("user", str), ("reasoning_effort", str),
                   ("response_format", dict))


def _decode_call(item: Dict[str, Any], where: str) -> ToolCall:
    from ._caller import get, need

    fn = need(item, "function", dict, where)
    arguments = fn.get("arguments")
    if arguments is not None and not isinstance(arguments, str):
        arguments = json_body(arguments).decode("utf-8")
    return ToolCall(get(item, "id", str, where) or "", "function",
                    FunctionCall(need(fn, "name", str, where + ".function"), arguments or ""))


def _decode_message(item: Dict[str, Any], where: str) -> Message:
    from ._caller import fail, get, need, objects

    role = need(item, "role", str, where)
    content = get(item, "content", (str, list), where)
    calls = [_decode_call(c, f"{where}.tool_calls[{i}]") for i, c in enumerate(objects(item, "tool_calls", where))]
    try:
        return Message(
            "system" if role == "developer" else role,  # type: ignore[arg-type]
            content if content is not None or calls else "",
            get(item, "name", str, where),
            calls or None,
            get(item, "tool_call_id", str, where),
            get(item, "reasoning_content", str, where) or get(item, "reasoning", str, where),
        )
    except ConfigurationError as exc:
        raise fail(where, exc.message) from None


def _decode_tool(fn: Dict[str, Any], where: str) -> Tool:
    from ._caller import get, need

    return Tool(need(fn, "name", str, where), get(fn, "description", str, where), get(fn, "parameters", dict, where))


def decode_request(data: Any) -> ChatRequest:
    """A caller's ``POST /v1/chat/completions`` body -> ``ChatRequest`` (``stream`` set from the body).

    ``max_completion_tokens`` is read as ``max_tokens``, the ``developer`` role as ``system``. A body of the
    wrong shape raises ``ConfigurationError`` naming the field.
    """
    from ._caller import body_object, fail, get, need, objects, stop_words

    body = body_object(data)
    model = need(body, "model", str)
    items = objects(body, "messages")
    if not items:
        raise fail("messages", "expected a non-empty array of messages")
    request = ChatRequest(model, [_decode_message(m, f"messages[{i}]") for i, m in enumerate(items)])
    for name, kind in _REQUEST_FIELDS:
        setattr(request, name, get(body, name, kind))
    request.max_tokens = get(body, "max_completion_tokens", int) or get(body, "max_tokens", int)
    request.stop = stop_words(body.get("stop"), "stop")
    tools = objects(body, "tools")
    if tools:
        request.tools = [_decode_tool(need(t, "function", dict, f"tools[{i}]"), f"tools[{i}].function")
                         for i, t in enumerate(tools)]
    request.tool_choice = get(body, "tool_choice", (str, dict))
    request.stream = bool(get(body, "stream", bool))
    return request


def wants_usage(data: Any) -> bool:
    """Whether a caller's streaming request asked for a usage chunk (``stream_options.include_usage``)."""
    options = data.get("stream_options") if isinstance(data, Mapping) else None
    return isinstance(options, Mapping) and options.get("include_usage") is True


def _wire_usage(usage: Usage) -> Dict[str, Any]:
    out: Dict[str, Any] = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                           "total_tokens": usage.total_tokens}
    if usage.reasoning_tokens is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning_tokens}
    if usage.cached_tokens is not None:
        out["prompt_tokens_details"] = {"cached_tokens": usage.cached_tokens}
    return out


def encode_response(response: ChatResponse) -> Dict[str, Any]:
    """A ``ChatResponse`` as OpenAI's ``chat.completion`` object (reasoning in ``reasoning_content``)."""
    choices = []
    for c in response.choices:
        message: Dict[str, Any] = {"role": "assistant"}
        calls = c.message.tool_calls
        text = c.message.text_content()
        message["content"] = text if text or not calls else None
        if c.message.reasoning_content:
            message["reasoning_content"] = c.message.reasoning_content
        if calls:
            message["tool_calls"] = [_tool_call(t) for t in calls]
        choices.append({"index": c.index, "message": message, "logprobs": None,
                        "finish_reason": c.finish_reason or ("tool_calls" if calls else "stop")})
    out: Dict[str, Any] = {"id": response.id or f"chatcmpl-{int(time.time() * 1000)}", "object": "chat.completion",
                           "created": response.created or int(time.time()), "model": response.model,
                           "choices": choices}
    if response.usage is not None:
        out["usage"] = _wire_usage(response.usage)
    return out


def encode_stream(chunks: Iterable[StreamingResponse], model: str = "",
                  include_usage: bool = False) -> Iterator[Dict[str, Any]]:
    """Chunks as OpenAI's chunk objects: one per chunk that carries something (``encode_chunk``), then, when
    ``include_usage`` and the service gave figures, a last chunk with ``"choices": []`` and the usage. Usage is
    written once, at the end, as OpenAI does. ``model`` stands in where a chunk names none."""
    usage: Optional[Usage] = None
    last: Dict[str, Any] = {"id": "", "created": int(time.time()), "model": model}
    for chunk in chunks:
        if chunk.usage is not None:
            usage = chunk.usage
        wire = encode_chunk(chunk)
        wire.pop("usage", None)
        if not wire["model"]:
            wire["model"] = model
        if any(c["delta"] or c["finish_reason"] for c in wire["choices"]):
            yield wire
        last = wire
    if include_usage and usage is not None:
        yield {"id": last["id"], "object": "chat.completion.chunk", "created": last["created"],
               "model": last["model"], "choices": [], "usage": _wire_usage(usage)}


def encode_sse(chunks: Iterable[StreamingResponse], model: str = "", include_usage: bool = False) -> Iterator[bytes]:
    """``encode_stream`` as the bytes of server-sent events: ``data: {chunk}\n\n`` each, then
    ``data: [DONE]\n\n``."""
    for obj in encode_stream(chunks, model, include_usage):
        yield b"data: " + json_body(obj) + b"\n\n"
    yield b"data: [DONE]\n\n"


def _error_type(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 429:
        return "rate_limit_error"
    return "server_error" if status >= 500 else "invalid_request_error"


def encode_error(message: str, status: int, code: Optional[str] = None) -> Dict[str, Any]:
    """OpenAI's error object: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": _error_type(status), "param": None, "code": code}}


def encode_error_event(message: str, status: int, code: Optional[str] = None) -> bytes:
    """An error inside a stream already under way: ``data: {"error": {...}}`` (no ``[DONE]`` follows)."""
    return b"data: " + json_body(encode_error(message, status, code)) + b"\n\n"


def encode_model_list(ids: Iterable[str], owner: str) -> Dict[str, Any]:
    """``GET /v1/models``: ``{"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}]}``."""
    return {"object": "list",
            "data": [{"id": i, "object": "model", "created": 0, "owned_by": owner} for i in ids]}
