"""llm-connector-batch: JSONL in, OpenAI Batch output lines out, resumable after a crash or Ctrl-C."""

import io
import json
import os
import signal
import subprocess
import sys
import time

from helpers import chunk, sse

from llm_connector.batch_cli import run
from llm_connector.testing import Pause, Reply

PATH = "/v1/chat/completions"


def write_input(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return str(path)


def short(n):
    return {"id": f"q{n}", "prompt": str(n)}


def answering(pause=0.0):
    def reply(recorded):
        n = recorded.json()["messages"][-1]["content"]
        parts = sse(chunk(f"answer {n}"), chunk("", finish="stop", usage={"prompt_tokens": 1,
                                                                        "completion_tokens": 2, "total_tokens": 3}))
        return Reply(parts=([Pause(pause)] if pause else []) + parts)
    return reply


def call(argv):
    err = io.StringIO()
    return run(argv, stderr=err), err.getvalue()


def read_output(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def cli(server, inp, out, *extra):
    return ["--provider", "openai_compatible", "--base-url", server.url + "/v1", "--model", "m", "--no-progress",
            inp, "-o", out, *extra]


def test_both_input_shapes_are_answered_in_the_openai_batch_output_shape(server, tmp_path):
    server.route("POST", PATH, answering())
    openai_line = {"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions",
                   "body": {"model": "gpt-x", "messages": [{"role": "user", "content": "1"}], "max_tokens": 5,
                            "logit_bias": {"50256": -100}}}
    inp = write_input(tmp_path / "in.jsonl", [openai_line, {"id": "r2", "prompt": "2", "system": "be brief"}])
    out = str(tmp_path / "out.jsonl")
    code, err = call(cli(server, inp, out))
    assert code == 0, err
    lines = {line["custom_id"]: line for line in read_output(out)}
    assert set(lines) == {"r1", "r2"}
    first = lines["r1"]
    assert first["id"].startswith("batch_req_") and first["error"] is None
    assert first["response"]["status_code"] == 200
    body = first["response"]["body"]
    assert body["choices"][0]["message"]["content"] == "answer 1" and body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    sent = {r.json()["messages"][-1]["content"]: r.json() for r in server.requests}
    assert sent["1"]["model"] == "gpt-x" and sent["1"]["max_tokens"] == 5
    assert sent["1"]["logit_bias"] == {"50256": -100}  # a body key without a ChatRequest field still travels
    assert sent["2"]["model"] == "m" and sent["2"]["messages"][0] == {"role": "system", "content": "be brief"}
    assert "2 answered, 0 failed, 0 malformed" in err


def test_malformed_lines_are_reported_with_their_numbers_and_the_rest_answered(server, tmp_path):
    server.route("POST", PATH, answering())
    inp = write_input(tmp_path / "in.jsonl", [
        short(1), "{not json", {"custom_id": "x", "url": "/v1/embeddings", "body": {}}, short(1), "[1, 2]",
        {"id": "q5"}, "", short(6)])
    out = str(tmp_path / "out.jsonl")
    code, err = call(cli(server, inp, out))
    assert code == 1
    assert sorted(line["custom_id"] for line in read_output(out)) == ["q1", "q6"]
    assert "in.jsonl:2: not JSON" in err
    assert "in.jsonl:3: url: only /v1/chat/completions is supported" in err
    assert "in.jsonl:4: id 'q1' repeats line 1" in err
    assert "in.jsonl:5: expected a JSON object, got list" in err
    assert "in.jsonl:6: expected" in err
    assert "5 malformed" in err


def test_a_failed_request_is_a_line_with_its_error_and_status(server, tmp_path):
    server.route("POST", PATH, lambda r: Reply.json({"error": {"message": "no such model", "code": "model_not_found"}},
                                                    status=404))
    inp = write_input(tmp_path / "in.jsonl", [short(1)])
    out = str(tmp_path / "out.jsonl")
    code, _ = call(cli(server, inp, out))
    [line] = read_output(out)
    assert code == 1
    assert line["error"]["code"] == "model_not_found" and "no such model" in line["error"]["message"]
    assert line["response"]["status_code"] == 404
    assert line["response"]["body"]["error"]["type"] == "NotFoundError"


def test_running_again_skips_answered_ids_and_drops_a_last_line_cut_short(server, tmp_path):
    server.route("POST", PATH, answering())
    inp = write_input(tmp_path / "in.jsonl", [short(n) for n in range(4)])
    out = tmp_path / "out.jsonl"
    done = json.dumps({"id": "batch_req_1", "custom_id": "q0", "response": None, "error": None})
    out.write_text(done + "\n" + '{"id": "batch_req_2", "custom_id": "q1", "respo')  # killed mid-write
    code, err = call(cli(server, inp, str(out)))
    assert code == 0, err
    assert "removing a last line cut short" in err and "1 already in" in err
    ids = [line["custom_id"] for line in read_output(out)]
    assert ids[0] == "q0" and sorted(ids) == ["q0", "q1", "q2", "q3"]
    assert len(server.requests) == 3


def test_running_again_sends_failed_requests_again_keeping_one_line_per_id(server, tmp_path):
    calls = []

    def flaky(recorded):
        calls.append(recorded)
        if len(calls) == 1:
            return Reply.json({"error": {"message": "bad gateway"}}, status=400)
        return answering()(recorded)

    server.route("POST", PATH, flaky)
    inp = write_input(tmp_path / "in.jsonl", [short(1), short(2)])
    out = str(tmp_path / "out.jsonl")
    code, _ = call(cli(server, inp, out, "--concurrency", "1"))
    assert code == 1 and [line["error"] is None for line in read_output(out)] == [False, True]
    kept = str(tmp_path / "kept.jsonl")
    with open(out) as src, open(kept, "w") as dst:
        dst.write(src.read())
    code, err = call(cli(server, inp, kept, "--keep-failed"))
    assert code == 0 and len(read_output(kept)) == 2 and len(calls) == 2  # nothing sent again
    code, err = call(cli(server, inp, out))
    assert code == 0 and "1 failed requests will be sent again" in err
    lines = read_output(out)
    assert sorted(line["custom_id"] for line in lines) == ["q1", "q2"] and all(line["error"] is None for line in lines)
    assert len(calls) == 3


# -- in a subprocess: SIGKILL and SIGINT mid-way ------------------------------------------------------------

def batch_process(server, inp, out, concurrency=2):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")}
    return subprocess.Popen(
        [sys.executable, "-m", "llm_connector.batch", *cli(server, inp, out, "--concurrency", str(concurrency))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def wait_for_lines(path, count, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path):
            with open(path, "rb") as f:
                if f.read().count(b"\n") >= count:
                    return
        time.sleep(0.02)
    raise AssertionError(f"{path}: fewer than {count} lines after {timeout}s")


def test_a_batch_killed_mid_way_and_run_again_answers_each_id_exactly_once(server, tmp_path):
    server.route("POST", PATH, answering(pause=0.05))
    ids = [f"q{n}" for n in range(100)]
    inp = write_input(tmp_path / "in.jsonl", [short(n) for n in range(100)])
    out = str(tmp_path / "out.jsonl")
    process = batch_process(server, inp, out)
    wait_for_lines(out, 8)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL
    with open(out, "rb") as f:
        whole_lines = f.read().count(b"\n")  # a last line cut short by the kill is removed by the next run
    assert 8 <= whole_lines < 100
    second = batch_process(server, inp, out, concurrency=8)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    lines = read_output(out)
    assert sorted(line["custom_id"] for line in lines) == sorted(ids)  # each id exactly once
    assert all(line["response"]["body"]["choices"][0]["message"]["content"] == "answer " + line["custom_id"][1:]
               for line in lines)


def test_ctrl_c_stops_the_batch_keeping_every_finished_line(server, tmp_path):
    server.route("POST", PATH, answering(pause=0.05))
    inp = write_input(tmp_path / "in.jsonl", [short(n) for n in range(200)])
    out = str(tmp_path / "out.jsonl")
    process = batch_process(server, inp, out)
    wait_for_lines(out, 6)
    process.send_signal(signal.SIGINT)
    stdout, err = process.communicate(timeout=10)
    assert process.returncode == 130, err
    assert b"interrupted: run again to resume" in err and b"Traceback" not in err and stdout == b""
    lines = read_output(out)  # every line whole
    assert 6 <= len(lines) < 200
    second = batch_process(server, inp, out, concurrency=8)
    _, err = second.communicate(timeout=60)
    assert second.returncode == 0, err
    assert sorted(line["custom_id"] for line in read_output(out)) == sorted(f"q{n}" for n in range(200))


def test_the_console_script_and_the_module_share_one_entry_point():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")}
    done = subprocess.run([sys.executable, "-m", "llm_connector.batch", "--help"], capture_output=True, text=True,
                          env=env)
    assert done.returncode == 0 and done.stdout.startswith("usage: llm-connector-batch")
    script = os.path.join(os.path.dirname(sys.executable), "llm-connector-batch")
    if os.path.exists(script):  # installed with pip install -e .
        assert subprocess.run([script, "--help"], capture_output=True, env=env).returncode == 0


def test_the_mock_provider_answers_offline(tmp_path):
    inp = write_input(tmp_path / "in.jsonl", [short(1), short(2)])
    out = str(tmp_path / "out.jsonl")
    code, err = call(["--provider", "mock", "--no-progress", inp, "-o", out])
    assert code == 0, err
    assert sorted(line["custom_id"] for line in read_output(out)) == ["q1", "q2"]


def test_a_service_without_a_default_model_needs_model_and_sends_nothing(server, tmp_path):
    # never "mock-model" to a real service: openai_compatible has no default model
    inp = write_input(tmp_path / "in.jsonl", [short(1)])
    out = str(tmp_path / "out.jsonl")
    code, err = call(["--provider", "openai_compatible", "--base-url", server.url + "/v1", "--no-progress",
                      inp, "-o", out])
    assert code == 2 and "pass --model" in err
    assert server.requests == []
