"""Aliyun DashScope, native API (``/api/v1/services/aigc/...``): Qwen models with their own request and stream shape.

Request: ``POST {base}/services/aigc/text-generation/generation`` (``{base}`` is ``.../api/v1``, as DashScope's
SDK calls it), or ``.../multimodal-generation/generation`` when a message holds an image. Bearer key. A stream
request adds ``X-DashScope-SSE: enable`` (without it DashScope answers a stream request with one JSON body).
Body::

    {"model", "input": {"messages": [...]},
     "parameters": {"result_format": "message", "incremental_output": true (streams only),
                    "max_tokens", "temperature", "top_p", "presence_penalty", "seed", "stop",
                    "enable_thinking", "thinking_budget", "tools", "tool_choice", "response_format"}}

Messages are OpenAI-shaped (``role``, ``content``, an assistant turn's ``tool_calls``, a tool result's
``tool_call_id``); for the multimodal endpoint every ``content`` is a list of ``{"text": ...}`` and
``{"image": url}`` parts. ``frequency_penalty``, ``user`` and ``reasoning_effort`` are not DashScope parameters
and are not sent. ``extra_body`` is merged last into the body; its ``parameters`` object merges into ours.

Response: ``{"request_id", "output": {"choices": [{"message": {"role", "content", "reasoning_content",
"tool_calls"}, "finish_reason"}]}, "usage": {"input_tokens", "output_tokens", "total_tokens",
"output_tokens_details": {"reasoning_tokens"}, "prompt_tokens_details": {"cached_tokens"}}}``; a multimodal
answer's ``content`` is a list of ``{"text"}`` parts. ``finish_reason`` ``"null"`` (every chunk but the last) is
None. An error body (``{"code", "message", "request_id"}``) raises its typed error, classed by the code
(``InvalidApiKey`` authentication, ``Throttling*`` and ``Arrearage`` rate limit and quota, ``InvalidParameter``
and ``DataInspectionFailed`` bad request, ``ModelNotFound`` not found, ``InternalError*`` server error).

Stream: server-sent events as DashScope writes them, ``id:1`` / ``event:result`` / ``:HTTP_STATUS/200`` (a
comment) / ``data:{...}`` with no space after the colons; each ``data`` is a whole response object holding this
chunk's increment (``incremental_output``): ``content``, ``reasoning_content`` and ``tool_calls`` pieces that
merge by ``index`` like OpenAI's. ``event:error`` (with a ``:HTTP_STATUS/4xx`` comment) carries
``{"code", "message", "request_id"}`` and raises its typed error after the chunks before it. There is no end
marker: the stream is complete once a chunk carried a finish reason (``IncompleteStreamError`` otherwise).
DashScope has no model list on this API.
"""

import time
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from ..errors import APIStatusError, IncompleteStreamError, StreamParseError, error_for_status
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
from . import Endpoint, StreamState, drive, finish_reader, join_url, json_body, loads, merge_extra, renamed_fields

#: DashScope's ``finish_reason`` words in OpenAI's words (``"null"``: not finished).
FINISH_REASONS: Dict[str, str] = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}
_finish_reason = finish_reader(FINISH_REASONS)


NAME = "dashscope"

TEXT_PATH = "services/aigc/text-generation/generation"
MULTIMODAL_PATH = "services/aigc/multimodal-generation/generation"

_PARAMETERS = (("max_tokens", "max_tokens"), ("temperature", "temperature"), ("top_p", "top_p"),
               ("presence_penalty", "presence_penalty"), ("seed", "seed"), ("thinking_budget", "thinking_budget"),
               ("response_format", "response_format"))

# -- request ----------------------------------------------------------------------------------------------


def _has_image(request: ChatRequest) -> bool:
    return any(isinstance(m.content, list) and any(isinstance(b, ImageBlock) for b in m.content)
               for m in request.messages)


def _parts(message: Message) -> List[Dict[str, Any]]:
    """A message's content as the multimodal endpoint's parts."""
    content = message.content
    if content is None or isinstance(content, str):
        return [{"text": content or ""}]
    parts: List[Dict[str, Any]] = []
    for block in content:
        if isinstance(block, TextBlock):
            parts.append({"text": block.text})
        elif isinstance(block, ImageBlock):
            parts.append({"image": block.as_url()})
    return parts


def encode_message(message: Message, multimodal: bool = False) -> Dict[str, Any]:
    """One message in DashScope's shape."""
    out: Dict[str, Any] = {"role": message.role.wire_value}
    out["content"] = _parts(message) if multimodal else message.text_content()
    if message.role is Role.ASSISTANT and message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": c.type or "function",
             "function": {"name": c.function.name, "arguments": c.function.arguments or "{}"}}
            for c in message.tool_calls
        ]
    if message.role is Role.TOOL:
        out["tool_call_id"] = message.tool_call_id or ""
    if message.name:
        out["name"] = message.name
    return out


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str) and choice.lower() in ("required", "any"):
        return "required"
    return choice


def encode_body(request: ChatRequest, stream: bool, multimodal: bool = False) -> Dict[str, Any]:
    """The JSON body: ``model``, ``input.messages``, ``parameters``."""
    parameters: Dict[str, Any] = {"result_format": "message"}
    if stream:
        parameters["incremental_output"] = True
    parameters.update(renamed_fields(request, _PARAMETERS))
    stop = request.stop_list()
    if stop:
        parameters["stop"] = stop
    if request.enable_thinking is not None:
        parameters["enable_thinking"] = bool(request.enable_thinking)
    if request.tools:
        parameters["tools"] = [t.to_dict() for t in request.tools]
    if request.tool_choice is not None:
        parameters["tool_choice"] = _tool_choice(request.tool_choice)
    body: Dict[str, Any] = {
        "model": request.model,
        "input": {"messages": [encode_message(m, multimodal) for m in request.messages]},
        "parameters": parameters,
    }
    if request.extra_body:
        merge_extra(body, request.extra_body)
    return body


def encode_chat(request: ChatRequest, endpoint: Endpoint, stream: bool) -> HttpRequest:
    multimodal = _has_image(request)
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream" if stream else "application/json"}
    if stream:
        headers["X-DashScope-SSE"] = "enable"
    url = join_url(endpoint.base_url, MULTIMODAL_PATH if multimodal else TEXT_PATH)
    return HttpRequest("POST", url, headers, json_body(encode_body(request, stream, multimodal)), endpoint.auth)


# -- errors -----------------------------------------------------------------------------------------------

#: DashScope error-code prefixes -> the word our error table classes them by (first match wins).
_ERROR_CLASSES: Tuple[Tuple[str, str], ...] = (
    ("InvalidApiKey", "authentication_error"),
    ("Unauthorized", "authentication_error"),
    ("AccessDenied", "permission_denied"),
    ("Arrearage", "insufficient_quota"),
    ("Throttling", "rate_limit_exceeded"),
    ("ModelNotFound", "not_found"),
    ("model_not_found", "not_found"),
    ("NotFound", "not_found"),
    ("InvalidParameter", "invalid_request_error"),
    ("DataInspectionFailed", "invalid_request_error"),
    ("BadRequest", "invalid_request_error"),
    ("InternalError", "server_error"),
    ("SystemError", "server_error"),
    ("ServiceUnavailable", "server_error"),
    ("RequestTimeOut", "server_error"),
)


def error_from(data: Any, provider: str) -> APIStatusError:
    """The typed error for DashScope's ``{"code", "message", "request_id"}``."""
    if not isinstance(data, Mapping):
        data = {"message": str(data)}
    code = data.get("code")
    code = str(code) if code not in (None, "") else ""
    message = data.get("message")
    word = next((w for prefix, w in _ERROR_CLASSES if code.startswith(prefix)), "")
    request_id = data.get("request_id")
    return error_for_status(
        None, str(message) if message else "DashScope returned an error", codes=[code, word], provider=provider,
        request_id=str(request_id) if request_id else None, body=json_body(data).decode("utf-8"),
    )


def _is_error(data: Mapping[str, Any]) -> bool:
    return bool(data.get("code")) and not data.get("output")


# -- response ---------------------------------------------------------------------------------------------


def decode_usage(data: Any) -> Optional[Usage]:
    """DashScope usage (``input_tokens``/``output_tokens``; images count in ``input_tokens``) or None."""
    if not isinstance(data, Mapping):
        return None
    prompt = data.get("input_tokens") or data.get("prompt_tokens") or 0
    completion = data.get("output_tokens") or data.get("completion_tokens") or 0
    usage = Usage(prompt, completion, data.get("total_tokens") or (prompt + completion))
    details = data.get("output_tokens_details")
    if isinstance(details, Mapping) and details.get("reasoning_tokens") is not None:
        usage.reasoning_tokens = details["reasoning_tokens"]
    details = data.get("prompt_tokens_details")
    if isinstance(details, Mapping) and details.get("cached_tokens") is not None:
        usage.cached_tokens = details["cached_tokens"]
    return usage


def _text(content: Any) -> Optional[str]:
    """A message's text: a string, or the ``text`` parts of a multimodal answer joined."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    return str(content)


def _tool_calls(items: Any) -> Optional[List[ToolCall]]:
    if not items:
        return None
    calls = []
    for i, item in enumerate(items):
        fn = item.get("function") or {}
        arguments = fn.get("arguments")
        if arguments is not None and not isinstance(arguments, str):
            arguments = json_body(arguments).decode("utf-8")
        calls.append(ToolCall(item.get("id") or "", item.get("type") or "function",
                              FunctionCall(fn.get("name") or "", arguments or ""), item.get("index", i)))
    return calls


def decode_response(data: Any, endpoint: Endpoint) -> ChatResponse:
    """A whole answer -> ``ChatResponse``; an error body raises its typed error."""
    provider = endpoint.provider
    if not isinstance(data, Mapping):
        raise StreamParseError("the response is not a JSON object", provider=provider, body=str(data))
    if _is_error(data):
        raise error_from(data, provider)
    output = data.get("output")
    if not isinstance(output, Mapping):
        raise StreamParseError("the response has no 'output' object", provider=provider,
                               body=json_body(data).decode("utf-8"))
    choices = []
    for i, c in enumerate(output.get("choices") or ()):
        msg = c.get("message") or {}
        reason, raw_reason = _finish_reason(c.get("finish_reason"))
        choices.append(Choice(i, Message(Role.ASSISTANT, _text(msg.get("content")) or "",
                                         tool_calls=_tool_calls(msg.get("tool_calls")),
                                         reasoning_content=msg.get("reasoning_content") or None),
                              reason, raw_reason))
    if not choices and isinstance(output.get("text"), str):  # result_format "text", if a caller asked for it
        reason, raw_reason = _finish_reason(output.get("finish_reason"))
        choices.append(Choice(0, Message(Role.ASSISTANT, output["text"]), reason, raw_reason))
    return ChatResponse.from_choices(
        choices,
        id=data.get("request_id") or "",
        created=int(time.time()),
        model=data.get("model") or "",
        usage=decode_usage(data.get("usage")),
        raw=data,
    )


# -- stream -----------------------------------------------------------------------------------------------

_CHUNK = "chat.completion.chunk"


class DashScopeStreamState(StreamState):
    """One DashScope stream: ``handle((event_type, data))`` takes each event in order.

    There is no end marker: complete once a chunk carried a finish reason; ``end()`` raises
    ``IncompleteStreamError`` when none did.
    """

    __slots__ = ("complete", "_created")

    def __init__(self, provider: str) -> None:
        super().__init__(provider)
        self.complete = False
        self._created = int(time.time())

    def handle(self, event: Any) -> List[StreamingResponse]:
        kind, data = event
        if not isinstance(data, dict):
            raise StreamParseError("the service sent a stream event that is not a JSON object",
                                   provider=self.provider, body=str(data))
        if kind == "error" or _is_error(data):
            raise error_from(data, self.provider)
        output = data.get("output") or {}
        choices = []
        content = ""
        reasoning = None
        for i, c in enumerate(output.get("choices") or ()):
            msg = c.get("message") or c.get("delta") or {}
            text = _text(msg.get("content"))
            r = msg.get("reasoning_content") or None
            reason, raw_reason = _finish_reason(c.get("finish_reason"))
            if reason is not None:
                self.complete = True
            choices.append(StreamingChoice(
                c.get("index", i), Delta(msg.get("role"), text, r, _tool_calls(msg.get("tool_calls"))),
                reason, raw_reason,
            ))
            if len(choices) == 1:
                content = text or ""
                reasoning = r
        usage = data.get("usage")
        return [StreamingResponse(
            data.get("request_id") or "", _CHUNK, self._created, data.get("model") or "", choices, content, reasoning,
            decode_usage(usage) if usage else None, None, data,
        )]

    def end(self) -> List[StreamingResponse]:
        if not self.complete:
            raise IncompleteStreamError("the stream ended before a chunk with a finish_reason",
                                        provider=self.provider)
        return []


def decode_stream(chunks: Iterable[bytes], endpoint: Endpoint) -> Iterator[StreamingResponse]:
    """DashScope's SSE (``id:`` / ``event:result`` / ``:HTTP_STATUS/200`` / ``data:``) -> chunks."""
    provider = endpoint.provider
    events = ((kind, loads(data, provider)) for batch in iter_sse_batches(chunks) for kind, data in batch if data)
    return drive(events, DashScopeStreamState(provider))
