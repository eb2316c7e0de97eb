"""Helpers for the gateway tests: upstream scripts in each provider's exact wire format, and the gateway served
over a real socket by the standard library's threaded server, waitress or gunicorn."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Any, Dict, Iterator, List, Optional, Sequence

import pytest

from llm_connector import LlmClient
from llm_connector.gateway import make_app, make_server
from llm_connector.testing import Pause, Reply

SERVERS = ("wsgiref", "waitress", "gunicorn")
HERE = os.path.dirname(os.path.abspath(__file__))


def require(kind: str) -> None:
    """Skip (visibly) when the server ``kind`` is not installed."""
    if kind != "wsgiref":
        pytest.importorskip(kind, reason=f"{kind} is not installed (pip install -e '.[gateway-test]')")


def client_for(provider: str, upstream_url: str) -> LlmClient:
    """A client for ``provider`` pointed at the local server (no retries: a 429 reaches the caller at once)."""
    base = upstream_url + "/v1" if provider == "openai" else upstream_url
    if provider == "ollama":
        return LlmClient.ollama(base_url=base, max_retries=0)
    return LlmClient(provider, "sk-upstream-secret", base_url=base, max_retries=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_up(url: str, process: Optional["subprocess.Popen[bytes]"] = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up within {timeout}s")


@contextlib.contextmanager
def serve_in_process(app: Any, kind: str) -> Iterator[str]:
    """Serve ``app`` in this process with wsgiref's threaded server or waitress; yields the base URL."""
    if kind == "wsgiref":
        server = make_server(app, "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            server.server_close()
        return
    if kind == "waitress":
        import waitress

        wserver = waitress.create_server(app, host="127.0.0.1", port=0, threads=8)
        thread = threading.Thread(target=wserver.run, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{wserver.effective_port}"
        try:
            _wait_up(url)
            yield url
        finally:
            wserver.close()
        return
    raise ValueError(kind)


@contextlib.contextmanager
def serve_gunicorn(env: Dict[str, str]) -> Iterator[str]:
    """``gunicorn -k gthread ... 'llm_connector.gateway:app_from_env()'`` (the README's production form) with
    ``env``; yields the base URL."""
    port = _free_port()
    full = dict(os.environ)
    full.update(env)
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", "1", "--threads", "8", "-b", f"127.0.0.1:{port}",
         "--graceful-timeout", "1", "llm_connector.gateway:app_from_env()"],
        env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_up(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


def gunicorn_env(provider: str, upstream_url: str) -> Dict[str, str]:
    """The environment ``app_from_env`` reads for ``provider`` at the local server."""
    env = {"LLM_CONNECTOR_PROVIDER": provider}
    if provider == "anthropic":
        env.update(ANTHROPIC_API_KEY="sk-upstream-secret", ANTHROPIC_BASE_URL=upstream_url)
    elif provider == "openai":
        env.update(OPENAI_API_KEY="sk-upstream-secret", OPENAI_BASE_URL=upstream_url + "/v1")
    return env


@contextlib.contextmanager
def gateway(kind: str, provider: str, upstream_url: str, **options: Any) -> Iterator[str]:
    """The gateway for ``provider`` at ``upstream_url``, served by ``kind``; yields its base URL."""
    require(kind)
    if kind == "gunicorn":
        if options:
            pytest.skip("options are given in-process only")
        with serve_gunicorn(gunicorn_env(provider, upstream_url)) as url:
            yield url
        return
    app = make_app(client_for(provider, upstream_url), **options)
    with serve_in_process(app, kind) as url:
        yield url


# -- upstream scripts -------------------------------------------------------------------------------------


def capture(name: str) -> bytes:
    with open(os.path.join(HERE, "captures", name), "rb") as f:
        return f.read()


def _event(name: str, obj: Dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(obj)}\n\n"


def anthropic_stream(words: Sequence[str] = ("Hello", " world"), *, thinking: Sequence[str] = (),
                     tool: Optional[Dict[str, Any]] = None, pause: float = 0.0, stop: str = "end_turn",
                     input_tokens: int = 12, output_tokens: int = 7) -> Reply:
    """An Anthropic Messages event stream: optional thinking, the words as text deltas, an optional tool_use
    block (``{"id", "name", "pieces": [...]}``); ``pause`` seconds between the text deltas."""
    parts: List[Any] = [_event("message_start", {"type": "message_start", "message": {
        "id": "msg_up1", "type": "message", "role": "assistant", "content": [], "model": "claude-up",
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": input_tokens, "output_tokens": 1}}})]
    index = 0
    if thinking:
        parts.append(_event("content_block_start", {"type": "content_block_start", "index": index,
                                                    "content_block": {"type": "thinking", "thinking": ""}}))
        for piece in thinking:
            parts.append(_event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                        "delta": {"type": "thinking_delta", "thinking": piece}}))
        parts.append(_event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                    "delta": {"type": "signature_delta", "signature": "sig=="}}))
        parts.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    if words:
        parts.append(_event("content_block_start", {"type": "content_block_start", "index": index,
                                                    "content_block": {"type": "text", "text": ""}}))
        for i, word in enumerate(words):
            if pause and i:
                parts.append(Pause(pause))
            parts.append(_event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                        "delta": {"type": "text_delta", "text": word}}))
        parts.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    if tool:
        parts.append(_event("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
            "type": "tool_use", "id": tool["id"], "name": tool["name"], "input": {}}}))
        for piece in tool["pieces"]:
            parts.append(_event("content_block_delta", {"type": "content_block_delta", "index": index,
                                                        "delta": {"type": "input_json_delta", "partial_json": piece}}))
        parts.append(_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    parts.append(_event("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop,
                 "stop_sequence": None}, "usage": {"output_tokens": output_tokens}}))
    parts.append(_event("message_stop", {"type": "message_stop"}))
    return Reply(200, {"Content-Type": "text/event-stream"}, parts)


def openai_stream(words: Sequence[str] = ("Hello", " world"), *, reasoning: Sequence[str] = (),
                  tool: Optional[Dict[str, Any]] = None, pause: float = 0.0, finish: str = "stop",
                  usage: Optional[Dict[str, int]] = None) -> Reply:
    """An OpenAI chat.completion.chunk stream ending in ``data: [DONE]``; ``usage`` in a last chunk of its own."""
    def chunk(delta: Dict[str, Any], finish_reason: Optional[str] = None) -> str:
        obj = {"id": "chatcmpl-up1", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-up",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
        return "data: " + json.dumps(obj) + "\n\n"

    parts: List[Any] = [chunk({"role": "assistant", "content": ""})]
    for piece in reasoning:
        parts.append(chunk({"reasoning_content": piece}))
    for i, word in enumerate(words):
        if pause and i:
            parts.append(Pause(pause))
        parts.append(chunk({"content": word}))
    if tool:
        for i, piece in enumerate(tool["pieces"]):
            call: Dict[str, Any] = {"index": 0, "function": {"arguments": piece}}
            if i == 0:
                call.update(id=tool["id"], type="function")
                call["function"]["name"] = tool["name"]
            parts.append(chunk({"tool_calls": [call]}))
    parts.append(chunk({}, finish))
    if usage is not None:
        parts.append("data: " + json.dumps({"id": "chatcmpl-up1", "object": "chat.completion.chunk",
                                            "created": 1700000000, "model": "gpt-up", "choices": [],
                                            "usage": usage}) + "\n\n")
    parts.append("data: [DONE]\n\n")
    return Reply(200, {"Content-Type": "text/event-stream"}, parts)


def anthropic_429() -> Reply:
    return Reply.json({"type": "error", "error": {"type": "rate_limit_error", "message": "Number of requests "
                       "has exceeded your rate limit"}}, status=429, headers={"retry-after": "17"})
