"""One client shared by many threads; a stream closed from another thread while its reader waits."""

import json
import threading
import time
from typing import Dict, List

from helpers import chunk, sse

from llm_connector import ChatRequest, LlmClient, Message
from llm_connector.testing import Pause, RecordedRequest, Reply

THREADS = 16
KEY = "sk-concurrency-0123456789"


def echo_in_pieces(recorded: RecordedRequest) -> Reply:
    """Streams the user's message back word by word, with small pauses so that the streams overlap."""
    words = recorded.json()["messages"][0]["content"].split()
    parts: List[object] = []
    for word in words:
        parts += sse(chunk(word + " "), done=False) + [Pause(0.02)]
    parts += sse(chunk("", finish="stop"))
    return Reply(headers={"Content-Type": "text/event-stream"}, parts=parts)


def test_sixteen_threads_stream_at_once_through_one_client_and_each_gets_its_own_answer(server):
    server.route("POST", "/v1/chat/completions", echo_in_pieces)
    client = LlmClient.openai(KEY, base_url=server.url + "/v1")
    results: Dict[int, str] = {}
    errors: List[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker(n: int) -> None:
        words = " ".join(f"t{n}-w{i}" for i in range(10))
        try:
            start.wait()
            stream = client.chat_stream(ChatRequest(model="m", messages=[Message.user(words)]))
            results[n] = stream.text()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(results) == list(range(THREADS))
    for n, text in results.items():
        assert text == "".join(f"t{n}-w{i} " for i in range(10))
    assert len(server.requests) == THREADS
    assert time.monotonic() - started < 10 * 0.02 * THREADS  # they ran side by side, not one after another


def test_sixteen_threads_share_one_client_for_whole_answers_and_reuse_connections(server):
    def answer(recorded: RecordedRequest) -> Reply:
        text = recorded.json()["messages"][0]["content"]
        return Reply.json({"id": "c", "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                                   "finish_reason": "stop"}]})

    server.route("POST", "/v1/chat/completions", answer)
    client = LlmClient.openai(KEY, base_url=server.url + "/v1")
    wrong: List[str] = []

    def worker(n: int) -> None:
        for i in range(5):
            text = f"thread {n} call {i}"
            got = client.chat(ChatRequest(model="m", messages=[Message.user(text)])).content
            if got != text:
                wrong.append(got)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert wrong == [] and len(server.requests) == THREADS * 5
    assert server.connections <= THREADS  # connections went back to the pool and were used again


def test_closing_a_stream_from_another_thread_ends_the_blocked_reader_quietly_and_frees_the_connection(server):
    server.add(Reply(headers={"Content-Type": "text/event-stream"},
                     parts=sse(chunk("first"), done=False) + [Pause(10.0)] + sse(chunk("never", finish="stop"))))
    client = LlmClient.openai(KEY, base_url=server.url + "/v1", timeout=(5, 60))
    stream = client.chat_stream(ChatRequest(model="m", messages=[Message.user("hi")]))
    got_first = threading.Event()
    outcome: Dict[str, object] = {}

    def reader() -> None:
        texts = []
        try:
            for piece in stream:
                texts.append(piece.content)
                got_first.set()
            outcome["texts"] = texts
        except BaseException as exc:  # noqa: BLE001 - the test asserts there is none
            outcome["error"] = exc

    thread = threading.Thread(target=reader)
    thread.start()
    assert got_first.wait(5)
    time.sleep(0.2)  # the reader is now blocked in a read of the socket
    closed_at = time.monotonic()
    stream.close()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - closed_at < 2.0
    assert outcome == {"texts": ["first"]}
    assert server.requests[0].closed_by_client.wait(2.0)
    assert stream.closed


def test_a_stream_closed_from_another_thread_does_not_disturb_the_other_streams(server):
    slow = Reply(headers={"Content-Type": "text/event-stream"},
                 parts=sse(chunk("a"), done=False) + [Pause(10.0)] + sse(chunk("b", finish="stop")))
    server.add(slow)
    server.add(Reply(headers={"Content-Type": "text/event-stream"},
                     parts=sse(chunk("x"), done=False) + [Pause(0.5)] + sse(chunk("y", finish="stop"))))
    client = LlmClient.openai(KEY, base_url=server.url + "/v1")
    doomed = client.chat_stream(ChatRequest(model="m", messages=[Message.user("1")]))
    assert next(doomed).content == "a"
    survivor = client.chat_stream(ChatRequest(model="m", messages=[Message.user("2")]))
    closer = threading.Timer(0.1, doomed.close)
    closer.start()
    assert survivor.text() == "xy"
    closer.join()
    assert server.requests[0].closed_by_client.wait(2.0)
    assert json.loads(server.requests[1].body)["messages"][0]["content"] == "2"
