"""``python -m llm_connector.gateway`` and the ``llm-connector-gateway`` script: a real process serving a provider
from the environment, one log line per request on stderr, no secrets in it."""

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from gateway_support import _free_port, _wait_up, anthropic_429, anthropic_stream

from llm_connector.presets import PRESETS
from llm_connector.testing import LocalServer

SCRIPT = os.path.join(os.path.dirname(sys.executable), "llm-connector-gateway")


def clean_env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")}
    for preset in PRESETS.values():
        for var in preset.env:
            env.pop(var, None)
    env.pop("LLM_CONNECTOR_PROVIDER", None)
    env.update(extra)
    return env


def start(command: list, env: dict) -> "subprocess.Popen[bytes]":
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stop(process: "subprocess.Popen[bytes]") -> str:
    process.send_signal(signal.SIGINT)
    try:
        _, err = process.communicate(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover
        process.kill()
        _, err = process.communicate()
    return err.decode("utf-8", "replace")


def post(url: str, path: str, body: dict) -> tuple:
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.parametrize("command", [
    [sys.executable, "-m", "llm_connector.gateway"],
    pytest.param([SCRIPT], marks=pytest.mark.skipif(not os.path.exists(SCRIPT), reason=(
        "the llm-connector-gateway script is not installed next to this Python (pip install -e .)"))),
])
def test_the_command_serves_the_provider_and_logs_one_line_per_request_without_secrets(command):
    port = _free_port()
    with LocalServer() as upstream:
        upstream.add(anthropic_stream(["Hi"]))
        upstream.add(anthropic_429())
        env = clean_env(ANTHROPIC_API_KEY="sk-ant-very-secret", ANTHROPIC_BASE_URL=upstream.url)
        process = start(command + ["--provider", "anthropic", "--port", str(port), "--host", "127.0.0.1"], env)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_up(url, process)
            ok = post(url, "/v1/chat/completions", {"model": "claude-up", "stream": True,
                                                     "messages": [{"role": "user", "content": "hi"}]})
            limited = post(url, "/api/chat", {"model": "claude-up", "messages": [{"role": "user", "content": "hi"}]})
            # A stream's line is written when it ends, after its last byte; two more answers leave it the time.
            urllib.request.urlopen(url + "/healthz").close()
        finally:
            err = stop(process)
    assert ok[0] == 200 and b'"content":"Hi"' in ok[1]
    assert limited[0] == 429
    lines = [line for line in err.splitlines() if " provider=" in line and "/healthz" not in line]
    assert len(lines) == 2, err  # one line per call (besides the /healthz polls of the wait)
    assert re.search(r"POST /v1/chat/completions 200 \d+\.\d{3}s provider=anthropic$", lines[0])
    assert re.search(r"POST /api/chat 429 \d+\.\d{3}s provider=anthropic$", lines[1])
    assert re.search(r"GET /healthz 200 \d+\.\d{3}s provider=anthropic$", err, re.M)
    assert f"serving anthropic on http://127.0.0.1:{port}/" in err
    assert "sk-ant-very-secret" not in err
    assert process.returncode == 0


def test_a_provider_without_its_key_is_a_clear_error_and_exit_2():
    result = subprocess.run([sys.executable, "-m", "llm_connector.gateway", "--provider", "anthropic", "--port",
                             str(_free_port())], env=clean_env(), capture_output=True, timeout=30)
    assert result.returncode == 2
    assert result.stdout == b""
    assert b"ANTHROPIC_API_KEY" in result.stderr


def test_a_port_in_use_is_a_clear_error():
    with LocalServer() as taken:
        port = int(taken.url.rsplit(":", 1)[1])
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "llm_connector.gateway", "--provider", "mock", "--port",
                                 str(port)], env=clean_env(), capture_output=True, timeout=30)
    assert result.returncode == 2
    assert b"llm-connector-gateway:" in result.stderr and b"in use" in result.stderr
    assert time.monotonic() - started < 30
