"""A scripted local HTTP/1.1 server for tests: it writes the exact bytes a service writes.

Streaming bugs live in how bytes arrive, so every reply is a script of parts written to a real socket on
127.0.0.1, one ``sendall`` each: the status line and headers, then each part as it is listed (one HTTP chunk
per part under chunked framing), with :class:`Pause`, :class:`Reset` and :class:`Close` between them::

    >>> import urllib.request
    >>> with LocalServer() as server:
    ...     server.add(Reply.json({"ok": True}))
    ...     with urllib.request.urlopen(server.url + "/v1/ping?x=1") as response:
    ...         print(response.read().decode())
    {"ok":true}
    >>> server.requests[0].path, server.requests[0].query
    ('/v1/ping', {'x': ['1']})

A streamed reply that stalls, then breaks off mid-body::

    Reply(headers={"Content-Type": "text/event-stream"},
          parts=['data: {"n":1}\\n\\n', Pause(0.5), 'data: {"n":2}\\n\\n', Close()])

Each request takes the next reply queued with :meth:`LocalServer.add`, unless a persistent
:meth:`LocalServer.route` matches its method and path first. A reply can also be a function of the
:class:`RecordedRequest`. A request nothing was scripted for gets a 500 JSON error naming it. Only the
standard library is used, so the module serves users' own tests as well as this project's.
"""

import contextlib
import http
import json
import socket
import struct
import sys
import threading
import time
import urllib.parse
import zlib
from collections import deque
from typing import (
    Any,
    Callable,
    Deque,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    Union,
)

__all__ = ["Pause", "Reset", "Close", "Reply", "RecordedRequest", "LocalServer"]

_FRAMINGS = ("chunked", "length", "close")
_MAX_HEAD_BYTES = 64 * 1024
_RECV_BYTES = 64 * 1024
_STOP_BUDGET_SECONDS = 2.0
_CLIENT_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


class Pause:
    """Wait ``seconds`` between two parts, watching the socket meanwhile.

    If the client closes the connection during the pause, the request is marked
    :attr:`RecordedRequest.closed_by_client` and nothing more is written.
    """

    def __init__(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"Pause needs seconds >= 0, got {seconds!r}")
        self.seconds = float(seconds)

    def __repr__(self) -> str:
        return f"Pause({self.seconds!r})"


class Reset:
    """Abort the connection with a TCP RST at this point (``SO_LINGER`` on with a zero timeout, then close)."""

    def __repr__(self) -> str:
        return "Reset()"


class Close:
    """Close the connection cleanly (FIN) at this point, even mid-body or mid chunked framing."""

    def __repr__(self) -> str:
        return "Close()"


Part = Union[bytes, str, Pause, Reset, Close]
_Op = Union[bytes, Pause, Reset, Close]


class Reply:
    """One scripted HTTP response: status, headers, then ``parts`` written one ``sendall`` each.

    ``str`` parts are UTF-8 encoded; empty parts are skipped (an empty chunk would end a chunked body).
    ``framing`` says how the body is delimited:

    - ``"chunked"``: ``Transfer-Encoding: chunked``, each part one chunk, then ``0\\r\\n\\r\\n``;
    - ``"length"``: ``Content-Length`` is the total of all bytes parts, unless ``headers`` sets it
      (a larger value plus :class:`Close` makes a truncated body);
    - ``"close"``: ``Connection: close``, the body ends when the server closes the socket.

    A framing header the caller set is never added twice. With ``gzip=True`` each part is compressed and
    ``Z_SYNC_FLUSH``-ed, so it can be decoded as soon as it arrives; the gzip trailer is one more part at the
    end. Header lines are written in the order given, framing headers after them. The status line carries
    ``reason`` or the standard phrase (``"Unknown"`` for codes such as 529). A reply is encoded once and may
    be served any number of times.
    """

    def __init__(
        self,
        status: int = 200,
        headers: Optional[Mapping[str, str]] = None,
        parts: Sequence[Union[Part, Type[Reset], Type[Close]]] = (),
        framing: str = "chunked",
        gzip: bool = False,
        reason: Optional[str] = None,
    ) -> None:
        if framing not in _FRAMINGS:
            raise ValueError(f"framing must be one of {_FRAMINGS}, got {framing!r}")
        self.status = status
        self.headers: Dict[str, str] = dict(headers or {})
        self.parts: List[Part] = _normalize_parts(parts)
        self.framing = framing
        self.gzip = gzip
        self.reason = reason if reason is not None else _standard_reason(status)
        body = _body_ops(self.parts, gzip)
        self._head = _encode_head(self, _body_length(body))
        self._ops: List[_Op] = _frame_ops(body, framing)

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: Optional[Mapping[str, str]] = None) -> "Reply":
        """A ``Content-Length`` reply whose body is ``obj`` as compact JSON (``application/json``)."""
        merged = _merge_headers({"Content-Type": "application/json"}, headers)
        return cls(status, merged, [_compact_json(obj)], framing="length")

    @classmethod
    def sse(
        cls,
        *payloads: Union[str, Mapping[str, Any], Tuple[str, Any]],
        done: bool = False,
        framing: str = "chunked",
        headers: Optional[Mapping[str, str]] = None,
    ) -> "Reply":
        """A ``text/event-stream`` reply, one event per part.

        A mapping becomes ``data: <compact json>\\n\\n``; a string ``data: <string>\\n\\n`` as it is;
        ``(name, obj)`` becomes ``event: <name>\\ndata: <json>\\n\\n`` (a string ``obj`` is written as it is).
        ``done=True`` appends ``data: [DONE]\\n\\n``.
        """
        events = [_sse_event(payload) for payload in payloads]
        if done:
            events.append("data: [DONE]\n\n")
        merged = _merge_headers({"Content-Type": "text/event-stream"}, headers)
        return cls(200, merged, events, framing=framing)

    @classmethod
    def ndjson(
        cls,
        *objs: Mapping[str, Any],
        framing: str = "chunked",
        headers: Optional[Mapping[str, str]] = None,
    ) -> "Reply":
        """An ``application/x-ndjson`` reply, one ``<compact json>\\n`` line per part."""
        lines = [_compact_json(obj) + "\n" for obj in objs]
        merged = _merge_headers({"Content-Type": "application/x-ndjson"}, headers)
        return cls(200, merged, lines, framing=framing)

    @classmethod
    def redirect(cls, location: str, status: int = 307) -> "Reply":
        """A redirect to ``location`` with an empty body (``Content-Length: 0``)."""
        return cls(status, {"Location": location}, framing="length")

    def __repr__(self) -> str:
        return f"Reply({self.status}, framing={self.framing!r}, gzip={self.gzip!r}, parts={self.parts!r})"


def _normalize_parts(parts: Sequence[Union[Part, Type[Reset], Type[Close]]]) -> List[Part]:
    if isinstance(parts, (bytes, str)):
        parts = [parts]
    return [_normalize_part(part) for part in parts]


def _normalize_part(part: Union[Part, Type[Reset], Type[Close]]) -> Part:
    if part is Reset:
        return Reset()
    if part is Close:
        return Close()
    if isinstance(part, (bytes, str, Pause, Reset, Close)):
        return part
    raise TypeError(f"a Reply part is bytes, str, Pause, Reset or Close, got {part!r}")


def _standard_reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _compact_json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _sse_event(payload: Union[str, Mapping[str, Any], Tuple[str, Any]]) -> str:
    if isinstance(payload, tuple):
        name, obj = payload
        return f"event: {name}\ndata: {_data_text(obj)}\n\n"
    return f"data: {_data_text(payload)}\n\n"


def _data_text(obj: Any) -> str:
    return obj if isinstance(obj, str) else _compact_json(obj)


def _merge_headers(defaults: Mapping[str, str], headers: Optional[Mapping[str, str]]) -> Dict[str, str]:
    """``defaults`` the caller did not set (in any case), then the caller's ``headers``."""
    given = dict(headers or {})
    lowered = {name.lower() for name in given}
    merged = {name: value for name, value in defaults.items() if name.lower() not in lowered}
    merged.update(given)
    return merged


def _body_ops(parts: List[Part], gzip: bool) -> List[_Op]:
    """The parts as body bytes (encoded, compressed, empty ones dropped), controls kept in place."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS) if gzip else None
    ops: List[_Op] = []
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        if isinstance(data, bytes) and compressor is not None and data:
            data = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if not isinstance(data, bytes) or data:
            ops.append(data)
    if compressor is not None:
        ops.append(compressor.flush())
    return ops


def _body_length(body: List[_Op]) -> int:
    return sum(len(op) for op in body if isinstance(op, bytes))


def _frame_ops(body: List[_Op], framing: str) -> List[_Op]:
    if framing != "chunked":
        return body
    framed: List[_Op] = [b"%x\r\n%s\r\n" % (len(op), op) if isinstance(op, bytes) else op for op in body]
    framed.append(b"0\r\n\r\n")
    return framed


def _encode_head(reply: Reply, body_length: int) -> bytes:
    headers = _merge_headers(_framing_headers(reply, body_length), reply.headers)
    lines = [f"HTTP/1.1 {reply.status} {reply.reason}"]
    lines.extend(f"{name}: {value}" for name, value in _caller_first(headers, reply.headers))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _framing_headers(reply: Reply, body_length: int) -> Dict[str, str]:
    headers = {"Content-Encoding": "gzip"} if reply.gzip else {}
    if reply.framing == "chunked":
        headers["Transfer-Encoding"] = "chunked"
    elif reply.framing == "length":
        headers["Content-Length"] = str(body_length)
    else:
        headers["Connection"] = "close"
    return headers


def _caller_first(headers: Dict[str, str], given: Mapping[str, str]) -> List[Tuple[str, str]]:
    ordered = [(name, headers[name]) for name in given]
    ordered.extend((name, value) for name, value in headers.items() if name not in given)
    return ordered


class _Headers(Mapping[str, str]):
    """Request headers, looked up in any case; repeated headers are joined with ``", "``."""

    def __init__(self, pairs: Iterable[Tuple[str, str]]) -> None:
        self._store: Dict[str, Tuple[str, str]] = {}
        for name, value in pairs:
            previous = self._store.get(name.lower())
            if previous is not None:
                name, value = previous[0], previous[1] + ", " + value
            self._store[name.lower()] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._store[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._store.values())

    def __len__(self) -> int:
        return len(self._store)

    def __repr__(self) -> str:
        return f"Headers({dict(self._store.values())!r})"


class RecordedRequest:
    """One request as the server received it.

    ``target`` is the request target as sent (absolute when the server is used as a proxy); ``path`` is
    its path without the query; ``query`` maps each name to its values (blank values kept); ``headers``
    answers ``get`` in any case; ``body`` is the decoded body (a chunked request body is de-chunked).
    ``connection`` is the 1-based number of the TCP connection it came on. ``closed_by_client`` is set
    when the server sees the client close that connection: a write failed, a :class:`Pause` saw EOF, or
    the wait for the next request on a kept-alive connection read EOF.
    """

    def __init__(
        self,
        method: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        connection: int = 0,
    ) -> None:
        split = urllib.parse.urlsplit(target)
        self.method = method
        self.target = target
        self.path = split.path
        self.query: Dict[str, List[str]] = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        self.headers: Mapping[str, str] = headers
        self.body = body
        self.connection = connection
        self.closed_by_client = threading.Event()

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self) -> str:
        return f"RecordedRequest({self.method} {self.target}, {len(self.body)} body bytes)"


ReplySource = Union[Reply, Callable[[RecordedRequest], Reply]]


class _ClientGone(Exception):
    """The client closed the connection (EOF or reset) while the server was reading."""


class _BadRequest(Exception):
    """The bytes received are not an HTTP/1.1 request this server understands."""


class _Reader:
    """Buffered reads from one connection."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()

    def at_eof(self) -> bool:
        """Wait for the next byte; True when the client closed instead of sending one."""
        return not self._buffer and not self._fill()

    def read_until(self, separator: bytes, limit: int) -> bytes:
        while True:
            end = self._buffer.find(separator)
            if end >= 0:
                return self._take(end + len(separator))
            if len(self._buffer) > limit:
                raise _BadRequest(f"request head over {limit} bytes")
            self._fill_or_fail()

    def read_exact(self, count: int) -> bytes:
        while len(self._buffer) < count:
            self._fill_or_fail()
        return self._take(count)

    def _take(self, count: int) -> bytes:
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def _fill(self) -> bool:
        try:
            data = self._sock.recv(_RECV_BYTES)
        except _CLIENT_GONE:
            return False
        self._buffer += data
        return bool(data)

    def _fill_or_fail(self) -> None:
        if not self._fill():
            raise _ClientGone()


def _read_request(reader: _Reader, connection: int) -> Tuple[RecordedRequest, bool]:
    """The next request on a connection, and whether the client allows keeping the connection open."""
    head = reader.read_until(b"\r\n\r\n", _MAX_HEAD_BYTES).decode("latin-1")
    request_line, _, header_block = head[:-4].partition("\r\n")
    method, target, version = _parse_request_line(request_line)
    headers = _Headers(_parse_header_lines(header_block))
    body = _read_body(reader, headers)
    try:
        request = RecordedRequest(method, target, headers, body, connection)
    except ValueError as exc:  # a target urlsplit refuses, such as "http://[bad"
        raise _BadRequest(f"bad request target {target!r}: {exc}") from None
    return request, _client_keeps_alive(version, headers)


def _parse_request_line(line: str) -> Tuple[str, str, str]:
    pieces = line.split(" ")
    if len(pieces) != 3 or not pieces[2].startswith("HTTP/"):
        raise _BadRequest(f"bad request line {line!r}")
    return pieces[0], pieces[1], pieces[2]


def _parse_header_lines(block: str) -> List[Tuple[str, str]]:
    pairs = []
    for line in block.split("\r\n") if block else []:
        name, colon, value = line.partition(":")
        if not colon:
            raise _BadRequest(f"bad header line {line!r}")
        pairs.append((name.strip(), value.strip()))
    return pairs


def _read_body(reader: _Reader, headers: Mapping[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return _read_chunked_body(reader)
    length = headers.get("content-length", "0").strip()
    if not length.isdigit():
        raise _BadRequest(f"bad Content-Length {length!r}")
    return reader.read_exact(int(length))


def _read_chunked_body(reader: _Reader) -> bytes:
    pieces = []
    while True:
        size_line = reader.read_until(b"\r\n", _MAX_HEAD_BYTES)
        try:
            size = int(size_line.split(b";")[0].strip(), 16)
        except ValueError:
            raise _BadRequest(f"bad chunk size line {size_line!r}") from None
        if size == 0:
            break
        pieces.append(reader.read_exact(size))
        reader.read_exact(2)
    while reader.read_until(b"\r\n", _MAX_HEAD_BYTES) != b"\r\n":
        pass  # trailer fields are read and dropped
    return b"".join(pieces)


def _client_keeps_alive(version: str, headers: Mapping[str, str]) -> bool:
    tokens = {token.strip().lower() for token in headers.get("connection", "").split(",")}
    if version == "HTTP/1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


def _error_reply(status: int, message: str) -> Reply:
    return Reply.json({"error": {"message": "llm_connector.testing: " + message}}, status=status)


def _reset(sock: socket.socket) -> None:
    linger = struct.pack("HH" if sys.platform == "win32" else "ii", 1, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
    sock.close()


def _close_gracefully(sock: socket.socket) -> None:
    """Send FIN, drop whatever the client sent unread (so close does not turn into a RST), close."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.setblocking(False)
        while sock.recv(_RECV_BYTES):
            pass
    except OSError:
        pass
    sock.close()


class LocalServer:
    """A threaded HTTP/1.1 server on a free port that answers with scripted :class:`Reply` objects.

    It serves from construction until :meth:`close` (also the end of a ``with`` block). ``host="localhost"``
    binds 127.0.0.1 but puts ``localhost`` in :attr:`url`, so two servers count as two hosts.
    :attr:`requests` lists every request in arrival order; :attr:`connections` counts TCP connections.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        bind_host = "127.0.0.1" if host == "localhost" else host
        family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.bind((bind_host, 0))
        self._listener.listen(128)
        self._address: Tuple[str, int] = (bind_host, self._listener.getsockname()[1])
        url_host = f"[{host}]" if family == socket.AF_INET6 else host
        self.url = f"http://{url_host}:{self._address[1]}"
        self.requests: List[RecordedRequest] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._queue: Deque[ReplySource] = deque()
        self._routes: Dict[Tuple[str, str], ReplySource] = {}
        self._connections = 0
        self._active: Dict[socket.socket, threading.Thread] = {}
        self._stopping = threading.Event()
        self._acceptor = threading.Thread(target=self._accept_loop, name="llm_connector.testing-accept")
        self._acceptor.daemon = True
        self._acceptor.start()

    @property
    def connections(self) -> int:
        """How many TCP connections the server has accepted so far."""
        with self._lock:
            return self._connections

    def add(self, reply: ReplySource) -> None:
        """Queue ``reply`` (or a function of the request returning one) for the next unrouted request."""
        with self._lock:
            self._queue.append(reply)

    def route(self, method: str, path: str, reply: ReplySource) -> None:
        """Answer every ``method`` request for ``path`` (query ignored) with ``reply``, before the queue."""
        with self._lock:
            self._routes[(method.upper(), path)] = reply

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> None:
        """Block until ``n`` requests have arrived; raise ``TimeoutError`` after ``timeout`` seconds."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.requests) >= n, timeout):
                raise TimeoutError(f"expected {n} requests within {timeout}s, got {len(self.requests)}")

    def close(self) -> None:
        """Stop accepting, cut every open connection, and wait (briefly) for the handler threads."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
            sockets = list(self._active)
            threads = list(self._active.values())
        self._wake_acceptor()
        for sock in sockets:
            self._shutdown(sock)
        deadline = time.monotonic() + _STOP_BUDGET_SECONDS
        for thread in [self._acceptor] + threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> "LocalServer":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LocalServer({self.url!r}, {len(self.requests)} requests)"

    # -- accepting -------------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        try:
            while self._accept_one():
                pass
        finally:
            self._listener.close()

    def _accept_one(self) -> bool:
        try:
            sock, _ = self._listener.accept()
        except OSError:
            return False
        with self._lock:
            if self._stopping.is_set():
                sock.close()
                return False
            self._connections += 1
            self._start_handler(sock, self._connections)
        return True

    def _start_handler(self, sock: socket.socket, number: int) -> None:
        with contextlib.suppress(OSError):  # a client that already reset its end: the handler sees that
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        name = f"llm_connector.testing-connection-{number}"
        thread = threading.Thread(target=self._serve_connection, args=(sock, number), name=name)
        thread.daemon = True
        self._active[sock] = thread
        thread.start()

    def _wake_acceptor(self) -> None:
        try:
            socket.create_connection(self._address, timeout=1.0).close()
        except OSError:
            pass

    def _shutdown(self, sock: socket.socket) -> None:
        with self._lock:
            if sock in self._active:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    # -- one connection ----------------------------------------------------------------------------------

    def _serve_connection(self, sock: socket.socket, number: int) -> None:
        reader = _Reader(sock)
        last: Optional[RecordedRequest] = None
        try:
            while True:
                if reader.at_eof():
                    self._mark_closed(last)
                    break
                last, keep_alive = self._serve_request(sock, reader, number)
                if not keep_alive:
                    break
        except _ClientGone:
            self._mark_closed(last)
        except OSError:
            pass  # the server is stopping, or the socket was reset under us
        finally:
            self._forget(sock)

    def _serve_request(self, sock: socket.socket, reader: _Reader, number: int) -> Tuple[RecordedRequest, bool]:
        try:
            request, keep_alive = _read_request(reader, number)
        except _BadRequest as exc:
            request = RecordedRequest("", "", _Headers([]), b"", number)
            _Writer(sock, request, self._stopping).play(_error_reply(400, str(exc)))
            return request, False
        self._record(request)
        reply = self._reply_for(request)
        completed = _Writer(sock, request, self._stopping).play(reply)
        return request, completed and keep_alive and not _reply_closes(reply)

    def _record(self, request: RecordedRequest) -> None:
        with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()

    def _reply_for(self, request: RecordedRequest) -> Reply:
        with self._lock:
            source = self._routes.get((request.method.upper(), request.path))
            if source is None and self._queue:
                source = self._queue.popleft()
        if source is None:
            return _error_reply(500, f"no scripted reply for {request.method} {request.path}")
        return source if isinstance(source, Reply) else _call_reply_function(source, request)

    def _mark_closed(self, request: Optional[RecordedRequest]) -> None:
        if request is not None and not self._stopping.is_set():
            request.closed_by_client.set()

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._active.pop(sock, None)
        if sock.fileno() != -1:
            _close_gracefully(sock)


def _call_reply_function(function: Callable[[RecordedRequest], Reply], request: RecordedRequest) -> Reply:
    try:
        reply = function(request)
    except Exception as exc:  # the test's own function failed: say so in the reply the client sees
        return _error_reply(500, f"reply function for {request.method} {request.path} raised {exc!r}")
    if not isinstance(reply, Reply):
        return _error_reply(500, f"reply function returned {reply!r}, not a Reply")
    return reply


def _reply_closes(reply: Reply) -> bool:
    connection = {name.lower(): value for name, value in reply.headers.items()}.get("connection", "")
    return reply.framing == "close" or connection.strip().lower() == "close"


class _Writer:
    """Plays one reply onto a socket; knows how a client that went away shows up."""

    def __init__(self, sock: socket.socket, request: RecordedRequest, stopping: threading.Event) -> None:
        self._sock = sock
        self._request = request
        self._stopping = stopping

    def play(self, reply: Reply) -> bool:
        """Write ``reply``; True when it was written in full and the connection is still usable."""
        try:
            self._sock.sendall(reply._head)
            return all(self._play_op(op) for op in reply._ops)
        except _CLIENT_GONE:
            self._client_gone()
            return False

    def _play_op(self, op: _Op) -> bool:
        if isinstance(op, bytes):
            self._sock.sendall(op)
            return True
        if isinstance(op, Pause):
            return self._pause(op.seconds)
        if isinstance(op, Reset):
            _reset(self._sock)
        else:
            _close_gracefully(self._sock)
        return False

    def _pause(self, seconds: float) -> bool:
        """Sleep ``seconds``; False when the client closed meanwhile (EOF or reset seen by a peek)."""
        if seconds <= 0:
            return True
        started = time.monotonic()
        self._sock.settimeout(seconds)
        try:
            peeked = self._sock.recv(1, socket.MSG_PEEK)
        except socket.timeout:
            return True
        except _CLIENT_GONE:
            peeked = b""
        finally:
            self._sock.settimeout(None)
        if not peeked:
            self._client_gone()
            return False
        # The client sent bytes (a pipelined request): it is still there, so wait out the rest of the
        # pause without watching (peeking again would return at once, a busy loop).
        return not self._stopping.wait(max(0.0, seconds - (time.monotonic() - started)))

    def _client_gone(self) -> None:
        if not self._stopping.is_set():
            self._request.closed_by_client.set()
