"""Ollama's native API: ``POST /api/chat`` (an NDJSON stream), the model list, and model management.

Reading and writing Ollama's wire shape both live here:

- ``encode_chat`` / ``decode_response`` / ``decode_stream``: the protocol-module contract (see
  ``llm_connector.protocols``). ``stream`` is always sent as an explicit ``true``/``false`` (Ollama streams
  when it is missing or null). The stream is NDJSON, read with ``lines.iter_ndjson``; it ends at the line
  with ``"done": true``, and a body that ends before that line raises ``IncompleteStreamError``.
- ``encode_models`` / ``decode_models``: the model list (``/api/tags``); the rest of model management is
  ``protocols.ollama_models``, used by ``llm_connector.ollama``.
- ``encode_stream``: any provider's stream re-expressed as Ollama ``/api/chat`` chunks (behind
  ``LlmClient.chat_stream_ollama``; ``to_ollama_chunks`` is its earlier name).
- ``normalize_base_url``: ``OLLAMA_HOST`` forms (``localhost:11434``, ``0.0.0.0``, ``http://host:port/``) to a
  base URL.

How a ``ChatRequest`` maps onto ``/api/chat``:

- ``temperature``, ``top_p``, ``seed``, ``presence_penalty``, ``frequency_penalty``, ``stop`` and
  ``max_tokens`` (as ``num_predict``) go into ``options``;
- ``response_format``: ``json_object`` becomes ``"format": "json"``, ``json_schema`` sends its schema as
  ``format``;
- ``think``: ``enable_thinking=False`` sends ``false``; ``reasoning_effort`` sends ``"low"``/``"medium"``/
  ``"high"`` (``"minimal"`` as ``"low"``, ``"none"`` as ``false``); otherwise ``enable_thinking=True`` or a
  positive ``thinking_budget`` sends ``true`` (Ollama has no budget);
- images must be inline (base64 or a ``data:`` URL): Ollama takes no image URLs;
- ``tools`` are sent in OpenAI's shape, which Ollama reads; Ollama has no ``tool_choice``: ``"none"`` leaves
  the tools out, any other choice is not sent;
- ``extra_body`` is merged last (its ``options`` mapping is merged into ours key by key), but ``stream`` stays
  what the call needs.
"""

import calendar
import ipaddress
import json
import time
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

from ..errors import (
    APIStatusError,
    ConfigurationError,
    IncompleteStreamError,
    ServerError,
    StreamParseError,
    shorten,
)
from ..lines import iter_ndjson_batches
from ..stream import ToolCallMerger
from ..transport import HttpRequest
from ..types import (
    ChatRequest,
    ChatResponse,
    Choice,
    Delta,
    FunctionCall,
    ImageBlock,
    Message,
    OllamaMessage,
    OllamaStreamChunk,
    Role,
    StreamingChoice,
    StreamingResponse,
    TextBlock,
    Tool,
    ToolCall,
    Usage,
)
from . import (
    Endpoint,
    StreamState,
    finish_reader,
    join_url,
    json_body,
    loads,
    merge_extra,
    renamed_fields,
    stream_error,
)

#: Ollama's ``done_reason`` words in OpenAI's words (``load`` / ``unload``: a model load or unload request).
FINISH_REASONS: Dict[str, str] = {"stop": "stop", "length": "length", "load": "stop", "unload": "stop"}
_finish_reason = finish_reader(FINISH_REASONS)

__all__ = [
    "NAME",
    "DEFAULT_PORT",
    "normalize_base_url",
    "encode_body",
    "encode_chat",
    "decode_response",
    "decode_stream",
    "OllamaStreamState",
    "decode_usage",
    "api_request",
    "model_items",
    "encode_models",
    "decode_models",
    "encode_stream",
    "to_ollama_chunks",
    "API_VERSION",
    "decode_request",
    "encode_response",
    "encode_ndjson",
    "encode_error",
    "encode_error_event",
    "encode_tags",
    "decode_show_request",
    "encode_show_response",
    "encode_version_response",
]

NAME = "ollama"

#: The port Ollama listens on when ``OLLAMA_HOST`` names none.
DEFAULT_PORT = 11434

_JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
_NDJSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/x-ndjson"}

# -- base URL ---------------------------------------------------------------------------------------------

# A server told to listen everywhere is reached on this machine's loopback address.
_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def normalize_base_url(url: str) -> str:
    """The base URL for an ``OLLAMA_HOST``-style value, as Ollama's own client reads that variable.

    Without a scheme, ``http://`` and, when no port is given, port 11434 are added; with ``http://`` or
    ``https://`` the URL's own (default) port stands. A wildcard listen address (``0.0.0.0``, ``::``) becomes
    the loopback address; a path is kept (a reverse proxy); the trailing slash is dropped.

    >>> normalize_base_url("localhost:11434"), normalize_base_url("0.0.0.0")
    ('http://localhost:11434', 'http://127.0.0.1:11434')
    >>> normalize_base_url("https://ollama.example.com/proxy/"), normalize_base_url(":8080")
    ('https://ollama.example.com/proxy', 'http://127.0.0.1:8080')
    """
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "http", text
    scheme = scheme.lower()
    if scheme not in ("http", "https"):
        raise ConfigurationError(f"base_url: Ollama is reached over http:// or https://, not {shorten(url, 80)!r}",
                                 provider=NAME)
    hostport, _, path = rest.partition("/")
    host, port = _host_and_port(hostport, url)
    host = _WILDCARD_HOSTS.get(host, host or "127.0.0.1")
    if port is None and not sep:
        port = DEFAULT_PORT
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port is not None else "")
    path = path.rstrip("/")
    return f"{scheme}://{netloc}" + ("/" + path if path else "")


def _host_and_port(hostport: str, original: str) -> Tuple[str, Optional[int]]:
    try:  # a bare address, also IPv6 without brackets ("::1")
        return (str(ipaddress.ip_address(hostport.strip("[]"))), None)
    except ValueError:
        pass
    try:
        parts = urlsplit("//" + hostport)
        return (parts.hostname or "", parts.port)
    except ValueError:
        raise ConfigurationError(f"base_url: cannot read a host and port in {shorten(original, 80)!r}",
                                 provider=NAME) from None


# -- request ----------------------------------------------------------------------------------------------

# ChatRequest field -> Ollama option name.
_OPTIONS: Tuple[Tuple[str, str], ...] = (
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("max_tokens", "num_predict"),
    ("seed", "seed"),
    ("presence_penalty", "presence_penalty"),
    ("frequency_penalty", "frequency_penalty"),
)

# reasoning_effort -> Ollama's think value (gpt-oss takes the levels, other thinking models a bool).
_EFFORTS: Dict[str, Union[bool, str]] = {"low": "low", "medium": "medium", "high": "high", "minimal": "low",
                                         "none": False}


def _options(request: ChatRequest) -> Dict[str, Any]:
    options = renamed_fields(request, _OPTIONS)
    stop = request.stop_list()
    if stop:
        options["stop"] = stop
    return options


def _format(response_format: Optional[Mapping[str, Any]]) -> Any:
    """Ollama's ``format`` for an OpenAI-shaped ``response_format`` (None: send none)."""
    if not response_format:
        return None
    kind = response_format.get("type")
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if not isinstance(schema, Mapping):
            raise ConfigurationError("ChatRequest.response_format.json_schema.schema: a JSON schema object is "
                                     "needed", provider=NAME)
        return dict(schema)
    if kind == "object":  # a bare JSON schema, as Ollama itself takes it
        return dict(response_format)
    if kind == "text":
        return None
    raise ConfigurationError(f"ChatRequest.response_format: type {kind!r} is not one Ollama can follow "
                             "(json_object, json_schema, text)", provider=NAME)


def _think(request: ChatRequest) -> Union[None, bool, str]:
    """Ollama's ``think`` value, or None to leave the model's default."""
    if request.enable_thinking is False:
        return False
    effort = request.reasoning_effort
    if effort:
        return _EFFORTS.get(effort.lower(), effort)
    if request.enable_thinking:
        return True
    if request.thinking_budget is not None:
        return request.thinking_budget > 0
    return None


def _images(message: Message, position: int) -> List[str]:
    content = message.content
    if content is None or isinstance(content, str):
        return []
    images = []
    for i, block in enumerate(content):
        if isinstance(block, ImageBlock):
            inline = block.as_base64()
            if inline is None:
                raise ConfigurationError(
                    f"ChatRequest.messages[{position}].content[{i}]: Ollama takes images as base64 only, not the "
                    f"URL {shorten(block.url, 80)}; use ImageBlock.from_base64(...) or a data: URL",
                    provider=NAME,
                )
            images.append(inline[1])
    return images


def _arguments_object(call: ToolCall, where: str) -> Any:
    try:
        return call.arguments_json()
    except StreamParseError:
        raise ConfigurationError(f"{where}.function.arguments: not complete JSON: "
                                 f"{shorten(call.function.arguments, 120)}", provider=NAME) from None


def _wire_tool_calls(message: Message, position: int, names: Dict[str, str]) -> List[Dict[str, Any]]:
    out = []
    for i, call in enumerate(message.tool_calls or ()):
        where = f"ChatRequest.messages[{position}].tool_calls[{i}]"
        out.append({"function": {"name": call.function.name, "arguments": _arguments_object(call, where)}})
        if call.id:
            names[call.id] = call.function.name
    return out


def encode_message(message: Message, position: int, names: Dict[str, str]) -> Dict[str, Any]:
    """One message in Ollama's shape. ``names`` maps tool-call ids to function names, filled by assistant
    turns and read by tool results (Ollama matches a result to its call by ``tool_name``)."""
    out: Dict[str, Any] = {"role": message.role.wire_value, "content": message.text_content()}
    images = _images(message, position)
    if images:
        out["images"] = images
    if message.role is Role.ASSISTANT:
        if message.reasoning_content:
            out["thinking"] = message.reasoning_content
        if message.tool_calls:
            out["tool_calls"] = _wire_tool_calls(message, position, names)
    elif message.role is Role.TOOL:
        name = message.name or names.get(message.tool_call_id or "")
        if name:
            out["tool_name"] = name
    return out


def encode_body(request: ChatRequest, stream: bool) -> Dict[str, Any]:
    """The JSON body for ``POST /api/chat``."""
    names: Dict[str, str] = {}
    body: Dict[str, Any] = {
        "model": request.model,
        "messages": [encode_message(m, i, names) for i, m in enumerate(request.messages)],
    }
    options = _options(request)
    if options:
        body["options"] = options
    fmt = _format(request.response_format)
    if fmt is not None:
        body["format"] = fmt
    think = _think(request)
    if think is not None:
        body["think"] = think
    if request.tools and request.tool_choice != "none":
        body["tools"] = [t.to_dict() for t in request.tools]
    merge_extra(body, request.extra_body)
    body["stream"] = stream  # always explicit: Ollama streams when it is missing or null
    return body


def encode_chat(request: ChatRequest, endpoint: Endpoint, stream: bool) -> HttpRequest:
    headers = dict(_NDJSON_HEADERS if stream else _JSON_HEADERS)
    return HttpRequest("POST", join_url(endpoint.base_url, "api/chat"), headers,
                       json_body(encode_body(request, stream)), endpoint.auth)


# -- response and stream ----------------------------------------------------------------------------------


def _created(stamp: Any) -> int:
    """Epoch seconds of an RFC 3339 time such as ``2023-08-04T08:52:19.385406455-07:00``; 0 when unreadable.

    >>> _created("2024-01-01T00:00:00.123456789Z"), _created("2024-01-01T01:00:00+01:00"), _created("junk")
    (1704067200, 1704067200, 0)
    >>> _created("2024-02-30T00:00:00Z"), _created("2024-01-01T24:00:00Z"), _created("2024-01-01 00:00:00-00:30")
    (0, 0, 1704069000)
    """
    if not isinstance(stamp, str) or len(stamp) < 19:
        return 0
    # Read by position (time.strptime costs tens of microseconds, on the way to a stream's first chunk).
    digits = stamp[0:4] + stamp[5:7] + stamp[8:10] + stamp[11:13] + stamp[14:16] + stamp[17:19]
    if not (digits.isdigit() and digits.isascii()) or stamp[4] + stamp[7] + stamp[13] + stamp[16] != "--::" \
            or stamp[10] not in "Tt ":
        return 0
    year, month, day = int(stamp[0:4]), int(stamp[5:7]), int(stamp[8:10])
    hour, minute, second = int(stamp[11:13]), int(stamp[14:16]), int(stamp[17:19])
    if not (year and 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1] and hour < 24 and minute < 60
            and second < 62):
        return 0
    seconds = calendar.timegm((year, month, day, hour, minute, second))
    zone = stamp[19:].lstrip(".0123456789")
    if zone in ("", "Z", "z"):
        return seconds
    if len(zone) == 6 and zone[0] in "+-" and zone[3] == ":" and (zone[1:3] + zone[4:]).isdigit():
        offset = int(zone[1:3]) * 3600 + int(zone[4:]) * 60
        return seconds - offset if zone[0] == "+" else seconds + offset
    return 0


def decode_usage(data: Mapping[str, Any]) -> Optional[Usage]:
    """Usage from a final chunk's ``prompt_eval_count`` / ``eval_count``; None when it has neither."""
    prompt = data.get("prompt_eval_count")
    completion = data.get("eval_count")
    if prompt is None and completion is None:
        return None
    prompt = prompt or 0
    completion = completion or 0
    return Usage(prompt, completion, prompt + completion)


def _tool_calls(items: Any, start: int) -> List[ToolCall]:
    """Ollama's complete tool calls as ``ToolCall`` pieces numbered from ``start`` (ids made when absent)."""
    calls = []
    n = start
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, Mapping):
            continue
        fn = item.get("function")
        fn = fn if isinstance(fn, Mapping) else {}
        arguments = fn.get("arguments")
        if arguments is None:
            arguments = "{}"
        elif not isinstance(arguments, str):
            arguments = json_body(arguments).decode("utf-8")
        calls.append(ToolCall(item.get("id") or f"call_{n}", "function",
                              FunctionCall(fn.get("name") or "", arguments), n))
        n += 1
    return calls


def _finish(data: Mapping[str, Any], made_tool_calls: bool) -> Tuple[str, Optional[str]]:
    """(normalized, raw) finish reason of a ``done`` object; a turn that called tools finishes with tool_calls."""
    reason, raw = _finish_reason(data.get("done_reason"))
    reason = reason or "stop"
    if made_tool_calls and reason == "stop":
        reason = "tool_calls"
    return reason, raw


def _message(data: Mapping[str, Any]) -> Mapping[str, Any]:
    message = data.get("message")
    return message if isinstance(message, dict) else {}  # parsed JSON; a typing.Mapping check is 10x slower


def _object(obj: Any, provider: str) -> Dict[str, Any]:
    """A parsed line as an object; the typed error when it is Ollama's ``{"error": ...}``."""
    if not isinstance(obj, dict):
        raise StreamParseError("the service sent a line that is not a JSON object", provider=provider,
                               body=shorten(obj, 200))
    if obj.get("error"):
        error = stream_error(obj, provider)
        if type(error) is APIStatusError:  # Ollama gives no error type: its model runner failed
            error = ServerError(error.message, provider=provider, body=error.body)
        raise error
    return obj


def decode_response(data: Any, endpoint: Endpoint) -> ChatResponse:
    """A whole ``/api/chat`` answer (``stream: false``)."""
    obj = _object(data, endpoint.provider)
    message = _message(obj)
    text = message.get("content") or ""
    thinking = message.get("thinking") or None
    calls = _tool_calls(message.get("tool_calls"), 0)
    reason, raw = _finish(obj, bool(calls))
    choice = Choice(0, Message(Role.ASSISTANT, text, None, calls or None, None, thinking), reason, raw)
    return ChatResponse("", "chat.completion", _created(obj.get("created_at")), obj.get("model") or "", [choice],
                        text, thinking, decode_usage(obj), None, obj)


class OllamaStreamState(StreamState):
    """The state of one ``/api/chat`` NDJSON stream: each line is one chunk; the ``"done": true`` line is the end
    marker. Remembers the first line's time and how many tool calls came before (for their running index)."""

    __slots__ = ("created", "calls")

    def __init__(self, provider: str) -> None:
        super().__init__(provider)
        self.created = -1
        self.calls = 0

    def handle(self, event: Any) -> Sequence[StreamingResponse]:
        message = event.get("message") if type(event) is dict and "error" not in event else None
        if type(message) is dict and len(message) == 2 and "role" in message and self.created >= 0 \
                and event.get("done") is False:
            # The hot path: a line of text alone ({"role": ..., "content": ...}), not the first nor the last.
            text = message.get("content")
            if type(text) is str:
                return (StreamingResponse("", "chat.completion.chunk", self.created, event.get("model") or "",
                                          [StreamingChoice(0, Delta(message.get("role"), text or None))], text, None,
                                          None, None, event),)
        obj = _object(event, self.provider)
        if self.created < 0:
            self.created = _created(obj.get("created_at"))
        message = _message(obj)
        text = message.get("content") or ""
        thinking = message.get("thinking") or None
        items = message.get("tool_calls")
        calls = _tool_calls(items, self.calls) if items else None
        if calls:
            self.calls += len(calls)
        reason = raw = None
        usage = None
        if obj.get("done") is True:
            self.finished = True
            reason, raw = _finish(obj, bool(self.calls))
            usage = decode_usage(obj)
        delta = Delta(message.get("role"), text or None, thinking, calls or None)
        return (StreamingResponse("", "chat.completion.chunk", self.created, obj.get("model") or "",
                                  [StreamingChoice(0, delta, reason, raw)], text, thinking, usage, None, obj),)

    def end(self) -> Sequence[StreamingResponse]:
        raise IncompleteStreamError('the stream ended without its "done": true line', provider=self.provider)


def decode_stream(chunks: Iterable[bytes], endpoint: Endpoint) -> Iterator[StreamingResponse]:
    """The NDJSON stream of ``/api/chat`` as chunks, up to and including the ``"done": true`` line.

    Tool calls arrive whole; each becomes one piece with a running ``index`` (and an id ``call_<n>`` when Ollama
    gives none). The final chunk carries the finish reason and, when Ollama counted tokens, the usage.
    """
    provider = endpoint.provider
    state = OllamaStreamState(provider)
    handle = state.handle
    for batch in iter_ndjson_batches(chunks):  # a read's lines at a time: no generator step per line
        for line in batch:
            yield from handle(loads(line, provider))
            if state.finished:
                return
    yield from state.end()


# -- the model list (model management is in ``protocols.ollama_models``) ---------------------------------


def api_request(method: str, endpoint: Endpoint, path: str, body: Optional[Mapping[str, Any]] = None,
                stream: bool = False) -> HttpRequest:
    """An ``/api/...`` request: JSON in (when there is a body), JSON or NDJSON (``stream``) out."""
    headers = dict(_NDJSON_HEADERS if stream else _JSON_HEADERS)
    data = json_body(body) if body is not None else None
    if data is None:
        del headers["Content-Type"]
    return HttpRequest(method, join_url(endpoint.base_url, path), headers, data, endpoint.auth)


def model_items(data: Any, endpoint: Endpoint, what: str) -> List[Mapping[str, Any]]:
    """The objects of a ``{"models": [...]}`` answer (``/api/tags``, ``/api/ps``)."""
    items = data.get("models") if isinstance(data, Mapping) else None
    if not isinstance(items, list):
        raise StreamParseError(f"the {what} has no 'models' array",
                               provider=endpoint.provider, body=shorten(data, 200))
    return [m for m in items if isinstance(m, Mapping)]


def encode_models(endpoint: Endpoint) -> HttpRequest:
    """``GET /api/tags``: the local models."""
    return api_request("GET", endpoint, "api/tags")


def decode_models(data: Any, endpoint: Endpoint) -> List[str]:
    """The names of the local models (``name``, else ``model``)."""
    return [m.get("name") or m.get("model") or "" for m in model_items(data, endpoint, "model list")]


# -- writing Ollama's stream (chat_stream_ollama) ---------------------------------------------------------

# Finish reasons in Ollama's words ("stop", "length"; it also says "load" and "unload"): a turn that called tools
# is "stop" to Ollama (the calls are in the message), and so is every other word Ollama has none for.
_DONE_REASONS = {"stop": "stop", "length": "length"}
_DURATIONS = ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")


def _now() -> str:
    """The current time in RFC 3339, UTC, with a ``Z``."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int((now % 1.0) * 1e6):06d}Z"


def _wire_calls(merger: ToolCallMerger) -> List[Dict[str, Any]]:
    """Whole calls in Ollama's shape: ``{"function": {"name", "arguments": {...}}}`` (plus ``id`` when known)."""
    out = []
    for merged in merger.calls():
        call: Dict[str, Any] = {"function": {"name": merged.function.name,
                                             "arguments": _arguments(merged.function.arguments)}}
        if merged.id:
            call["id"] = merged.id
        out.append(call)
    return out


def _arguments(text: str) -> Any:
    """Arguments as the object Ollama sends; text that is not complete JSON (cut off) is kept as it came."""
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text


def _done_chunk(model: str, finish: Optional[str], usage: Optional[Usage],
                timings: Optional[Mapping[str, Any]]) -> OllamaStreamChunk:
    reason = finish or "stop"  # already in Ollama's words
    chunk = OllamaStreamChunk(model, _now(), OllamaMessage("assistant", ""), True, reason)
    if usage is not None:
        chunk.prompt_eval_count = usage.prompt_tokens
        chunk.eval_count = usage.completion_tokens
    if timings:
        for name in _DURATIONS:
            value = timings.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                setattr(chunk, name, value)
    return chunk


def encode_stream(chunks: Iterator[StreamingResponse], model: str) -> Iterator[OllamaStreamChunk]:
    """Any provider's stream as Ollama ``/api/chat`` chunks (``done`` false), then exactly one ``done`` chunk.

    - each upstream chunk with text or reasoning becomes one chunk (``message.content`` /
      ``message.thinking``), also the provider's final chunk: no text is dropped;
    - tool-call pieces are merged (``stream.ToolCallMerger``, the rule of ``collect()``) and sent whole, in
      one chunk, after the text;
    - the one ``done: true`` chunk is written when the upstream stream ends, so usage that arrives after the
      finish chunk (OpenAI's separate usage chunk) still counts. It carries ``done_reason`` (the last finish
      reason in Ollama's words: ``stop`` or ``length``; a tool-call turn and every other word is ``stop``, as
      Ollama says; ``stop`` when the provider gave none; Ollama's own ``done_reason`` passes through unchanged,
      ``load`` and ``unload`` among them) and ``prompt_eval_count`` / ``eval_count`` from the provider's
      usage, when it gave usage. Durations are never made up: they are left out, unless the provider is
      Ollama itself, whose measured durations are passed on.

    Errors from upstream propagate; no ``done`` chunk follows them. Only the first choice is followed.
    """
    tools = ToolCallMerger()
    finish: Optional[str] = None
    usage: Optional[Usage] = None
    timings: Optional[Mapping[str, Any]] = None
    for chunk in chunks:
        text = chunk.content
        reasoning = chunk.reasoning_content
        if chunk.choices:
            first = chunk.choices[0]
            if first.delta.tool_calls:
                for piece in first.delta.tool_calls:
                    tools.add(piece)
            if first.finish_reason is not None:
                raw = chunk.raw  # Ollama's own line: its done_reason goes through as it is ("load", new words)
                own = raw.get("done_reason") if isinstance(raw, Mapping) and "done" in raw else None
                finish = own if isinstance(own, str) and own else _DONE_REASONS.get(first.finish_reason, "stop")
        if text or reasoning:
            yield OllamaStreamChunk(model, _now(), OllamaMessage("assistant", text or "", reasoning or None), False)
        if chunk.usage is not None:
            usage = chunk.usage
            raw = chunk.raw
            timings = raw if isinstance(raw, Mapping) and "eval_duration" in raw else None
    if tools:
        yield OllamaStreamChunk(model, _now(), OllamaMessage("assistant", "", None, _wire_calls(tools)), False)
    yield _done_chunk(model, finish, usage, timings)


to_ollama_chunks = encode_stream  # the earlier name, kept working


# -- a gateway's side: reading callers' requests, writing answers in Ollama's shape -------------------------
#
# ``decode_request`` reads what an Ollama-API caller (Zed, Open WebUI, the ollama client) sends to
# ``POST /api/chat``; ``encode_response``, ``encode_ndjson`` (``encode_stream``'s chunks as NDJSON bytes) and
# ``encode_error`` write the answer; ``encode_tags``, ``decode_show_request`` / ``encode_show_response`` and
# ``encode_version_response`` answer the model routes those tools call first.

#: The Ollama version ``GET /api/version`` reports: the API this module speaks (tools check it for features).
API_VERSION = "0.12.10"

# Ollama option name -> ChatRequest field, with the JSON type the option takes.
_CALLER_OPTIONS: Tuple[Tuple[str, str, Any], ...] = (
    ("temperature", "temperature", float), ("top_p", "top_p", float), ("num_predict", "max_tokens", int),
    ("seed", "seed", int), ("presence_penalty", "presence_penalty", float),
    ("frequency_penalty", "frequency_penalty", float),
)
_CALLER_EFFORTS = {"low": "low", "medium": "medium", "high": "high"}


def _caller_message(item: Dict[str, Any], where: str, call_ids: List[str], position: int) -> Message:
    """One Ollama message. Ollama's tool calls carry no ids: the gateway numbers them (``call_<turn>_<n>``) and
    gives each following tool result the id of the call it answers (by ``tool_name``, else in order)."""
    from ._caller import fail, get, need, objects

    role = need(item, "role", str, where)
    text = get(item, "content", str, where) or ""
    images = get(item, "images", list, where) or []
    if not all(isinstance(i, str) for i in images):
        raise fail(f"{where}.images", "expected an array of base64 strings")
    content: Any = text
    if images:
        content = ([TextBlock(text)] if text else []) + [ImageBlock.from_base64("image/png", i) for i in images]
    if role == "tool":
        name = get(item, "tool_name", str, where) or get(item, "name", str, where)
        ident = _answered_call(call_ids, name)
        return Message(Role.TOOL, content, name, None, ident)
    calls = []
    for i, call in enumerate(objects(item, "tool_calls", where)):
        fn = need(call, "function", dict, f"{where}.tool_calls[{i}]")
        arguments = fn.get("arguments")
        arguments = arguments if isinstance(arguments, str) else json_body(arguments or {}).decode("utf-8")
        ident = get(call, "id", str, f"{where}.tool_calls[{i}]") or f"call_{position}_{i}"
        name = need(fn, "name", str, f"{where}.tool_calls[{i}].function")
        calls.append(ToolCall(ident, "function", FunctionCall(name, arguments), i))
    if calls:
        call_ids[:] = [f"{c.function.name}\0{c.id}" for c in calls]
    try:
        return Message(role, content if content or not calls else None,
                       None, calls or None, None, get(item, "thinking", str, where))
    except ConfigurationError as exc:
        raise fail(where, exc.message) from None


def _answered_call(call_ids: List[str], name: Optional[str]) -> str:
    """The id of the open call a tool result answers (and that call is then answered)."""
    for i, entry in enumerate(call_ids):
        call_name, _, ident = entry.partition("\0")
        if name is None or call_name == name:
            del call_ids[i]
            return ident
    return f"call_{name or 'unknown'}"


def _caller_format(value: Any) -> Optional[Dict[str, Any]]:
    from ._caller import fail

    if value is None or value == "":
        return None
    if value == "json":
        return {"type": "json_object"}
    if isinstance(value, dict):
        return {"type": "json_schema", "json_schema": {"name": "response", "schema": value}}
    raise fail("format", f"expected \"json\" or a JSON schema object, got {shorten(repr(value), 80)}")


def decode_request(data: Any) -> ChatRequest:
    """A caller's ``POST /api/chat`` body -> ``ChatRequest``. ``stream`` is True unless the body says
    ``false`` (Ollama streams by default); ``options`` (temperature, top_p, num_predict, seed, stop, penalties),
    ``format``, ``think`` (a bool or low/medium/high) and ``tools`` (OpenAI's shape) are read. A body of the
    wrong shape raises ``ConfigurationError`` naming the field."""
    from ._caller import body_object, fail, get, need, objects, stop_words

    body = body_object(data)
    model = need(body, "model", str)
    items = objects(body, "messages")
    if not items:
        raise fail("messages", "expected a non-empty array of messages")
    call_ids: List[str] = []
    request = ChatRequest(model, [_caller_message(m, f"messages[{i}]", call_ids, i) for i, m in enumerate(items)])
    options = get(body, "options", dict) or {}
    for theirs, ours, kind in _CALLER_OPTIONS:
        value = get(options, theirs, kind, "options")
        if value is not None:
            setattr(request, ours, value)
    request.stop = stop_words(options.get("stop"), "options.stop")
    request.response_format = _caller_format(body.get("format"))
    think = get(body, "think", (bool, str))
    if isinstance(think, bool):
        request.enable_thinking = think
    elif think is not None:
        if think not in _CALLER_EFFORTS:
            raise fail("think", f"expected true, false, low, medium or high, got {think!r}")
        request.reasoning_effort = _CALLER_EFFORTS[think]
    tools = objects(body, "tools")
    if tools:
        request.tools = []
        for i, tool in enumerate(tools):
            fn = need(tool, "function", dict, f"tools[{i}]")
            request.tools.append(Tool(need(fn, "name", str, f"tools[{i}].function"),
                                      get(fn, "description", str, f"tools[{i}].function"),
                                      get(fn, "parameters", dict, f"tools[{i}].function")))
    request.stream = get(body, "stream", bool) is not False
    return request


def encode_response(response: ChatResponse) -> Dict[str, Any]:
    """A ``ChatResponse`` as Ollama's one ``/api/chat`` answer (``done: true``, token counts when known)."""
    choice = response.choices[0] if response.choices else None
    message = choice.message if choice else Message(Role.ASSISTANT, response.content)
    wire: Dict[str, Any] = {"role": "assistant", "content": message.text_content()}
    if message.reasoning_content:
        wire["thinking"] = message.reasoning_content
    if message.tool_calls:
        merger = ToolCallMerger()
        for call in message.tool_calls:
            merger.add(call)
        wire["tool_calls"] = _wire_calls(merger)
    finish = choice.finish_reason if choice else None
    out: Dict[str, Any] = {"model": response.model, "created_at": _now(), "message": wire, "done": True,
                           "done_reason": _DONE_REASONS.get(finish, finish) if finish else "stop"}
    if response.usage is not None:
        out["prompt_eval_count"] = response.usage.prompt_tokens
        out["eval_count"] = response.usage.completion_tokens
    return out


def encode_ndjson(chunks: Iterable[StreamingResponse], model: str) -> Iterator[bytes]:
    """``encode_stream`` as NDJSON bytes, one ``{...}\\n`` line per chunk."""
    for chunk in encode_stream(iter(chunks), model):
        yield json_body(chunk.to_dict()) + b"\n"


def encode_error(message: str, status: int, code: Optional[str] = None) -> Dict[str, Any]:
    """Ollama's error object: ``{"error": "<message>"}``."""
    return {"error": message}


def encode_error_event(message: str, status: int, code: Optional[str] = None) -> bytes:
    """An error inside a stream already under way: one ``{"error": ...}`` line (no ``done`` line follows)."""
    return json_body(encode_error(message, status, code)) + b"\n"


_DETAILS = {"parent_model": "", "format": "", "family": "", "families": None, "parameter_size": "",
            "quantization_level": ""}


def encode_tags(ids: Iterable[str]) -> Dict[str, Any]:
    """``GET /api/tags`` for model ids served by another provider (no size or digest: none is known)."""
    return {"models": [{"name": i, "model": i, "modified_at": "1970-01-01T00:00:00Z", "size": 0, "digest": "",
                        "details": dict(_DETAILS)} for i in ids]}


def decode_show_request(data: Any) -> str:
    """The model a ``POST /api/show`` body names (``model``, or the older ``name``)."""
    from ._caller import body_object, fail, get

    body = body_object(data)
    name = get(body, "model", str) or get(body, "name", str)
    if not name:
        raise fail("model", "missing")
    return str(name)


def encode_show_response(name: str) -> Dict[str, Any]:
    """``POST /api/show`` for a model served by another provider: what is known is its name and that it chats
    and takes tools."""
    return {"modelfile": f"# {name}, served by llm_connector's gateway\n", "parameters": "", "template": "",
            "details": dict(_DETAILS), "model_info": {}, "capabilities": ["completion", "tools"],
            "modified_at": "1970-01-01T00:00:00Z"}


def encode_version_response() -> Dict[str, Any]:
    """``GET /api/version``."""
    return {"version": API_VERSION}
