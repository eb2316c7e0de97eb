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

This module also writes chunks in OpenAI's wire shape (``encode_chunk``; ``chunk_to_wire`` is the earlier name),
for gateways.
"""

from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional

from ..errors import IncompleteStreamError, StreamParseError
from ..lines import iter_sse
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
from . import Endpoint, finish_reason, join_url, json_body, loads, merge_extra, stream_error

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


def encode_message(message: Message, send_reasoning: bool = False) -> Dict[str, Any]:
    """One message in OpenAI's shape."""
    out: Dict[str, Any] = {"role": message.role.value}
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
    body: Dict[str, Any] = {
        "model": request.model,
        "messages": [encode_message(m, send_reasoning) for m in request.messages],
    }
    for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty", "seed", "user",
                 "reasoning_effort", "response_format"):
        value = getattr(request, name)
        if value is not None:
            body[name] = value
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
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


def decode_response(data: Any, endpoint: Endpoint) -> ChatResponse:
    provider = endpoint.provider
    if not isinstance(data, Mapping):
        raise StreamParseError("the response is not a JSON object", provider=provider, body=str(data))
    if data.get("error") and not data.get("choices"):
        raise stream_error(data, provider)
    choices = []
    for i, c in enumerate(data.get("choices") or ()):
        msg = c.get("message") or {}
        reasoning = msg.get("reasoning_content") or msg.get("reasoning") or None
        reason, raw_reason = finish_reason(c.get("finish_reason"))
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
    first = choices[0].message if choices else None
    return ChatResponse(
        id=data.get("id") or "",
        object=data.get("object") or "chat.completion",
        created=data.get("created") or 0,
        model=data.get("model") or "",
        choices=choices,
        content=first.text_content() if first else "",
        reasoning_content=first.reasoning_content if first else None,
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


def decode_chunk(obj: Any, provider: str) -> StreamingResponse:
    """One parsed stream object -> a ``StreamingResponse`` (raises the typed error for an error object)."""
    if not isinstance(obj, dict):
        raise StreamParseError("the service sent a stream line that is not a JSON object", provider=provider,
                               body=str(obj))
    if "error" in obj and obj["error"]:
        raise stream_error(obj, provider)
    raw_choices = obj.get("choices")
    if raw_choices and len(raw_choices) == 1:
        # The hot path: one choice whose delta carries text only (most chunks of every stream).
        c = raw_choices[0]
        d = c.get("delta")
        if type(d) is dict and c.get("finish_reason") is None and "tool_calls" not in d \
                and "reasoning_content" not in d and "reasoning" not in d:
            text = d.get("content")
            usage = obj.get("usage")
            index = c.get("index", 0)
            return StreamingResponse(
                obj.get("id") or "", obj.get("object") or "chat.completion.chunk", obj.get("created") or 0,
                obj.get("model") or "",
                [StreamingChoice(index, Delta(d.get("role"), text), None, None, c.get("logprobs"))],
                text if type(text) is str and not index else "", None, decode_usage(usage) if usage else None,
                obj.get("system_fingerprint"), obj,
            )
    choices = []
    content = ""
    reasoning = None
    usage = obj.get("usage")
    for c in raw_choices or ():
        d = c.get("delta") or c.get("message") or {}
        text = d.get("content")
        r = d.get("reasoning_content") or d.get("reasoning")
        tcs = d.get("tool_calls")
        reason, raw_reason = finish_reason(c.get("finish_reason"))
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


def decode_stream(chunks: Iterable[bytes], endpoint: Endpoint) -> Iterator[StreamingResponse]:
    provider = endpoint.provider
    for event in iter_sse(chunks):
        data = event.data
        if data == "[DONE]" or (data[:1] == " " and data.strip() == "[DONE]"):  # "data:  [DONE]" from gateways
            return
        if not data:
            continue
        if event.event == "error":
            raise stream_error(loads(data, provider) if data[:1] == "{" else data, provider)
        yield decode_chunk(loads(data, provider), provider)
    if endpoint.option("done_marker", True):
        raise IncompleteStreamError("the stream ended without data: [DONE]", provider=provider)


# -- writing OpenAI's wire shape (for gateways) -----------------------------------------------------------


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
            delta["tool_calls"] = [
                {k: v for k, v in (("index", t.index), ("id", t.id or None), ("type", t.type if t.id else None),
                                   ("function", {"name": t.function.name or None, "arguments": t.function.arguments}))
                 if v is not None}
                for t in c.delta.tool_calls
            ]
        choices.append({"index": c.index, "delta": delta, "finish_reason": c.finish_reason})
    out: Dict[str, Any] = {"id": chunk.id, "object": "chat.completion.chunk", "created": chunk.created,
                           "model": chunk.model, "choices": choices}
    if chunk.usage is not None:
        out["usage"] = {"prompt_tokens": chunk.usage.prompt_tokens,
                        "completion_tokens": chunk.usage.completion_tokens,
                        "total_tokens": chunk.usage.total_tokens}
    return out


chunk_to_wire = encode_chunk  # the earlier name, kept working
