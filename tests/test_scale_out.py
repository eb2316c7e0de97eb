"""The same code on other processes: a client built from the environment travels as a recipe (never its key)
to multiprocessing (spawn) and Dask workers, and reads the key there."""

import functools
import multiprocessing
import os
import pickle

import pytest
from scale_out_work import ask, ask_partition

from llm_connector import LlmClient
from llm_connector.testing import Reply

KEY = "sk-from-the-environment-123"


def answer(recorded):
    n = recorded.json()["messages"][0]["content"]
    return Reply.json({"id": "c", "object": "chat.completion", "model": "m",
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": f"answer {n}"},
                                    "finish_reason": "stop"}]})


@pytest.fixture
def env_client(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # the workers inherit the environment, and read the key there
    server.route("POST", "/v1/chat/completions", answer)
    return LlmClient.from_env("openai", base_url=server.url + "/v1")


def check_answers(server, pairs, count):
    assert sorted(pairs) == [(n, f"answer {n}") for n in range(count)]
    assert len(server.requests) == count
    assert {r.headers["Authorization"] for r in server.requests} == {"Bearer " + KEY}


def test_the_pickled_client_carries_no_key_and_a_literal_key_client_refuses(env_client):
    assert KEY.encode() not in pickle.dumps(env_client)
    with pytest.raises(TypeError, match="from_env"):
        pickle.dumps(LlmClient.openai(KEY))


def test_200_requests_through_multiprocessing_with_spawn(server, env_client):
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        results = pool.map(functools.partial(ask, env_client), range(200), chunksize=25)
    check_answers(server, [(n, text) for n, text, _ in results], 200)
    assert os.getpid() not in {pid for _, _, pid in results}  # really answered in other processes


def test_200_requests_through_a_dask_local_cluster_with_processes(server, env_client):
    distributed = pytest.importorskip("distributed", reason="dask[distributed] not installed "
                                      "(pip install -e .[batch-test])")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None,
                                  worker_dashboard_address=None) as cluster, \
            distributed.Client(cluster) as dask_client:
        client = dask_client.scatter(env_client, broadcast=True)  # sent once per worker, as its recipe
        singles = dask_client.gather(dask_client.map(ask, [client] * 100, range(100)))
        partitions = [list(range(start, start + 25)) for start in range(100, 200, 25)]
        batched = dask_client.gather(dask_client.map(ask_partition, [client] * 4, partitions))
    pairs = [(n, text) for n, text, _ in singles] + [pair for part in batched for pair in part]
    check_answers(server, pairs, 200)
    assert os.getpid() not in {pid for _, _, pid in singles}
