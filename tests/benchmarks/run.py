"""The performance benchmark of issue 8: llm_connector against the raw floor and the popular clients, in one run.

From the repository root::

    python -m tests.benchmarks.run            # the full run (a few minutes)
    python -m tests.benchmarks.run --quick    # fewer chunks and repetitions (about a minute)

It starts the local streaming server (``server.py``) in its own process and one worker process per client, so
clients share neither an interpreter nor a heap, then measures, interleaving the clients in every round and
taking the median of the rounds:

- throughput (chunks/s) and CPU seconds per 1,000 chunks on each protocol, for the raw-socket reader (the
  server's own speed: the ceiling, not a client), the floor (``requests`` + ``iter_lines`` + ``json.loads``),
  ``llm_connector`` and each peer that is installed (``pip install -e .[bench]``), every client's text checked;
- import time in a fresh interpreter (median of 7);
- peak RSS streaming 20k and 200k chunks (``resource.getrusage``, a fresh process each);
- delivery delay: the server writes the first text event, waits 500 ms, writes the rest; how long after the
  write the caller's loop sees that event, for chunked and close-delimited bodies;
- time to first chunk.

It prints one markdown report with the ratios and the issue's targets (PASS/FAIL), and writes it to
``tests/benchmarks/results/latest.md`` (and a dated copy) for comparison between runs.
"""

import argparse
import importlib.util
import json
import os
import platform
import resource
import select
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import IO, Any, Callable, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if sys.path and sys.path[0] and Path(sys.path[0]).resolve() == HERE:
    sys.path[0] = str(ROOT)  # `python tests/benchmarks/run.py`: this checkout's package, and no module named run
elif str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = HERE / "results"
PROTOCOLS = ("openai", "anthropic", "gemini", "ollama")
#: How the server delimits a body: chunked (what the services send), close-delimited, Content-Length.
FRAMINGS = ("chunked", "close", "length")
#: The README's performance section lies between these lines; ``--write`` replaces it.
README_START = "<!-- benchmark: start (written by python -m tests.benchmarks.run --write; not by hand) -->"
README_END = "<!-- benchmark: end -->"
#: The issue's throughput target: llm_connector's chunks/s over the floor's, on every protocol and framing.
FLOOR_TARGET = 1.2
#: The peers, each on its own protocol (litellm speaks OpenAI's), with the issue's throughput target.
PEERS: Dict[str, Tuple[str, float]] = {
    "openai": ("openai", 8.0),
    "anthropic": ("anthropic", 3.0),
    "ollama": ("ollama", 1.5),
    "litellm": ("openai", 50.0),
}
PROMPT = "Tell me a story"
# Bytecode is written and used, as after a pip install (PYTHONDONTWRITEBYTECODE would time the compiler); litellm
# reads its bundled model price list instead of fetching it from the network at import.
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
_ENV.update(LITELLM_LOCAL_MODEL_COST_MAP="True", PYTHONPATH=str(ROOT))
_now = time.monotonic  # CLOCK_MONOTONIC: one clock for the server's and the clients' processes


def _load_server() -> ModuleType:
    """``server.py`` by path: the name ``tests`` may belong to some other installed package."""
    spec = importlib.util.spec_from_file_location("llm_connector_bench_server", HERE / "server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench_server = _load_server()

# =============================================================================================================
# The clients (run inside worker processes). Each setup function takes the server URL and returns
# run(protocol, model) -> (text pieces, monotonic time the loop saw the first text).
# =============================================================================================================

Result = Tuple[List[str], float]
Runner = Callable[[str, str], Result]


def _llm_client(protocol: str, base: str) -> Any:
    """An llm_connector client for ``protocol`` pointed at the benchmark server."""
    from llm_connector import LlmClient

    if protocol == "openai":
        return LlmClient.openai("sk-bench", base_url=base + "/v1")
    if protocol == "anthropic":
        return LlmClient.anthropic("sk-ant-bench", base_url=base)
    if protocol == "gemini":
        return LlmClient.google("bench-key", base_url=base + "/v1beta")
    try:
        return LlmClient.ollama(base_url=base)
    except ImportError:  # the Ollama client module has not landed: the plain client speaks the protocol
        return LlmClient("ollama", None, base_url=base)


def _setup_llm_connector(base: str) -> Runner:
    from llm_connector import ChatRequest, Message, Role

    clients: Dict[str, Any] = {}

    def run(protocol: str, model: str) -> Result:
        client = clients.get(protocol)
        if client is None:
            client = clients[protocol] = _llm_client(protocol, base)
        request = ChatRequest(model=model, messages=[Message.text(Role.USER, PROMPT)], max_tokens=1024, stream=True)
        first = 0.0
        parts = []
        for chunk in client.chat_stream(request):
            text = chunk.content
            if text:
                if not first:
                    first = _now()
                parts.append(text)
        return parts, first

    return run


def _setup_floor(base: str) -> Runner:
    """The floor: what a caller writes with requests alone (``iter_lines`` + ``json.loads``), per protocol.

    Like llm_connector, it reads the body to its end after the protocol's end marker (the end of the chunked
    framing), so its connection goes back to requests' pool and the next call reuses it."""
    import requests

    session = requests.Session()
    loads = json.loads
    messages = [{"role": "user", "content": PROMPT}]

    def openai(model: str) -> Result:
        first = 0.0
        parts = []
        done = False
        with session.post(base + "/v1/chat/completions", json={"model": model, "messages": messages, "stream": True},
                          stream=True) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                if line[:6] == b"data: " and not done:
                    data = line[6:]
                    if data == b"[DONE]":
                        done = True
                        continue
                    choices = loads(data)["choices"]
                    if choices:
                        text = choices[0]["delta"].get("content")
                        if text:
                            if not first:
                                first = _now()
                            parts.append(text)
        return parts, first

    def anthropic(model: str) -> Result:
        first = 0.0
        parts = []
        done = False
        body = {"model": model, "messages": messages, "max_tokens": 1024, "stream": True}
        with session.post(base + "/v1/messages", json=body, stream=True) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                if line[:6] == b"data: " and not done:
                    obj = loads(line[6:])
                    kind = obj["type"]
                    if kind == "content_block_delta":
                        text = obj["delta"].get("text")
                        if text:
                            if not first:
                                first = _now()
                            parts.append(text)
                    elif kind == "message_stop":
                        done = True
        return parts, first

    def gemini(model: str) -> Result:
        first = 0.0
        parts = []
        body = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}
        with session.post(base + f"/v1beta/models/{model}:streamGenerateContent?alt=sse", json=body,
                          stream=True) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                if line[:6] == b"data: ":
                    text = loads(line[6:])["candidates"][0]["content"]["parts"][0].get("text")
                    if text:
                        if not first:
                            first = _now()
                        parts.append(text)
        return parts, first

    def ollama(model: str) -> Result:
        first = 0.0
        parts = []
        done = False
        with session.post(base + "/api/chat", json={"model": model, "messages": messages, "stream": True},
                          stream=True) as r:
            r.raise_for_status()
            for line in r.iter_lines():
                if line and not done:
                    obj = loads(line)
                    text = obj["message"]["content"]
                    if text:
                        if not first:
                            first = _now()
                        parts.append(text)
                    done = obj["done"]
        return parts, first

    table = {"openai": openai, "anthropic": anthropic, "gemini": gemini, "ollama": ollama}
    return lambda protocol, model: table[protocol](model)


def _setup_ceiling(base: str) -> Runner:
    """Not a client: the parse-only ceiling. A raw socket, the bytes split into lines as they arrive,
    ``json.loads`` on each event line and the text picked out; no HTTP parsing, no error handling, no objects.
    No client that parses JSON with the standard library can go much faster."""
    port = int(base.rsplit(":", 1)[1])
    loads = json.loads

    def openai(obj: Any) -> Optional[str]:
        choices = obj["choices"]
        return choices[0]["delta"].get("content") if choices else None

    def anthropic(obj: Any) -> Optional[str]:
        return obj["delta"].get("text") if obj["type"] == "content_block_delta" else None

    def gemini(obj: Any) -> Optional[str]:
        return obj["candidates"][0]["content"]["parts"][0].get("text")  # type: ignore[no-any-return]

    def ollama(obj: Any) -> Optional[str]:
        return obj["message"]["content"]  # type: ignore[no-any-return]

    pick = {"openai": openai, "anthropic": anthropic, "gemini": gemini, "ollama": ollama}

    def run(protocol: str, model: str) -> Result:
        body = json.dumps({"model": model}).encode()
        path = _RAW_REQUESTS[protocol].format(model=model)
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        text_of = pick[protocol]
        sse = protocol != "ollama"
        first = 0.0
        parts = []
        rest = b""
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(head + body)
            recv = sock.recv
            while True:
                data = recv(65536)
                if not data:
                    break
                lines = (rest + data).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    if sse:
                        if line[:7] != b"data: {":
                            continue
                        line = line[6:]
                    elif line[:1] != b"{":
                        continue  # the HTTP head, chunk sizes, blank lines
                    text = text_of(loads(line))
                    if text:
                        if not first:
                            first = _now()
                        parts.append(text)
        return parts, first

    return run


_RAW_REQUESTS = {
    "openai": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "gemini": "/v1beta/models/{model}:streamGenerateContent?alt=sse",
    "ollama": "/api/chat",
}


def _setup_raw(base: str) -> Runner:
    """Not a client: a socket reader that only counts bytes. Its speed is the server's, the ceiling."""
    port = int(base.rsplit(":", 1)[1])

    def run(protocol: str, model: str) -> Result:
        body = json.dumps({"model": model}).encode()
        path = _RAW_REQUESTS[protocol].format(model=model)
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        buf = bytearray(1 << 20)
        total = 0
        first = 0.0
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(head + body)
            while True:
                got = sock.recv_into(buf)
                if not got:
                    break
                if not first:
                    first = _now()
                total += got
        return [f"#{total}"], first

    return run


def _setup_openai(base: str) -> Runner:
    import openai

    client = openai.OpenAI(api_key="sk-bench", base_url=base + "/v1", max_retries=0)
    messages: Any = [{"role": "user", "content": PROMPT}]

    def run(protocol: str, model: str) -> Result:
        first = 0.0
        parts = []
        for chunk in client.chat.completions.create(model=model, messages=messages, stream=True):
            if chunk.choices:
                text = chunk.choices[0].delta.content
                if text:
                    if not first:
                        first = _now()
                    parts.append(text)
        return parts, first

    return run


def _setup_anthropic(base: str) -> Runner:
    import anthropic

    client = anthropic.Anthropic(api_key="sk-ant-bench", base_url=base, max_retries=0)
    messages: Any = [{"role": "user", "content": PROMPT}]

    def run(protocol: str, model: str) -> Result:
        first = 0.0
        parts = []
        for event in client.messages.create(model=model, max_tokens=1024, messages=messages, stream=True):
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                text = event.delta.text
                if text:
                    if not first:
                        first = _now()
                    parts.append(text)
        return parts, first

    return run


def _setup_ollama(base: str) -> Runner:
    import ollama

    client = ollama.Client(host=base)
    messages: Any = [{"role": "user", "content": PROMPT}]

    def run(protocol: str, model: str) -> Result:
        first = 0.0
        parts = []
        for chunk in client.chat(model=model, messages=messages, stream=True):
            text = chunk.message.content
            if text:
                if not first:
                    first = _now()
                parts.append(text)
        return parts, first

    return run


def _setup_litellm(base: str) -> Runner:
    import litellm

    litellm.telemetry = False
    messages: Any = [{"role": "user", "content": PROMPT}]

    def run(protocol: str, model: str) -> Result:
        first = 0.0
        parts = []
        stream = litellm.completion(model="openai/" + model, api_base=base + "/v1", api_key="sk-bench",
                                    messages=messages, stream=True, max_retries=0)
        for chunk in stream:
            if chunk.choices:
                text = chunk.choices[0].delta.content
                if text:
                    if not first:
                        first = _now()
                    parts.append(text)
        return parts, first

    return run


SETUPS: Dict[str, Callable[[str], Runner]] = {
    "raw socket": _setup_raw,
    "ceiling": _setup_ceiling,
    "floor": _setup_floor,
    "llm_connector": _setup_llm_connector,
    "openai": _setup_openai,
    "anthropic": _setup_anthropic,
    "ollama": _setup_ollama,
    "litellm": _setup_litellm,
}


def _expected_bytes(protocol: str, n: int, framing: str) -> int:
    head, rest = bench_server.stream_bytes(protocol, n, framing)
    return int(len(head) + len(rest))


def _worker_main(name: str, base: str) -> None:
    """A worker: answers one JSON command a line on stdin with one JSON line on the original stdout."""
    ipc = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever a client prints goes to the log, not into the replies
    sys.stdout = sys.stderr
    run = SETUPS[name](base)
    ipc.write('{"ready": true}\n')
    ipc.flush()
    expected: Dict[int, str] = {}
    for line in sys.stdin:
        cmd = json.loads(line)
        n = cmd["n"]
        model = bench_server.model_name(n, cmd["framing"], cmd["mode"], cmd.get("token", ""))
        reply: Dict[str, Any] = {}
        try:
            start = _now()
            cpu = time.process_time()
            parts, first = run(cmd["protocol"], model)
            reply["cpu"] = time.process_time() - cpu
            reply["end"] = _now()
            reply["start"] = start
            reply["first"] = first
            if name == "raw socket":
                got = int(parts[0][1:])
                want = _expected_bytes(cmd["protocol"], n, cmd["framing"])
                reply["ok"] = got >= want  # the status line and headers come on top
                reply["note"] = "" if reply["ok"] else f"{got} of {want} bytes"
            else:
                text = expected.get(n)
                if text is None:
                    text = expected[n] = bench_server.expected_text(n)
                got_text = "".join(parts)
                reply["ok"] = got_text == text
                reply["pieces"] = len(parts)
                if not reply["ok"]:
                    at = next((i for i, (a, b) in enumerate(zip(got_text, text)) if a != b),
                              min(len(got_text), len(text)))
                    reply["note"] = f"text differs at char {at} of {len(text)} (got {len(got_text)} chars)"
        except Exception as exc:  # noqa: BLE001 - a client's failure is a result to report
            first_line = str(exc).splitlines()[0][:160] if str(exc) else ""
            reply = {"error": f"{type(exc).__name__}: {first_line}"}
        ipc.write(json.dumps(reply) + "\n")
        ipc.flush()


def _rss_main(protocol: str, n: int, base: str) -> None:
    """A fresh process streams ``n`` chunks with llm_connector, keeping nothing, and prints its peak RSS."""
    import hashlib

    from llm_connector import ChatRequest, Message, Role

    client = _llm_client(protocol, base)
    request = ChatRequest(model=bench_server.model_name(200), messages=[Message.text(Role.USER, PROMPT)],
                          max_tokens=1024, stream=True)
    for _ in client.chat_stream(request):  # warm up: imports, connection
        pass
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    digest = hashlib.sha256()
    request.model = bench_server.model_name(n)
    count = 0
    for chunk in client.chat_stream(request):
        text = chunk.content
        if text:
            count += 1
            digest.update(text.encode())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    want = hashlib.sha256()
    for piece in bench_server.iter_tokens(n):
        want.update(piece.encode())
    print(json.dumps({"before_kb": before, "peak_kb": peak, "ok": digest.digest() == want.digest(), "count": count}))


# =============================================================================================================
# The runner
# =============================================================================================================


class Worker:
    """One client in its own process, driven one command at a time."""

    def __init__(self, name: str, base: str, log: IO[str]) -> None:
        self.name = name
        self.error = ""
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "run.py"), "--worker", name, "--base", base],
            cwd=str(ROOT), env=_ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
            text=True, bufsize=1,
        )
        reply = self._read(180.0)
        if reply is None or not reply.get("ready"):
            self.error = "did not start (see the log)"

    def _read(self, timeout: float) -> Optional[Dict[str, Any]]:
        out = self.proc.stdout
        assert out is not None
        ready, _, _ = select.select([out], [], [], timeout)
        if not ready:
            self.close()
            self.error = "timed out"
            return None
        line = out.readline()
        if not line:
            self.error = "exited (see the log)"
            return None
        reply: Dict[str, Any] = json.loads(line)
        return reply

    def stream(self, protocol: str, n: int, framing: str = "chunked", mode: str = "normal", token: str = "",
               timeout: float = 300.0) -> Dict[str, Any]:
        if self.error:
            return {"error": self.error}
        assert self.proc.stdin is not None
        cmd = {"protocol": protocol, "n": n, "framing": framing, "mode": mode, "token": token}
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        reply = self._read(timeout)
        return reply if reply is not None else {"error": self.error}

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def _median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _start_server() -> Tuple["subprocess.Popen[str]", str]:
    proc = subprocess.Popen([sys.executable, str(HERE / "server.py")], stdout=subprocess.PIPE,
                            text=True, env=_ENV)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit("the benchmark server did not start")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


_AFTER_REQUESTS = "llm_connector (requests already imported)"
_IMPORT_LABELS = {"llm_connector.protocols.openai": "llm_connector + protocols.openai (first use)"}
_IMPORT_CODE = ("import time, importlib, sys{pre}; t = time.perf_counter(); m = importlib.import_module({name!r}); "
                "d = time.perf_counter() - t; print(d, len(sys.modules), getattr(m, '__version__', ''))")


def _time_import(row: str) -> Optional[Tuple[float, int, str]]:
    """Seconds to import a module in a fresh interpreter (after ``import requests`` for _AFTER_REQUESTS)."""
    if row == _AFTER_REQUESTS:
        code = _IMPORT_CODE.format(pre=", requests", name="llm_connector")
    else:
        code = _IMPORT_CODE.format(pre="", name=row)
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), env=_ENV, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True, timeout=300)
    fields = proc.stdout.split()
    if proc.returncode != 0 or not fields:
        return None
    return float(fields[0]), int(fields[1]), fields[2] if len(fields) > 2 else ""


def _server_sent_time(base: str, token: str) -> Optional[float]:
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall((f"GET /_bench/sent/{token} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").encode())
        data = b""
        while True:
            got = sock.recv(4096)
            if not got:
                break
            data += got
    value = json.loads(data.partition(b"\r\n\r\n")[2] or b"{}").get("t")
    return float(value) if value is not None else None


class Bench:
    """One run: its settings, the workers, and what was measured."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick: bool = args.quick
        self.n: int = args.chunks or (5000 if self.quick else 20000)
        self.reps: int = args.reps or (3 if self.quick else 7)
        self.protocols_missing: Dict[str, str] = {}
        self.protocols: List[str] = []
        for protocol in args.protocol or PROTOCOLS:
            if _installed("llm_connector.protocols." + protocol):
                self.protocols.append(protocol)
            else:
                self.protocols_missing[protocol] = f"llm_connector/protocols/{protocol}.py is missing"
        self.wanted: Sequence[str] = args.protocol or PROTOCOLS
        self.peers = [p for p in PEERS if _installed(p) and p not in args.skip and PEERS[p][0] in self.wanted]
        self.peers_missing = [p for p in PEERS if p not in self.peers and PEERS[p][0] in self.wanted]
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.log = open(RESULTS / "workers.log", "w")  # noqa: SIM115 - closed in finish()
        self.workers: Dict[str, Worker] = {}
        self.throughput: Dict[Tuple[str, str, str], Dict[str, Any]] = {}
        self.ttfb: Dict[Tuple[str, str], Dict[str, Any]] = {}
        self.delay: Dict[Tuple[str, str, str], Dict[str, Any]] = {}
        self.imports: Dict[str, Dict[str, Any]] = {}
        self.rss: Dict[str, Dict[int, Dict[str, Any]]] = {}
        self.versions = {name: _version(name) for name in ["requests"] + self.peers}
        self.versions["llm_connector"] = _checkout()

    def say(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    # -- cases

    def chunks_for(self, client: str) -> int:
        return max(500, self.n // 10) if client == "litellm" else self.n

    def cases(self) -> List[Tuple[str, str, str]]:
        """(client, protocol, framing) to measure: every framing for the raw-socket-level rows, the floor and
        llm_connector; chunked only (what the services send) for the raw reader and the peers."""
        out: List[Tuple[str, str, str]] = []
        for protocol in self.wanted:
            out.append(("raw socket", protocol, "chunked"))
            for framing in FRAMINGS:
                out.append(("ceiling", protocol, framing))
                out.append(("floor", protocol, framing))
                if protocol in self.protocols:
                    out.append(("llm_connector", protocol, framing))
            for peer in self.peers:
                if PEERS[peer][0] == protocol:
                    out.append((peer, protocol, "chunked"))
        return out

    def ttfb_cases(self) -> List[Tuple[str, str]]:
        """(client, protocol) for the time to first chunk: the clients, not the raw reader or the ceiling."""
        seen: List[Tuple[str, str]] = []
        for client, protocol, _ in self.cases():
            if client not in ("raw socket", "ceiling") and (client, protocol) not in seen:
                seen.append((client, protocol))
        return seen

    def worker(self, client: str) -> Worker:
        worker = self.workers.get(client)
        if worker is None:
            self.say(f"  starting the {client} worker")
            worker = self.workers[client] = Worker(client, self.base, self.log)
        return worker

    # -- measurements

    def measure_throughput(self) -> None:
        cases = self.cases()
        self.say(f"throughput: {self.n} chunks (litellm {self.chunks_for('litellm')}), {self.reps} rounds, "
                 f"{len(cases)} cases")
        for client, protocol, framing in cases:  # warm-up: imports, connections, the server's bytes
            self.worker(client).stream(protocol, 200, framing)
            self.worker(client).stream(protocol, self.chunks_for(client), framing)
        for rep in range(self.reps):
            shift = rep % len(cases)
            for client, protocol, framing in cases[shift:] + cases[:shift]:
                n = self.chunks_for(client)
                reply = self.worker(client).stream(protocol, n, framing)
                slot = self.throughput.setdefault((client, protocol, framing),
                                                  {"wall": {}, "cpu": {}, "n": n, "notes": set()})
                if "error" in reply:
                    slot["notes"].add(reply["error"])
                    continue
                slot["wall"][rep] = reply["end"] - reply["start"]  # by round: ratios pair runs of one round
                slot["cpu"][rep] = reply["cpu"]
                if not reply["ok"]:
                    slot["notes"].add(reply.get("note") or "wrong text")
            self.say(f"  round {rep + 1}/{self.reps} done")

    def measure_ttfb(self) -> None:
        cases = self.ttfb_cases()
        reps = 7 if self.quick else 15
        self.say(f"time to first chunk: {reps} rounds")
        for client, protocol in cases:  # warm: the client has made its connection
            self.worker(client).stream(protocol, 20)
        for rep in range(reps):
            shift = rep % len(cases)
            for client, protocol in cases[shift:] + cases[:shift]:
                reply = self.worker(client).stream(protocol, 20)
                slot = self.ttfb.setdefault((client, protocol), {"t": [], "notes": set()})
                if "error" in reply:
                    slot["notes"].add(reply["error"])
                elif reply["first"]:
                    slot["t"].append(reply["first"] - reply["start"])

    def delay_cases(self) -> List[Tuple[str, str]]:
        out = [("floor", "openai")] + [("llm_connector", p) for p in self.protocols]
        return out + [(peer, PEERS[peer][0]) for peer in self.peers]

    def measure_delay(self) -> None:
        reps = 1 if self.quick else 3
        cases = self.delay_cases()
        self.say(f"delivery delay: {reps} rounds of {len(cases)} cases x 2 framings (>= 0.5 s each)")
        count = 0
        for _ in range(reps):
            for framing in ("chunked", "close"):
                for client, protocol in cases:
                    count += 1
                    token = f"d{count}"
                    reply = self.worker(client).stream(protocol, 30, framing, "delay", token)
                    slot = self.delay.setdefault((client, protocol, framing), {"t": [], "notes": set()})
                    sent = _server_sent_time(self.base, token)
                    if "error" in reply:
                        slot["notes"].add(reply["error"])
                    elif sent is None or not reply["first"]:
                        slot["notes"].add("no first event seen")
                    else:
                        slot["t"].append(reply["first"] - sent)
                        if not reply["ok"]:
                            slot["notes"].add(reply.get("note") or "wrong text")

    def measure_rss(self) -> None:
        sizes = (20000, 200000)
        self.say(f"peak RSS: {sizes} chunks, a fresh process each")
        for protocol in self.protocols:
            for n in sizes:
                proc = subprocess.run(
                    [sys.executable, str(HERE / "run.py"), "--rss", protocol, "--chunks", str(n), "--base", self.base],
                    cwd=str(ROOT), env=_ENV, stdout=subprocess.PIPE, stderr=self.log, text=True,
                    timeout=600,
                )
                lines = proc.stdout.strip().splitlines()
                try:
                    self.rss.setdefault(protocol, {})[n] = json.loads(lines[-1])
                except (IndexError, ValueError):
                    self.rss.setdefault(protocol, {})[n] = {"error": f"exit {proc.returncode} (see the log)"}

    def import_modules(self) -> List[str]:
        return ["requests", "llm_connector"] + self.peers

    def measure_imports(self) -> None:
        modules = self.import_modules()
        rows = modules + [_AFTER_REQUESTS, "llm_connector.protocols.openai"]
        self.say("import time: {}, median of 7".format(", ".join(modules)))
        for row in rows:  # warm-up: bytecode written, the page cache filled
            _time_import(row)
        for rep in range(7):
            for row in rows:
                if self.quick and rep >= 3 and row in PEERS:
                    continue
                found = _time_import(row)
                slot = self.imports.setdefault(row, {"t": [], "modules": 0})
                if found is not None:
                    slot["t"].append(found[0])
                    slot["modules"] = found[1]
                    if found[2]:
                        pass

    # -- the whole run

    def run(self) -> "Report":
        proc, self.base = _start_server()
        try:
            if not self.args.skip_imports:
                self.measure_imports()
            self.measure_throughput()
            self.measure_ttfb()
            self.measure_delay()
            for worker in self.workers.values():
                worker.close()
            if not self.args.skip_rss:
                self.measure_rss()
        finally:
            for worker in self.workers.values():
                worker.close()
            proc.kill()
            proc.wait()
            self.log.close()
        return Report(self)


# =============================================================================================================
# The report
# =============================================================================================================


def _fmt_rate(value: float) -> str:
    return f"{value:,.0f}" if value == value else "—"


def _fmt_ratio(value: float, unit: str = "×") -> str:
    return f"{value:.2f}{unit}" if value == value else "—"


def _version(distribution: str) -> str:
    try:
        from importlib.metadata import version

        return version(distribution)
    except Exception:  # noqa: BLE001 - a version is only shown
        return ""


def _checkout() -> str:
    """llm_connector's version and the commit of this checkout, marked when its files differ from the commit."""
    from llm_connector import __version__

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=str(ROOT), stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, timeout=30).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--", "llm_connector"], cwd=str(ROOT),
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                 timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return str(__version__)
    if not head:
        return str(__version__)
    return f"{__version__} ({head}{' + local changes' if changed else ''})"


def _verdict(ok: Optional[bool]) -> str:
    return "—" if ok is None else ("PASS" if ok else "**FAIL**")


class Report:
    def __init__(self, bench: Bench) -> None:
        self.b = bench
        self.targets: List[Tuple[str, str, str, str]] = []  # (target, measured, wanted, verdict)

    def _slot(self, client: str, protocol: str, framing: str) -> Optional[Dict[str, Any]]:
        return self.b.throughput.get((client, protocol, framing))

    def rate(self, client: str, protocol: str, framing: str = "chunked") -> float:
        """Median chunks/s (NaN when a run failed or its text was wrong)."""
        slot = self._slot(client, protocol, framing)
        if not slot or not slot["wall"] or slot["notes"]:
            return float("nan")
        return float(slot["n"] / _median(list(slot["wall"].values())))

    def cpu(self, client: str, protocol: str, framing: str = "chunked") -> float:
        """Median CPU seconds per 1,000 chunks."""
        slot = self._slot(client, protocol, framing)
        if not slot or not slot["cpu"]:
            return float("nan")
        return float(_median(list(slot["cpu"].values())) / slot["n"] * 1000)

    def ratios(self, a: str, b: str, protocol: str, framing: str = "chunked", key: str = "wall") -> List[float]:
        """Per round: (a's chunks/s) / (b's chunks/s), the two runs of one round side by side: steadier than a
        ratio of medians on a machine whose speed drifts. ``key="cpu"``: CPU per chunk a / b."""
        one, two = self._slot(a, protocol, framing), self._slot(b, protocol, framing)
        if not one or not two or one["notes"] or two["notes"]:
            return []
        rounds = [r for r in one[key] if r in two[key]]
        if key == "cpu":
            return [(one[key][r] / one["n"]) / (two[key][r] / two["n"]) for r in rounds]
        return [(one["n"] / one[key][r]) / (two["n"] / two[key][r]) for r in rounds]

    def ratio(self, a: str, b: str, protocol: str, framing: str = "chunked", key: str = "wall") -> float:
        """The median of ``ratios``."""
        return _median(self.ratios(a, b, protocol, framing, key))

    def ratio_text(self, a: str, b: str, protocol: str, framing: str = "chunked") -> str:
        """``1.31× (1.20–1.45)``: the median and the range over the rounds."""
        values = self.ratios(a, b, protocol, framing)
        if not values:
            return "—"
        return f"{_median(values):.2f}× ({min(values):.2f}–{max(values):.2f})"

    def delay_ms(self, client: str, protocol: str, framing: str) -> float:
        return _median(self.b.delay.get((client, protocol, framing), {"t": []})["t"]) * 1000

    def ttfb(self, client: str, protocol: str) -> float:
        return _median(self.b.ttfb.get((client, protocol), {"t": []})["t"])

    def render(self) -> str:
        b = self.b
        out = ["# llm_connector benchmark", ""]
        command = "python -m tests.benchmarks.run" + (" --quick" if b.quick else "")
        out.append(f"`{command}` on {time.strftime('%Y-%m-%d %H:%M')}, Python {platform.python_version()}, "
                   f"{_cpu_name()} ({os.cpu_count() or 0} CPUs), {platform.system()}.")
        versions = ", ".join(f"{m} {v}" for m, v in sorted(b.versions.items()) if v)
        if versions:
            out.append(f"Versions: {versions}.")
        missing = [f"`{p}` ({why})" for p, why in b.protocols_missing.items()]
        missing += [f"`{p}` (not installed)" for p in b.peers_missing]
        if missing:
            out.append("Skipped: {}.".format(", ".join(missing)))
        out.append("")
        out += self.throughput_section()
        out += self.import_section()
        out += self.rss_section()
        out += self.delay_section()
        out += self.ttfb_section()
        out += self.target_section()
        return "\n".join(out) + "\n"

    def throughput_section(self) -> List[str]:
        b = self.b
        out = [f"## Throughput (median of {b.reps} interleaved rounds, {b.n} chunks a stream)", "",
               "| protocol | framing | client | chunks/s | × floor, median (min–max) | CPU ÷ floor | text |",
               "|---|---|---|---:|---:|---:|---|"]
        for client, protocol, framing in b.cases():
            slot = self._slot(client, protocol, framing) or {"wall": {}, "cpu": {}, "n": 0, "notes": set()}
            cpu_ratio = _fmt_ratio(self.ratio(client, "floor", protocol, framing, "cpu"), "")
            text = "; ".join(sorted(slot["notes"])) or ("bytes exact" if client == "raw socket" else "exact")
            name = client if slot["n"] == b.n else f"{client} ({slot['n']} chunks)"
            if client == "llm_connector":
                name = "**llm_connector**"
            out.append("| {} | {} | {} | {} | {} | {} | {} |".format(
                protocol, framing, name, _fmt_rate(self.rate(client, protocol, framing)),
                self.ratio_text(client, "floor", protocol, framing), cpu_ratio, text))
        for protocol, why in b.protocols_missing.items():
            out.append(f"| {protocol} | — | llm_connector | — | — | — | skipped: {why} |")
        out += ["", "`raw socket` only counts bytes: the server's speed, far above any client. `ceiling` is the "
                "parse-only ceiling: a raw socket, lines split as they arrive, `json.loads` on each event and the "
                "text picked out (no HTTP, no checks, no objects). `floor` is `requests` + `iter_lines` + "
                "`json.loads` + picking the text, per protocol, reading each body to its end so that its "
                "connection is reused (as llm_connector does). The × and ÷ columns are medians of per-round "
                "ratios (the two runs of a round side by side), with their range over the rounds. Raw figures: "
                "`results/latest.json`.", ""]
        for protocol in b.wanted:
            for framing in FRAMINGS:
                label = f"throughput ≥ {FLOOR_TARGET:g}× floor, {protocol}, {framing}"
                if protocol in b.protocols_missing:
                    why = b.protocols_missing[protocol]
                    self.targets.append((label, "—", f"≥ {FLOOR_TARGET:.2f}×", f"SKIP ({why})"))
                    continue
                ratio = self.ratio("llm_connector", "floor", protocol, framing)
                self.targets.append((label, self.ratio_text("llm_connector", "floor", protocol, framing),
                                     f"≥ {FLOOR_TARGET:.2f}×",
                                     _verdict(ratio >= FLOOR_TARGET if ratio == ratio else False)))
        for peer, (protocol, want) in PEERS.items():
            label = f"throughput ≥ {want:g}× {peer} ({protocol} protocol, chunked)"
            if protocol not in b.wanted:
                continue
            if peer not in b.peers:
                self.targets.append((label, "—", f"≥ {want:g}×", "SKIP (not installed)"))
                continue
            ratio = self.ratio("llm_connector", peer, protocol)
            self.targets.append((label, self.ratio_text("llm_connector", peer, protocol), f"≥ {want:g}×",
                                 _verdict(ratio >= want if ratio == ratio else False)))
        return out

    def import_section(self) -> List[str]:
        b = self.b
        if not b.imports:
            return []
        base = _median(b.imports.get("requests", {}).get("t", []))
        out = ["## Import time (fresh interpreter, bytecode cached, median of 7)", "",
               "| import | ms | modules loaded | − requests ms |", "|---|---:|---:|---:|"]
        for module, slot in b.imports.items():
            t = _median(slot["t"])
            if module == _AFTER_REQUESTS:
                extra = "%+.1f" % (t * 1000)
            elif module == "requests":
                extra = "—"
            else:
                extra = "%+.1f" % ((t - base) * 1000)
            label = _IMPORT_LABELS.get(module, module)
            out.append(f"| {label} | {t * 1000:.1f} | {slot['modules']} | {extra} |")
        out += ["", "The row with requests already imported times exactly what `import llm_connector` adds to "
                "`import requests` (two fresh interpreters differ by more than that on a busy machine).", ""]
        added = _median(b.imports.get(_AFTER_REQUESTS, {}).get("t", [])) * 1000
        self.targets.append(("`import llm_connector` ≤ 15 ms over `import requests`", f"{added:+.1f} ms", "≤ 15 ms",
                             _verdict(added <= 15 if added == added else False)))
        return out

    def rss_section(self) -> List[str]:
        b = self.b
        if not b.rss:
            return []
        out = ["## Peak RSS, llm_connector (fresh process each; nothing kept but a running hash of the text)", "",
               "| protocol | after warm-up MB | peak 20k chunks MB | peak 200k chunks MB | growth MB | text |",
               "|---|---:|---:|---:|---:|---|"]
        worst = float("nan")
        for protocol, by_n in b.rss.items():
            small, large = by_n.get(20000, {}), by_n.get(200000, {})
            if "peak_kb" not in small or "peak_kb" not in large:
                out.append("| {} | — | — | — | — | {} |".format(protocol, small.get("error") or large.get("error")))
                worst = float("inf")
                continue
            growth = (large["peak_kb"] - small["peak_kb"]) / 1024.0
            worst = growth if worst != worst else max(worst, growth)
            ok = small["ok"] and large["ok"]
            out.append("| {} | {:.1f} | {:.1f} | {:.1f} | {:+.1f} | {} |".format(
                protocol, small["before_kb"] / 1024.0, small["peak_kb"] / 1024.0, large["peak_kb"] / 1024.0, growth,
                "exact" if ok else "**wrong**"))
        out.append("")
        self.targets.append(("peak RSS at 200k within 5 MB of 20k (worst protocol)", f"{worst:+.1f} MB", "≤ 5 MB",
                             _verdict(worst <= 5 if worst == worst else False)))
        return out

    def delay_section(self) -> List[str]:
        b = self.b
        out = ["## Delivery delay (first text event written, 500 ms of silence; median ms until the loop sees it)",
               "", "| client | protocol | chunked ms | close-delimited ms |", "|---|---|---:|---:|"]
        worst = float("nan")
        for client, protocol in b.delay_cases():
            cells = []
            for framing in ("chunked", "close"):
                slot = b.delay.get((client, protocol, framing), {"t": [], "notes": set()})
                t = _median(slot["t"]) * 1000
                cells.append((f"{t:.1f}" if t == t else "—") + (" ({})".format("; ".join(sorted(slot["notes"])))
                                                                if slot["notes"] else ""))
                if client == "llm_connector":
                    worst = t if worst != worst else max(worst, t if t == t else float("inf"))
            name = "**llm_connector**" if client == "llm_connector" else client
            out.append(f"| {name} | {protocol} | {cells[0]} | {cells[1]} |")
        out += ["", "`floor` reads with `iter_lines()`, which fills 512-byte reads: on a close-delimited body it holds "
                "an event until 512 bytes more arrive or the body ends.", ""]
        self.targets.append(("delivery delay ≤ 10 ms, both framings (worst protocol)", f"{worst:.1f} ms", "≤ 10 ms",
                             _verdict(worst <= 10 if worst == worst else False)))
        return out

    def ttfb_section(self) -> List[str]:
        b = self.b
        out = ["## Time to first chunk (20-chunk streams, warm client, connection reused, median)", "",
               "| protocol | client | ms | × floor | − floor ms |", "|---|---|---:|---:|---:|"]
        for client, protocol in b.ttfb_cases():
            slot = b.ttfb.get((client, protocol), {"t": [], "notes": set()})
            t, floor = self.ttfb(client, protocol), self.ttfb("floor", protocol)
            note = " ({})".format("; ".join(sorted(slot["notes"]))) if slot["notes"] else ""
            name = "**llm_connector**" if client == "llm_connector" else client
            out.append("| {} | {} | {} | {} | {} |".format(
                protocol, name, f"{t * 1000:.2f}{note}" if t == t else "—" + note,
                "%.2f×" % (t / floor) if t == t and floor == floor else "—",
                "%+.2f" % ((t - floor) * 1000) if t == t and floor == floor else "—"))
        out.append("")
        for protocol in b.protocols:
            t, floor = self.ttfb("llm_connector", protocol), self.ttfb("floor", protocol)
            ratio = t / floor if t == t and floor == floor else float("nan")
            self.targets.append((f"time to first chunk ≤ floor's, {protocol}", _fmt_ratio(ratio), "≤ 1.00×",
                                 _verdict(ratio <= 1.0 if ratio == ratio else False)))
        return out

    def target_section(self) -> List[str]:
        self.targets.append(("no per-chunk work that can be done once per stream", "see the profile", "—",
                             "review (not measured here)"))
        out = ["## Targets (issues 8 and 19)", "", "| target | measured | wanted | verdict |", "|---|---:|---:|---|"]
        for row in self.targets:
            out.append("| {} | {} | {} | {} |".format(*row))
        return out


    def readme(self) -> str:
        """The README's performance section for this run (``--write``): call after ``render``."""
        b = self.b
        protocols = list(b.wanted)
        out = [README_START,
               f"One run of `python -m tests.benchmarks.run --write` on {time.strftime('%Y-%m-%d %H:%M %Z')}: "
               f"{_cpu_name()} ({os.cpu_count() or 0} CPUs), {platform.system()}, Python "
               f"{platform.python_version()}, llm_connector {b.versions.get('llm_connector', '')}, requests "
               f"{b.versions.get('requests', '')}; {b.n:,}-chunk streams, {b.reps} interleaved rounds. Each ratio is "
               "the median of the per-round ratios, with their range (min–max).",
               "",
               "| llm_connector ÷ … | " + " | ".join(protocols) + " |",
               "|---|" + "---:|" * len(protocols)]
        names = {"chunked": "chunked", "close": "close-delimited", "length": "Content-Length"}
        for framing in FRAMINGS:
            out.append(f"| × floor throughput, {names[framing]} | "
                       + " | ".join(self.ratio_text("llm_connector", "floor", p, framing) for p in protocols) + " |")
        out.append("| × parse-only ceiling throughput, chunked | "
                   + " | ".join(self.ratio_text("llm_connector", "ceiling", p) for p in protocols) + " |")
        cells = []
        for p in protocols:
            peers = [peer for peer in b.peers if PEERS[peer][0] == p]
            cells.append("; ".join(f"{self.ratio_text('llm_connector', peer, p)} `{peer}`" for peer in peers) or "–")
        out.append("| × the services' clients throughput, chunked | " + " | ".join(cells) + " |")
        cells = []
        for p in protocols:
            t, floor = self.ttfb("llm_connector", p), self.ttfb("floor", p)
            cells.append(f"{t / floor:.2f}× ({t * 1000:.2f} / {floor * 1000:.2f} ms)" if t == t and floor == floor
                         else "—")
        out.append("| time to first chunk ÷ floor's (warm, both reusing the connection) | " + " | ".join(cells) + " |")
        cells = []
        for p in protocols:
            values = [self.delay_ms("llm_connector", p, f) for f in ("chunked", "close")]
            cells.append(" / ".join(f"{v:.1f}" if v == v else "—" for v in values) + " ms")
        out.append("| delivery delay, chunked / close-delimited | " + " | ".join(cells) + " |")
        cells = []
        for p in protocols:
            by_n = b.rss.get(p, {})
            small, large = by_n.get(20000, {}), by_n.get(200000, {})
            cells.append("%+.1f MB" % ((large["peak_kb"] - small["peak_kb"]) / 1024.0)
                         if "peak_kb" in small and "peak_kb" in large else "—")
        out.append("| peak RSS growth, 20k → 200k chunks | " + " | ".join(cells) + " |")
        out.append("")
        added = _median(b.imports.get(_AFTER_REQUESTS, {}).get("t", [])) * 1000
        floor_delay = [self.delay_ms("floor", "openai", f) for f in ("chunked", "close")]
        out.append(f"`import llm_connector` adds {added:.1f} ms to `import requests`. The floor's delivery delay "
                   f"(`iter_lines`): {floor_delay[0]:.1f} ms chunked, {floor_delay[1]:.1f} ms close-delimited.")
        failed = [row for row in self.targets if "FAIL" in row[3]]
        checked = [row for row in self.targets if row[3] in ("PASS", "**FAIL**")]
        out.append(f"Targets met in this run: {len(checked) - len(failed)} of {len(checked)}"
                   + ("." if not failed else "; not met: " + "; ".join(f"{r[0]} ({r[1]})" for r in failed) + "."))
        out.append(README_END)
        return "\n".join(out) + "\n"


def write_readme(section: str, path: Path = ROOT / "README.md") -> None:
    """Replace the text between the README's benchmark markers with ``section`` (markers included)."""
    text = path.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise SystemExit(f"{path.name} has no {README_START} ... {README_END} markers")
    path.write_text(text[:start] + section.rstrip("\n") + text[end + len(README_END):], encoding="utf-8")


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="llm_connector benchmark (issue 8)")
    parser.add_argument("--quick", action="store_true", help="fewer chunks and rounds (about a minute)")
    parser.add_argument("--chunks", type=int, default=0, help="chunks a stream (default 20000, quick 5000)")
    parser.add_argument("--reps", type=int, default=0, help="interleaved rounds (default 7, quick 3)")
    parser.add_argument("--skip", action="append", default=[], choices=sorted(PEERS), help="leave a peer out")
    parser.add_argument("--protocol", action="append", choices=PROTOCOLS, help="only this protocol (repeatable)")
    parser.add_argument("--skip-imports", action="store_true", help="leave out the import times")
    parser.add_argument("--skip-rss", action="store_true", help="leave out the peak RSS runs")
    parser.add_argument("--write", action="store_true",
                        help="write this run's results into the README's performance section (a full run: every "
                             "protocol, at least 7 rounds)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--rss", help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker_main(args.worker, args.base)
        return 0
    if args.rss:
        _rss_main(args.rss, args.chunks, args.base)
        return 0
    if args.write and (args.quick or args.protocol or args.skip_imports or args.skip_rss
                       or (args.reps and args.reps < 7) or (args.chunks and args.chunks < 20000)):
        parser.error("--write needs a full run: every protocol, imports and RSS, at least 7 rounds of at least "
                     "20000 chunks")
    bench = Bench(args)
    result = bench.run()
    report = result.render()
    RESULTS.mkdir(parents=True, exist_ok=True)
    raw = {f"{client} / {protocol} / {framing}": {"n": slot["n"], "wall": slot["wall"], "cpu": slot["cpu"],
                                                  "notes": sorted(slot["notes"])}
           for (client, protocol, framing), slot in bench.throughput.items()}
    (RESULTS / "latest.json").write_text(json.dumps({"throughput": raw}, indent=1), encoding="utf-8")
    latest = RESULTS / "latest.md"
    latest.write_text(report, encoding="utf-8")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"{stamp}.md").write_text(report, encoding="utf-8")
    section = result.readme()
    (RESULTS / f"{stamp}-readme.md").write_text(section, encoding="utf-8")
    print(report)
    print(f"written to {latest.relative_to(ROOT)}")
    if args.write:
        write_readme(section)
        print("README.md: performance section written from this run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
