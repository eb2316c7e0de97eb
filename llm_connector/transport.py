"""The one module that talks HTTP (with ``requests``): send, retry, time out, hand out body bytes.

- ``timeout`` is a connect timeout plus an idle timeout between bytes, never a cap on a whole stream;
  ``deadline`` (optional) caps one whole call including retries.
- Retries (``max_retries``) happen only before any byte of a body is handed to the caller.
- Redirects are followed here, and a redirect to another origin carries no credentials.
- Every foreign exception (requests, urllib3, http.client, socket, zlib) becomes one of ours, built from
  parts we control: requests' own texts carry URLs and header values.
- Body bytes are handed out as soon as they arrive, for chunked and close-delimited bodies alike.
"""

import http.client
import logging
import random
import socket
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple, Union
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests

from .auth import SECRET_HEADERS, Auth, NoAuth
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    ConfigurationError,
    IncompleteStreamError,
    LlmConnectorError,
    RateLimitError,
    StreamParseError,
    error_from_response,
)

__all__ = ["HttpRequest", "Transport", "TimeoutSpec", "DEFAULT_TIMEOUT", "close_response", "redact_url"]

logger = logging.getLogger("llm_connector")

#: (connect seconds, idle seconds between bytes). Reasoning models can think quietly for minutes.
DEFAULT_TIMEOUT: Tuple[float, float] = (10.0, 300.0)
TimeoutSpec = Union[None, float, Tuple[Optional[float], Optional[float]]]

_RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
_NO_RETRY_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "quota_exceeded"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_MAX_ERROR_BODY = 64 * 1024
_READ_SIZE = 65536
#: Longest wait between tries, whatever a service asks for.
MAX_RETRY_DELAY = 60.0


@dataclass
class HttpRequest:
    """One HTTP request as a protocol module encodes it. ``body`` holds the exact bytes sent (and signed)."""

    method: str
    url: str
    headers: Dict[str, str] = field(default_factory=dict)
    body: Optional[bytes] = None
    auth: Auth = field(default_factory=NoAuth)

    def __repr__(self) -> str:
        return "HttpRequest(%s %s)" % (self.method, redact_url(self.url))


def redact_url(url: str) -> str:
    """The URL with its query values hidden (keys such as ``key=`` can hide there) and no userinfo."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.netloc.rpartition("@")[2]
    query = "&".join(p.split("=", 1)[0] + "=..." if "=" in p else p for p in parts.query.split("&") if p)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _origin(url: str) -> Tuple[str, str, Optional[int]]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.scheme, (parts.hostname or "").lower(), parts.port or default)


class _KeepCallerAuth(requests.auth.AuthBase):
    """Passed as ``auth`` so that requests never builds auth from ``~/.netrc`` over the caller's key."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


_KEEP_AUTH = _KeepCallerAuth()


def _split_timeout(timeout: TimeoutSpec) -> Tuple[Optional[float], Optional[float]]:
    if timeout is None:
        return (None, None)
    if isinstance(timeout, (int, float)):
        return (float(timeout), float(timeout))
    try:
        connect, read = timeout
    except (TypeError, ValueError):
        raise ConfigurationError("timeout: expected seconds or a (connect, read) pair, got %r" % (timeout,)) from None
    return (connect, read)


def _make_session(pool_size: int) -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class Transport:
    """Sends ``HttpRequest`` objects for one client. Thread-safe: share one across threads."""

    def __init__(
        self,
        provider: str,
        *,
        timeout: TimeoutSpec = DEFAULT_TIMEOUT,
        proxy: Optional[str] = None,
        verify: Union[bool, str] = True,
        headers: Optional[Mapping[str, str]] = None,
        max_retries: int = 2,
        session: Optional[requests.Session] = None,
        deadline: Optional[float] = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_retries < 0:
            raise ConfigurationError("max_retries: must be 0 or more, got %r" % (max_retries,))
        self.provider = provider
        self.timeout = _split_timeout(timeout)
        self.proxies = {"http": proxy, "https": proxy} if proxy else None
        self.verify = verify
        self.headers: Dict[str, str] = dict(headers or {})
        self.max_retries = max_retries
        self.deadline = deadline
        self._own_session = session is None
        self.session = session if session is not None else _make_session(32)
        self._sleep = sleep

    def __repr__(self) -> str:
        return "Transport(provider=%r, timeout=%r, max_retries=%r)" % (self.provider, self.timeout, self.max_retries)

    def close(self) -> None:
        """Close the session if this transport made it."""
        if self._own_session:
            self.session.close()

    # -- sending --------------------------------------------------------------------------------------

    def send(self, request: HttpRequest, *, deadline: Optional[float] = None) -> requests.Response:
        """Send ``request`` and return the response with its body not yet read.

        Retries connection failures and retryable statuses with exponential backoff and jitter; raises the
        typed error for a failure status after the last try. ``deadline`` (seconds) overrides the transport's.
        """
        limit = deadline if deadline is not None else self.deadline
        ends_at = time.monotonic() + limit if limit is not None else None
        attempt = 0
        while True:
            try:
                response = self._send_once(request, ends_at)
            except (APIConnectionError, APIStatusError) as exc:
                delay = self._retry_delay(exc, attempt)
                if delay is None or (ends_at is not None and time.monotonic() + delay >= ends_at):
                    raise
                attempt += 1
                logger.debug("retry %d/%d in %.2fs after %s", attempt, self.max_retries, delay, type(exc).__name__)
                self._sleep(delay)
                continue
            return response

    def _retry_delay(self, exc: LlmConnectorError, attempt: int) -> Optional[float]:
        if attempt >= self.max_retries:
            return None
        if isinstance(exc, APITimeoutError) and exc.limit == "deadline":
            return None
        if isinstance(exc, APIStatusError):
            if exc.status_code not in _RETRY_STATUSES and not _is_overload(exc):
                return None
            if exc.code and exc.code.lower() in _NO_RETRY_CODES:
                return None
        elif not isinstance(exc, APIConnectionError) or isinstance(exc, IncompleteStreamError):
            return None
        backoff = min(0.5 * (2 ** attempt), 8.0) * (0.75 + random.random() * 0.5)
        asked = exc.retry_after if isinstance(exc, RateLimitError) else getattr(exc, "_retry_after", None)
        if asked is not None and asked >= 0:
            return min(max(asked, backoff if asked == 0 else asked), MAX_RETRY_DELAY)
        return backoff

    def _send_once(self, request: HttpRequest, ends_at: Optional[float]) -> requests.Response:
        method, url, body = request.method, request.url, request.body
        carry_credentials = True
        first_origin = _origin(url)
        for _ in range(_MAX_REDIRECTS + 1):
            headers = dict(self.headers)
            headers.update(request.headers)
            if carry_credentials:
                request.auth.apply(method, url, headers, body)
            else:
                headers = {k: v for k, v in headers.items() if k.lower() not in SECRET_HEADERS}
            response = self._request(method, url, headers, body, ends_at)
            if response.status_code in _REDIRECTS and response.headers.get("location"):
                location = urljoin(url, response.headers["location"])
                response.close()
                if _origin(location) != first_origin:
                    carry_credentials = False
                if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                    method, body = "GET", None
                url = location
                continue
            if response.status_code >= 400:
                raise self._status_error(response)
            return response
        raise APIConnectionError("too many redirects (more than %d)" % _MAX_REDIRECTS, provider=self.provider)

    def _request(
        self, method: str, url: str, headers: Dict[str, str], body: Optional[bytes], ends_at: Optional[float]
    ) -> requests.Response:
        connect, read = self.timeout
        if ends_at is not None:
            left = max(ends_at - time.monotonic(), 0.001)
            connect = min(connect, left) if connect is not None else left
            read = min(read, left) if read is not None else left
        started = time.monotonic()
        try:
            response = self.session.request(
                method,
                url,
                data=body,
                headers=headers,
                stream=True,
                timeout=(connect, read),
                proxies=self.proxies,
                verify=self.verify,
                allow_redirects=False,
                auth=_KEEP_AUTH,
            )
        except requests.exceptions.ConnectTimeout:
            raise self._timeout_error("connect", ends_at, "connecting to %s" % redact_url(url)) from None
        except requests.exceptions.ReadTimeout:
            raise self._timeout_error("read", ends_at, "waiting for the response to %s" % redact_url(url)) from None
        except requests.exceptions.InvalidURL:
            raise ConfigurationError("invalid URL: %s" % redact_url(url), provider=self.provider) from None
        except (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema):
            raise ConfigurationError(
                "URL needs http:// or https://: %s" % redact_url(url), provider=self.provider
            ) from None
        except requests.exceptions.SSLError:
            raise APIConnectionError(
                "TLS error talking to %s (certificate verification failed or TLS broke)" % _host(url),
                provider=self.provider,
            ) from None
        except requests.exceptions.ProxyError:
            raise APIConnectionError("the proxy refused or failed the connection to %s" % _host(url),
                                     provider=self.provider) from None
        except requests.exceptions.RequestException as exc:
            raise APIConnectionError(
                "could not reach %s (%s)" % (_host(url), _reason(exc)), provider=self.provider
            ) from None
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %d in %.0f ms", method, redact_url(url), response.status_code,
                (time.monotonic() - started) * 1000,
            )
        return response

    def _timeout_error(self, limit: str, ends_at: Optional[float], what: str) -> APITimeoutError:
        if ends_at is not None and time.monotonic() >= ends_at - 0.01:
            return APITimeoutError(
                "deadline of %.3gs for the call passed while %s" % (self.deadline or 0, what),
                limit="deadline", provider=self.provider,
            )
        connect, read = self.timeout
        seconds = connect if limit == "connect" else read
        return APITimeoutError(
            "%s timeout (%ss) while %s" % (limit, seconds, what), limit=limit, provider=self.provider
        )

    def _status_error(self, response: requests.Response) -> APIStatusError:
        try:
            body = b"".join(_read_body(response, self.provider, limit=_MAX_ERROR_BODY))
        except LlmConnectorError:
            body = b""
        finally:
            response.close()
        return error_from_response(response.status_code, body, response.headers, provider=self.provider)

    # -- reading --------------------------------------------------------------------------------------

    def read_all(self, response: requests.Response, *, deadline: Optional[float] = None) -> bytes:
        """The whole body (a non-streaming answer), then the response is closed."""
        try:
            return b"".join(self.iter_bytes(response, deadline=deadline))
        finally:
            response.close()

    def iter_bytes(self, response: requests.Response, *, deadline: Optional[float] = None) -> Iterator[bytes]:
        """Body bytes as they arrive (decompressed). Raises ``APITimeoutError`` when no byte came within the idle
        timeout, ``IncompleteStreamError`` when the connection broke mid-body."""
        return _read_body(response, self.provider, idle=self.timeout[1])


def _is_overload(exc: APIStatusError) -> bool:
    return (exc.code or "").lower() in ("overloaded_error", "overloaded", "server_overloaded")


def _host(url: str) -> str:
    try:
        parts = urlsplit(url)
        return "%s://%s" % (parts.scheme, parts.netloc.rpartition("@")[2])
    except ValueError:
        return "<invalid url>"


def _reason(exc: BaseException) -> str:
    """A short cause for a connection failure that carries no URL or header value."""
    seen = set()
    cur: Optional[BaseException] = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cur, ConnectionResetError):
            return "connection reset by peer"
        if isinstance(cur, socket.gaierror):
            return "name resolution failed"
        if isinstance(cur, (http.client.RemoteDisconnected, http.client.BadStatusLine)):
            return "the server closed the connection without answering"
        nxt = cur.__cause__ or cur.__context__
        if nxt is None and cur.args and isinstance(cur.args[0], BaseException):
            nxt = cur.args[0]
        if nxt is None:
            reason = getattr(cur, "reason", None)
            nxt = reason if isinstance(reason, BaseException) else None
        cur = nxt
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service" in text or "nodename" in text or "resolve" in text:
        return "name resolution failed"
    return type(exc).__name__


def _decoder_for(encoding: str, provider: str) -> Optional[Any]:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise StreamParseError("unsupported Content-Encoding %r in the response" % encoding, provider=provider)


def _read_body(
    response: requests.Response, provider: str, *, idle: Optional[float] = None, limit: Optional[int] = None
) -> Iterator[bytes]:
    """Yield the body's bytes as soon as the socket has them.

    Reads with ``read1`` on the underlying ``http.client.HTTPResponse``: it returns what has arrived (one read
    of the socket, at most one HTTP chunk) instead of waiting to fill a buffer, so a close-delimited body is
    not held back the way ``iter_content``/``iter_lines`` hold it.
    """
    raw = response.raw
    fp = getattr(raw, "_fp", None)
    if fp is None or not hasattr(fp, "read1"):  # pragma: no cover - exotic adapters
        fp = raw
    decoder = _decoder_for(response.headers.get("content-encoding", ""), provider)
    read1 = fp.read1
    total = 0
    try:
        while True:
            data = read1(_READ_SIZE)
            if not data:
                break
            total += len(data)
            if decoder is not None:
                data = decoder.decompress(data)
                if not data:
                    continue
            yield data
            if limit is not None and total >= limit:
                return
        remaining = getattr(fp, "length", None)
        if isinstance(remaining, int) and remaining > 0:
            raise IncompleteStreamError(
                "the connection closed %d bytes before the end of the body (Content-Length)" % remaining,
                provider=provider, status_code=response.status_code,
            )
        if decoder is not None:
            tail = decoder.flush()
            if not getattr(decoder, "eof", True):
                raise IncompleteStreamError("the compressed body was cut off", provider=provider,
                                            status_code=response.status_code)
            if tail:
                yield tail
    except (socket.timeout, TimeoutError):
        raise APITimeoutError(
            "read timeout: no data for %ss in the middle of the response body" % (idle,), limit="read",
            provider=provider, status_code=response.status_code,
        ) from None
    except http.client.IncompleteRead:
        raise IncompleteStreamError(
            "the connection closed in the middle of the body (HTTP framing cut off)", provider=provider,
            status_code=response.status_code,
        ) from None
    except zlib.error:
        raise StreamParseError("the compressed body is corrupt", provider=provider,
                               status_code=response.status_code) from None
    except (OSError, http.client.HTTPException, ValueError, AttributeError) as exc:
        # AttributeError/ValueError: http.client after the socket was closed under it (stream closed
        # from another thread).
        raise IncompleteStreamError(
            "the connection broke in the middle of the body (%s)" % _reason(exc), provider=provider,
            status_code=response.status_code,
        ) from None


def close_response(response: requests.Response) -> None:
    """Close a response and its connection now, also when another thread is blocked reading it.

    A half-read connection is never returned to the pool: the socket is shut down (which wakes a reader
    blocked in ``recv`` on another thread), then closed.
    """
    raw = response.raw
    conn = getattr(raw, "_connection", None)
    sock = getattr(conn, "sock", None)
    if sock is None:
        fp = getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None)
        sock = getattr(fp, "_sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    try:
        response.close()
    except Exception:  # noqa: BLE001 - closing must never raise
        pass
    if conn is not None:
        try:
            conn.close()
        except Exception:  # noqa: BLE001
            pass
