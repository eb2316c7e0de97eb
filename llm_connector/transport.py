"""The one module that talks HTTP (with ``requests``): send, retry, time out, hand out body bytes.

- ``timeout`` is a connect timeout plus an idle timeout between bytes, never a cap on a whole stream;
  ``deadline`` (optional) caps one whole call: every try, every wait between tries, and the body.
- Retries (``max_retries``) happen only before any byte of a body is handed to the caller, with exponential
  backoff and jitter, or the wait the service asked for (``Retry-After``, ``retry-after-ms``, a delay in the
  error body) when that is at most ``MAX_RETRY_DELAY``. Each try is authorised anew (a fresh signature).
- Redirects never move a request elsewhere: a redirect answering a POST, or sending a GET to another origin,
  is an ``APIStatusError`` naming the status and the target (no query); a GET follows same-origin redirects.
- Settings from the environment (proxy variables, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``) are
  read once per client, not on every call, with requests' rules; ``~/.netrc`` never (``_Environment``). A
  ``session`` the caller passes is used as configured: requests reads the environment on each of its calls.
  A client's own session has no settings to merge into a call, so its requests are prepared here
  (``_prepare``: the session's headers under the call's, its cookies) and sent with ``Session.send``.
- Every foreign exception (requests, urllib3, http.client, socket, zlib) becomes one of ours, built from
  parts we control: requests' own texts carry URLs and header values. Ours are raised outside the
  ``except`` block, so no foreign exception hangs on them as ``__context__`` either.
- Body bytes are handed out as soon as they arrive, for chunked and close-delimited bodies alike.
- A body read to its end gives its connection back to the pool; any other end closes the socket.
- Logs (``logging.getLogger("llm_connector")``): each retry at INFO (provider, attempt n of m, the wait, the
  status or failure, method and URL with query values hidden); each request at DEBUG (method, URL, status,
  time taken). Never a header value or a key.
"""

import functools
import http.client
import logging
import os
import random
import socket
import time
import zlib
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, Union
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
    StreamParseError,
    error_from_response,
    shorten,
)

__all__ = [
    "HttpRequest",
    "Transport",
    "TimeoutSpec",
    "DEFAULT_TIMEOUT",
    "MAX_RETRY_DELAY",
    "close_response",
    "release_after_end",
    "redact_url",
    "Response",
    "Session",
]

logger = logging.getLogger("llm_connector")

#: requests' types, named here so that no other module imports requests (``session=`` takes a ``Session``).
Session = requests.Session
Response = requests.Response

#: (connect seconds, idle seconds between bytes). Reasoning models can think quietly for minutes.
DEFAULT_TIMEOUT: Tuple[float, float] = (10.0, 300.0)
TimeoutSpec = Union[None, float, Tuple[Optional[float], Optional[float]]]

#: Longest wait between tries. A service asking for longer gets no retry: its error (with ``retry_after``)
#: goes to the caller at once, who knows better whether to wait that long.
MAX_RETRY_DELAY = 60.0

_RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
_OVERLOAD_CODES = frozenset({"overloaded_error", "overloaded", "server_overloaded", "engine_overloaded"})
#: Quota used up: waiting a second will not help.
_NO_RETRY_CODES = ("insufficient_quota", "billing_hard_limit_reached", "quota_exceeded")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
_MAX_ERROR_BODY = 64 * 1024
_READ_SIZE = 65536
_BACKOFF_FIRST = 0.5
_BACKOFF_MAX = 8.0
#: A timeout this close to the call's deadline is the deadline's doing.
_DEADLINE_SLACK = 0.05
#: Credential values shorter than this are not searched for in error texts (too likely to match by chance).
_MIN_SECRET = 6
_AUTH_SCHEMES = frozenset({"bearer", "basic", "aws4-hmac-sha256", "tc3-hmac-sha256"})
#: Attributes this module sets on a ``requests.Response``.
_BUDGET_ATTR = "_llm_connector_budget"
_COMPLETE_ATTR = "_llm_connector_complete"
_BODY_ATTR = "_llm_connector_body"


class HttpRequest:
    """One HTTP request as a protocol module encodes it. ``body`` holds the exact bytes sent (and signed)."""

    __slots__ = ("method", "url", "headers", "body", "auth")

    def __init__(self, method: str, url: str, headers: Optional[Dict[str, str]] = None, body: Optional[bytes] = None,
                 auth: Optional[Auth] = None) -> None:
        self.method = method
        self.url = url
        self.headers: Dict[str, str] = headers if headers is not None else {}
        self.body = body
        self.auth: Auth = auth if auth is not None else NoAuth()

    def __repr__(self) -> str:
        return f"HttpRequest({self.method} {redact_url(self.url)})"


def redact_url(url: str) -> str:
    """The URL with its query values hidden (keys such as ``key=`` can hide there) and no userinfo.

    >>> redact_url("https://user:pw@example.com/v1/models?key=abc&alt=sse")
    'https://example.com/v1/models?key=...&alt=...'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.netloc.rpartition("@")[2]
    query = "&".join(p.split("=", 1)[0] + "=..." if "=" in p else p for p in parts.query.split("&") if p)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _origin(url: str) -> Tuple[str, str, Optional[int]]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return ("", "", None)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.scheme, (parts.hostname or "").lower(), port or default)


def _without_query(url: str) -> str:
    """``url`` without its query, fragment and user info (they may carry secrets)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "an unreadable URL"
    if ":" in host:
        host = f"[{host}]"
    return urlunsplit((parts.scheme, host + port, parts.path, "", ""))


def _host(url: str) -> str:
    try:
        parts = urlsplit(url)
        return "{}://{}".format(parts.scheme, parts.netloc.rpartition("@")[2])
    except ValueError:
        return "<invalid url>"


class _KeepCallerAuth(requests.auth.AuthBase):
    """Passed as ``auth`` so that requests never builds auth from ``~/.netrc`` or the URL's userinfo over
    the caller's key."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


_KEEP_AUTH = _KeepCallerAuth()


def _split_timeout(timeout: TimeoutSpec) -> Tuple[Optional[float], Optional[float]]:
    """``timeout`` as (connect, idle): a number sets both, a pair sets each; anything else names the value given."""
    if timeout is None:
        return (None, None)
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        return (_seconds(timeout, "timeout"), _seconds(timeout, "timeout"))
    if not isinstance(timeout, (tuple, list)) or len(timeout) != 2:  # a string is not a pair: "10" is no (1, 0)
        raise ConfigurationError(
            f"timeout: expected seconds (a number) or a (connect, read) pair of numbers, got {timeout!r}")
    connect, read = timeout
    try:
        return (_seconds(connect, "timeout"), _seconds(read, "timeout"))
    except ConfigurationError:
        raise ConfigurationError(
            f"timeout: expected seconds (a number) or a (connect, read) pair of numbers, got {timeout!r}") from None


def _seconds(value: Any, name: str) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(f"{name}: expected a positive number of seconds or None, got {value!r}")
    return float(value)


def _prepare(session: requests.Session, method: str, url: str, headers: Mapping[str, str],
             body: Optional[bytes]) -> requests.PreparedRequest:
    """The request ``session.request`` would prepare for a session of our own (no auth, params or hooks of its
    own, ``trust_env`` off), without the merging of settings that no such session has: the session's headers
    under the call's, its cookies if it holds any, the body as given. No auth is ever taken from the URL."""
    prepared = requests.PreparedRequest()
    prepared.prepare_method(method)
    prepared.prepare_url(url, None)
    merged = requests.structures.CaseInsensitiveDict(session.headers)
    merged.update(headers)
    prepared.prepare_headers(merged)
    if session.cookies:
        prepared.prepare_cookies(session.cookies)
    else:
        prepared._cookies = session.cookies  # type: ignore[attr-defined]  # what prepare_cookies keeps
    prepared.prepare_body(body, None)
    prepared.prepare_hooks(session.hooks)
    return prepared


def _make_session(pool_size: int) -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _Environment:
    """The settings requests takes from the environment, read once per client instead of on every call.

    With ``trust_env`` (its default) a ``requests.Session`` looks up the proxy variables (``HTTP_PROXY``,
    ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, any case) and the CA bundle (``REQUESTS_CA_BUNDLE``,
    ``CURL_CA_BUNDLE``) for every request: about a tenth of a millisecond each time. A transport that makes its
    own session turns ``trust_env`` off and gives requests the same settings from here: the CA bundle read when
    the client is built, the proxies for a host read on the client's first request to it (``NO_PROXY`` decides
    by host), with requests' own functions, so the rules are requests' rules. ``.netrc`` is never read (an API
    key is never replaced by, or mixed with, a netrc login). A variable changed afterwards is seen by a new
    client.
    """

    __slots__ = ("_proxies", "verify", "_by_origin")

    #: Hosts whose proxy settings are kept; past this the cache starts again (a client talks to a few hosts).
    MAX_HOSTS = 64

    def __init__(self, proxies: Optional[Dict[str, str]], verify: Union[bool, str]) -> None:
        self._proxies = proxies
        if verify is True:
            verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.verify = verify
        self._by_origin: Dict[str, Dict[str, str]] = {}

    def proxies_for(self, url: str) -> Dict[str, str]:
        """The proxies requests would use for ``url``: the client's ``proxy`` first, then the environment's."""
        cut = url.find("/", url.find("//") + 2)
        origin = url if cut < 0 else url[:cut]
        found = self._by_origin.get(origin)
        if found is None:
            found = dict(self._proxies or {})
            for scheme, proxy in requests.utils.get_environ_proxies(url, no_proxy=None).items():
                found.setdefault(scheme, proxy)
            if len(self._by_origin) >= self.MAX_HOSTS:
                self._by_origin.clear()
            self._by_origin[origin] = found
        return found


class _Budget:
    """The time one call may take (``deadline``): ``seconds`` in all, up to ``ends_at`` (monotonic)."""

    __slots__ = ("seconds", "ends_at")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends_at = time.monotonic() + seconds

    def left(self) -> float:
        return self.ends_at - time.monotonic()

    def error(self, provider: str, what: str, status_code: Optional[int] = None) -> APITimeoutError:
        return APITimeoutError(
            f"deadline of {self.seconds:g}s for the call passed while {what}",
            limit="deadline", provider=provider, status_code=status_code,
        )


class Transport:
    """Sends ``HttpRequest`` objects for one client. Thread-safe: share one across threads.

    ``timeout``: seconds, or a ``(connect, idle)`` pair (None: no limit). ``deadline``: seconds for one whole
    call, or None. ``sleep`` waits between tries (tests pass their own).
    """

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
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigurationError(f"max_retries: must be a whole number, 0 or more, got {max_retries!r}")
        self.provider = provider
        self.timeout = _split_timeout(timeout)
        self.proxies = {"http": proxy, "https": proxy} if proxy else None
        self.verify = verify
        self.headers: Dict[str, str] = {"Accept-Encoding": "gzip, deflate"}  # only what _read_body decodes
        self.headers.update(headers or {})
        self.max_retries = max_retries
        self.deadline = _seconds(deadline, "deadline")
        self._own_session = session is None
        self.session = session if session is not None else _make_session(32)
        self._sleep = sleep
        self._environment: Optional[_Environment] = None
        if self._own_session:
            # requests reads the environment on every call; ours is read once (see _Environment).
            self.session.trust_env = False
            self._environment = _Environment(self.proxies, verify)

    def __repr__(self) -> str:
        return f"Transport(provider={self.provider!r}, timeout={self.timeout!r}, max_retries={self.max_retries!r})"

    def close(self) -> None:
        """Close the session if this transport made it."""
        if self._own_session:
            self.session.close()

    # -- sending --------------------------------------------------------------------------------------

    def send(self, request: HttpRequest, *, deadline: Optional[float] = None) -> requests.Response:
        """Send ``request`` and return the response with its body not yet read.

        Retries connection failures and retryable statuses (see the module docstring); raises the typed
        error after the last try. ``deadline`` (seconds) overrides the transport's for this call and also
        bounds the reading of the body through ``iter_bytes``/``read_all``.
        """
        budget = self._budget(deadline)
        attempt = 0
        while True:
            try:
                response = self._send_once(request, budget)
            except (APIConnectionError, APIStatusError) as exc:
                delay = self._retry_delay(exc, attempt, budget)
                if delay is None:
                    raise
                attempt += 1
                logger.info("%s: retry %d of %d in %.1fs after %s (%s %s)", self.provider, attempt,
                            self.max_retries, delay, _retry_cause(exc), request.method, redact_url(request.url),
                            extra={"attempt": attempt, "max_retries": self.max_retries, "delay": delay,
                                   "status_code": getattr(exc, "status_code", None)})
                self._sleep(delay)
                continue
            setattr(response, _BUDGET_ATTR, budget)
            return response

    def _budget(self, deadline: Optional[float]) -> Optional[_Budget]:
        seconds = _seconds(deadline, "deadline") if deadline is not None else self.deadline
        return _Budget(seconds) if seconds is not None else None

    def _retry_delay(self, exc: LlmConnectorError, attempt: int, budget: Optional[_Budget]) -> Optional[float]:
        """Seconds to wait before the next try, or None when there is none."""
        if attempt >= self.max_retries or not _retryable(exc):
            return None
        asked = exc.retry_after if isinstance(exc, APIStatusError) else None
        if asked is None:
            delay = min(_BACKOFF_FIRST * (2.0 ** attempt), _BACKOFF_MAX) * (0.75 + random.random() * 0.5)
        elif asked > MAX_RETRY_DELAY:
            return None
        else:
            delay = asked
        if budget is not None and delay >= budget.left():
            return None
        return delay

    def _send_once(self, request: HttpRequest, budget: Optional[_Budget]) -> requests.Response:
        method, url, body = request.method, request.url, request.body
        first_origin = _origin(url)
        for _ in range(_MAX_REDIRECTS + 1):
            headers = dict(self.headers)
            headers.update(request.headers)
            request.auth.apply(method, url, headers, body)
            response = self._request(method, url, headers, body, budget)
            location = response.headers.get("location") if response.status_code in _REDIRECTS else None
            if location:
                close_response(response)
                target = urljoin(url, location)
                if method != "GET" or _origin(target) != first_origin:
                    # Never move a body or credentials elsewhere, nor turn a POST into a GET in silence.
                    raise self._redirect_error(method, response.status_code, target)
                url = target
                continue
            if response.status_code >= 400:
                raise self._status_error(response, headers, budget)
            return response
        raise APIConnectionError(f"too many redirects (more than {_MAX_REDIRECTS})", provider=self.provider)

    def _redirect_error(self, method: str, status: int, target: str) -> APIStatusError:
        where = _without_query(target)
        what = "a redirect" if method != "GET" else "a redirect to another origin"
        return APIStatusError(
            f"the service answered {method} with {what} (HTTP {status} to {where}), which is not followed: "
            "the request and its credentials go nowhere else. If that is the service's new address, set "
            "base_url to it", provider=self.provider, status_code=status)

    def _request(
        self, method: str, url: str, headers: Dict[str, str], body: Optional[bytes], budget: Optional[_Budget]
    ) -> requests.Response:
        connect, read = self.timeout
        if budget is not None:
            left = budget.left()
            if left <= 0:
                raise budget.error(self.provider, "waiting to send the request")
            connect = left if connect is None or left < connect else connect
            read = left if read is None or left < read else read
        environment = self._environment
        started = time.monotonic()
        error: Optional[LlmConnectorError] = None
        try:
            if environment is None:  # the caller's session: requests' whole way, its settings merged in
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
            else:
                response = self.session.send(
                    _prepare(self.session, method, url, headers, body),
                    stream=True,
                    timeout=(connect, read),
                    proxies=environment.proxies_for(url),
                    verify=environment.verify,
                    cert=None,
                    allow_redirects=False,
                )
        except Exception as exc:  # noqa: BLE001 - the boundary: every foreign exception becomes one of ours
            error = self._send_error(exc, url, headers, budget)
        if error is not None:  # raised here, outside the except block: no foreign __context__
            logger.debug("%s %s failed after %.0f ms: %s", method, redact_url(url),
                         (time.monotonic() - started) * 1000, _summary(error))
            raise error
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("%s %s -> %d in %.0f ms", method, redact_url(url), response.status_code,
                         (time.monotonic() - started) * 1000)
        return response

    def _send_error(
        self, exc: Exception, url: str, headers: Mapping[str, str], budget: Optional[_Budget]
    ) -> LlmConnectorError:
        """Our error for a failure of ``session.request``, built from parts we control."""
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return self._timeout_error("connect", budget, f"connecting to {_host(url)}")
        if isinstance(exc, requests.exceptions.ReadTimeout):
            return self._timeout_error("read", budget, f"waiting for the response from {_host(url)}")
        if isinstance(exc, (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                            requests.exceptions.URLRequired)):
            return ConfigurationError(f"base_url: needs http:// or https://, got {redact_url(url)}",
                                      provider=self.provider)
        if isinstance(exc, requests.exceptions.InvalidURL):
            return ConfigurationError(f"base_url: not a valid URL: {redact_url(url)}", provider=self.provider)
        bad = _bad_header(headers)
        if bad is not None:
            return ConfigurationError(
                f"header {bad}: its value cannot be sent (a line break, a leading space, or a character outside "
                "Latin-1; check the API key for stray characters)", provider=self.provider,
            )
        if isinstance(exc, requests.exceptions.SSLError):
            return APIConnectionError(
                f"TLS error talking to {_host(url)} (certificate verification failed or TLS broke)",
                provider=self.provider,
            )
        if isinstance(exc, requests.exceptions.ProxyError):
            return APIConnectionError(f"the proxy refused or failed the connection to {_host(url)}",
                                      provider=self.provider)
        return APIConnectionError(f"no answer from {_host(url)} ({_reason(exc)})", provider=self.provider)

    def _timeout_error(self, limit: str, budget: Optional[_Budget], what: str) -> APITimeoutError:
        if budget is not None and budget.left() < _DEADLINE_SLACK:
            return budget.error(self.provider, what)
        seconds = self.timeout[0] if limit == "connect" else self.timeout[1]
        return APITimeoutError(f"{limit} timeout ({seconds or 0:g}s) while {what}", limit=limit,
                               provider=self.provider)

    def _status_error(
        self, response: requests.Response, headers: Mapping[str, str], budget: Optional[_Budget]
    ) -> APIStatusError:
        pieces: List[bytes] = []
        size = 0
        try:
            for data in _read_body(response, self.provider, self.timeout[1], budget):
                pieces.append(data)
                size += len(data)
                if size >= _MAX_ERROR_BODY:
                    break
        except LlmConnectorError:
            pass  # the status says enough; keep what arrived
        finally:
            close_response(response)
        error = error_from_response(response.status_code, b"".join(pieces), response.headers,
                                    provider=self.provider)
        _scrub(error, _secret_values(headers))
        return error

    # -- reading --------------------------------------------------------------------------------------

    def read_all(self, response: requests.Response, *, deadline: Optional[float] = None) -> bytes:
        """The whole body (a non-streaming answer); then the connection goes back to the pool, or is closed
        when the body did not arrive whole."""
        try:
            return b"".join(self.iter_bytes(response, deadline=deadline))
        finally:
            close_response(response)

    def iter_bytes(self, response: requests.Response, *, deadline: Optional[float] = None) -> Iterator[bytes]:
        """Body bytes as they arrive (decompressed).

        Raises ``APITimeoutError`` when no byte came within the idle timeout (``limit="read"``) or the call's
        deadline passed (``limit="deadline"``; the deadline that ``send`` started counts, else ``deadline``
        from now), ``IncompleteStreamError`` when the connection broke or closed mid-body.
        """
        budget: Optional[_Budget] = getattr(response, _BUDGET_ATTR, None)
        if budget is None:
            budget = self._budget(deadline)
        return _read_body(response, self.provider, self.timeout[1], budget)


def _retryable(exc: LlmConnectorError) -> bool:
    if isinstance(exc, APIStatusError):
        if exc.status_code not in _RETRY_STATUSES and (exc.code or "").lower() not in _OVERLOAD_CODES:
            return False
        found = ((exc.code or "") + " " + (exc.body or "")).lower()
        return not any(code in found for code in _NO_RETRY_CODES)
    if isinstance(exc, APITimeoutError):
        return exc.limit != "deadline"
    return isinstance(exc, APIConnectionError) and not isinstance(exc, IncompleteStreamError)


def _retry_cause(exc: LlmConnectorError) -> str:
    """What a retry answers, for the log: the status, or the kind of connection failure."""
    status = getattr(exc, "status_code", None)
    if status:
        return f"HTTP {status} ({type(exc).__name__}: {shorten(str(exc), 120)})"
    return f"{type(exc).__name__}: {shorten(str(exc), 120)}"


def _summary(exc: LlmConnectorError) -> str:
    return f"{type(exc).__name__}: {exc}"


def _reason(exc: BaseException) -> str:
    """A short cause for a connection failure that carries no URL or header value."""
    seen = set()
    cur: Optional[BaseException] = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, http.client.RemoteDisconnected):  # before ConnectionResetError, its base
            return "the server closed the connection without answering"
        if isinstance(cur, http.client.BadStatusLine):
            return "the answer is not HTTP"
        if isinstance(cur, (http.client.LineTooLong, http.client.HTTPException)):
            return "the answer's HTTP head is malformed"
        if isinstance(cur, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cur, ConnectionResetError):
            return "connection reset by peer"
        if isinstance(cur, socket.gaierror):
            return "name resolution failed"
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


def _bad_header(headers: Mapping[str, str]) -> Optional[str]:
    """The name of the first header whose value HTTP cannot carry, or None."""
    for name, value in headers.items():
        if not isinstance(value, (str, bytes)):
            return name
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        if text[:1].isspace() or "\r" in text or "\n" in text or "\x00" in text:
            return name
        try:
            text.encode("latin-1")
        except UnicodeEncodeError:
            return name
    return None


def _secret_values(headers: Mapping[str, str]) -> List[str]:
    """The credential values a request carried (whole header values and the token after ``Bearer``)."""
    found: List[str] = []
    for name, value in headers.items():
        if name.lower() in SECRET_HEADERS and isinstance(value, str):
            found.append(value)
            for piece in value.replace(",", " ").split():
                found.append(piece.split("=", 1)[-1])
    return sorted({s for s in found if len(s) >= _MIN_SECRET and s.lower() not in _AUTH_SCHEMES},
                  key=len, reverse=True)


def _scrub(error: LlmConnectorError, secrets: List[str]) -> None:
    """Hide any credential the service echoed back in its error text."""
    if not secrets:
        return
    for attr in ("message", "body"):
        text = getattr(error, attr)
        if text:
            for secret in secrets:
                text = text.replace(secret, "<hidden>")
            setattr(error, attr, text)
    error.args = (error.message,)


class _Deflate:
    """``Content-Encoding: deflate``: zlib-wrapped as the standard says, or raw deflate as some servers send."""

    def __init__(self) -> None:
        self._inner: Any = zlib.decompressobj()
        self._first = True

    @property
    def eof(self) -> bool:
        return bool(self._inner.eof)

    def decompress(self, data: bytes) -> bytes:
        if not self._first:
            return bytes(self._inner.decompress(data))
        self._first = False
        try:
            return bytes(self._inner.decompress(data))
        except zlib.error:
            self._inner = zlib.decompressobj(-zlib.MAX_WBITS)
            return bytes(self._inner.decompress(data))

    def flush(self) -> bytes:
        return bytes(self._inner.flush())


def _decoder_for(encoding: str, provider: str) -> Optional[Any]:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return _Deflate()
    raise StreamParseError(f"the response uses Content-Encoding {encoding!r}, which this library does not decode",
                           provider=provider)


def _socket_of(response: requests.Response) -> Optional[socket.socket]:
    raw = response.raw
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is None:
        sock = getattr(getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


# -- chunked bodies, read in bulk ---------------------------------------------------------------------------

#: The states of a chunked body (RFC 9112, section 7.1).
_SIZE, _DATA, _DATA_END, _TRAILER, _END = range(5)
#: Longest chunk-size or trailer line kept while waiting for its end (as http.client's _MAXLINE).
_MAX_FRAMING_LINE = 65536
#: Chunk-size lines seen (with their CR), looked up instead of parsed: ``b"1a\r" -> 26``. Filled as sizes are
#: parsed, up to ``_MAX_SIZES`` of them (events come in a few hundred sizes).
_SIZES: Dict[bytes, int] = {}
_MAX_SIZES = 4096


class _MalformedChunk(Exception):
    """The chunked framing broke its grammar (a size that is not hex, bytes where CRLF belongs)."""


class _ChunkedBody:
    """A chunked body decoded in bulk: each ``read()`` is one read of what the socket has (up to 64 KB), its
    framing stripped at once, however many chunks it holds.

    http.client reads one chunk per call (its size line, then its data), so a stream of small chunks, one event
    each, paid one trip through the readers per event. Here the framing of a whole read is stripped in one pass
    and the data handed on together; a chunk cut by the read is handed on as far as it arrived, so nothing is
    held back waiting for more bytes. Chunk extensions (``;name=value``) and trailers are skipped; chunk sizes are
    read as http.client reads them.

    ``read()`` returns data bytes, possibly none (the read brought only framing); ``ended`` is True once the
    last chunk and its trailers are read. An EOF before that raises ``http.client.IncompleteRead``; broken framing
    raises ``_MalformedChunk``, after the data that came before it was handed on.
    """

    __slots__ = ("_read1", "_state", "_left", "_pending", "_broken", "ended")

    def __init__(self, read1: Callable[[int], bytes]) -> None:
        self._read1 = read1
        self._state = _SIZE
        self._left = 0  # data bytes still to come in the current chunk
        self._pending = b""  # the start of a framing line (or of a CRLF) cut by the previous read
        self._broken = ""  # what was wrong with the framing, raised at the next read
        self.ended = False

    def read(self) -> bytes:
        """One read of the socket (what is buffered first), unframed."""
        if self.ended:
            return b""
        if self._broken:
            raise _MalformedChunk(self._broken)
        data = self._read1(_READ_SIZE)
        if not data:
            if self._state == _TRAILER:  # as http.client: some servers close without the trailers' blank line
                self.ended = True
                return b""
            raise http.client.IncompleteRead(b"")
        if self._pending:
            data = self._pending + data
            self._pending = b""
        out = self._unframe(data)
        if not out and self._broken:
            raise _MalformedChunk(self._broken)
        return out

    def _unframe(self, data: bytes) -> bytes:
        out: List[Any] = []
        pos, end = 0, len(data)
        state, left = self._state, self._left
        view: Optional[memoryview] = None
        while pos < end:
            if state == _SIZE:
                # The hot path: whole chunks, a size line without extensions, data, CRLF. Anything else (a chunk
                # cut by the read, an extension, the last chunk, a bare LF) goes through the states below.
                view = view or memoryview(data)
                find, size_of, append = data.find, _SIZES.get, out.append
                while True:
                    nl = find(b"\n", pos)
                    if nl < 0:
                        break
                    size = size_of(data[pos:nl])
                    if size is None:
                        break
                    stop = nl + 1 + size
                    if data[stop:stop + 2] != b"\r\n":
                        break
                    append(view[nl + 1:stop])
                    pos = stop + 2
                if pos >= end:
                    break
            if state == _DATA:
                if end - pos <= left:
                    out.append(data if pos == 0 else (view or memoryview(data))[pos:])
                    left -= end - pos
                    pos = end
                    if not left:
                        state = _DATA_END
                    break
                if view is None:
                    view = memoryview(data)
                out.append(view[pos:pos + left])
                pos += left
                left = 0
                state = _DATA_END
            elif state == _DATA_END:  # the CRLF after a chunk's data (a bare LF is taken too)
                byte = data[pos]
                if byte == 10:
                    pos += 1
                elif byte != 13 or (pos + 1 < end and data[pos + 1] != 10):
                    self._broken = "no CRLF after a chunk's data"
                    break
                elif pos + 1 == end:
                    break  # the LF comes with the next read
                else:
                    pos += 2
                state = _SIZE
            elif state == _SIZE:  # chunk-size [ ";" chunk-ext ] CRLF
                nl = data.find(b"\n", pos)
                if nl < 0:
                    break
                line = data[pos:nl]
                semi = line.find(b";")
                try:
                    size = int(line[:semi] if semi >= 0 else line, 16)
                except ValueError:
                    size = -1
                if size < 0:
                    self._broken = "a chunk size that is not a hexadecimal number"
                    break
                if size and semi < 0 and line[-1:] == b"\r" and line[:-1].isalnum() and len(_SIZES) < _MAX_SIZES:
                    _SIZES[line] = size
                pos = nl + 1
                if size:
                    state, left = _DATA, size
                else:
                    state = _TRAILER
            else:  # _TRAILER: trailer fields, then a blank line
                nl = data.find(b"\n", pos)
                if nl < 0:
                    break
                blank = nl == pos or (nl == pos + 1 and data[pos] == 13)
                pos = nl + 1
                if blank:
                    state = _END
                    self.ended = True
                    break
        if pos < end and state != _END and not self._broken:
            pending = data[pos:]
            if len(pending) > _MAX_FRAMING_LINE:
                self._broken = "a chunk-size or trailer line longer than 64 KB"
            else:
                self._pending = pending
        self._state, self._left = state, left
        if not out:
            return b""
        return bytes(out[0]) if len(out) == 1 else b"".join(out)


def _chunked_body(fp: Any) -> Optional[_ChunkedBody]:
    """A bulk reader for ``fp`` (an ``http.client.HTTPResponse``) when its body is chunked and nothing of it has
    been read yet; None otherwise (the body is read with ``fp.read1``)."""
    if not isinstance(fp, http.client.HTTPResponse) or not fp.chunked or fp.chunk_left is not None:
        return None
    raw = fp.fp
    if raw is None or not hasattr(raw, "read1") or getattr(fp, "_method", None) == "HEAD":
        return None
    return _ChunkedBody(raw.read1)


def _read_body(
    response: requests.Response, provider: str, idle: Optional[float], budget: Optional[_Budget]
) -> Iterator[bytes]:
    """Yield the body's bytes as soon as the socket has them.

    Every read returns what has arrived (one read of the socket, up to 64 KB) instead of waiting to fill a
    buffer, so a close-delimited body is not held back the way ``iter_content``/``iter_lines`` hold it: a
    chunked body through ``_ChunkedBody`` (all the chunks a read brings, unframed at once), any other through
    ``read1`` on the underlying ``http.client.HTTPResponse``. With a ``budget`` (deadline), the socket waits at
    most the time left before each read.
    """
    status = response.status_code
    raw = response.raw
    fp = getattr(raw, "_fp", None)
    if fp is None or not hasattr(fp, "read1"):  # pragma: no cover - exotic adapters
        fp = raw
    decoder = _decoder_for(response.headers.get("content-encoding", ""), provider)
    body = _chunked_body(fp)
    if body is not None:
        setattr(response, _BODY_ATTR, body)  # release_after_end reads the rest of the body through it
        read = body.read
    else:
        read = functools.partial(fp.read1, _READ_SIZE)
    sock = _socket_of(response) if budget is not None else None
    try:
        while True:
            if budget is not None:
                left = budget.left()
                if left <= 0:
                    raise budget.error(provider, "reading the response body", status)
                if sock is not None:
                    sock.settimeout(left if idle is None or left < idle else idle)
            data = read()
            if not data:
                if body is None or body.ended:
                    break
                continue  # the read brought only framing
            if decoder is not None:
                data = decoder.decompress(data)
                if not data:
                    continue
            yield data
        remaining = getattr(fp, "length", None)
        if isinstance(remaining, int) and remaining > 0:
            raise IncompleteStreamError(
                f"the connection closed {remaining} bytes before the end of the body (Content-Length)",
                provider=provider, status_code=status,
            )
        if decoder is not None:
            tail = decoder.flush()
            if not decoder.eof:
                raise IncompleteStreamError("the compressed body was cut off", provider=provider,
                                            status_code=status)
            if tail:
                yield tail
        # http.client's read1 does not mark a Content-Length body finished when it ends (read() does); without
        # this the pooled connection would refuse its next request.
        close_fp = getattr(fp, "close", None)
        if close_fp is not None and fp is not raw:
            close_fp()
        setattr(response, _COMPLETE_ATTR, True)
    except (socket.timeout, TimeoutError):
        if budget is not None and budget.left() < _DEADLINE_SLACK:
            raise budget.error(provider, "reading the response body", status) from None
        raise APITimeoutError(
            "read timeout: no data for %gs in the middle of the response body" % (idle or 0), limit="read",
            provider=provider, status_code=status,
        ) from None
    except http.client.IncompleteRead:
        raise IncompleteStreamError(
            "the connection closed in the middle of the body (HTTP framing cut off)", provider=provider,
            status_code=status,
        ) from None
    except zlib.error:
        raise StreamParseError("the compressed body is corrupt", provider=provider, status_code=status) from None
    except _MalformedChunk as exc:
        raise IncompleteStreamError(
            f"the body's chunked framing is broken ({exc}); the rest of the body cannot be read", provider=provider,
            status_code=status,
        ) from None
    except (OSError, http.client.HTTPException, ValueError, AttributeError, TypeError) as exc:
        # AttributeError/ValueError/TypeError: http.client after the socket was closed under it (a stream
        # closed from another thread).
        raise IncompleteStreamError(
            f"the connection broke in the middle of the body ({_reason(exc)})", provider=provider,
            status_code=status,
        ) from None


def close_response(response: requests.Response) -> None:
    """Free a response's connection now, also when another thread is blocked reading it.

    A body read to its end gives the connection back to the pool. A half-read connection never goes back:
    the socket is shut down (which wakes a reader blocked in ``recv`` on another thread), then closed.
    """
    raw = response.raw
    if getattr(response, _COMPLETE_ATTR, False):
        try:
            raw.release_conn()
            return
        except Exception:  # noqa: BLE001 - fall through to a hard close
            pass
    sock = _socket_of(response)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    try:
        response.close()
    except Exception:  # noqa: BLE001 - closing must never raise
        pass
    conn = getattr(raw, "_connection", None)
    if conn is not None:
        try:
            conn.close()
        except Exception:  # noqa: BLE001
            pass


#: After a stream's end marker: how long to wait for the rest of the body (normally only the end of the chunked
#: framing), and how much of it to read, before giving up on reusing the connection.
_END_WAIT = 0.1
_END_BYTES = 65536


def release_after_end(response: requests.Response) -> None:
    """The stream reached its protocol's end marker: read what is left of the body for a moment, so the
    connection can go back to the pool (no new TCP and TLS handshake for the next call); when the rest does not
    come at once, close it as ``close_response`` does."""
    fp = getattr(response.raw, "_fp", None)
    sock = _socket_of(response)
    if fp is not None and sock is not None and hasattr(fp, "read1") and not getattr(fp, "will_close", True):
        body: Optional[_ChunkedBody] = getattr(response, _BODY_ATTR, None)
        read = body.read if body is not None else functools.partial(fp.read1, 8192)
        ends = time.monotonic() + _END_WAIT
        total = 0
        try:
            while total <= _END_BYTES:
                at_end = body is not None and body.ended
                if not at_end:
                    left = ends - time.monotonic()
                    if left <= 0:
                        break
                    sock.settimeout(left)
                    data = read()
                    total += len(data)
                    at_end = body.ended if body is not None else not data
                if at_end:
                    remaining = getattr(fp, "length", None)
                    if not (isinstance(remaining, int) and remaining > 0):
                        fp.close()  # as _read_body does: marks the http.client response finished
                        setattr(response, _COMPLETE_ATTR, True)
                    break
        except (OSError, http.client.HTTPException, ValueError, AttributeError, _MalformedChunk):
            pass
    close_response(response)
