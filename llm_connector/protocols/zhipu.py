"""Zhipu GLM, native API v4 (``POST {base}/chat/completions``, ``{base}`` = ``https://open.bigmodel.cn/api/paas/v4``).

The wire is close to OpenAI's (messages, tools, ``choices[].delta``), so this module reuses the OpenAI module's
message and chunk readers and adds what is Zhipu's own:

- Request: ``model``, ``messages`` (images for the vision models as ``image_url`` parts), ``temperature``,
  ``top_p``, ``max_tokens``, ``stop``, ``stream``, ``tools``, ``tool_choice``, ``response_format``,
  ``user_id`` (from ``user``), ``thinking: {"type": "enabled"|"disabled"}`` (from ``enable_thinking``), and
  ``tool_stream: true`` when a stream carries tools and the model streams tool-call arguments (option
  ``tool_stream``: ``"auto"`` (default) for GLM-4.6 and later, True, or False). ``presence_penalty``,
  ``frequency_penalty``, ``seed``, ``reasoning_effort`` and ``thinking_budget`` are not Zhipu parameters and
  are not sent. ``extra_body`` is merged last (``do_sample``, ``request_id``, ...).
- Answers and chunks: ``content``, ``reasoning_content`` (GLM-4.5 and later), ``tool_calls`` (streamed pieces
  merge by ``index``), ``usage``. Finish reasons: ``sensitive`` is ``content_filter``; ``network_error`` (the
  model failed mid-answer) raises a ``ServerError``, after the chunks that came before it.
- Streams end with ``data: [DONE]``; Zhipu's older ``data: ...\\n`` framing (one newline between events) is
  read too.
- Errors: ``{"error": {"code": "1261", "message"}}`` with an HTTP status or inside a stream, classed by Zhipu's
  code: 1000-1004 authentication, 1110/1112/1220 permission, 1113 (no balance) and 1302-1304 rate limit and
  quota, 1305 overloaded, 1211 unknown model, 1261 context too long, 1301 content filter (a bad request),
  1210/1213/1214/1215 bad request, 500 server error. ``.code`` keeps Zhipu's code.

``classify_error`` is this module's optional hook: the client passes an HTTP error through it, so an error
answer is classed by Zhipu's code too, not only by its status.
"""

from typing import Any, Dict, Iterable, Iterator, List, Optional

from ..errors import APIStatusError, IncompleteStreamError, ServerError, StreamParseError, error_for_status
from ..lines import iter_sse_batches
from ..transport import HttpRequest
from ..types import ChatRequest, ChatResponse, StreamingResponse
from . import (
    Endpoint,
    StreamState,
    drive,
    finish_reader,
    is_done,
    join_url,
    json_body,
    loads,
    merge_extra,
    renamed_fields,
    stream_error,
)
from . import openai as _openai

#: Zhipu's ``finish_reason`` words in OpenAI's words (``sensitive``: cut by moderation; ``network_error`` is
#: raised as a ``ServerError``).
FINISH_REASONS: Dict[str, str] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "sensitive": "content_filter",
}
_finish_reason = finish_reader(FINISH_REASONS)


NAME = "zhipu"

_FIELDS = (("temperature", "temperature"), ("top_p", "top_p"), ("max_tokens", "max_tokens"),
           ("response_format", "response_format"), ("user", "user_id"))

#: Models that stream tool-call arguments with ``tool_stream`` (GLM-4.6 and later).
_TOOL_STREAM_MODELS = ("glm-4.6", "glm-4.7", "glm-5")

# -- request ----------------------------------------------------------------------------------------------


def _tool_stream(request: ChatRequest, endpoint: Endpoint) -> bool:
    setting = endpoint.option("tool_stream", "auto")
    if setting == "auto":
        return request.model.lower().startswith(_TOOL_STREAM_MODELS)
    return bool(setting)


def encode_body(request: ChatRequest, endpoint: Endpoint, stream: bool) -> Dict[str, Any]:
    """The JSON body for ``POST /chat/completions``."""
    body: Dict[str, Any] = {"model": request.model,
                            "messages": [_openai.encode_message(m) for m in request.messages]}
    body.update(renamed_fields(request, _FIELDS))
    stop = request.stop_list()
    if stop:
        body["stop"] = stop
    if request.tools:
        body["tools"] = [t.to_dict() for t in request.tools]
        if stream and _tool_stream(request, endpoint):
            body["tool_stream"] = True
    if request.tool_choice is not None:
        body["tool_choice"] = request.tool_choice
    if request.enable_thinking is not None:
        body["thinking"] = {"type": "enabled" if request.enable_thinking else "disabled"}
    body["stream"] = stream
    if request.extra_body:
        merge_extra(body, request.extra_body)
    return body


def encode_chat(request: ChatRequest, endpoint: Endpoint, stream: bool) -> HttpRequest:
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream" if stream else "application/json"}
    return HttpRequest("POST", join_url(endpoint.base_url, "chat/completions"), headers,
                       json_body(encode_body(request, endpoint, stream)), endpoint.auth)


# -- errors -----------------------------------------------------------------------------------------------

#: Zhipu's numeric error codes -> the word our error table classes them by.
_ERROR_CODES: Dict[str, str] = {
    "1000": "authentication_error", "1001": "authentication_error", "1002": "authentication_error",
    "1003": "authentication_error", "1004": "authentication_error", "1111": "authentication_error",
    "1110": "permission_denied", "1112": "permission_denied", "1120": "permission_denied",
    "1220": "permission_denied", "1221": "permission_denied", "1222": "permission_denied",
    "1113": "insufficient_quota", "1302": "rate_limit_exceeded", "1303": "rate_limit_exceeded",
    "1304": "rate_limit_exceeded", "1305": "overloaded_error",
    "1211": "model_not_found", "1261": "context_length_exceeded",
    "1210": "invalid_request_error", "1213": "invalid_request_error", "1214": "invalid_request_error",
    "1215": "invalid_request_error", "1301": "invalid_request_error",
    "500": "server_error",
}


def classify_error(error: APIStatusError) -> APIStatusError:
    """The same error, classed by Zhipu's numeric code when it has one we know."""
    word = _ERROR_CODES.get(error.code or "")
    if word is None:
        return error
    return error_for_status(error.status_code, error.message, codes=[error.code, word], provider=error.provider,
                            request_id=error.request_id, body=error.body, retry_after=error.retry_after)


def _network_error(provider: str, request_id: Optional[str]) -> ServerError:
    return ServerError("the model stopped on a network error (finish_reason network_error); try again",
                       provider=provider, code="network_error", request_id=request_id or None)


# -- response ---------------------------------------------------------------------------------------------


def decode_response(data: Any, endpoint: Endpoint) -> ChatResponse:
    """An OpenAI-shaped answer with Zhipu's codes and finish reasons."""
    try:
        response = _openai.decode_response(data, endpoint, _finish_reason)
    except APIStatusError as exc:
        raise classify_error(exc) from None
    if not response.choices:
        raise StreamParseError("the response has no 'choices'", provider=endpoint.provider,
                               body=json_body(data).decode("utf-8"))
    if any(c.finish_reason_raw == "network_error" for c in response.choices):
        raise _network_error(endpoint.provider, response.id)
    return response


# -- stream -----------------------------------------------------------------------------------------------


class ZhipuStreamState(StreamState):
    """One Zhipu stream: each parsed ``data:`` object in order; ``finished`` at ``[DONE]``."""

    __slots__ = ()

    def handle(self, event: Any) -> List[StreamingResponse]:
        if event == "[DONE]":
            self.finished = True
            return []
        try:
            chunk = _openai.decode_chunk(event, self.provider, _finish_reason)
        except APIStatusError as exc:
            raise classify_error(exc) from None
        for c in chunk.choices:
            if c.finish_reason_raw == "network_error":
                raise _network_error(self.provider, chunk.id)
        return [chunk]

    def end(self) -> List[StreamingResponse]:
        raise IncompleteStreamError("the stream ended without data: [DONE]", provider=self.provider)


def _events(chunks: Iterable[bytes], provider: str) -> Iterator[Any]:
    """Each ``data:`` payload parsed; with single-newline framing several payloads share one SSE event (its data
    lines joined by ``\\n``), so each line is read on its own."""
    for kind, data in (pair for batch in iter_sse_batches(chunks) for pair in batch):
        if not data:
            continue
        if kind == "error":
            raise classify_error(stream_error(loads(data, provider) if data[:1] == "{" else data, provider))
        if "\n" in data:
            for line in data.split("\n"):
                line = line.strip()
                if line:
                    yield "[DONE]" if line == "[DONE]" else loads(line, provider)
        else:
            yield "[DONE]" if is_done(data) else loads(data, provider)


def decode_stream(chunks: Iterable[bytes], endpoint: Endpoint) -> Iterator[StreamingResponse]:
    """Server-sent events -> chunks, up to ``data: [DONE]``."""
    return drive(_events(chunks, endpoint.provider), ZhipuStreamState(endpoint.provider))
