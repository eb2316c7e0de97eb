"""Wire protocols: one module per protocol family, each with the same small surface — the contract.

Every protocol module defines (``request`` is a ``ChatRequest``, ``endpoint`` an ``Endpoint``)::

    NAME: str
    # the client's side: ours -> the service's wire -> ours
    def encode_chat(request, endpoint, stream: bool) -> HttpRequest
    def decode_response(data: Any, endpoint) -> ChatResponse              # the parsed JSON body
    def decode_stream(chunks: Iterable[bytes], endpoint) -> Iterator[StreamingResponse]
    class <Name>StreamState(StreamState)     # one stream's state: handle(event) -> chunks, end() -> chunks
    def encode_models(endpoint) -> HttpRequest                             # optional: a model list
    def decode_models(data: Any, endpoint) -> List[str]                    # optional
    def normalize_base_url(url: str) -> str                                # optional
    def classify_error(error: APIStatusError) -> APIStatusError            # optional: an HTTP error answer
                                                                           # re-classed by the service's own codes
    # the gateway's side, where the module offers it: the caller's wire -> ours -> the caller's wire
    def decode_request(data: Any) -> ChatRequest                           # a caller's parsed request body
    def encode_response(response: ChatResponse) -> Dict[str, Any]         # a whole answer, as the wire's JSON
    def encode_chunk(chunk: StreamingResponse) -> Dict[str, Any]          # one stream chunk, as the wire's JSON
    def encode_stream(chunks: Iterable[StreamingResponse], model: str) -> Iterator[...]   # when chunks do not
                                                                           # map one to one (Ollama's NDJSON)

The rules every module follows (each is written once, here or in ``types.py``):

- **Streams are a state object.** ``decode_stream`` owns the framing (``lines.iter_sse``, ``lines.iter_ndjson``,
  ``eventstream.iter_event_stream``), parses each event with ``loads`` and hands it to a ``StreamState``:
  ``state.handle(event)`` returns the chunks that event makes, a list or tuple (usually one, often none),
  ``state.finished`` turns True at the protocol's end marker, and ``state.end()`` runs when the body ends: it
  returns chunks still held back or raises ``IncompleteStreamError`` when the end marker never came. ``drive``
  is that loop. Anthropic's state is reused by Bedrock, which frames the same events in AWS event-stream.
- **Errors inside a stream** raise ``stream_error(data, provider)`` (classed by the service's error type, not the
  status); a line that is not JSON is a ``StreamParseError`` from ``loads``; a parsed event that is not an object
  is a ``StreamParseError`` too.
- **Finish reasons**: each module owns its service's words: ``FINISH_REASONS`` maps them (lower-cased) to
  OpenAI's (``stop``, ``length``, ``tool_calls``, ``content_filter``), and its decoders read them with
  ``_finish_reason = finish_reader(FINISH_REASONS)``, which gives ``(normalized, raw)``, the service's own word
  kept; ``None``, ``""`` and ``"null"`` are ``(None, None)``. A word the module does not know (an
  OpenAI-compatible service passing on another service's word) goes through ``types.normalize_finish_reason``,
  every module's ``FINISH_REASONS`` together (``finish_words``, composed on first use), then lower-cased as is.
- **Bodies** are built as dicts and sent as ``json_body(body)``, the compact encoder's exact bytes (what is sent
  is what is signed); ``dumps`` is the same encoder as text, for writers.
- **``extra_body`` is merged last, one level deep** (``merge_extra``): a mapping merges into a mapping already
  there (``{"generationConfig": {...}}`` adds to ours), any other value replaces ours.
- **Request fields** the service names differently are mapped by a table (``renamed_fields``), not if-chains.
- **Quirks** a preset sets arrive in ``endpoint.options``, read once per call (never per chunk); each module's
  docstring lists the options it reads. No module branches on a provider name.

Older names kept working while other work lands (aliases, same objects): ``openai.chunk_to_wire`` is
``openai.encode_chunk``; ``ollama.to_ollama_chunks`` is ``ollama.encode_stream``; ``openai.decode_chunk``,
``gemini.decode_event`` and ``anthropic.StreamState`` remain for one-event decoding.

Modules are imported on first use (``load``), so ``import llm_connector`` stays cheap.
"""

import importlib
import json
import pkgutil
from types import ModuleType
from typing import Any, Callable, Dict, Iterable, Iterator, Mapping, Optional, Sequence, Tuple

from ..auth import Auth, NoAuth
from ..errors import APIStatusError, StreamParseError, describe_error, error_for_status, shorten
from ..transport import redact_url
from ..types import StreamingResponse, _finish_words_from, compact_json, normalize_finish_reason

__all__ = [
    "Endpoint",
    "StreamState",
    "NO_CHUNKS",
    "drive",
    "load",
    "json_body",
    "dumps",
    "loads",
    "finish_reason",
    "finish_reader",
    "FinishReader",
    "finish_words",
    "is_done",
    "renamed_fields",
    "merge_extra",
    "join_url",
    "stream_error",
]

#: The compact JSON encoder (``types.compact_json``) as text: ``{"a":1}``, UTF-8 kept.
dumps = compact_json
_dumps = compact_json
_loads = json.loads
#: The JSON scanner itself (C), without raw_decode's Python frame: ``(object, end)``, StopIteration or ValueError
#: when the text does not start with a JSON value.
_scan_once: Callable[[str, int], Tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


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


#: What ``handle`` returns for an event that makes no chunk (an empty tuple: nothing allocated per event).
NO_CHUNKS: Tuple[StreamingResponse, ...] = ()


class StreamState:
    """The state of one stream: parsed events in, chunks out. Each protocol subclasses it.

    ``handle(event)`` takes one parsed event in order and returns the chunks it makes, a list or tuple
    (``NO_CHUNKS`` for an event that carries nothing for the caller, ``(chunk,)`` for one); it raises the
    typed error for an error event. ``finished`` is True once the protocol's end marker came (``decode_stream``
    stops reading there). ``end()`` is called when the body ends: it returns the chunks still held back, or
    raises ``IncompleteStreamError`` when the end marker never came.
    Options are read in ``__init__``, once per stream, never per chunk.
    """

    __slots__ = ("provider", "finished")

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.finished = False

    def handle(self, event: Any) -> Sequence[StreamingResponse]:
        raise NotImplementedError

    def end(self) -> Sequence[StreamingResponse]:
        return NO_CHUNKS


def drive(events: Iterable[Any], state: StreamState) -> Iterator[StreamingResponse]:
    """The one stream loop: each parsed event through ``state.handle``, up to the end marker, then ``end()``."""
    handle = state.handle
    for event in events:
        yield from handle(event)
        if state.finished:
            return
    yield from state.end()


#: A module's finish-word reader: the service's word -> ``(normalized, raw)``.
FinishReader = Callable[[Any], Tuple[Optional[str], Optional[str]]]


def finish_reason(raw: Any) -> Tuple[Optional[str], Optional[str]]:
    """``(normalized, raw)``: a finish word of any service in OpenAI's words, and the word itself as a string.

    ``None``, ``""`` and ``"null"`` (what services send for "not finished") are ``(None, None)``. Decoders use
    their own module's reader (``finish_reader``) instead.
    """
    if raw is None or raw == "" or raw == "null":
        return None, None
    return normalize_finish_reason(raw), str(raw)


def finish_reader(words: Mapping[str, str]) -> FinishReader:
    """A module's ``finish_reason``: ``(normalized, raw)`` by ``words``, the module's ``FINISH_REASONS`` (its
    service's words, lower-cased, in OpenAI's words); a word not there goes through
    ``types.normalize_finish_reason`` (every module's words). ``None``, ``""`` and ``"null"`` are
    ``(None, None)``."""
    get = words.get

    def read(raw: Any) -> Tuple[Optional[str], Optional[str]]:
        if raw is None or raw == "" or raw == "null":
            return None, None
        text = str(raw)
        normalized = get(text.lower())
        return (normalized if normalized is not None else normalize_finish_reason(text)), text

    return read


def finish_words() -> Dict[str, str]:
    """Every protocol module's ``FINISH_REASONS`` together (the modules are loaded now); what
    ``types.normalize_finish_reason`` looks words up in, composed on its first call."""
    words: Dict[str, str] = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_"):
            words.update(getattr(load(info.name), "FINISH_REASONS", {}))
    return words


# types.py sits below this package and cannot import it: it is handed the composer here, and calls it once, on
# the first finish word it normalizes (so ``import llm_connector`` loads no protocol module).
_finish_words_from(finish_words)


def is_done(data: str) -> bool:
    """Whether an SSE ``data`` field is the ``[DONE]`` end marker, also as gateways space it (``data:  [DONE]``
    leaves ``" [DONE]"``: the SSE rules strip only one space)."""
    return data == "[DONE]" or (data[:1] == " " and data.strip() == "[DONE]")


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
    # The hot path: the scanner alone skips json.loads' two whitespace regex scans; anything unusual (surrounding
    # whitespace, trailing data, invalid JSON) goes through json.loads, for its exact behaviour and message.
    try:
        obj, end = _scan_once(text, 0)
        if end == len(text):
            return obj
    except (ValueError, StopIteration):
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


def merge_extra(body: Dict[str, Any], extra: Optional[Mapping[str, Any]]) -> None:
    """Merge ``extra_body`` into ``body`` one level deep, last: an object merges into an object already there (so
    ``{"options": {...}}`` adds to the options), anything else replaces. The one rule of every module."""
    if not extra:
        return
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
