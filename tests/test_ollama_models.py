"""Ollama model management over the local server: method, path and body of each call, streamed pull progress."""

import json
import time

import pytest

from llm_connector import (
    APIStatusError,
    ConfigurationError,
    IncompleteStreamError,
    LlmClient,
    NotFoundError,
    StreamParseError,
)
from llm_connector.ollama import OllamaModel, OllamaModelInfo, OllamaProgress, OllamaRunningModel
from llm_connector.testing import Pause, Reply

DETAILS = {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
           "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}
PROGRESS = [
    {"status": "pulling manifest"},
    {"status": "pulling dde5aa3fc5ff", "digest": "sha256:dde5aa3fc5ff", "total": 2000},
    {"status": "pulling dde5aa3fc5ff", "digest": "sha256:dde5aa3fc5ff", "total": 2000, "completed": 1000},
    {"status": "verifying sha256 digest"},
    {"status": "writing manifest"},
    {"status": "success"},
]


def client_for(server):
    return LlmClient.ollama(base_url=server.url, max_retries=0)


def paused_after_first(objs, pause):
    """NDJSON lines with a pause after the first one."""
    parts = [json.dumps(obj) + "\n" for obj in objs]
    return Reply(headers={"Content-Type": "application/x-ndjson"}, parts=parts[:1] + [Pause(pause)] + parts[1:])


def test_list_models_gets_api_tags_and_reads_each_model(server):
    server.add(Reply.json({"models": [{
        "name": "llama3.2:latest", "model": "llama3.2:latest", "modified_at": "2025-01-01T10:00:00.5+01:00",
        "size": 2019393189, "digest": "a80c4f17acd5", "details": DETAILS, "unknown_new_field": 1}]}))
    models = client_for(server).list_models()
    assert (server.requests[0].method, server.requests[0].path, server.requests[0].body) == ("GET", "/api/tags", b"")
    assert len(models) == 1 and isinstance(models[0], OllamaModel)
    model = models[0]
    assert (model.name, model.size, model.digest) == ("llama3.2:latest", 2019393189, "a80c4f17acd5")
    assert (model.details.family, model.details.parameter_size, model.details.families) == ("llama", "3.2B",
                                                                                              ["llama"])
    assert model.raw["unknown_new_field"] == 1
    assert json.loads(model.to_json())["details"]["quantization_level"] == "Q4_K_M"


def test_a_model_list_without_a_models_array_is_a_parse_error(server):
    server.add(Reply.json({"tags": []}))
    with pytest.raises(StreamParseError, match="models"):
        client_for(server).list_models()


def test_show_model_posts_the_name_and_reads_the_information(server):
    server.add(Reply.json({"modelfile": "FROM llama3.2", "parameters": "num_ctx 4096", "template": "{{ .Prompt }}",
                           "details": DETAILS, "model_info": {"llama.context_length": 131072},
                           "capabilities": ["completion", "tools"]}))
    info = client_for(server).show_model("llama3.2")
    sent = server.requests[0]
    assert (sent.method, sent.path, sent.json()) == ("POST", "/api/show", {"model": "llama3.2"})
    assert isinstance(info, OllamaModelInfo)
    assert (info.modelfile, info.parameters, info.capabilities) == ("FROM llama3.2", "num_ctx 4096",
                                                                    ["completion", "tools"])
    assert info.model_info["llama.context_length"] == 131072
    assert info.details.quantization_level == "Q4_K_M"


def test_show_model_verbose_asks_for_verbose(server):
    server.add(Reply.json({"modelfile": ""}))
    client_for(server).show_model("llama3.2", verbose=True)
    assert server.requests[0].json() == {"model": "llama3.2", "verbose": True}


def test_show_model_of_an_unknown_model_is_not_found_with_ollamas_message(server):
    server.add(Reply.json({"error": "model 'nope' not found"}, status=404))
    with pytest.raises(NotFoundError, match="model 'nope' not found"):
        client_for(server).show_model("nope")


def test_pull_progress_reaches_the_caller_before_the_next_line_is_written(server):
    server.add(paused_after_first(PROGRESS, 0.4))
    started = time.monotonic()
    arrivals = []
    for progress in client_for(server).pull_model_stream("llama3.2"):
        arrivals.append((progress.status, time.monotonic() - started))
    assert [status for status, _ in arrivals] == [p["status"] for p in PROGRESS]
    assert arrivals[0][1] < 0.3  # the first line before the first pause ends
    assert arrivals[1][1] >= 0.35  # and the second only after it
    sent = server.requests[0]
    assert (sent.method, sent.path, sent.json()) == ("POST", "/api/pull", {"model": "llama3.2", "stream": True})


def test_pull_progress_lines_carry_digest_total_completed_and_a_fraction(server):
    server.add(Reply.ndjson(*PROGRESS))
    lines = list(client_for(server).pull_model_stream("llama3.2"))
    assert all(isinstance(p, OllamaProgress) for p in lines)
    assert (lines[2].digest, lines[2].total, lines[2].completed, lines[2].fraction) == (
        "sha256:dde5aa3fc5ff", 2000, 1000, 0.5)
    assert (lines[1].completed, lines[1].fraction) == (None, 0.0)
    assert lines[0].fraction is None


def test_leaving_the_pull_loop_closes_the_connection(server):
    server.add(paused_after_first(PROGRESS, 2.0))
    for _ in client_for(server).pull_model_stream("llama3.2"):
        break
    assert server.requests[0].closed_by_client.wait(3.0)


def test_pull_model_blocks_until_the_final_status_and_returns_it(server):
    server.add(Reply.ndjson(*PROGRESS))
    final = client_for(server).pull_model("llama3.2", insecure=True)
    assert final.status == "success"
    assert server.requests[0].json() == {"model": "llama3.2", "stream": True, "insecure": True}


def test_a_pull_error_line_raises_the_typed_error_after_the_progress_before_it(server):
    server.add(Reply.ndjson({"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}))
    seen = []
    with pytest.raises(APIStatusError, match="pull model manifest: file does not exist"):
        for progress in client_for(server).pull_model_stream("nope"):
            seen.append(progress.status)
    assert seen == ["pulling manifest"]


def test_a_blocking_pull_raises_the_error_line_too(server):
    server.add(Reply.ndjson({"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}))
    with pytest.raises(APIStatusError, match="file does not exist"):
        client_for(server).pull_model("nope")


def test_a_pull_that_ends_before_success_is_an_incomplete_stream(server):
    server.add(Reply.ndjson(*PROGRESS[:3]))
    with pytest.raises(IncompleteStreamError, match="success"):
        client_for(server).pull_model("llama3.2")


def test_copy_model_posts_source_and_destination(server):
    server.add(Reply(200, framing="length"))
    assert client_for(server).copy_model("llama3.2", "llama3.2-backup") is None
    sent = server.requests[0]
    assert (sent.method, sent.path, sent.json()) == (
        "POST", "/api/copy", {"source": "llama3.2", "destination": "llama3.2-backup"})


def test_delete_model_is_an_http_delete_with_a_json_body(server):
    server.add(Reply(200, framing="length"))
    client_for(server).delete_model("llama3.2-backup")
    sent = server.requests[0]
    assert (sent.method, sent.path, sent.json()) == ("DELETE", "/api/delete", {"model": "llama3.2-backup"})
    assert sent.headers["content-type"] == "application/json"


def test_deleting_an_unknown_model_is_not_found(server):
    server.add(Reply.json({"error": "model 'nope' not found"}, status=404))
    with pytest.raises(NotFoundError, match="model 'nope' not found"):
        client_for(server).delete_model("nope")


def test_running_models_gets_api_ps(server):
    server.add(Reply.json({"models": [{"name": "llama3.2:latest", "model": "llama3.2:latest", "size": 5137025024,
                                       "digest": "2ae6f6dd7a3d", "details": DETAILS,
                                       "expires_at": "2025-06-04T14:38:31.83753-07:00", "size_vram": 5137025024}]}))
    running = client_for(server).running_models()
    assert (server.requests[0].method, server.requests[0].path) == ("GET", "/api/ps")
    assert isinstance(running[0], OllamaRunningModel)
    assert (running[0].name, running[0].size_vram, running[0].expires_at) == (
        "llama3.2:latest", 5137025024, "2025-06-04T14:38:31.83753-07:00")
    assert running[0].details.family == "llama"


def test_version_gets_api_version(server):
    server.add(Reply.json({"version": "0.6.2"}))
    assert client_for(server).version() == "0.6.2"
    assert (server.requests[0].method, server.requests[0].path) == ("GET", "/api/version")


@pytest.mark.parametrize("call", [
    lambda c: c.show_model(""),
    lambda c: c.pull_model_stream(""),
    lambda c: c.delete_model(""),
    lambda c: c.copy_model("llama3.2", ""),
])
def test_an_empty_model_name_is_refused_before_sending(server, call):
    with pytest.raises(ConfigurationError, match="model name"):
        call(client_for(server))
    assert server.requests == []
