"""Claude on AWS Bedrock: ``InvokeModel`` and ``InvokeModelWithResponseStream`` carrying Anthropic Messages.

- ``POST {base}/model/{model id}/invoke`` (``/invoke-with-response-stream`` for a stream); the model id is
  URI-encoded as one path segment (``...-v1:0`` -> ``...-v1%3A0``). The auth is the endpoint's (``AwsSigV4Auth``,
  which signs the exact body bytes, on every attempt).
- The body is the Anthropic Messages body (see ``anthropic.py``) without ``model`` and ``stream``, with
  ``"anthropic_version": "bedrock-2023-05-31"`` (option ``anthropic_version`` overrides it).
- The answer is Anthropic's message JSON; a stream is AWS event-stream frames whose ``chunk`` events carry
  ``{"bytes": base64}``, the base64 of one Anthropic stream event, handled by ``anthropic.AnthropicStreamState`` like
  the SSE stream of the direct API. Exception frames raise the typed error: ``throttlingException`` ->
  ``RateLimitError``, ``validationException`` -> ``BadRequestError``, ``internalServerException``,
  ``serviceUnavailableException``, ``modelStreamErrorException``, ``modelTimeoutException`` -> ``ServerError``.
- Bedrock has no model list here (it is another service, ``bedrock`` not ``bedrock-runtime``).
"""

import base64
import binascii
from typing import Any, Iterable, Iterator, Optional

from ..auth import aws_quote_path_segment
from ..errors import AWS_EXCEPTIONS, APIStatusError, StreamParseError, error_for_status
from ..eventstream import EventStreamMessage, iter_event_stream
from ..transport import HttpRequest
from ..types import ChatRequest, ChatResponse, StreamingResponse
from . import Endpoint, anthropic, drive, join_url, json_body, loads

__all__ = ["NAME", "BEDROCK_VERSION", "encode_chat", "decode_response", "decode_stream"]

NAME = "bedrock"
#: Bedrock's Claude speaks Anthropic's ``stop_reason`` words, decoded by Anthropic's module (the same table).
FINISH_REASONS = anthropic.FINISH_REASONS
#: The ``anthropic_version`` body field on Bedrock.
BEDROCK_VERSION = "bedrock-2023-05-31"

def encode_chat(request: ChatRequest, endpoint: Endpoint, stream: bool) -> HttpRequest:
    """``POST {base}/model/{model}/invoke`` or ``/invoke-with-response-stream``, signed by the endpoint's auth."""
    version = endpoint.option("anthropic_version") or BEDROCK_VERSION
    body = anthropic.encode_body(request, None, include_model=False, anthropic_version=version)
    action = "invoke-with-response-stream" if stream else "invoke"
    url = join_url(endpoint.base_url, f"model/{aws_quote_path_segment(request.model)}/{action}")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if stream:
        headers["Accept"] = "application/vnd.amazon.eventstream"
        headers["X-Amzn-Bedrock-Accept"] = "application/json"
    return HttpRequest("POST", url, headers, json_body(body), endpoint.auth)


def decode_response(data: Any, endpoint: Endpoint) -> ChatResponse:
    """The Anthropic message JSON (see ``anthropic.decode_response``)."""
    return anthropic.decode_response(data, endpoint)


def _exception(message: EventStreamMessage, provider: str) -> APIStatusError:
    kind = message.exception_type or message.error_code or "exception"
    text = message.error_message or ""
    try:
        data = loads(message.payload.decode("utf-8", "replace"), provider, "exception frame")
    except StreamParseError:
        data = None
    if isinstance(data, dict):
        found = data.get("message") or data.get("Message")
        if isinstance(found, str):
            text = found
    text = text or f"Bedrock sent {kind} in the stream"
    body = message.payload.decode("utf-8", "replace")
    cls = AWS_EXCEPTIONS.get(kind.lower())  # the same table as HTTP errors
    if cls is None:
        return error_for_status(None, text, codes=[kind], provider=provider, body=body)
    return cls(text, provider=provider, code=kind, body=body)


def _chunk_event(message: EventStreamMessage, provider: str) -> Any:
    """The Anthropic event inside a ``chunk`` frame: ``{"bytes": "<base64 of the event JSON>"}``."""
    envelope = loads(message.payload.decode("utf-8", "replace"), provider, "event-stream chunk")
    encoded = envelope.get("bytes") if isinstance(envelope, dict) else None
    if not isinstance(encoded, str):
        raise StreamParseError("an event-stream chunk has no 'bytes' field", provider=provider,
                               body=message.payload)
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise StreamParseError("an event-stream chunk's 'bytes' is not base64", provider=provider,
                               body=encoded) from None
    return loads(raw.decode("utf-8", "replace"), provider, "stream event")


def _messages(chunks: Iterable[bytes], provider: str) -> Iterator[EventStreamMessage]:
    """The frames of the body, with framing errors naming this client's provider."""
    return iter_event_stream(chunks, provider)


def _events(chunks: Iterable[bytes], provider: str) -> Iterator[Any]:
    """The Anthropic events inside the body's ``chunk`` frames; an exception frame raises its typed error."""
    for message in _messages(chunks, provider):
        kind: Optional[str] = message.message_type
        if kind == "event" or kind is None:
            if message.event_type == "chunk":
                yield _chunk_event(message, provider)
            # event types added after this was written are skipped
        elif kind in ("exception", "error"):
            raise _exception(message, provider)


def decode_stream(chunks: Iterable[bytes], endpoint: Endpoint) -> Iterator[StreamingResponse]:
    """Event-stream frames -> chunks through ``anthropic.AnthropicStreamState``; ends at ``message_stop``."""
    return drive(_events(chunks, endpoint.provider), anthropic.AnthropicStreamState(endpoint.provider))
