"""Tencent Hunyuan, native API v3 (``ChatCompletions``, version ``2023-09-01``), signed with TC3-HMAC-SHA256.

Request: ``POST {base}/`` with ``X-TC-Action: ChatCompletions``, ``X-TC-Version: 2023-09-01``,
``X-TC-Region`` and the signature headers (``auth.TencentTc3Auth``: ``Authorization``, ``X-TC-Timestamp``,
``X-TC-Token``). The body is PascalCase:

- ``Model``, ``Messages``: ``Role`` (system, user, assistant, tool), ``Content`` (a string), or ``Contents``
  when the message holds an image (``[{"Type": "text", "Text"}, {"Type": "image_url", "ImageUrl": {"Url"}}]``);
  an assistant turn that called tools carries ``ToolCalls`` (``Id``, ``Type``, ``Function{Name, Arguments}``),
  a tool result ``ToolCallId``.
- ``Temperature``, ``TopP``, ``Seed``, ``Stop``, ``Stream``, ``EnableThinking``;
  ``Tools`` (``[{"Type": "function", "Function": {"Name", "Description", "Parameters"}}]``, the parameters'
  JSON schema sent as a JSON *string*, as Hunyuan wants it); ``ToolChoice`` ``"auto"``/``"none"``, or
  ``"custom"`` with ``CustomTool`` for ``ToolChoice.function(name)``. ``"required"`` has no Hunyuan
  equivalent and is refused before sending.
- Not in the Hunyuan API, so not sent: ``max_tokens``, ``presence_penalty``, ``frequency_penalty``,
  ``user``, ``response_format``, ``reasoning_effort``, ``thinking_budget``. ``extra_body`` is merged last
  (``EnableEnhancement``, ``SearchInfo``, ``Citation``, ...).

Response: ``{"Response": {"Id", "Created", "Choices": [{"Message": {"Role", "Content", "ReasoningContent",
"ToolCalls"}, "FinishReason"}], "Usage": {"PromptTokens", "CompletionTokens", "TotalTokens"}, "Note",
"RequestId"}}``. An error comes back with HTTP 200 as ``Response.Error {Code, Message}``: it is raised as its
typed error, classed by the code (``AuthFailure.*`` authentication, ``LimitExceeded`` /
``RequestLimitExceeded`` rate limit, ``InvalidParameter*`` bad request, ``ResourceNotFound*`` not found,
``InternalError*`` server error, ...), the code kept in ``.code``. Because such an error arrives with HTTP 200,
the transport does not retry it (it retries on HTTP statuses); a ``RateLimitError`` is the caller's to retry.

Stream: SSE ``data: {...}`` events holding the response's fields without the ``Response`` wrapper
(``Id``, ``Created``, ``Note``, ``Choices[].Delta{Role, Content, ReasoningContent, ToolCalls}``,
``FinishReason``, ``Usage``). ``FinishReason`` is ``""`` on every chunk but the last (read as None);
``sensitive`` is ``content_filter``. The stream has no end marker of its own: it is complete once a chunk
carried a finish reason, and ends with ``IncompleteStreamError`` if the body ends before. An ``ErrorMsg``
inside the stream raises its typed error; a stream request answered with a plain JSON ``Response.Error``
body (no ``data:`` lines, what Hunyuan sends for a bad signature) raises that error.

Options (``Endpoint.options``): ``region`` (``X-TC-Region``, default ``ap-guangzhou``), ``action``
(default ``ChatCompletions``), ``version`` (default ``2023-09-01``). Hunyuan has no model list.
"""

import time
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple

from ..errors import APIStatusError, ConfigurationError, IncompleteStreamError, StreamParseError, error_for_status
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
from . import Endpoint, StreamState, drive, finish_reader, is_done, json_body, loads, merge_extra, renamed_fields

#: Hunyuan's ``FinishReason`` words in OpenAI's words (``sensitive``: the answer was cut by moderation).
FINISH_REASONS: Dict[str, str] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "sensitive": "content_filter",
}
_finish_reason = finish_reader(FINISH_REASONS)


NAME = "tencent"

DEFAULT_REGION = "ap-guangzhou"
ACTION = "ChatCompletions"
VERSION = "2023-09-01"

# -- request ----------------------------------------------------------------------------------------------

_FIELDS = (("temperature", "Temperature"), ("top_p", "TopP"), ("seed", "Seed"))


def _contents(blocks: List[Any]) -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, TextBlock):
            out.append({"Type": "text", "Text": block.text})
        elif isinstance(block, ImageBlock):
            out.append({"Type": "image_url", "ImageUrl": {"Url": block.as_url()}})
    return out


def encode_message(message: Message) -> Dict[str, Any]:
    """One message in Hunyuan's PascalCase shape."""
    out: Dict[str, Any] = {"Role": message.role.wire_value}
    content = message.content
    if isinstance(content, list) and any(isinstance(b, ImageBlock) for b in content):
        out["Contents"] = _contents(content)
    else:
        out["Content"] = message.text_content()
    if message.role is Role.ASSISTANT and message.tool_calls:
        out["ToolCalls"] = [
            {"Id": c.id, "Type": c.type or "function",
             "Function": {"Name": c.function.name, "Arguments": c.function.arguments or "{}"}}
            for c in message.tool_calls
        ]
    if message.role is Role.TOOL:
        out["ToolCallId"] = message.tool_call_id or ""
    return out


def _tool(name: str, description: Optional[str], schema: Dict[str, Any]) -> Dict[str, Any]:
    function: Dict[str, Any] = {"Name": name}
    if description is not None:
        function["Description"] = description
    function["Parameters"] = json_body(schema).decode("utf-8")  # Hunyuan wants the schema as a JSON string
    return {"Type": "function", "Function": function}


def _tool_choice(request: ChatRequest, body: Dict[str, Any]) -> None:
    choice = request.tool_choice
    if isinstance(choice, str) and choice.lower() in ("auto", "none"):
        body["ToolChoice"] = choice.lower()
        return
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        fn = choice.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else None
        tool = next((t for t in request.tools or () if t.name == name), None)
        if tool is not None:
            body["ToolChoice"] = "custom"
            body["CustomTool"] = _tool(tool.name, tool.description, tool.schema())
            return
        raise ConfigurationError(f"ChatRequest.tool_choice: no tool named {name!r} in ChatRequest.tools",
                                 provider=NAME)
    raise ConfigurationError(
        f"ChatRequest.tool_choice: Hunyuan takes auto, none or ToolChoice.function(name), not {choice!r}",
        provider=NAME,
    )


def encode_body(request: ChatRequest, stream: bool) -> Dict[str, Any]:
    """The PascalCase ``ChatCompletions`` body."""
    body: Dict[str, Any] = {"Model": request.model, "Messages": [encode_message(m) for m in request.messages]}
    body.update(renamed_fields(request, _FIELDS))
    stop = request.stop_list()
    if stop:
        body["Stop"] = stop
    body["Stream"] = stream
    if request.enable_thinking is not None:
        body["EnableThinking"] = bool(request.enable_thinking)
    if request.tools:
        body["Tools"] = [_tool(t.name, t.description, t.schema()) for t in request.tools]
    if request.tool_choice is not None:
        _tool_choice(request, body)
    if request.extra_body:
        merge_extra(body, request.extra_body)
    return body


def encode_chat(request: ChatRequest, endpoint: Endpoint, stream: bool) -> HttpRequest:
    """``POST {base}/`` with the ``X-TC-*`` headers; the auth signs the exact body bytes on every attempt."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "text/event-stream" if stream else "application/json",
        "X-TC-Action": str(endpoint.option("action") or ACTION),
        "X-TC-Version": str(endpoint.option("version") or VERSION),
        "X-TC-Region": str(endpoint.option("region") or DEFAULT_REGION),
    }
    url = endpoint.base_url if "/" in endpoint.base_url.split("://", 1)[-1] else endpoint.base_url + "/"
    return HttpRequest("POST", url, headers, json_body(encode_body(request, stream)), endpoint.auth)


# -- errors -----------------------------------------------------------------------------------------------

#: Tencent error-code prefixes -> the word our error table classes them by (first match wins).
_ERROR_CLASSES: Tuple[Tuple[str, str], ...] = (
    ("AuthFailure.UnauthorizedOperation", "permission_denied"),
    ("AuthFailure", "authentication_error"),
    ("UnauthorizedOperation", "permission_denied"),
    ("OperationDenied", "permission_denied"),
    ("FailedOperation.ServiceNotActivated", "permission_denied"),
    ("FailedOperation.ServiceStop", "permission_denied"),
    ("LimitExceeded", "rate_limit_exceeded"),
    ("RequestLimitExceeded", "rate_limit_exceeded"),
    ("FailedOperation.EngineServerLimitExceeded", "rate_limit_exceeded"),
    ("ResourceInsufficient", "insufficient_quota"),
    ("FailedOperation.ResourcePackExhausted", "insufficient_quota"),
    ("ResourceNotFound", "not_found"),
    ("InvalidParameter", "invalid_request_error"),
    ("MissingParameter", "invalid_request_error"),
    ("UnknownParameter", "invalid_request_error"),
    ("UnsupportedOperation", "invalid_request_error"),
    ("InternalError", "server_error"),
    ("ResourceUnavailable", "server_error"),
    ("FailedOperation", "server_error"),
)


def error_from(err: Any, provider: str, request_id: Optional[str] = None,
               status_code: Optional[int] = None) -> APIStatusError:
    """The typed error for Hunyuan's ``Error {Code, Message}`` (or a stream's ``ErrorMsg {Code, Msg}``)."""
    if not isinstance(err, Mapping):
        err = {"Message": str(err)}
    code = err.get("Code")
    code = str(code) if code is not None and code != "" else ""
    message = err.get("Message", err.get("Msg"))
    word = next((w for prefix, w in _ERROR_CLASSES if code.startswith(prefix)), "")
    return error_for_status(
        status_code, str(message) if message else "Hunyuan returned an error", codes=[code, word],
        provider=provider, request_id=request_id, body=json_body(err).decode("utf-8"),
    )


# -- response ---------------------------------------------------------------------------------------------


def decode_usage(data: Any) -> Optional[Usage]:
    if not isinstance(data, Mapping):
        return None
    prompt = data.get("PromptTokens") or 0
    completion = data.get("CompletionTokens") or 0
    usage = Usage(prompt, completion, data.get("TotalTokens") or (prompt + completion))
    details = data.get("PromptTokensDetails")
    if isinstance(details, Mapping) and details.get("CachedTokens") is not None:
        usage.cached_tokens = details["CachedTokens"]
    return usage


def _tool_calls(items: Any) -> Optional[List[ToolCall]]:
    if not items:
        return None
    calls = []
    for i, item in enumerate(items):
        fn = item.get("Function") or {}
        arguments = fn.get("Arguments")
        if arguments is not None and not isinstance(arguments, str):
            arguments = json_body(arguments).decode("utf-8")
        calls.append(ToolCall(item.get("Id") or "", item.get("Type") or "function",
                              FunctionCall(fn.get("Name") or "", arguments or ""), item.get("Index", i)))
    return calls


def _check(data: Any, provider: str) -> Mapping[str, Any]:
    """The ``Response`` object, raising the typed error it carries."""
    if not isinstance(data, Mapping) or not isinstance(data.get("Response", data), Mapping):
        raise StreamParseError("the response is not a JSON object", provider=provider, body=str(data))
    resp: Mapping[str, Any] = data.get("Response", data)
    request_id = resp.get("RequestId") or resp.get("Id") or None
    if resp.get("Error"):
        raise error_from(resp["Error"], provider, request_id)
    if resp.get("ErrorMsg"):
        raise error_from(resp["ErrorMsg"], provider, request_id)
    return resp


def decode_response(data: Any, endpoint: Endpoint) -> ChatResponse:
    """``{"Response": {...}}`` -> ``ChatResponse``; ``Response.Error`` raises its typed error."""
    if not isinstance(data, Mapping) or "Response" not in data:
        raise StreamParseError("the response has no 'Response' object", provider=endpoint.provider,
                               body=json_body(data).decode("utf-8"))
    resp = _check(data, endpoint.provider)
    choices = []
    for i, c in enumerate(resp.get("Choices") or ()):
        msg = c.get("Message") or {}
        reason, raw_reason = _finish_reason(c.get("FinishReason"))
        choices.append(Choice(
            c.get("Index", i),
            Message(Role.ASSISTANT, msg.get("Content") or "", tool_calls=_tool_calls(msg.get("ToolCalls")),
                    reasoning_content=msg.get("ReasoningContent") or None),
            reason, raw_reason,
        ))
    return ChatResponse.from_choices(
        choices,
        id=resp.get("Id") or resp.get("RequestId") or "",
        created=resp.get("Created") or int(time.time()),
        model=resp.get("Model") or "",
        usage=decode_usage(resp.get("Usage")),
        raw=data,
    )


# -- stream -----------------------------------------------------------------------------------------------

_CHUNK = "chat.completion.chunk"


class TencentStreamState(StreamState):
    """The state of one Hunyuan stream: ``handle(event)`` takes each parsed ``data:`` object in order.

    Hunyuan has no end marker: the stream is complete once a chunk carried a finish reason, and is read on
    to the end of the body (so nothing sent after that chunk is lost); ``end()`` raises
    ``IncompleteStreamError`` when no finish reason came.
    """

    __slots__ = ("complete", "_created")

    def __init__(self, provider: str) -> None:
        super().__init__(provider)
        self.complete = False
        self._created = int(time.time())

    def handle(self, event: Any) -> List[StreamingResponse]:
        if not isinstance(event, dict):
            raise StreamParseError("the service sent a stream event that is not a JSON object",
                                   provider=self.provider, body=str(event))
        if "Response" in event or event.get("ErrorMsg"):
            _check(event, self.provider)  # raises the error it carries
            return []
        choices = []
        content = ""
        reasoning = None
        for c in event.get("Choices") or ():
            d = c.get("Delta") or c.get("Message") or {}
            text = d.get("Content")
            r = d.get("ReasoningContent") or None
            reason, raw_reason = _finish_reason(c.get("FinishReason"))
            if reason is not None:
                self.complete = True
            choices.append(StreamingChoice(
                c.get("Index", 0), Delta(d.get("Role"), text, r, _tool_calls(d.get("ToolCalls"))), reason, raw_reason,
            ))
            if len(choices) == 1:
                content = text if isinstance(text, str) else ""
                reasoning = r
        usage = event.get("Usage")
        return [StreamingResponse(
            event.get("Id") or "", _CHUNK, event.get("Created") or self._created, event.get("Model") or "",
            choices, content, reasoning, decode_usage(usage) if usage else None, None, event,
        )]

    def end(self) -> List[StreamingResponse]:
        if not self.complete:
            raise IncompleteStreamError("the stream ended before a chunk with a FinishReason", provider=self.provider)
        return []


def _json_body_instead(first: bytes, rest: Iterator[bytes], provider: str) -> None:
    """A stream request answered with a plain JSON body (no SSE): raise the error it holds."""
    text = (first + b"".join(rest)).decode("utf-8", "replace")
    _check(loads(text.strip(), provider, "response body"), provider)
    raise StreamParseError("the service answered a stream request with a JSON body that is not a stream",
                           provider=provider, body=text)


def decode_stream(chunks: Iterable[bytes], endpoint: Endpoint) -> Iterator[StreamingResponse]:
    """SSE ``data:`` events -> chunks; complete once a chunk carried a finish reason."""
    provider = endpoint.provider
    pieces = iter(chunks)
    first = b""
    for first in pieces:
        if first.strip():
            break
    if first.lstrip()[:1] == b"{":
        _json_body_instead(first, pieces, provider)
    events = (loads(data, provider) for batch in iter_sse_batches(_chain(first, pieces)) for _, data in batch
              if data and not is_done(data))
    yield from drive(events, TencentStreamState(provider))


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if first:
        yield first
    yield from rest
