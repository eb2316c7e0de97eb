"""Load on the gateway: 64 concurrent streaming callers for 30 s, through the OpenAI API, against the local
benchmark server (``server.py``, OpenAI's wire format).

Run by hand from the repository root (never by the unit suite)::

    .venv/bin/python -m tests.benchmarks.gateway                 # stdlib server, then gunicorn when installed
    .venv/bin/python -m tests.benchmarks.gateway --seconds 10 --callers 16 --server stdlib

Each caller is a thread of this process posting ``stream: true`` requests with ``http.client`` one after
another, reading each answer to its end and checking its text against the text the upstream server sent (every
stream complete and correct, or it is counted as a failure). Reported: requests/s, streamed chunks/s, time to
first byte (p50/p99) and to the whole answer, the gateway processes' CPU per streamed chunk next to the library
alone (one ``LlmClient`` streaming straight from the same server, in-process), and the gateway's RSS sampled
through the run (memory flat: the last sample against the first after warm-up).
"""

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.benchmarks.server import expected_text, model_name  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_upstream() -> Tuple["subprocess.Popen[str]", str]:
    process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "benchmarks" / "server.py")],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    return process, f"http://127.0.0.1:{int(line.split()[1])}"


def _wait_up(port: int, process: "subprocess.Popen[bytes]", timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the gateway did not come up")


def _start_gateway(kind: str, upstream: str, port: int) -> "subprocess.Popen[bytes]":
    env = dict(os.environ, OPENAI_API_KEY="sk-bench", OPENAI_BASE_URL=upstream + "/v1",
               LLM_CONNECTOR_PROVIDER="openai")
    if kind == "stdlib":
        command = [sys.executable, "-m", "llm_connector.gateway", "--port", str(port)]
    else:
        command = [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", "2", "--threads", "32",
                   "-b", f"127.0.0.1:{port}", "--log-level", "warning", "llm_connector.gateway:app_from_env()"]
    process = subprocess.Popen(command, env=env, cwd=str(ROOT), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    _wait_up(port, process)
    return process


def _tree(pid: int) -> List[int]:
    """``pid`` and its children (gunicorn's workers)."""
    pids = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def _cpu_seconds(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / CLK


def _rss_mb(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


class Totals:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ok = 0
        self.failed = 0
        self.chunks = 0
        self.ttfb: List[float] = []
        self.whole: List[float] = []
        self.errors: Dict[str, int] = {}


def _caller(port: int, n: int, until: float, totals: Totals) -> None:
    body = json.dumps({"model": model_name(n), "stream": True,
                       "messages": [{"role": "user", "content": "go"}]}).encode()
    expected = expected_text(n)
    while time.monotonic() < until:
        started = time.monotonic()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            first = response.read1(65536) if hasattr(response, "read1") else response.read(1)
            ttfb = time.monotonic() - started
            raw = first + response.read()
            conn.close()
            texts = []
            chunks = 0
            done = False
            for line in raw.decode("utf-8").split("\n"):
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    done = True
                    continue
                obj = json.loads(data)
                for choice in obj.get("choices") or ():
                    text = choice.get("delta", {}).get("content")
                    if text:
                        texts.append(text)
                        chunks += 1
            right = "".join(texts) == expected
            ok = response.status == 200 and done and right
            why = "" if ok else f"status {response.status}, done={done}, text {'ok' if right else 'wrong'}"
        except Exception as exc:  # counted, never fatal: the run goes on
            ok, why, ttfb, chunks = False, type(exc).__name__, 0.0, 0
        whole = time.monotonic() - started
        with totals.lock:
            if ok:
                totals.ok += 1
                totals.chunks += chunks
                totals.ttfb.append(ttfb)
                totals.whole.append(whole)
            else:
                totals.failed += 1
                totals.errors[why] = totals.errors.get(why, 0) + 1


def _pct(values: List[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def library_alone(upstream: str, n: int, streams: int) -> float:
    """CPU seconds per chunk for ``LlmClient`` streaming straight from the upstream server, in this process."""
    from llm_connector import ChatRequest, LlmClient, Message

    client = LlmClient.openai("sk-bench", base_url=upstream + "/v1")
    request = ChatRequest(model=model_name(n), messages=[Message.user("go")])
    for _ in range(3):
        client.chat_stream(request).text()
    started = time.process_time()
    for _ in range(streams):
        assert client.chat_stream(request).text() == expected_text(n)
    return (time.process_time() - started) / (streams * n)


def run(kind: str, upstream: str, callers: int, seconds: float, n: int) -> Dict[str, Any]:
    port = _free_port()
    gateway = _start_gateway(kind, upstream, port)
    try:
        pids = _tree(gateway.pid)
        warm = Totals()
        _caller(port, n, time.monotonic() + 2, warm)  # warm-up: imports, first connections
        pids = _tree(gateway.pid)
        totals = Totals()
        cpu_before = _cpu_seconds(pids)
        rss: List[float] = [_rss_mb(pids)]
        until = time.monotonic() + seconds
        threads = [threading.Thread(target=_caller, args=(port, n, until, totals), daemon=True)
                   for _ in range(callers)]
        started = time.monotonic()
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            time.sleep(min(2.0, max(0.1, until - time.monotonic())))
            rss.append(_rss_mb(_tree(gateway.pid)))
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        cpu = _cpu_seconds(pids) - cpu_before
    finally:
        os.killpg(gateway.pid, signal.SIGTERM)
        gateway.wait(15)
    return {"kind": kind, "callers": callers, "seconds": elapsed, "ok": totals.ok, "failed": totals.failed,
            "errors": totals.errors, "rps": totals.ok / elapsed, "chunks_per_s": totals.chunks / elapsed,
            "ttfb_p50": _pct(totals.ttfb, 50), "ttfb_p99": _pct(totals.ttfb, 99),
            "whole_p50": _pct(totals.whole, 50), "cpu_per_chunk": cpu / max(1, totals.chunks),
            "rss_first": rss[0], "rss_last": rss[-1], "rss_max": max(rss)}


def report(results: List[Dict[str, Any]], alone: float, n: int) -> str:
    lines = [f"Gateway load: OpenAI API, {n}-chunk streams from the benchmark server (OpenAI wire format), "
             f"callers in one process with http.client; CPU of the gateway processes only.", "",
             "| server | callers | s | streams ok | failed | streams/s | chunks/s | TTFB p50 | TTFB p99 | "
             "whole p50 | gateway CPU/chunk | vs library alone | RSS first → last (max) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['kind']} | {r['callers']} | {r['seconds']:.0f} | {r['ok']} | {r['failed']} | {r['rps']:.1f} | "
            f"{r['chunks_per_s']:.0f} | {r['ttfb_p50'] * 1000:.0f} ms | {r['ttfb_p99'] * 1000:.0f} ms | "
            f"{r['whole_p50'] * 1000:.0f} ms | {r['cpu_per_chunk'] * 1e6:.0f} µs | "
            f"{r['cpu_per_chunk'] / alone:.1f}× | {r['rss_first']:.0f} → {r['rss_last']:.0f} ({r['rss_max']:.0f}) MB |")
        if r["errors"]:
            lines.append(f"|  | failures: {r['errors']} |" + " |" * 11)
    lines.append("")
    lines.append(f"Library alone (`LlmClient.chat_stream` from the same server, in-process): "
                 f"{alone * 1e6:.1f} µs CPU per chunk.")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--callers", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--chunks", type=int, default=200, help="text chunks per stream")
    parser.add_argument("--server", action="append", choices=["stdlib", "gunicorn"],
                        help="which servers (default: stdlib, and gunicorn when installed)")
    args = parser.parse_args(argv)
    kinds = args.server or ["stdlib"] + (["gunicorn"] if _installed("gunicorn") else [])
    upstream_process, upstream = _start_upstream()
    try:
        alone = library_alone(upstream, args.chunks, 50)
        results = []
        for kind in kinds:
            sys.stderr.write(f"{kind}: {args.callers} callers for {args.seconds:.0f} s ...\n")
            results.append(run(kind, upstream, args.callers, args.seconds, args.chunks))
    finally:
        upstream_process.terminate()
        upstream_process.wait(10)
    text = report(results, alone, args.chunks)
    print(text)
    failed = sum(r["failed"] for r in results)
    return 1 if failed else 0


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    sys.exit(main())
