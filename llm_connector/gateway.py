"""A gateway: any provider behind the OpenAI, Anthropic and Ollama APIs, as one WSGI application.

``make_app(client)`` returns a PEP 3333 application that answers the three APIs tools already speak, with the
provider behind ``client``::

    POST /v1/chat/completions   OpenAI (server-sent events or one JSON answer; tools, usage)
    GET  /v1/models             OpenAI's model list
    POST /v1/messages           Anthropic Messages (the whole message_start ... message_stop event sequence)
    POST /api/chat              Ollama (NDJSON or one JSON answer)
    GET  /api/tags, POST /api/show, GET /api/version
    GET  /healthz               ``ok``
    GET  /                      a small chat page that streams from ``/v1/chat/completions``

Each API's wire shapes live in its protocol module (``protocols/openai.py``, ``anthropic.py``, ``ollama.py``:
``decode_request``, ``encode_response``, ``encode_stream``, ``encode_error``); this module only routes, checks
the caller's key and the body size, maps errors to statuses, and plays the answers out. It keeps no state per
caller, so N processes behind any load balancer serve N times the load::

    gunicorn -k gthread -w 4 --threads 16 'llm_connector.gateway:app_from_env()'
    python -m llm_connector.gateway --provider anthropic --port 11434

A streamed answer is a generator whose ``close()`` closes the upstream stream, so a caller that hangs up frees
the upstream connection at once. An upstream error keeps its status (a 429 stays 429, with ``Retry-After``) and
goes back in the caller's API's error format; so does a body over the size limit (413), malformed JSON or a
request of the wrong shape (400).
"""

import argparse
import hmac
import json
import logging
import math
import os
import socketserver
import sys
import time
from types import ModuleType
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from ._version import __version__
from .client import LlmClient
from .errors import (
    SHAPE_ERRORS,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    LlmConnectorError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    StreamParseError,
    UnsupportedOperationError,
)
from .protocols import json_body, load

__all__ = ["Gateway", "make_app", "app_from_env", "make_server", "main", "DEFAULT_MAX_BODY_BYTES"]

log = logging.getLogger("llm_connector.gateway")

#: The largest request body accepted (413 above it): room for a few images inline.
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024

StartResponse = Callable[..., Any]
Headers = List[Tuple[str, str]]

_JSON = "application/json"
_STREAM_TYPES = {"openai": "text/event-stream", "anthropic": "text/event-stream", "ollama": "application/x-ndjson"}
_PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gateway.html")


class _HttpError(Exception):
    """An answer the gateway gives itself (bad body, bad key, unknown route), in the caller's API's format."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Reply:
    """Status, headers and body parts of one answer."""

    __slots__ = ("status", "headers", "parts", "on_close")

    def __init__(self, status: int, headers: Headers, parts: Iterable[bytes],
                 on_close: Optional[Callable[[], None]] = None) -> None:
        self.status = status
        self.headers = headers
        self.parts = parts
        self.on_close = on_close


class _Body:
    """A streamed answer's WSGI iterable: the server calls ``close()`` at the end, on an error, and when the
    caller hangs up; that closes the upstream stream and writes the request's log line."""

    def __init__(self, parts: Iterable[bytes], on_close: Callable[[], None], log_line: Callable[[], None]) -> None:
        self._iter = iter(parts)
        self._parts = parts
        self._on_close = on_close
        self._log_line = log_line
        self._closed = False

    def __iter__(self) -> "_Body":
        return self

    def __next__(self) -> bytes:
        return next(self._iter)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._parts, "close", None)
            if close is not None:
                close()
        finally:
            try:
                self._on_close()
            finally:
                self._log_line()


def _status_line(status: int) -> str:
    from http import HTTPStatus

    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


# Statuses for errors that carry none (an error inside a 200 stream), by class, most specific first.
_CLASS_STATUS: Tuple[Tuple[type, int], ...] = (
    (OverloadedError, 529), (RateLimitError, 429), (AuthenticationError, 401), (PermissionDeniedError, 403),
    (NotFoundError, 404), (BadRequestError, 400), (ServerError, 500), (APITimeoutError, 504),
    (APIConnectionError, 502), (StreamParseError, 502), (ConfigurationError, 400), (UnsupportedOperationError, 501),
)


def error_status(exc: LlmConnectorError) -> int:
    """The HTTP status a caller gets for ``exc``: the upstream's own status when it gave one, else by class."""
    if isinstance(exc, APIStatusError) and exc.status_code and 400 <= exc.status_code <= 599:
        return exc.status_code
    for cls, status in _CLASS_STATUS:
        if isinstance(exc, cls):
            return status
    return 502 if isinstance(exc, APIStatusError) else 500


def _retry_after(exc: LlmConnectorError) -> Headers:
    delay = getattr(exc, "retry_after", None)
    if delay is None:
        return []
    return [("Retry-After", str(max(0, int(math.ceil(delay)))))]


def _json_reply(status: int, obj: Any, extra: Sequence[Tuple[str, str]] = ()) -> _Reply:
    body = json_body(obj)
    headers = [("Content-Type", _JSON), ("Content-Length", str(len(body)))]
    headers.extend(extra)
    return _Reply(status, headers, [body])


def _bearer(environ: Dict[str, Any]) -> str:
    value = str(environ.get("HTTP_AUTHORIZATION") or "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


class Gateway:
    """The WSGI application (build it with ``make_app``). Thread-safe and stateless per caller."""

    def __init__(self, client: LlmClient, api_key: Optional[str] = None, models: Optional[Sequence[str]] = None,
                 max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        if not isinstance(client, LlmClient):
            raise ConfigurationError(f"make_app: expected an LlmClient, got {type(client).__name__}")
        self.client = client
        self.models = list(models) if models is not None else None
        self.max_body_bytes = max_body_bytes
        self._key = api_key.encode("utf-8") if api_key else None
        self._routes: Dict[Tuple[str, str], Tuple[str, Callable[[Dict[str, Any], str], _Reply]]] = {
            ("POST", "/v1/chat/completions"): ("openai", self._chat),
            ("GET", "/v1/models"): ("openai", self._openai_models),
            ("POST", "/v1/messages"): ("anthropic", self._chat),
            ("POST", "/api/chat"): ("ollama", self._chat),
            ("GET", "/api/tags"): ("ollama", self._ollama_tags),
            ("POST", "/api/show"): ("ollama", self._ollama_show),
            ("GET", "/api/version"): ("ollama", self._ollama_version),
            ("GET", "/healthz"): ("", self._health),
            ("GET", "/"): ("", self._page),
        }

    def __repr__(self) -> str:
        return f"Gateway(provider={self.client.provider_name!r}, key={'set' if self._key else 'none'})"

    # -- WSGI ------------------------------------------------------------------------------------------------

    def __call__(self, environ: Dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.monotonic()
        method = str(environ.get("REQUEST_METHOD") or "GET").upper()
        path = str(environ.get("PATH_INFO") or "/")
        api = _api_for_path(path)
        try:
            route = self._routes.get((method, path))
            if route is None:
                if any(p == path for _, p in self._routes):
                    raise _HttpError(405, f"{method} is not allowed on {path}")
                raise _HttpError(404, f"no route for {method} {path}")
            api, handler = route
            if api and not self._authorized(environ):
                raise _HttpError(401, "missing or wrong API key (send Authorization: Bearer <key> or x-api-key)")
            reply = handler(environ, api)
        except _HttpError as exc:
            reply = self._error_reply(api, exc.status, exc.message)
        except LlmConnectorError as exc:
            reply = self._error_reply(api, error_status(exc), str(exc), _retry_after(exc))
        status = reply.status

        def log_line() -> None:
            log.info("%s %s %d %.3fs provider=%s", method, path, status, time.monotonic() - started,
                     self.client.provider_name)

        start_response(_status_line(status), reply.headers)
        if reply.on_close is None:  # a whole answer: logged now, before the caller can have it
            log_line()
            return reply.parts
        return _Body(reply.parts, reply.on_close, log_line)  # a stream: logged when it ends

    def _authorized(self, environ: Dict[str, Any]) -> bool:
        if self._key is None:
            return True
        given = str(environ.get("HTTP_X_API_KEY") or "") or _bearer(environ)
        return hmac.compare_digest(given.encode("utf-8"), self._key)

    def _error_reply(self, api: str, status: int, message: str, extra: Sequence[Tuple[str, str]] = ()) -> _Reply:
        if not api:
            return _json_reply(status, {"error": message}, extra)
        return _json_reply(status, load(api).encode_error(message, status), extra)

    # -- reading the caller's body ---------------------------------------------------------------------------

    def _read_json(self, environ: Dict[str, Any]) -> Any:
        raw_length = str(environ.get("CONTENT_LENGTH") or "").strip()
        stream = environ["wsgi.input"]
        limit = self.max_body_bytes
        if raw_length:
            try:
                length = int(raw_length)
            except ValueError:
                raise _HttpError(400, f"Content-Length is not a number: {raw_length[:40]!r}") from None
            if length > limit:
                raise _HttpError(413, f"the request body is {length} bytes; this gateway takes at most {limit}")
            body = stream.read(length) if length > 0 else b""
        elif environ.get("wsgi.input_terminated"):  # a chunked body, de-chunked by the server
            body = stream.read(limit + 1)
            if len(body) > limit:
                raise _HttpError(413, f"the request body is over {limit} bytes, the most this gateway takes")
        else:
            body = b""
        if not body:
            raise _HttpError(400, "the request has no body (expected a JSON object)")
        try:
            return json.loads(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise _HttpError(400, "the request body is not UTF-8") from None
        except ValueError as exc:
            raise _HttpError(400, f"the request body is not valid JSON ({exc})") from None

    # -- routes ----------------------------------------------------------------------------------------------

    def _chat(self, environ: Dict[str, Any], api: str) -> _Reply:
        protocol = load(api)
        data = self._read_json(environ)
        try:
            request = protocol.decode_request(data)
        except SHAPE_ERRORS as exc:  # a shape the decoder's checks did not foresee: still the caller's 400
            raise _HttpError(400, f"the request body has an unexpected shape ({type(exc).__name__}: {exc})") \
                from None
        if not request.stream:
            return _json_reply(200, protocol.encode_response(self.client.chat(request)))
        stream = self.client.chat_stream(request)
        parts = _stream_parts(protocol, _encode_stream(api, protocol, stream, request, data))
        headers = [("Content-Type", _STREAM_TYPES[api]), ("Cache-Control", "no-cache"),
                   ("X-Accel-Buffering", "no")]
        return _Reply(200, headers, parts, stream.close)

    def _model_ids(self) -> List[str]:
        if self.models is not None:
            return list(self.models)
        try:
            return self.client.models()
        except UnsupportedOperationError:
            return []

    def _openai_models(self, environ: Dict[str, Any], api: str) -> _Reply:
        return _json_reply(200, load(api).encode_model_list(self._model_ids(), self.client.provider_name))

    def _ollama_tags(self, environ: Dict[str, Any], api: str) -> _Reply:
        return _json_reply(200, load(api).encode_tags(self._model_ids()))

    def _ollama_show(self, environ: Dict[str, Any], api: str) -> _Reply:
        protocol = load(api)
        return _json_reply(200, protocol.encode_show_response(protocol.decode_show_request(self._read_json(environ))))

    def _ollama_version(self, environ: Dict[str, Any], api: str) -> _Reply:
        return _json_reply(200, load(api).encode_version_response())

    def _health(self, environ: Dict[str, Any], api: str) -> _Reply:
        return _Reply(200, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "3")], [b"ok\n"])

    def _page(self, environ: Dict[str, Any], api: str) -> _Reply:
        with open(_PAGE, "rb") as f:
            body = f.read()
        return _Reply(200, [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
                            ("Cache-Control", "no-cache")], [body])


def _api_for_path(path: str) -> str:
    """Which API's error format an unrouted path gets."""
    if path.startswith("/api/"):
        return "ollama"
    if path.startswith("/v1/messages"):
        return "anthropic"
    return "openai" if path.startswith("/v1/") else ""


def _encode_stream(api: str, protocol: ModuleType, stream: Iterable[Any], request: Any, data: Any) -> Iterator[bytes]:
    """The stream's bytes in the API's framing (SSE for OpenAI and Anthropic, NDJSON for Ollama)."""
    if api == "openai":
        return protocol.encode_sse(stream, request.model, protocol.wants_usage(data))  # type: ignore[no-any-return]
    if api == "anthropic":
        return protocol.encode_sse(stream, request.model)  # type: ignore[no-any-return]
    return protocol.encode_ndjson(stream, request.model)  # type: ignore[no-any-return]


def _stream_parts(protocol: ModuleType, parts: Iterator[bytes]) -> Iterator[bytes]:
    """The encoded stream; an upstream error after the first byte becomes the API's in-stream error event."""
    try:
        yield from parts
    except LlmConnectorError as exc:
        log.warning("upstream error mid-stream: %s", exc)
        yield protocol.encode_error_event(str(exc), error_status(exc))


# -- building ---------------------------------------------------------------------------------------------


def make_app(client: LlmClient, api_key: Optional[str] = None, models: Optional[Sequence[str]] = None,
             max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> Gateway:
    """The WSGI application serving ``client``'s provider behind the OpenAI, Anthropic and Ollama APIs.

    ``api_key``: when set, callers must present it (``Authorization: Bearer <key>`` or ``x-api-key``; compared in
    constant time); the page and ``/healthz`` stay open. ``models``: the ids ``/v1/models`` and ``/api/tags`` list
    (default: the provider's own list, where it has one). ``max_body_bytes``: larger bodies get a 413.
    """
    return Gateway(client, api_key=api_key, models=models, max_body_bytes=max_body_bytes)


#: Environment variables ``app_from_env`` reads besides the provider's own.
ENV_PROVIDER = "LLM_CONNECTOR_PROVIDER"
ENV_GATEWAY_KEY = "LLM_CONNECTOR_GATEWAY_KEY"
ENV_MODELS = "LLM_CONNECTOR_GATEWAY_MODELS"
ENV_MAX_RETRIES = "LLM_CONNECTOR_GATEWAY_MAX_RETRIES"


def _max_retries(value: Optional[str]) -> int:
    """Retries of the gateway's own client: none unless asked. Callers retry themselves (their SDKs do, with
    the ``Retry-After`` passed on); retrying here as well would multiply the load on a rate-limited service."""
    if not value:
        return 0
    try:
        return max(0, int(value))
    except ValueError:
        raise ConfigurationError(f"{ENV_MAX_RETRIES}: expected a whole number, got {value[:20]!r}") from None


def _client_from_env(name: Optional[str], **options: Any) -> LlmClient:
    if name == "mock":  # offline: no HTTP options
        options.pop("max_retries", None)
    return LlmClient.from_env(name, **options)


def app_from_env(provider: Optional[str] = None) -> Gateway:
    """``make_app`` for ``LlmClient.from_env(provider)``: the provider is ``provider``, else
    ``$LLM_CONNECTOR_PROVIDER``, else the first whose key is set; its key and base URL come from its usual
    variables. ``$LLM_CONNECTOR_GATEWAY_KEY`` is the key callers must present (none when unset);
    ``$LLM_CONNECTOR_GATEWAY_MODELS`` (comma-separated) the model ids to list; the client retries
    ``$LLM_CONNECTOR_GATEWAY_MAX_RETRIES`` times (default 0: an upstream 429 reaches the caller at once, with its
    ``Retry-After``, and the caller's own SDK decides)."""
    name = provider or os.environ.get(ENV_PROVIDER) or None
    models = [m.strip() for m in os.environ.get(ENV_MODELS, "").split(",") if m.strip()] or None
    client = _client_from_env(name, max_retries=_max_retries(os.environ.get(ENV_MAX_RETRIES)))
    return make_app(client, api_key=os.environ.get(ENV_GATEWAY_KEY) or None, models=models)


# -- serving with the standard library ------------------------------------------------------------------------


class _Handler(WSGIRequestHandler):
    """wsgiref's handler without its own access log (the gateway writes one line per request)."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


class ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    """wsgiref's server, one thread per connection (daemon threads: a hung caller never blocks exit)."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # socketserver's 5 resets connections under a burst of callers

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address[0], exc_info=True)


def make_server(app: Any, host: str = "127.0.0.1", port: int = 0) -> ThreadingServer:
    """A threaded standard-library HTTP server for ``app`` (``port=0``: a free port, see ``server_port``).
    Call ``serve_forever()`` on it; ``shutdown()`` from another thread stops it."""
    server = ThreadingServer((host, port), _Handler)
    server.set_app(app)
    return server


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m llm_connector.gateway`` / ``llm-connector-gateway``: serve a provider on a port."""
    parser = argparse.ArgumentParser(
        prog="llm-connector-gateway",
        description="Serve a provider behind the OpenAI, Anthropic and Ollama APIs (and a chat page at /).",
    )
    parser.add_argument("--provider", "-p", help=f"provider name (default: ${ENV_PROVIDER}, else the first key found)")
    parser.add_argument("--port", type=int, default=11434, help="port (default 11434, Ollama's)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--base-url", help="override the provider's base URL")
    parser.add_argument("--models", help="comma-separated model ids for /v1/models and /api/tags")
    parser.add_argument("--max-retries", help=f"retries of upstream calls (default ${ENV_MAX_RETRIES}, else 0)")
    parser.add_argument("--version", action="version", version=f"llm-connector {__version__}")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        options: Dict[str, Any] = {"base_url": args.base_url} if args.base_url else {}
        options["max_retries"] = _max_retries(args.max_retries or os.environ.get(ENV_MAX_RETRIES))
        name = args.provider or os.environ.get(ENV_PROVIDER) or None
        client = _client_from_env(name, **options)
        models = [m.strip() for m in (args.models or os.environ.get(ENV_MODELS, "")).split(",") if m.strip()]
        app = make_app(client, api_key=os.environ.get(ENV_GATEWAY_KEY) or None, models=models or None)
        server = make_server(app, args.host, args.port)
    except (LlmConnectorError, OSError) as exc:
        sys.stderr.write(f"llm-connector-gateway: {exc}\n")
        return 2
    url = f"http://{args.host}:{server.server_port}/"
    sys.stderr.write(f"llm-connector-gateway: serving {client.provider_name} on {url}\n")
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess
    sys.exit(main())
