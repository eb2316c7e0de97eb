"""The real command (``python -m llm_connector``) in a subprocess, against the local server: stdout is a pipe and
PYTHONUNBUFFERED / PYTHONDONTWRITEBYTECODE are unset, as for a user piping the output into another program."""

import json
import os
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional

import pytest
from helpers import chunk, sse

from llm_connector import __version__
from llm_connector.presets import PRESETS
from llm_connector.testing import Pause, Reply

KEY_VARS = {v for p in PRESETS.values() for v in p.env} | {p.base_url_env for p in PRESETS.values() if p.base_url_env}
CLOUD_VARS = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION",
              "GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_REGION", "GOOGLE_OAUTH_ACCESS_TOKEN", "NO_COLOR"}


def cli_env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in KEY_VARS | CLOUD_VARS and k not in ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")
           and not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONIOENCODING"] = "utf-8"
    env.update(extra)
    return env


def start(args: List[str], env: Optional[Dict[str, str]] = None, **popen) -> "subprocess.Popen[bytes]":
    options = {"stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    options.update(popen)
    return subprocess.Popen([sys.executable, "-m", "llm_connector", *args], env=env or cli_env(), **options)


def cli(args: List[str], env: Optional[Dict[str, str]] = None, stdin: bytes = b"", merged: bool = False):
    proc = subprocess.run([sys.executable, "-m", "llm_connector", *args], env=env or cli_env(), input=stdin,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT if merged else subprocess.PIPE,
                          timeout=60)
    return proc.returncode, proc.stdout.decode("utf-8"), (proc.stderr or b"").decode("utf-8")


def openai_args(server, *more: str) -> List[str]:
    return ["--provider", "openai", "--api-key", "sk-test", "--base-url", server.url, "--max-retries", "0",
            *more, "hi"]


#: The server's pause before its last chunk: long enough that a loaded machine starts the command well within it.
PAUSE = 10.0


def three_chunks(first_pause: float, second_pause: float = 0.0) -> Reply:
    parts = sse(chunk("Once"))[:1] + [Pause(first_pause)] + sse(chunk(" upon"))[:1]
    if second_pause:
        parts.append(Pause(second_pause))
    return Reply(parts=parts + sse(chunk(" a time", finish="stop")))


# -- pipes ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "sse", "ndjson", "ollama"])
def test_the_first_output_reaches_a_pipe_before_the_server_sends_the_last_chunk(server, fmt):
    server.add(three_chunks(PAUSE))
    started = time.monotonic()
    proc = start(openai_args(server, "-f", fmt))
    try:
        first = os.read(proc.stdout.fileno(), 65536)
        # The server got the request after `started` and pauses PAUSE seconds before the last chunk: output
        # read sooner was flushed as it was written (unflushed, it would come at the exit, after the pause).
        assert time.monotonic() - started < PAUSE
        assert b"Once" in first and b"a time" not in first
    finally:
        proc.kill()
        proc.communicate()


@pytest.mark.parametrize("fmt", ["text", "ndjson", "ollama", "sse"])
def test_a_reader_that_closes_the_pipe_ends_the_command_quietly_and_closes_the_stream(server, fmt):
    server.add(three_chunks(1.0, PAUSE))
    started = time.monotonic()
    proc = start(openai_args(server, "-f", fmt))
    assert b"Once" in os.read(proc.stdout.fileno(), 65536)
    proc.stdout.close()  # `| head -1`: the next chunk's write meets a closed pipe
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert err == b""
    assert server.requests[0].closed_by_client.is_set()  # closed by the command, during the server's pause:
    assert time.monotonic() - started < PAUSE + 1.0  # not waited out


def test_json_is_one_document_the_collected_response(server):
    server.add(Reply(parts=sse(chunk("", reasoning="hmm"), chunk("Once"), chunk(" upon", finish="stop"))))
    server.add(Reply(parts=sse(chunk("", reasoning="hmm"), chunk("Once"), chunk(" upon", finish="stop"))))
    code, out, _ = cli(openai_args(server, "-f", "json"))
    assert code == 0 and out.count("\n") == 1
    document = json.loads(out)
    assert document["object"] == "chat.completion"
    assert document["content"] == "Once upon" and document["reasoning_content"] == "hmm"
    assert document["choices"][0]["finish_reason"] == "stop"
    assert out != cli(openai_args(server, "-f", "ndjson"))[1]


def test_sse_ends_with_done_streaming_or_not(server):
    server.add(Reply(parts=sse(chunk("Once"), chunk(" upon", finish="stop"))))
    answer = {"id": "c1", "model": "gpt", "choices": [{"index": 0, "message": {"role": "assistant",
                                                                                "content": "Once upon"},
                                                       "finish_reason": "stop"}]}
    server.add(Reply.json(answer))
    for more in ([], ["--no-stream"]):
        code, out, _ = cli(openai_args(server, "-f", "sse", *more))
        assert code == 0
        events = out.split("\n\n")
        assert events[-2:] == ["data: [DONE]", ""] and all(e.startswith("data: {") for e in events[:-2])


def test_no_stream_ollama_prints_ollamas_non_stream_answer(server):
    answer = {"id": "c1", "model": "gpt-test", "choices": [{"index": 0, "message": {"role": "assistant",
                                                                                     "content": "Once upon"},
                                                            "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}
    server.add(Reply.json(answer))
    code, out, _ = cli(openai_args(server, "--no-stream", "-f", "ollama"))
    assert code == 0
    data = json.loads(out)
    assert data["message"] == {"role": "assistant", "content": "Once upon"}
    assert data["done"] is True and data["done_reason"] == "stop"
    assert (data["prompt_eval_count"], data["eval_count"]) == (3, 2)
    assert "choices" not in data


def test_an_error_after_partial_output_starts_on_its_own_line(server):
    server.add(Reply(parts=sse(chunk("Once upon"), {"error": {"message": "overloaded", "type": "server_error"}})))
    code, out, _ = cli(openai_args(server), merged=True)
    assert code == 1
    assert out.startswith("Once upon\nllm-connector: error: ")
    assert "overloaded" in out and "Traceback" not in out


def test_reasoning_is_set_apart_from_the_answer(server):
    server.add(Reply(parts=sse(chunk("", reasoning="Let me think"), chunk("Hello"), chunk(" you", finish="stop"))))
    code, out, _ = cli(openai_args(server, "--show-reasoning"), merged=True)
    assert code == 0
    assert out == "Let me think\nHello you\n"  # no colour codes: stderr is not a terminal


def test_think_and_reasoning_effort_ask_for_reasoning(server):
    answer = {"id": "m1", "type": "message", "role": "assistant", "model": "claude",
              "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
              "usage": {"input_tokens": 1, "output_tokens": 1}}
    server.add(Reply.json(answer))
    server.add(Reply(parts=sse(chunk("ok", finish="stop"))))
    code, _, err = cli(["--provider", "anthropic", "--api-key", "k", "--base-url", server.url, "--no-stream",
                        "--think", "--max-tokens", "5000", "hi"])
    assert code == 0, err
    assert server.requests[0].json()["thinking"]["type"] == "enabled"
    code, _, err = cli(openai_args(server, "--reasoning-effort", "high"))
    assert code == 0, err
    assert server.requests[1].json()["reasoning_effort"] == "high"


# -- options ----------------------------------------------------------------------------------------------


def test_version_and_help():
    code, out, _ = cli(["--version"])
    assert code == 0 and out.strip() == f"llm-connector {__version__}"
    code, out, _ = cli(["--help"])
    assert code == 0
    for option in ("--timeout", "--deadline", "--think", "--reasoning-effort"):
        assert option in out
    assert "sampling temperature" in out


def test_a_mistyped_provider_gets_a_did_you_mean():
    code, _, err = cli(["--provider", "deepsek", "hi"])
    assert code == 2 and "did you mean 'deepseek'?" in err and "Traceback" not in err


def test_an_empty_prompt_on_stdin_is_an_error_and_nothing_is_sent(server):
    code, _, err = cli(openai_args(server)[:-1], stdin=b"  \n")
    assert code == 2 and "the prompt read from stdin is empty" in err
    assert server.requests == []


@pytest.mark.parametrize("given", [["--api-key", "sk-x"], ["--base-url", "http://127.0.0.1:9"]])
def test_api_key_or_base_url_without_provider_is_an_error_not_the_mock(given):
    code, out, err = cli([*given, "hi"])
    assert code == 2 and "--provider" in err and out == ""


def test_ollama_host_is_read(server):
    server.add(Reply.ndjson({"model": "llama3.2", "message": {"role": "assistant", "content": "hi there"},
                             "done": True, "done_reason": "stop"}))
    code, out, err = cli(["--provider", "ollama", "hi"], env=cli_env(OLLAMA_HOST=server.url))
    assert code == 0, err
    assert out == "hi there\n"
    assert server.requests[0].path == "/api/chat" and server.requests[0].json()["model"] == "llama3.2"


def test_a_real_provider_without_model_uses_its_default_model_never_mock_model(server):
    server.add(Reply(parts=sse(chunk("ok", finish="stop"))))
    code, _, err = cli(["--provider", "deepseek", "--api-key", "k", "--base-url", server.url, "hi"])
    assert code == 0, err
    assert server.requests[0].json()["model"] == PRESETS["deepseek"].default_model == "deepseek-chat"


def test_a_provider_without_a_default_model_asks_for_one_and_sends_nothing(server):
    code, _, err = cli(["--provider", "openai_compatible", "--base-url", server.url, "hi"])
    assert code == 2 and "has no default model: name one with --model" in err
    assert server.requests == []


def test_timeout_and_deadline_reach_the_client(server):
    server.add(Reply(parts=[Pause(5.0)] + sse(chunk("late", finish="stop"))))
    server.add(Reply(parts=[Pause(5.0)] + sse(chunk("late", finish="stop"))))
    started = time.monotonic()
    code, _, err = cli(openai_args(server, "--timeout", "0.5"))
    assert code == 1 and "read timeout" in err and "0.5s" in err
    code, _, err = cli(openai_args(server, "--deadline", "0.5"))
    assert code == 1 and "deadline" in err
    assert time.monotonic() - started < 8.0


def test_bedrock_works_from_the_aws_environment(server):
    answer = {"id": "m1", "type": "message", "role": "assistant", "model": "claude",
              "content": [{"type": "text", "text": "from bedrock"}], "stop_reason": "end_turn",
              "usage": {"input_tokens": 1, "output_tokens": 2}}
    server.add(Reply.json(answer))
    env = cli_env(AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="secret", AWS_REGION="us-east-1")
    model = "anthropic.claude-3-5-sonnet-20240620-v1:0"
    code, out, err = cli(["--provider", "anthropic_bedrock", "--base-url", server.url, "--model", model,
                          "--no-stream", "hi"], env=env)
    assert code == 0, err
    assert out == "from bedrock\n"
    sent = server.requests[0]
    assert sent.path.endswith("/invoke") and sent.headers["Authorization"].startswith("AWS4-HMAC-SHA256 ")
    assert "Credential=AKIDEXAMPLE/" in sent.headers["Authorization"] and "us-east-1" in sent.headers["Authorization"]


def test_vertex_works_from_the_google_cloud_environment(server):
    answer = {"id": "m1", "type": "message", "role": "assistant", "model": "claude",
              "content": [{"type": "text", "text": "from vertex"}], "stop_reason": "end_turn"}
    server.add(Reply.json(answer))
    env = cli_env(GOOGLE_CLOUD_PROJECT="my-project", GOOGLE_CLOUD_REGION="us-east5",
                  GOOGLE_OAUTH_ACCESS_TOKEN="ya29.token")
    code, out, err = cli(["--provider", "anthropic_vertex", "--base-url", server.url, "--model", "claude-sonnet-4",
                          "--no-stream", "hi"], env=env)
    assert code == 0, err
    assert out == "from vertex\n"
    assert server.requests[0].headers["Authorization"] == "Bearer ya29.token"
    assert server.requests[0].path.endswith("/claude-sonnet-4:rawPredict")
    code, _, err = cli(["--provider", "anthropic_vertex", "--model", "m", "hi"], env=cli_env())
    assert code == 1 and "GOOGLE_CLOUD_PROJECT" in err and "Traceback" not in err


# -- a terminal on stderr -----------------------------------------------------------------------------------


def run_with_terminal_stderr(args: List[str]):
    """Run the command with stderr on a pseudo-terminal and stdout a pipe; returns (code, stdout, terminal)."""
    pty = pytest.importorskip("pty", reason="pseudo-terminals need a POSIX system")
    main, secondary = pty.openpty()
    seen: List[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(main, 4096)
            except OSError:  # EIO: the command closed its end
                return
            if not data:
                return
            seen.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    proc = start(args, stderr=secondary)
    os.close(secondary)
    out, _ = proc.communicate(timeout=60)
    reader.join(5.0)
    os.close(main)
    return proc.returncode, out.decode("utf-8"), b"".join(seen).decode("utf-8", "replace")


def test_on_a_terminal_the_wait_for_the_first_chunk_and_each_retry_are_shown(server):
    server.add(Reply.json({"error": {"message": "busy"}}, status=503, headers={"Retry-After": "0.1"}))
    server.add(Reply(parts=[Pause(2.5)] + sse(chunk("Once", finish="stop"))))
    args = ["--provider", "openai", "--api-key", "sk-secret-1", "--base-url", server.url, "hi"]
    code, out, terminal = run_with_terminal_stderr(args)
    assert code == 0, terminal
    assert out == "Once\n"
    assert "llm-connector: openai: retry 1 of 2 in 0.1s after HTTP 503" in terminal
    assert "waiting for openai... 1s" in terminal or "waiting for openai... 2s" in terminal
    assert terminal.rstrip().endswith("\x1b[K")  # the waiting line is wiped once the answer comes
    assert "sk-secret-1" not in terminal


def test_on_a_terminal_reasoning_is_dim(server):
    server.add(Reply(parts=sse(chunk("", reasoning="hmm"), chunk("Hi", finish="stop"))))
    code, out, terminal = run_with_terminal_stderr(openai_args(server, "--show-reasoning"))
    assert code == 0
    assert "\x1b[2mhmm\x1b[0m" in terminal and out == "Hi\n"


def test_without_a_terminal_no_waiting_or_retry_lines_are_shown(server):
    server.add(Reply.json({"error": {"message": "busy"}}, status=503, headers={"Retry-After": "0.1"}))
    server.add(Reply(parts=[Pause(1.5)] + sse(chunk("Once", finish="stop"))))
    code, out, err = cli(["--provider", "openai", "--api-key", "k", "--base-url", server.url, "hi"])
    assert code == 0 and out == "Once\n" and err == ""


def test_a_provider_without_a_url_or_a_single_key_says_what_it_needs():
    code, _, err = cli(["--provider", "openai_compatible", "--model", "m", "hi"])
    assert code == 2 and "openai_compatible needs --base-url" in err
    code, _, err = cli(["--provider", "anthropic_bedrock", "--api-key", "k", "--model", "m", "hi"])
    assert code == 2 and "anthropic_bedrock takes no --api-key: it reads AWS_ACCESS_KEY_ID" in err
