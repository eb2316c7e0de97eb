"""Batch benchmark: ``chat_batch`` speedup against concurrency, and peak memory against the number of requests.

    python -m tests.benchmarks.batch            # 1,000 requests at concurrency 1, 8, 32, 64; about 5 minutes
    python -m tests.benchmarks.batch --quick    # 200 requests; about 1 minute

1. **Speedup.** A local server (``llm_connector.testing.LocalServer``) answers each request after 200 ms. The
   same 1,000 requests go through ``client.chat_batch`` at each concurrency; the ideal wall time is
   ``requests x 0.2 s / concurrency``, the speedup is the time at concurrency 1 over the time at ``c``, and
   the efficiency is the speedup over ``c`` (goal: at least 0.8 up to 32 on this machine).
2. **Memory.** The ``llm-connector-batch`` command answers N and then 5 x N requests (no delay) into a file in
   a fresh process each; its peak RSS (``ru_maxrss`` from ``os.wait4``) should not grow with N: results stream
   to the file, the input is read lazily.

The report goes to stdout and ``results/batch.md``; with matplotlib installed, the speedup plot is written to
``batch_speedup.png`` beside this file (the README shows it).
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Tuple

from llm_connector import ChatRequest, LlmClient, Message
from llm_connector.testing import LocalServer, Pause, Reply

HERE = pathlib.Path(__file__).resolve().parent
DELAY = 0.2
GOAL = 0.8


def _answer(delay: float) -> Reply:
    parts = ['data: {"choices":[{"index":0,"delta":{"content":"ok"}}]}\n\n',
             'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n', "data: [DONE]\n\n"]
    return Reply(headers={"Content-Type": "text/event-stream"}, parts=([Pause(delay)] if delay else []) + parts)


def timed_batch(url: str, count: int, concurrency: int) -> float:
    client = LlmClient.openai("sk-bench", base_url=url + "/v1")
    requests = (ChatRequest(model="m", messages=[Message.user(str(n))]) for n in range(count))
    start = time.perf_counter()
    results = client.chat_batch(requests, concurrency=concurrency, progress=False, total=count)
    failed = sum(1 for r in results if not r.ok)
    elapsed = time.perf_counter() - start
    if failed:
        raise SystemExit(f"{failed} requests failed at concurrency {concurrency}")
    return elapsed


def speedups(count: int, levels: List[int]) -> Dict[int, float]:
    times: Dict[int, float] = {}
    with LocalServer() as server:
        server.route("POST", "/v1/chat/completions", _answer(DELAY))
        for concurrency in levels:
            times[concurrency] = timed_batch(server.url, count, concurrency)
            print(f"  concurrency {concurrency:>3}: {times[concurrency]:7.2f} s", file=sys.stderr)
    return times


def peak_rss(url: str, count: int, workdir: pathlib.Path) -> int:
    """Peak RSS (KiB) of one ``llm-connector-batch`` process answering ``count`` requests into a file."""
    source = workdir / f"in-{count}.jsonl"
    with open(source, "w", encoding="utf-8") as f:
        for n in range(count):
            f.write(json.dumps({"id": f"q{n}", "prompt": f"question {n} " + "x" * 200}) + "\n")
    target = workdir / f"out-{count}.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    process = subprocess.run(
        [sys.executable, "-c", _MEASURED, str(source), "-o", str(target), "--provider", "openai_compatible",
         "--base-url", url + "/v1", "--model", "m", "--concurrency", "16", "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    with open(target, encoding="utf-8") as f:
        lines = sum(1 for _ in f)
    if process.returncode != 0 or lines != count:
        raise SystemExit(f"the batch command failed: exit {process.returncode}, {lines} of {count} lines")
    return int(process.stderr.rsplit("PEAK ", 1)[1].split()[0])


#: Runs the batch command, then prints its peak RSS in KiB: VmHWM (this process image only; ru_maxrss would
#: also count the parent's pages at fork time), else ru_maxrss.
_MEASURED = """
import resource, runpy, sys
sys.argv = ["llm-connector-batch"] + sys.argv[1:]
code = 0
try:
    runpy.run_module("llm_connector.batch", run_name="__main__", alter_sys=True)
except SystemExit as exit:
    code = exit.code
try:
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM"))
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("PEAK", peak, file=sys.stderr)
sys.exit(code)
"""


def memory(small: int) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    with LocalServer() as server, tempfile.TemporaryDirectory() as tmp:
        server.route("POST", "/v1/chat/completions", _answer(0.0))
        workdir = pathlib.Path(tmp)
        first = (small, peak_rss(server.url, small, workdir))
        second = (5 * small, peak_rss(server.url, 5 * small, workdir))
    return first, second


def plot(times: Dict[int, float], count: int, path: pathlib.Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    base = times[min(times)]
    levels = sorted(times)
    figure, axes = plt.subplots(figsize=(5, 3.5), dpi=100)
    axes.plot(levels, [base / times[c] for c in levels], "o-", label="chat_batch")
    axes.plot(levels, levels, "--", color="grey", label="ideal")
    axes.plot(levels, [GOAL * c for c in levels], ":", color="grey", label=f"{GOAL}x ideal")
    axes.set_xscale("log", base=2)
    axes.set_yscale("log", base=2)
    axes.set_xticks(levels)
    axes.set_xticklabels([str(c) for c in levels])
    axes.set_xlabel("concurrency")
    axes.set_ylabel("speedup over concurrency 1")
    axes.set_title(f"{count:,} requests, 200 ms each")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 requests, smaller memory runs")
    parser.add_argument("--requests", type=int, help="requests per concurrency level (default 1000)")
    parser.add_argument("--levels", default="1,8,32,64", help="concurrency levels (default 1,8,32,64)")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--memory-only", action="store_true", help="only the peak RSS runs")
    args = parser.parse_args()
    count = args.requests or (200 if args.quick else 1000)
    levels = sorted({1} | {int(x) for x in args.levels.split(",")})  # speedups are over concurrency 1
    if args.memory_only:
        print(memory(400 if args.quick else 2000))
        return
    print(f"speedup: {count} requests, {DELAY * 1000:.0f} ms each", file=sys.stderr)
    times = speedups(count, levels)
    print("memory: the batch command, N and 5 x N requests", file=sys.stderr)
    (small, small_rss), (large, large_rss) = memory(400 if args.quick else 2000)
    base = times[min(levels)]
    lines = [f"# Batch benchmark ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
             f"Python {sys.version.split()[0]})", "",
             f"{count} requests through `client.chat_batch`, the local server answering each after 200 ms.", "",
             "| concurrency | wall time | ideal | speedup | efficiency (goal ≥ 0.8 up to 32) |",
             "|---:|---:|---:|---:|---:|"]
    for c in levels:
        ideal = count * DELAY / c
        speedup = base / times[c]
        lines.append(f"| {c} | {times[c]:.2f} s | {ideal:.2f} s | {speedup:.1f}× | {speedup / c:.2f} |")
    lines += ["", "Peak RSS of `llm-connector-batch` writing its results to a file:", "",
              "| requests | peak RSS |", "|---:|---:|",
              f"| {small:,} | {small_rss / 1024:.1f} MB |", f"| {large:,} | {large_rss / 1024:.1f} MB |", "",
              f"Growth for 5× the requests: {(large_rss - small_rss) / 1024:+.1f} MB."]
    verdicts = [f"efficiency at {c}: {'PASS' if base / times[c] / c >= GOAL else 'FAIL'}" for c in levels
                if 1 < c <= 32]
    lines += ["", "Targets: " + ", ".join(verdicts)]
    report = "\n".join(lines) + "\n"
    print(report)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "batch.md").write_text(report, encoding="utf-8")
    if not args.no_plot and plot(times, count, HERE / "batch_speedup.png"):
        print(f"plot: {HERE / 'batch_speedup.png'}", file=sys.stderr)


if __name__ == "__main__":
    main()
