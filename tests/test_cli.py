"""The command line: offline on the mock provider, and against the local server."""

import io
import json
import os
import subprocess
import sys

from helpers import chunk, sse

from llm_connector.__main__ import run
from llm_connector.presets import PRESETS
from llm_connector.testing import Reply

KEY_VARS = [v for p in PRESETS.values() for v in p.env]


def clean_env(monkeypatch):
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)


def call(argv, stdin=""):
    out, err = io.StringIO(), io.StringIO()
    code = run(argv, stdout=out, stderr=err, stdin=io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


def test_without_keys_the_cli_falls_back_to_mock_and_says_so(monkeypatch):
    clean_env(monkeypatch)
    code, out, err = call(["Tell me a story"])
    assert code == 0
    assert "Tell me a story" in out
    assert "mock" in err


def test_prompt_can_come_from_stdin(monkeypatch):
    clean_env(monkeypatch)
    code, out, _ = call(["--provider", "mock"], stdin="from stdin\n")
    assert code == 0 and "from stdin" in out


def test_cli_streams_from_an_openai_compatible_server(server):
    server.add(Reply(parts=sse(chunk("", reasoning="hmm"), chunk("Hello"), chunk(" you", finish="stop"))))
    code, out, err = call(["--provider", "openai_compatible", "--base-url", server.url, "--model", "x",
                           "--system", "be kind", "--show-reasoning", "hi"])
    assert code == 0
    assert out == "Hello you\n"
    assert "hmm" in err
    body = server.requests[0].json()
    assert body["model"] == "x"
    assert body["messages"] == [{"role": "system", "content": "be kind"}, {"role": "user", "content": "hi"}]


def test_ndjson_and_sse_formats_write_one_record_per_chunk(monkeypatch):
    clean_env(monkeypatch)
    code, out, _ = call(["--provider", "mock", "--format", "ndjson", "a b"])
    lines = out.splitlines()
    assert code == 0 and len(lines) > 2
    assert all(isinstance(json.loads(line), dict) for line in lines)
    code, out, _ = call(["--provider", "mock", "--format", "sse", "a b"])
    assert out.startswith("data: {") and out.endswith("\n\n")


def test_an_error_prints_one_line_and_exits_non_zero(server):
    server.add(Reply.json({"error": {"message": "Incorrect API key", "code": "invalid_api_key"}}, status=401))
    code, out, err = call(["--provider", "openai_compatible", "--base-url", server.url, "--model", "x", "hi"])
    assert code == 1
    assert err.count("\n") == 1 and "Incorrect API key" in err and "Traceback" not in err


def test_unreachable_server_is_one_clean_line(monkeypatch):
    code, _, err = call(["--provider", "openai_compatible", "--base-url", "http://127.0.0.1:9", "--model", "x", "hi"])
    assert code == 1 and "Traceback" not in err and "127.0.0.1:9" in err


def test_list_providers_and_list_models(monkeypatch, server):
    code, out, _ = call(["--list-providers"])
    assert code == 0 and "deepseek" in out and "mock" in out
    server.route("GET", "/models", Reply.json({"data": [{"id": "m1"}, {"id": "m2"}]}))
    code, out, _ = call(["--provider", "openai_compatible", "--base-url", server.url, "--list-models"])
    assert code == 0 and out.split() == ["m1", "m2"]


def test_python_dash_m_runs_offline_in_a_fresh_interpreter():
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS}
    proc = subprocess.run([sys.executable, "-m", "llm_connector", "--provider", "mock", "hi"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "hi" in proc.stdout
