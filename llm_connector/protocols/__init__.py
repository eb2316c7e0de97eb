"""Wire protocols: one module per protocol family, each with the same small surface.

A protocol module defines::

    NAME: str
    def encode_chat(request: ChatRequest, endpoint: Endpoint, stream: bool) -> HttpRequest
    def decode_response(data: Any, endpoint: Endpoint) -> ChatResponse         # parsed JSON body
    def decode_stream(chunks: Iterable[bytes], endpoint: Endpoint) -> Iterator[StreamingResponse]
    def encode_models(endpoint: Endpoint) -> HttpRequest                        # optional
    def decode_models(data: Any, endpoint: Endpoint) -> List[str]               # optional

``decode_stream`` owns its framing (SSE, NDJSON, AWS event-stream) and raises the typed error for an error
inside the stream and ``IncompleteStreamError`` when the body ends before the protocol's end marker.
Modules are imported on first use, so ``import llm_connector`` stays cheap.
"""

import importlib
import json
from types import ModuleType
from typing import Any, Dict, Mapping, Optional, Tuple

from ..auth import Auth, NoAuth
from ..errors import APIStatusError, StreamParseError, describe_error, error_for_status, shorten
from ..transport import redact_url

__all__ = ["Endpoint", "load", "json_body", "loads", "join_url", "stream_error"]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_loads = json.loads
_raw_decode = json.JSONDecoder().raw_decode


class Endpoint:
    """Where and how to reach one service: the data a protocol module needs besides the request.

    ``options`` holds the preset's quirks and protocol settings (Azure's ``api_version``, Anthropic's
    ``anthropic_version``, Vertex's project, ...).
    """

    __slots__ = ("provider", "base_url", "auth", "headers", "options")

    def __init__(
        self,
        provider: str,
        base_url: str,
        auth: Optional[Auth] = None,
        headers: Optional[Mapping[str, str]] = None,
        options: Optional[Mapping[str, Any]] = None,
    ) -> None:
        self.provider = provider
        self.base_url = base_url
        self.auth: Auth = auth if auth is not None else NoAuth()
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.options: Mapping[str, Any] = options if options is not None else {}

    def __repr__(self) -> str:
        return f"Endpoint(provider={self.provider!r}, base_url={redact_url(self.base_url)!r})"

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)


_cache: Dict[str, ModuleType] = {}


def load(name: str) -> ModuleType:
    """The protocol module ``name`` (imported on first use)."""
    module = _cache.get(name)
    if module is None:
        module = importlib.import_module("." + name, __name__)
        _cache[name] = module
    return module


def json_body(obj: Any) -> bytes:
    """Compact UTF-8 JSON bytes, exactly what is sent (and signed)."""
    try:
        return _dumps(obj).encode("utf-8")
    except (TypeError, ValueError) as exc:
        from ..errors import ConfigurationError

        where = _unserializable(obj, "")
        raise ConfigurationError(f"request body is not JSON-serializable: {where or exc}") from None


def _unserializable(obj: Any, path: str) -> Optional[str]:
    """Where the first value JSON cannot express sits, e.g. ``tools[0].function.parameters.x is a set``."""
    if isinstance(obj, dict):
        for key, value in obj.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                return f"{path or 'the body'} has a key of type {type(key).__name__}"
            found = _unserializable(value, f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    if isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            found = _unserializable(value, f"{path}[{i}]")
            if found:
                return found
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return None
    return f"{path or 'the body'} is a {type(obj).__name__}"


def loads(text: str, provider: str, what: str = "stream line") -> Any:
    """Parse JSON from a service; a ``StreamParseError`` naming the provider and the line when it is not JSON."""
    # The hot path: raw_decode skips json.loads' two whitespace regex scans; anything unusual (surrounding
    # whitespace, trailing data, invalid JSON) goes through json.loads, for its exact behaviour and message.
    try:
        obj, end = _raw_decode(text)
        if end == len(text):
            return obj
    except ValueError:
        pass
    try:
        return _loads(text)
    except ValueError as exc:
        raise StreamParseError(
            f"the service sent a {what} that is not valid JSON ({exc}): {shorten(text, 200)}",
            provider=provider,
            body=text,
        ) from None


def renamed_fields(request: Any, table: Tuple[Tuple[str, str], ...]) -> Dict[str, Any]:
    """The request fields named in ``table`` (ours -> theirs) that are set, under the service's names."""
    out: Dict[str, Any] = {}
    for ours, theirs in table:
        value = getattr(request, ours)
        if value is not None:
            out[theirs] = value
    return out


def merge_extra(body: Dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Merge ``extra_body`` into ``body`` one level deep: an object merges into an object already there (so
    ``{"options": {...}}`` adds to the options), anything else replaces."""
    for key, value in extra.items():
        current = body.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            merged = dict(current)
            merged.update(value)
            body[key] = merged
        else:
            body[key] = value


def join_url(base: str, path: str) -> str:
    """``base`` + ``path`` with exactly one slash between them."""
    return base.rstrip("/") + "/" + path.lstrip("/")


def stream_error(data: Any, provider: str, status_code: Optional[int] = None) -> APIStatusError:
    """The typed error for an error object a service put inside a stream (classed by its error type)."""
    message, codes, request_id, delay = describe_error(data)
    return error_for_status(
        status_code,
        message or "error inside the stream",
        codes=codes,
        provider=provider,
        request_id=request_id,
        body=_dumps(data) if not isinstance(data, str) else data,
        retry_after=delay,
    )
