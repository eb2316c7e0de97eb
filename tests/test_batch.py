"""client.chat_batch: many requests from sync code, one shared backoff, Ctrl-C, progress, the pool size."""

import io
import sys
import threading
import time

import pytest
from helpers import chunk, sse

from llm_connector import (
    BadRequestError,
    ChatRequest,
    ConfigurationError,
    IncompleteStreamError,
    LlmClient,
    Message,
    RateLimitError,
    ServerError,
    batch,
)
from llm_connector.batch import BatchProgress, make_progress
from llm_connector.testing import Pause, Reply, Reset

PATH = "/v1/chat/completions"


def request(text):
    return ChatRequest(model="m", messages=[Message.user(text)])


def client_for(server, **options):
    return LlmClient.openai("k", base_url=server.url + "/v1", **options)


def item_of(recorded):
    return int(recorded.json()["messages"][0]["content"])


def answer(n, pause=0.0):
    parts = sse(chunk(f"answer {n}"), chunk("", finish="stop"))
    return Reply(parts=([Pause(pause)] if pause else []) + parts)


def error_reply(status, retry_after_ms=None):
    headers = {"retry-after-ms": str(retry_after_ms)} if retry_after_ms is not None else {}
    return Reply.json({"error": {"message": f"scripted {status}", "type": "x"}}, status=status, headers=headers)


class Script:
    """Answers request ``n`` (its prompt is the number) by a rule of ``n`` and how often it was asked."""

    def __init__(self, rule):
        self.rule = rule
        self.tries = {}
        self.times = []
        self.lock = threading.Lock()

    def __call__(self, recorded):
        n = item_of(recorded)
        with self.lock:
            self.tries[n] = self.tries.get(n, 0) + 1
            self.times.append((time.monotonic(), n))
            tries = self.tries[n]
        return self.rule(n, tries)


def test_results_come_in_input_order_with_the_callers_ids(server):
    server.route("POST", PATH, Script(lambda n, tries: answer(n, pause=0.05 if n == 0 else 0)))
    items = [(f"id-{n}", request(str(n))) for n in range(10)]
    results = list(client_for(server).chat_batch(items, concurrency=4))
    assert [(r.index, r.id, r.response.content, r.attempts) for r in results] == [
        (n, f"id-{n}", f"answer {n}", 1) for n in range(10)]
    assert all(r.ok and r.error is None and r.elapsed > 0 for r in results)


def test_unordered_results_come_as_they_finish(server):
    server.route("POST", PATH, Script(lambda n, tries: answer(n, pause=1.0 if n == 0 else 0)))
    results = list(client_for(server).chat_batch([request(str(n)) for n in range(6)], concurrency=3,
                                                 ordered=False))
    assert results[-1].index == 0 and sorted(r.index for r in results) == list(range(6))
    assert all(r.id is None for r in results)


def test_a_failed_item_carries_its_typed_error_and_the_batch_goes_on(server):
    server.route("POST", PATH, Script(lambda n, tries: error_reply(400) if n == 2 else answer(n)))
    items = [request(str(n)) for n in range(5)] + ["not a request"]
    results = list(client_for(server).chat_batch(items, concurrency=2))
    assert [r.ok for r in results] == [True, True, False, True, True, False]
    assert isinstance(results[2].error, BadRequestError) and results[2].attempts == 1  # never retried
    assert results[2].response is None
    assert isinstance(results[5].error, ConfigurationError) and "item 5" in str(results[5].error)


def test_a_thousand_requests_with_429s_and_resets_each_end_answered_or_with_its_typed_error(server, monkeypatch):
    monkeypatch.setattr(batch, "BACKOFF_FIRST", 0.01)  # the backoff after a reset, made short for the test
    def rule(n, tries):
        if n % 50 == 7:
            return error_reply(400)  # never retried
        if n % 100 == 11:
            return error_reply(503, retry_after_ms=5)  # still failing after every retry
        if n % 10 == 3 and tries == 1:
            return error_reply(429, retry_after_ms=5)
        if n % 10 == 5 and tries == 1:  # reset mid-stream, after the first chunk
            return Reply(parts=sse(chunk("partial"), done=False) + [Reset])
        if n % 10 == 6 and tries == 1:  # reset before any answer
            return Reply(parts=[Reset])
        return answer(n)

    script = Script(rule)
    server.route("POST", PATH, script)
    results = list(client_for(server).chat_batch((request(str(n)) for n in range(1000)), concurrency=16,
                                                 max_retries=2))
    assert [r.index for r in results] == list(range(1000))
    for n, r in enumerate(results):
        if n % 50 == 7:
            assert isinstance(r.error, BadRequestError) and r.attempts == 1, r
        elif n % 100 == 11:
            assert isinstance(r.error, ServerError) and r.attempts == 3, r
        else:
            assert r.ok and r.response.content == f"answer {n}", r
            assert r.attempts == (2 if n % 10 in (3, 5, 6) else 1), r
    assert sum(script.tries.values()) == len(server.requests)


def test_a_429_pauses_every_thread_for_its_retry_after(server):
    four_busy = threading.Event()
    sent = []

    def rule(n, tries):
        if len(script.tries) >= 4:
            four_busy.set()
        if n == 0 and tries == 1:
            # The 429 goes once the four threads have each sent a request (however slowly the machine starts
            # them), so that the other three are busy when it arrives.
            four_busy.wait(10.0)
            sent.append(time.monotonic())
            return error_reply(429, retry_after_ms=1200)
        return answer(n, pause=0.5)

    script = Script(rule)
    server.route("POST", PATH, script)
    results = list(client_for(server).chat_batch([request(str(n)) for n in range(12)], concurrency=4))
    assert all(r.ok for r in results) and results[0].attempts == 2
    order = [n for _, n in sorted(script.times)]
    assert sorted(order[:4]) == [0, 1, 2, 3]  # the four threads' first requests, none held back
    later = sorted(t for t, _ in script.times)[4:]
    # Without a shared pause the three busy threads would send their next requests 0.5 s after the 429.
    assert min(later) - sent[0] >= 1.1


def test_the_client_gives_up_on_a_retry_after_longer_than_a_minute(server):
    server.route("POST", PATH, Script(lambda n, tries: error_reply(429, retry_after_ms=120_000)))
    start = time.monotonic()
    [result] = client_for(server).chat_batch([request("0")])
    assert isinstance(result.error, RateLimitError) and result.attempts == 1
    assert time.monotonic() - start < 5


def test_the_pool_is_sized_to_the_concurrency(server, caplog):
    server.route("POST", PATH, Script(lambda n, tries: answer(n, pause=0.3)))
    with caplog.at_level("WARNING", logger="urllib3.connectionpool"):
        results = list(client_for(server).chat_batch([request(str(n)) for n in range(48)], concurrency=48))
    assert all(r.ok for r in results) and server.connections == 48
    # 48 connections given back at once: a pool smaller than that would drop some ("Connection pool is full").
    assert [r.getMessage() for r in caplog.records] == []


def test_ctrl_c_closes_the_requests_in_flight_and_keeps_the_finished_results(server):
    server.route("POST", PATH, Script(lambda n, tries: answer(n, pause=0 if n < 4 else 10)))

    def interrupt(progress):
        if progress.done == 4 and not progress.finished:
            server.wait_for_requests(8)  # four more in flight, to be closed
            raise KeyboardInterrupt

    start = time.monotonic()
    run = client_for(server).chat_batch([request(str(n)) for n in range(20)], concurrency=4, progress=interrupt)
    results = list(run)
    assert time.monotonic() - start < 5
    assert run.interrupted and [r.index for r in results] == [0, 1, 2, 3] and all(r.ok for r in results)
    slow = [r for r in server.requests if item_of(r) >= 4]
    assert len(slow) == 4 and all(r.closed_by_client.wait(2.0) for r in slow)


def test_a_stream_cut_short_is_retried_in_a_batch(server):
    server.route("POST", PATH, Script(
        lambda n, tries: Reply(parts=sse(chunk("par"), done=False) + [Reset]) if tries == 1 else answer(n)))
    [result] = client_for(server).chat_batch([request("0")])
    assert result.ok and result.response.content == "answer 0" and result.attempts == 2
    [failed] = client_for(server).chat_batch([request("1")], max_retries=0)
    assert isinstance(failed.error, IncompleteStreamError)


def test_the_mock_provider_runs_a_batch_offline():
    results = list(LlmClient.mock(reply="ok").chat_batch([request("a"), request("b")], progress=False))
    assert [r.response.content for r in results] == ["ok", "ok"]


def test_bad_arguments_are_refused():
    client = LlmClient.mock()
    with pytest.raises(ConfigurationError, match="concurrency"):
        client.chat_batch([], concurrency=0)
    with pytest.raises(ConfigurationError, match="max_retries"):
        client.chat_batch([], max_retries=-1)


# -- progress -----------------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_progress_callback_sees_every_result_then_the_end(server):
    server.route("POST", PATH, Script(lambda n, tries: error_reply(400) if n == 1 else answer(n)))
    seen = []
    list(client_for(server).chat_batch([request(str(n)) for n in range(5)], progress=seen.append))
    assert [p.done for p in seen] == [1, 2, 3, 4, 5, 5] and seen[-1].finished
    assert (seen[-1].total, seen[-1].errors) == (5, 1)
    assert seen[-1].tokens == 0  # the server sent no usage: none is made up


def test_progress_is_quiet_when_stderr_is_not_a_terminal(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    list(LlmClient.mock().chat_batch([request("a")]))
    assert err.getvalue() == ""


def test_without_tqdm_a_line_shows_done_total_rate_eta_errors_and_tokens(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm fails
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    list(LlmClient.mock().chat_batch([request("a"), request("b")]))
    last = err.getvalue().rsplit("\r", 1)[-1]
    assert last.startswith("2/2 100% ") and "/s" in last and "errors 0" in last and "tokens 4" in last
    assert last.endswith("\n")


def test_the_progress_line_text():
    line = BatchProgress(412, 1000, 3, 51230, 8.0).line()
    assert line == "412/1000  41% 51.5/s ETA 0:11 errors 3 tokens 51,230"
    assert BatchProgress(5, None, 0, 0, 1.0).line() == "5/? 5.0/s errors 0 tokens 0"


def test_with_tqdm_installed_the_bar_is_tqdm():
    pytest.importorskip("tqdm", reason="tqdm not installed (pip install -e .[batch-test])")
    err = Terminal()
    reporter = make_progress(None, 3, err)
    assert type(reporter).__name__ == "_Tqdm"
    reporter.update(BatchProgress(3, 3, 1, 10, 1.0))
    reporter.close(BatchProgress(3, 3, 1, 10, 1.0, finished=True), False)
    assert "3/3" in err.getvalue() and "errors=1" in err.getvalue()
