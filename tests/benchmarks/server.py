"""A fast local streaming server for the benchmarks: OpenAI SSE, Anthropic SSE, Gemini SSE and Ollama NDJSON.

It must never be what a benchmark measures, so it does no work per chunk while serving: every stream is built
once as bytes (headers, events, HTTP chunk framing) and written with a few large ``sendall`` calls. Each
connection gets a thread; keep-alive works for chunked bodies, so clients reuse their connection.

What to stream is named by the model, so one client serves every case:

    bench-<n>-<framing>-<mode>[-<token>]

- ``n``: the number of text chunks (token-sized pieces of ``expected_text(n)``), besides the protocol's
  opening and closing events.
- ``framing``: ``chunked`` (``Transfer-Encoding: chunked``, one HTTP chunk per event, as the services send it),
  ``close`` (no length: the body ends when the server closes the connection) or ``length`` (``Content-Length``,
  the connection kept).
- ``mode``: ``normal`` (everything at once) or ``delay`` (the opening events and the first text event, then
  500 ms of silence, then the rest). In ``delay`` mode the server notes when the first text event left
  (``time.monotonic()``, the same clock in every process of the machine); ``GET /_bench/sent/<token>`` answers
  with it as JSON ``{"t": seconds}``.

Routes (the path's ending picks the protocol, so any base URL prefix works):
``.../chat/completions`` OpenAI, ``.../messages`` Anthropic, ``.../models/<model>:streamGenerateContent``
Gemini (``?alt=sse``), ``.../api/chat`` Ollama.

Run alone: ``python tests/benchmarks/server.py [--port N]`` prints ``PORT <n>`` and serves until killed.
"""

import argparse
import json
import socket
import sys
import threading
import time
from typing import Callable, Dict, Iterator, List, Optional, Tuple

__all__ = [
    "PROTOCOLS",
    "BenchServer",
    "DELAY_SECONDS",
    "expected_text",
    "iter_tokens",
    "model_name",
    "stream_bytes",
]

DELAY_SECONDS = 0.5
_SEND_SLICE = 1 << 20  # bytes per sendall: large, so the kernel does the work
_MAX_HEADER = 64 * 1024

# Token-sized pieces, like a tokenizer's: leading spaces, punctuation, newlines, quotes and backslashes that
# JSON escapes, and non-ASCII text that arrives as multi-byte UTF-8 (clients must give all of it back exactly).
_WORDS = (
    "Once", " upon", " a", " time", ",", " in", " a", " café", " by", " the", " sea", ",", " a", " naïve",
    " robot", " named", ' "', "Zed", '"', " counted", " 42", " waves", ".", "\n\n", "It", " wrote", " 日本",
    "語", " poems", " —", " tiny", " ones", " about", " C:\\", "path", "\\to", " stars", " ✨", " and", " tea",
    "\t", "(", "hot", ")", "!", "\n", " The", " end", "?", " Not", " yet", ";", " more", " waves", " came",
    " 🚀", ".",
)


def iter_tokens(n: int) -> Iterator[str]:
    """The ``n`` text pieces every stream of ``n`` chunks carries, in order."""
    words = _WORDS
    size = len(words)
    for i in range(n):
        yield words[i % size]


def expected_text(n: int) -> str:
    """The whole text a stream of ``n`` chunks adds up to."""
    return "".join(iter_tokens(n))


def model_name(n: int, framing: str = "chunked", mode: str = "normal", token: str = "") -> str:
    """The model name that asks the server for a stream (see the module docstring)."""
    name = f"bench-{n}-{framing}-{mode}"
    return name + "-" + token if token else name


def _dumps(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


# -- the four wire formats: a list of events, and the index of the first text event -------------------------

Events = Tuple[List[bytes], int]


def _openai_events(n: int) -> Events:
    # As api.openai.com sends them (2025): every chunk repeats id, created, model, fingerprint; a role chunk
    # first, a finish chunk, a usage chunk (stream_options.include_usage), then [DONE].
    head = ('{"id":"chatcmpl-BkXQ8mZr5s3T0pY1uVv6c2LdE9aFh","object":"chat.completion.chunk","created":1750000000,'
            '"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_34a54ae93c",'
            '"choices":[{"index":0,"delta":')
    events = [("data: " + head + '{"role":"assistant","content":"","refusal":null},"logprobs":null,'
               '"finish_reason":null}],"usage":null,"obfuscation":"gk3Yw"}\n\n').encode()]
    for i, text in enumerate(iter_tokens(n)):
        pad = "QWERTYUIOPASDFGHJKL"[: 3 + i % 11]
        events.append(("data: " + head + '{"content":' + _dumps(text) + '},"logprobs":null,"finish_reason":null}],'
                       '"usage":null,"obfuscation":"' + pad + '"}\n\n').encode())
    events.append(("data: " + head + '{},"logprobs":null,"finish_reason":"stop"}],"usage":null,'
                   '"obfuscation":"Xl"}\n\n').encode())
    events.append(("data: " + head.split('"choices"')[0] + '"choices":[],"usage":{"prompt_tokens":12,'
                   '"completion_tokens":' + str(n) + ',"total_tokens":' + str(n + 12) + ','
                   '"prompt_tokens_details":{"cached_tokens":0,'
                   '"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
                   '"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"p"}\n\n'
                   ).encode())
    events.append(b"data: [DONE]\n\n")
    return events, 1


def _anthropic_events(n: int) -> Events:
    # As api.anthropic.com sends them: message_start, content_block_start, ping, the deltas, the stops.
    events = [
        (b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL",'
         b'"type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,'
         b'"stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":0,'
         b'"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,'
         b'"ephemeral_1h_input_tokens":0},"output_tokens":1,"service_tier":"standard"}}}\n\n'),
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}\n\n',
        b'event: ping\ndata: {"type": "ping"}\n\n',
    ]
    for text in iter_tokens(n):
        events.append(('event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
                       '"delta":{"type":"text_delta","text":' + _dumps(text) + '}}\n\n').encode())
    events.append(b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n')
    events.append(('event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
                   '"stop_sequence":null},"usage":{"input_tokens":12,"cache_creation_input_tokens":0,'
                   '"cache_read_input_tokens":0,"output_tokens":' + str(n) + '}}\n\n').encode())
    events.append(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')
    return events, 3


def _gemini_events(n: int) -> Events:
    # As generativelanguage.googleapis.com sends ``?alt=sse``: CRLF line ends, usage on every chunk, the
    # finish reason on the last one; no end marker.
    events = []
    for i, text in enumerate(iter_tokens(n)):
        last = i == n - 1
        candidate = ('{"content":{"parts":[{"text":' + _dumps(text) + '}],"role":"model"},'
                     + ('"finishReason":"STOP",' if last else "") + '"index":0}')
        events.append(('data: {"candidates":[' + candidate + '],"usageMetadata":{"promptTokenCount":12,'
                       '"candidatesTokenCount":' + str(i + 1) + ',"totalTokenCount":' + str(i + 13) + ','
                       '"promptTokensDetails":[{"modality":"TEXT","tokenCount":12}]},"modelVersion":"gemini-2.5-flash",'
                       '"responseId":"8t3MaNa8L4OTz7IPq7GJyAQ"}\r\n\r\n').encode())
    return events, 0


def _ollama_events(n: int) -> Events:
    # As ollama serve sends /api/chat: one JSON object a line, then a done object with the stats.
    events = []
    for i, text in enumerate(iter_tokens(n)):
        stamp = f"2025-06-15T10:{i // 60 % 60:02d}:{i % 60:02d}.{123456789 + i:09d}Z"
        events.append(('{"model":"llama3.2","created_at":"' + stamp + '","message":{"role":'
                       '"assistant","content":' + _dumps(text)
                       + '},"done":false}\n').encode())
    events.append(('{"model":"llama3.2","created_at":"2025-06-15T10:59:59.987654321Z","message":{"role":'
                   '"assistant","content":""},"done_reason":"stop","done":true,"total_duration":4883583458,'
                   '"load_duration":1334875,"prompt_eval_count":12,"prompt_eval_duration":342546000,'
                   '"eval_count":' + str(n) + ',"eval_duration":4535599000}\n').encode())
    return events, 0


PROTOCOLS: Dict[str, Tuple[Callable[[int], Events], str]] = {
    "openai": (_openai_events, "text/event-stream; charset=utf-8"),
    "anthropic": (_anthropic_events, "text/event-stream; charset=utf-8"),
    "gemini": (_gemini_events, "text/event-stream"),
    "ollama": (_ollama_events, "application/x-ndjson"),
}


def stream_bytes(protocol: str, n: int, framing: str) -> Tuple[bytes, bytes]:
    """The response for a stream, split after the first text event: (head with the headers, rest)."""
    build, content_type = PROTOCOLS[protocol]
    events, first = build(n)
    if framing == "chunked":
        framed = [b"%x\r\n%s\r\n" % (len(e), e) for e in events]
        framed.append(b"0\r\n\r\n")
        headers = "Transfer-Encoding: chunked\r\n"
    elif framing == "close":
        framed = events
        headers = "Connection: close\r\n"
    elif framing == "length":
        framed = events
        headers = f"Content-Length: {sum(len(e) for e in events)}\r\n"
    else:
        raise ValueError(f"framing: chunked, close or length, not {framing!r}")
    status = (f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nCache-Control: no-cache\r\n"
              f"x-request-id: req_bench\r\n{headers}\r\n").encode()
    return status + b"".join(framed[: first + 1]), b"".join(framed[first + 1:])


# -- serving ------------------------------------------------------------------------------------------------


class _Request:
    __slots__ = ("method", "path", "headers", "body")

    def __init__(self, method: str, path: str, headers: Dict[str, str], body: bytes) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body


class _Reader:
    """Reads HTTP/1.1 requests off one socket (Content-Length or chunked bodies)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def _until(self, marker: bytes) -> Optional[bytes]:
        while marker not in self.buf:
            if len(self.buf) > _MAX_HEADER or not self._fill():
                return None
        head, _, self.buf = self.buf.partition(marker)
        return head

    def _exactly(self, size: int) -> Optional[bytes]:
        while len(self.buf) < size:
            if not self._fill():
                return None
        data, self.buf = self.buf[:size], self.buf[size:]
        return data

    def read(self) -> Optional[_Request]:
        head = self._until(b"\r\n\r\n")
        if head is None:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path = lines[0].split(" ")[:2]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._chunked_body()
        else:
            body = self._exactly(int(headers.get("content-length") or 0))
        if body is None:
            return None
        return _Request(method, path, headers, body)

    def _chunked_body(self) -> Optional[bytes]:
        parts: List[bytes] = []
        while True:
            size_line = self._until(b"\r\n")
            if size_line is None:
                return None
            size = int(size_line.split(b";")[0], 16)
            data = self._exactly(size + 2)
            if data is None:
                return None
            if size == 0:
                return b"".join(parts)
            parts.append(data[:-2])


def _model_of(request: _Request) -> str:
    path = request.path.split("?")[0]
    if ":streamGenerateContent" in path:
        return path.rsplit("/models/", 1)[-1].split(":")[0]
    try:
        return str(json.loads(request.body or b"{}").get("model") or "")
    except ValueError:
        return ""


def _protocol_of(path: str) -> Optional[str]:
    path = path.split("?")[0]
    if path.endswith("/chat/completions"):
        return "openai"
    if path.endswith("/messages"):
        return "anthropic"
    if path.endswith(":streamGenerateContent"):
        return "gemini"
    if path.endswith("/api/chat"):
        return "ollama"
    return None


class BenchServer:
    """The benchmark server on 127.0.0.1; ``with BenchServer() as server: server.url``."""

    def __init__(self, port: int = 0) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(128)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._cache: Dict[Tuple[str, int, str], Tuple[bytes, bytes]] = {}
        self._cache_lock = threading.Lock()
        self._sent: Dict[str, float] = {}
        self._thread: Optional[threading.Thread] = None
        self._stopped = False

    # -- life cycle

    def start(self) -> "BenchServer":
        self._thread = threading.Thread(target=self.serve_forever, name="bench-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped = True
        try:
            self._listener.close()
        except OSError:
            pass

    def __enter__(self) -> "BenchServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        while not self._stopped:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    # -- one connection

    def _bytes(self, protocol: str, n: int, framing: str) -> Tuple[bytes, bytes]:
        key = (protocol, n, framing)
        with self._cache_lock:
            found = self._cache.get(key)
            if found is None:
                if len(self._cache) > 64:
                    self._cache.clear()
                found = self._cache[key] = stream_bytes(protocol, n, framing)
        return found

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = _Reader(conn)
        try:
            while True:
                request = reader.read()
                if request is None:
                    return
                if not self._answer(conn, request):
                    return
                if request.headers.get("connection", "").lower() == "close":
                    return
        except OSError:
            return
        finally:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _answer(self, conn: socket.socket, request: _Request) -> bool:
        """Write one response; False when the connection must close after it."""
        if request.path.startswith("/_bench/sent/"):
            token = request.path.rsplit("/", 1)[-1]
            _send_small(conn, 200, _dumps({"t": self._sent.pop(token, None)}))
            return True
        protocol = _protocol_of(request.path)
        parts = _model_of(request).split("-")
        if protocol is None or len(parts) < 4 or parts[0] != "bench":
            _send_small(conn, 404, '{"error":{"message":"no such benchmark stream","type":"not_found_error"}}')
            return True
        n, framing, mode = int(parts[1]), parts[2], parts[3]
        head, rest = self._bytes(protocol, n, framing)
        if mode == "delay":
            self._sent[parts[4] if len(parts) > 4 else ""] = time.monotonic()  # before: the client may win the race
            conn.sendall(head)
            time.sleep(DELAY_SECONDS)
            _send_all(conn, rest)
        else:
            _send_all(conn, head + rest if len(rest) < _SEND_SLICE else head)
            if len(rest) >= _SEND_SLICE:
                _send_all(conn, rest)
        return framing != "close"


def _send_all(conn: socket.socket, data: bytes) -> None:
    view = memoryview(data)
    for start in range(0, len(view), _SEND_SLICE):
        conn.sendall(view[start:start + _SEND_SLICE])


def _send_small(conn: socket.socket, status: int, body: str) -> None:
    data = body.encode()
    conn.sendall(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                 % (status, len(data), data))


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = BenchServer(args.port)
    sys.stdout.write(f"PORT {server.port}\n")
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
