"""Where llm_connector's time goes per chunk, layer by layer, next to the floor; and a cProfile of the hot path.

From the repository root::

    python -m tests.benchmarks.hotpath                    # every protocol: the layer table
    python -m tests.benchmarks.hotpath --profile gemini   # plus cProfile's top functions, in µs per chunk

Layers (CPU µs per chunk, best of several interleaved runs, one process, the benchmark server in another):

- ``floor: iter_lines`` — ``requests`` + ``iter_lines()`` alone; ``floor: + json + text`` — the whole floor.
- ``transport bytes`` — llm_connector's ``Transport.iter_bytes`` alone (a chunked body read in bulk).
- ``offline lines`` / ``offline + json`` / ``offline decode_stream`` — the parser on the body already in
  memory, in 64 KB pieces (as the transport hands out a body): the SSE/NDJSON decoder, then ``json.loads`` on
  each event, then the protocol's whole ``decode_stream`` (chunk objects included).
- ``chat_stream`` — the whole call as a user makes it (``client.chat_stream`` + ``chunk.content``).
"""

import argparse
import cProfile
import importlib.util
import io
import json
import pstats
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if sys.path and sys.path[0] and Path(sys.path[0]).resolve() == HERE:
    sys.path[0] = str(ROOT)
elif str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))



def _load_runner() -> ModuleType:
    """``run.py`` by path, as run.py loads ``server.py``: the name ``tests`` may belong to another package."""
    spec = importlib.util.spec_from_file_location("llm_connector_bench_run", HERE / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_runner()
server = bench.bench_server


def _cpu_us(fn: Callable[[], Any], n: int) -> float:
    """CPU µs per chunk of one run of ``fn`` over ``n`` chunks (CPU time: the machine's other load matters less)."""
    start = time.process_time()
    fn()
    return (time.process_time() - start) / n * 1e6


def _events(protocol: str, n: int) -> List[bytes]:
    build, _ = server.PROTOCOLS[protocol]
    body = b"".join(build(n)[0])
    return [body[i:i + 65536] for i in range(0, len(body), 65536)]  # as the transport reads: 64 KB at a time


def _offline(protocol: str, n: int) -> Dict[str, Callable[[], Any]]:
    from llm_connector import lines
    from llm_connector.protocols import Endpoint, load

    module = load(protocol)
    events = _events(protocol, n)
    endpoint = Endpoint(provider=protocol, base_url="http://x", options={})
    ndjson = protocol == "ollama"
    loads = json.loads

    def only_lines() -> None:
        for _ in (lines.iter_ndjson(events) if ndjson else lines.iter_sse(events)):
            pass

    def with_json() -> None:
        if ndjson:
            for line in lines.iter_ndjson(events):
                loads(line)
        else:
            for event in lines.iter_sse(events):
                if event.data[:1] == "{":
                    loads(event.data)

    def decode() -> None:
        for chunk in module.decode_stream(iter(events), endpoint):
            _ = chunk.content

    def floor_parse() -> None:
        # what iter_lines + json.loads do with the same pieces: lines split as bytes, loads per line
        rest = b""
        for piece in events:
            lines_ = (rest + piece).split(b"\n")
            rest = lines_.pop()
            for line in lines_:
                if ndjson:
                    if line:
                        loads(line)
                elif line[:6] == b"data: " and line[6:7] == b"{":
                    loads(line[6:])

    return {"offline floor parse (splitlines+json)": floor_parse, "offline lines": only_lines,
            "offline lines + json": with_json, "offline decode_stream": decode}


def _live(protocol: str, n: int, base: str) -> Dict[str, Callable[[], Any]]:
    import requests

    from llm_connector import ChatRequest, Message, Role

    model = server.model_name(n)
    floor_run = bench._setup_floor(base)
    client = bench._llm_client(protocol, base)
    backend = client._backend
    transport = backend.transport
    endpoint = backend.endpoint
    request = ChatRequest(model=model, messages=[Message.text(Role.USER, "hi")], max_tokens=1024, stream=True)
    session = requests.Session()
    url = base + bench._RAW_REQUESTS[protocol].format(model=model)

    def floor_lines() -> None:
        with session.post(url, json={"model": model}, stream=True) as r:
            for _ in r.iter_lines():
                pass

    def floor_all() -> None:
        floor_run(protocol, model)

    def transport_bytes() -> None:
        http = backend.protocol.encode_chat(request, endpoint, True)
        response = transport.send(http)
        for _ in transport.iter_bytes(response):
            pass
        response.close()

    def chat_stream() -> None:
        for chunk in client.chat_stream(request):
            _ = chunk.content

    return {"floor: iter_lines": floor_lines, "floor: + json + text": floor_all,
            "transport bytes": transport_bytes, "chat_stream": chat_stream}


def _profile(protocol: str, n: int, base: str, top: int) -> str:
    from llm_connector import ChatRequest, Message, Role

    client = bench._llm_client(protocol, base)
    request = ChatRequest(model=server.model_name(n), messages=[Message.text(Role.USER, "hi")], max_tokens=1024,
                          stream=True)
    for _ in client.chat_stream(request):
        pass
    profiler = cProfile.Profile()
    profiler.enable()
    for chunk in client.chat_stream(request):
        _ = chunk.content
    profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append((tottime, cumtime, calls, f"{_short(filename)}:{line}({name})"))
    rows.sort(reverse=True)
    total = sum(r[0] for r in rows)
    out = io.StringIO()
    out.write(f"cProfile, {protocol}, {n} chunks: {total / n * 1e6:.2f} µs/chunk under the profiler "
              "(it inflates every call)\n")
    out.write(f"{'self µs/ch':>10} {'cum µs/ch':>10} {'calls/chunk':>12}  function\n")
    for tottime, cumtime, calls, where in rows[:top]:
        out.write(f"{tottime / n * 1e6:10.3f} {cumtime / n * 1e6:10.3f} {calls / n:12.2f}  {where}\n")
    return out.getvalue()


def _short(filename: str) -> str:
    for marker in ("site-packages/", "lib/python3", "llm_connector/"):
        if marker in filename:
            tail = filename.split(marker, 1)[1]
            return ("llm_connector/" + tail) if marker == "llm_connector/" else tail.split("/", 1)[-1]
    return filename


def _layers(protocols: List[str], n: int, repeat: int, base: str) -> str:
    cases: List[Any] = []
    for protocol in protocols:
        for name, fn in list(_live(protocol, n, base).items()) + list(_offline(protocol, n).items()):
            fn()  # warm-up
            cases.append((name, protocol, fn))
    table: Dict[str, Dict[str, float]] = {}
    for _ in range(repeat):  # interleaved; the best run of each case
        for name, protocol, fn in cases:
            row = table.setdefault(name, {})
            row[protocol] = min(row.get(protocol, float("inf")), _cpu_us(fn, n))
    out = [f"CPU µs per chunk (best of {repeat} interleaved runs of {n} chunks)", "",
           "| layer | " + " | ".join(protocols) + " |", "|---|" + "---:|" * len(protocols)]
    for name, by_protocol in table.items():
        out.append("| {} | {} |".format(name, " | ".join(f"{by_protocol[p]:.2f}" for p in protocols)))
    floor, mine = table["floor: + json + text"], table["chat_stream"]
    ratios = " | ".join(f"{mine[p] / floor[p]:.2f}×" for p in protocols)
    out.append(f"| chat_stream ÷ floor (CPU) | {ratios} |")
    return "\n".join(out)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="llm_connector's hot path, layer by layer")
    parser.add_argument("--chunks", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--protocol", action="append", choices=bench.PROTOCOLS, help="default: every protocol")
    parser.add_argument("--profile", action="append", default=[], choices=bench.PROTOCOLS,
                        help="also print cProfile's top functions for this protocol")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    protocols = args.protocol or [p for p in bench.PROTOCOLS if bench._installed("llm_connector.protocols." + p)]
    proc, base = bench._start_server()
    try:
        print(_layers(protocols, args.chunks, args.repeat, base))
        for protocol in args.profile:
            print()
            print(_profile(protocol, args.chunks, base, args.top))
    finally:
        proc.kill()
        proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
