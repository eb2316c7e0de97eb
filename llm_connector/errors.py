"""The exception tree of llm_connector.

Every failure the library reports is one of these::

    LlmConnectorError                    base; .provider .status_code .code .request_id .body
    ├── APIStatusError                   the service answered with an error (HTTP status or an error in a stream)
    │   ├── BadRequestError              400, 422
    │   │   └── ContextLengthExceededError
    │   ├── AuthenticationError          401 (and services' own "bad key" codes)
    │   ├── PermissionDeniedError        403
    │   ├── NotFoundError                404
    │   ├── RateLimitError               429, quota; .retry_after (seconds or None)
    │   └── ServerError                  5xx
    │       └── OverloadedError          529 / "overloaded" errors
    ├── APIConnectionError               no answer, or the connection broke
    │   ├── APITimeoutError              connect / idle / deadline limit hit; .limit names which
    │   └── IncompleteStreamError        the stream ended before its protocol's end marker
    ├── StreamParseError                 the service sent something that is not its protocol
    ├── ConfigurationError               the caller's setup or request is wrong (raised before sending)
    └── UnsupportedOperationError        the provider has no such operation

``str(err)`` is one line: the service's own message, prefixed with the provider and status. The body is
kept cut down to ``MAX_BODY_CHARS`` characters; no credential ever appears in an error.
"""

import datetime
import email.utils
import json
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Type

__all__ = [
    "LlmConnectorError",
    "APIStatusError",
    "BadRequestError",
    "ContextLengthExceededError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
    "OverloadedError",
    "APIConnectionError",
    "APITimeoutError",
    "IncompleteStreamError",
    "StreamParseError",
    "ConfigurationError",
    "UnsupportedOperationError",
    "error_for_status",
    "error_from_response",
    "describe_error",
    "AWS_EXCEPTIONS",
    "parse_retry_after",
    "request_id_from",
    "shorten",
    "SHAPE_ERRORS",
    "shape_error",
]

#: How much of a response body an error keeps.
MAX_BODY_CHARS = 500


def shorten(text: Any, limit: int = MAX_BODY_CHARS) -> str:
    """Cut ``text`` to ``limit`` characters on one line, marking the cut."""
    if text is None:
        return ""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8", "replace")
    out = str(text)
    if "\n" in out or "\r" in out:
        out = " ".join(out.split())
    if len(out) > limit:
        return out[:limit] + f"... ({len(out)} chars in all)"
    return out


class LlmConnectorError(Exception):
    """Base of every error raised by llm_connector.

    Attributes:
        message: what went wrong, in the service's words when it gave any.
        provider: the provider name (``"openai"``, ``"anthropic"``, ...) or None.
        status_code: the HTTP status, or None when there was no HTTP answer.
        code: the service's own error code or type (``"invalid_api_key"``), or None.
        request_id: the service's request id (from headers or body), or None.
        body: the response body or offending line, cut to ``MAX_BODY_CHARS``.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: Optional[str] = None,
        status_code: Optional[int] = None,
        code: Optional[str] = None,
        request_id: Optional[str] = None,
        body: Any = None,
    ) -> None:
        self.message = shorten(message, 2000)
        self.provider = provider
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.body = shorten(body) if body is not None else None
        super().__init__(self.message)

    def __str__(self) -> str:
        head = []
        if self.provider:
            head.append(self.provider)
        if self.status_code is not None:
            head.append(f"HTTP {self.status_code}")
        prefix = "[{}] ".format(" ".join(head)) if head else ""
        tail = []
        if self.code:
            tail.append(f"code={shorten(self.code, 100)}")  # one line, whatever the service put in it
        if self.request_id:
            tail.append(f"request_id={shorten(self.request_id, 100)}")
        suffix = " ({})".format(", ".join(tail)) if tail else ""
        return prefix + self.message + suffix

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class APIStatusError(LlmConnectorError):
    """The service answered, and the answer was an error.

    ``retry_after`` is the number of seconds the service asked to wait before trying again, or None.
    """

    def __init__(self, message: str, *, retry_after: Optional[float] = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class BadRequestError(APIStatusError):
    """The service rejected the request as malformed (400, 422)."""


class ContextLengthExceededError(BadRequestError):
    """The prompt (plus max_tokens) does not fit the model's context window."""


class AuthenticationError(APIStatusError):
    """The key or token was missing, wrong or expired (401, or the service's own code for it)."""


class PermissionDeniedError(APIStatusError):
    """The key is valid but may not do this (403)."""


class NotFoundError(APIStatusError):
    """Unknown model, deployment or path (404)."""


class RateLimitError(APIStatusError):
    """Too many requests, or quota used up (429). ``retry_after``: seconds the service asked to wait, or None."""


class ServerError(APIStatusError):
    """The service failed (5xx)."""


class OverloadedError(ServerError):
    """The service is overloaded (Anthropic 529 ``overloaded_error`` and the like)."""


class APIConnectionError(LlmConnectorError):
    """No answer came, or the connection broke while the answer was read."""


class APITimeoutError(APIConnectionError):
    """A time limit was hit. ``limit`` is ``"connect"``, ``"read"`` (idle between bytes) or ``"deadline"``."""

    def __init__(self, message: str, *, limit: str = "read", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.limit = limit


class IncompleteStreamError(APIConnectionError):
    """The stream ended (or broke) before its protocol's end marker; the chunks before it were delivered.

    ``chunks_received`` counts the chunks delivered before the cut.
    """

    def __init__(self, message: str, *, chunks_received: int = 0, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.chunks_received = chunks_received


class StreamParseError(LlmConnectorError):
    """The service sent data that is not valid for its protocol (``body`` holds the offending part)."""


#: What a decoder raises when a service's JSON has an unexpected shape (``.get`` on a list, a string where a
#: number belongs, ...). Where a decoder's output reaches the caller, these become ``shape_error(...)``.
SHAPE_ERRORS = (AttributeError, TypeError, KeyError, IndexError, ValueError)


def shape_error(exc: BaseException, provider: Optional[str] = None, what: str = "data") -> "StreamParseError":
    """The ``StreamParseError`` for one of ``SHAPE_ERRORS`` raised while reading ``what`` from a service."""
    return StreamParseError(
        f"the service sent {what} of an unexpected shape "
        f"({type(exc).__name__}: {shorten(str(exc), 200)})",
        provider=provider,
    )


class ConfigurationError(LlmConnectorError):
    """The client or request is set up wrongly; raised before anything is sent."""


class UnsupportedOperationError(LlmConnectorError):
    """The provider does not offer this operation."""


_BY_STATUS: Dict[int, Type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: ServerError,
    409: ServerError,
    413: BadRequestError,
    422: BadRequestError,
    429: RateLimitError,
    529: OverloadedError,
}

#: AWS (Bedrock) exception names, lower-cased -> the error they raise: the one table for an HTTP error's
#: ``x-amzn-ErrorType`` and for an exception frame inside a stream alike. ``ModelNotReadyException`` comes with
#: status 429 and AWS's SDKs retry it: a rate limit, wherever it arrives.
AWS_EXCEPTIONS: Dict[str, Type[APIStatusError]] = {
    "throttlingexception": RateLimitError,
    "servicequotaexceededexception": RateLimitError,
    "modelnotreadyexception": RateLimitError,
    "validationexception": BadRequestError,
    "accessdeniedexception": PermissionDeniedError,
    "unrecognizedclientexception": AuthenticationError,
    "resourcenotfoundexception": NotFoundError,
    "internalserverexception": ServerError,
    "serviceunavailableexception": ServerError,
    "modelstreamerrorexception": ServerError,
    "modeltimeoutexception": ServerError,
    "modelerrorexception": ServerError,
}

# Service error codes/types that say more than the status does (AWS, OpenAI, Anthropic, Gemini, ...).
_BY_CODE: Dict[str, Type[APIStatusError]] = {
    **AWS_EXCEPTIONS,
    "context_length_exceeded": ContextLengthExceededError,
    "string_above_max_length": ContextLengthExceededError,
    "invalid_api_key": AuthenticationError,
    "authentication_error": AuthenticationError,
    "api_key_invalid": AuthenticationError,
    "unauthenticated": AuthenticationError,
    "permission_error": PermissionDeniedError,
    "permission_denied": PermissionDeniedError,
    "not_found_error": NotFoundError,
    "model_not_found": NotFoundError,
    "not_found": NotFoundError,
    "rate_limit_error": RateLimitError,
    "rate_limit_exceeded": RateLimitError,
    "insufficient_quota": RateLimitError,
    "resource_exhausted": RateLimitError,
    "overloaded_error": OverloadedError,
    "server_error": ServerError,
    "api_error": ServerError,
    "internal": ServerError,
    "unavailable": ServerError,
    "invalid_request_error": BadRequestError,
    "invalid_argument": BadRequestError,
}

_CONTEXT_HINTS = ("maximum context length", "context length", "prompt is too long", "too many tokens")


def error_for_status(
    status_code: Optional[int],
    message: str,
    *,
    codes: Any = (),
    provider: Optional[str] = None,
    request_id: Optional[str] = None,
    body: Any = None,
    retry_after: Optional[float] = None,
) -> APIStatusError:
    """Build the typed error for a failed answer.

    ``codes`` are the service's own error code/type/reason strings, most specific first; a known one
    decides the class (an error inside a 200 stream is classed by them alone). Otherwise the HTTP status
    decides, and 5xx is a ``ServerError``.
    """
    if isinstance(codes, str):
        codes = (codes,)
    codes = [c for c in codes if c]
    cls: Optional[Type[APIStatusError]] = None
    for c in codes:
        cls = _BY_CODE.get(str(c).lower())
        if cls is not None:
            break
    if cls is None or (cls is BadRequestError and status_code in _BY_STATUS):
        by_status = _BY_STATUS.get(status_code or 0)
        if by_status is not None:
            cls = by_status
        elif status_code is not None and status_code >= 500:
            cls = ServerError
        elif cls is None:
            cls = APIStatusError
    if issubclass(cls, BadRequestError) or cls is APIStatusError:
        lowered = (message or "").lower()
        if any(h in lowered for h in _CONTEXT_HINTS):
            cls = ContextLengthExceededError
    return cls(
        message,
        provider=provider,
        status_code=status_code,
        code=str(codes[0]) if codes else None,
        request_id=request_id,
        body=body,
        retry_after=retry_after,
    )


# -- reading a service's error ----------------------------------------------------------------------------

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "x-goog-request-id", "x-acs-request-id",
                       "x-tc-requestid", "x-dashscope-request-id", "x-log-id", "apim-request-id")


def request_id_from(headers: Optional[Mapping[str, str]]) -> Optional[str]:
    """The service's request id from response headers (the names services use for it), or None."""
    if not headers:
        return None
    for name in _REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return str(value)
    return None


def parse_retry_after(headers: Mapping[str, str]) -> Optional[float]:
    """Seconds to wait from ``retry-after-ms``, ``Retry-After`` (seconds or an HTTP-date), else None.

    Junk values are ignored, never raised.
    """
    value = headers.get("retry-after-ms")
    if value:
        try:
            ms = float(value)
            if ms >= 0 and ms == ms and ms != float("inf"):
                return ms / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        if seconds >= 0 and seconds == seconds and seconds != float("inf"):
            return seconds
        return None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:  # pragma: no cover - older Pythons returned None
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds())


def _duration(value: Any) -> Optional[float]:
    """A protobuf duration such as ``"30s"`` or ``"1.5s"`` in seconds; None for anything else."""
    if isinstance(value, str) and value.endswith("s"):
        try:
            seconds = float(value[:-1])
        except ValueError:
            return None
        return seconds if 0 <= seconds < float("inf") else None
    return None


class ErrorDescription(NamedTuple):
    """What an error body says, read by ``describe_error`` (a tuple, so it also unpacks in this order)."""

    message: str  #: the service's own message ("" when the body has none)
    codes: List[str]  #: its error code / type / reason strings, most specific first, numeric codes last
    request_id: Optional[str]  #: the request id the body names, if any
    retry_delay: Optional[float]  #: seconds the body asks to wait (Google's ``RetryInfo.retryDelay``), if any


def describe_error(data: Any) -> ErrorDescription:
    """What a parsed error body says, in any of the shapes services use, each read by its own reader:

    - ``{"error": {"message", "type", "code"}}`` (OpenAI and most), ``{"type": "error", "error": {...}}``
      (Anthropic), ``{"error": {"status", "details": [{"reason"}, {"retryDelay"}]}}`` (Google) and
      ``{"code", "message"}`` (DashScope and others): ``_read_error_object``;
    - ``{"error": "text"}`` (Ollama): ``_read_error_text``;
    - ``{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`` (Tencent): ``_read_tencent``;
    - a list of one of these (Gemini's stream errors), or anything else (its text, cut short).
    """
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        data = data[0]  # Gemini wraps stream errors in a list
    if not isinstance(data, Mapping):
        return ErrorDescription(shorten(data, 300) if data is not None else "", [], None, None)
    if isinstance(data.get("Response"), Mapping):
        return _read_tencent(data["Response"])
    found = _read_error(data.get("error", data), data)
    return found._replace(request_id=_body_request_id(data))


def _read_error(err: Any, data: Mapping[str, Any]) -> ErrorDescription:
    """The error value ``err`` found in the body ``data``: text, an object, or neither."""
    if isinstance(err, str):
        return _read_error_text(err, data)
    if isinstance(err, Mapping):
        return _read_error_object(err)
    return ErrorDescription("", [], None, None)


def _read_error_text(text: str, data: Mapping[str, Any]) -> ErrorDescription:
    """``{"error": "text", "code"?: ..., "type"?: ...}`` (Ollama and friends)."""
    codes = [str(data[key]) for key in ("code", "type", "error_code") if isinstance(data.get(key), (str, int))]
    return ErrorDescription(text, _ordered(codes), None, None)


def _read_error_object(err: Mapping[str, Any]) -> ErrorDescription:
    """``{"message", "code", "type", "status", "details": [...]}``: the error object of most services."""
    msg = err.get("message", err.get("Message", err.get("msg")))
    message = msg if isinstance(msg, str) else (_dumps_short(msg) if msg is not None else "")
    codes: List[str] = []
    delay: Optional[float] = None
    details = err.get("details")
    for detail in details if isinstance(details, list) else ():  # Google: ErrorInfo.reason, RetryInfo.retryDelay
        if isinstance(detail, Mapping):
            if detail.get("reason"):
                codes.append(str(detail["reason"]))
            if detail.get("retryDelay") is not None:
                delay = _duration(detail.get("retryDelay"))
    for key in ("code", "Code", "type", "status"):
        value = err.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value) not in codes:
            codes.append(str(value))
    return ErrorDescription(message, _ordered(codes), None, delay)


def _read_tencent(response: Mapping[str, Any]) -> ErrorDescription:
    """``{"Response": {"Error": {"Code", "Message"}, "RequestId"}}`` (Tencent Cloud API v3)."""
    found = _read_error(response.get("Error") or {}, {})
    return found._replace(request_id=response.get("RequestId"))


def _body_request_id(data: Mapping[str, Any]) -> Optional[str]:
    for key in ("request_id", "requestId", "RequestId"):
        if isinstance(data.get(key), str):
            return str(data[key])
    return None


def _ordered(codes: List[str]) -> List[str]:
    """Names before numbers (a name says more than a status number); empty ones dropped."""
    return [c for c in codes if c and not c.isdigit()] + [c for c in codes if c.isdigit()]


def _dumps_short(value: Any) -> str:
    try:
        return shorten(json.dumps(value, ensure_ascii=False), 300)
    except (TypeError, ValueError):
        return shorten(repr(value), 300)


def _html_text(text: str) -> str:
    """The title (or first heading) of an HTML error page, for a message that reads well."""
    lowered = text.lower()
    for tag in ("title", "h1"):
        start = lowered.find(f"<{tag}")
        if start != -1:
            start = lowered.find(">", start)
            end = lowered.find(f"</{tag}>", start)
            if start != -1 and end != -1:
                inner = " ".join(text[start + 1:end].split())
                if inner:
                    return inner
    return ""


def _body_text(body: bytes, headers: Mapping[str, str]) -> str:
    """An error body as text, decoded by the charset its Content-Type names (UTF-8 when it names none or one
    Python does not know)."""
    if not body:
        return ""
    charset = "utf-8"
    content_type = headers.get("content-type") or ""
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"').strip("'")
    try:
        return body.decode(charset, "replace")
    except LookupError:
        return body.decode("utf-8", "replace")


def error_from_response(
    status_code: int, body: bytes, headers: Mapping[str, str], *, provider: Optional[str] = None
) -> APIStatusError:
    """The typed error for an HTTP error answer, with the service's own message when the body has one
    (JSON in any common shape, or an HTML page from a proxy or gateway)."""
    text = _body_text(body, headers)
    message = ""
    codes: List[str] = []
    request_id: Optional[str] = None
    delay: Optional[float] = None
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            message, codes, request_id, delay = describe_error(json.loads(stripped))
        except ValueError:
            pass
    elif stripped[:1] == "<":
        html = _html_text(stripped)
        if html:
            message = f"the server answered with an HTML error page: {html}"
        else:
            message = "the server answered with an HTML error page"
    if not message:
        message = shorten(stripped, 300) if stripped else f"HTTP {status_code} with an empty body"
    if not request_id:
        request_id = request_id_from(headers)
    aws_type = headers.get("x-amzn-errortype")  # AWS (Bedrock): "ThrottlingException:http://internal..."
    if aws_type and not codes:
        codes = [aws_type.split(":", 1)[0]]
    retry_after = parse_retry_after(headers)
    if retry_after is None:
        retry_after = delay
    return error_for_status(
        status_code, message, codes=codes, provider=provider, request_id=request_id, body=text,
        retry_after=retry_after,
    )
