"""Functions the scale-out tests send to other processes (importable there, unlike a test module's)."""

from typing import List, Tuple

from llm_connector import ChatRequest, LlmClient, Message


def ask(client: LlmClient, n: int) -> Tuple[int, str, int]:
    """One request in a worker: ``(n, answer, worker pid)``."""
    import os

    response = client.chat(ChatRequest(model="m", messages=[Message.user(str(n))]))
    return n, response.content, os.getpid()


def ask_partition(client: LlmClient, numbers: List[int]) -> List[Tuple[int, str]]:
    """A partition answered with chat_batch inside the worker (the Spark mapPartitions / Dask shape)."""
    requests = [(n, ChatRequest(model="m", messages=[Message.user(str(n))])) for n in numbers]
    return [(r.id, r.response.content if r.ok else repr(r.error))
            for r in client.chat_batch(requests, concurrency=4, progress=False)]
