"""Keys never travel in a pickle: a client built from the environment pickles as its recipe and reads the key
where it is unpickled; a client holding a literal key refuses to pickle; keyless clients pickle as they are."""

import multiprocessing
import pickle
from typing import Any, Callable, Dict

import pytest

from llm_connector import ChatRequest, LlmClient, Message
from llm_connector.auth import AwsSigV4Auth, BearerAuth
from llm_connector.errors import ConfigurationError
from llm_connector.testing import LocalServer, Reply

SECRET = "sk-pickle-SECRET-0123456789"
SECOND = "sk-pickle-SECOND-9876543210"
OPENAI_OK = {"id": "c", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                                     "finish_reason": "stop"}]}
ANTHROPIC_OK = {"id": "m", "type": "message", "role": "assistant", "content": [{"type": "text", "text": "ok"}],
                "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}}
GEMINI_OK = {"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}, "finishReason": "STOP"}]}

#: name -> (build from the environment given a base URL, the answer the service gives)
FROM_ENV: Dict[str, Any] = {
    "openai": (lambda url: LlmClient.openai(api_key_env="MY_KEY", base_url=url), OPENAI_OK),
    "openai_compatible": (lambda url: LlmClient.openai_compatible(None, url, api_key_env="MY_KEY"), OPENAI_OK),
    "azure_openai": (lambda url: LlmClient.azure_openai(None, url, "dep", api_key_env="MY_KEY"), OPENAI_OK),
    "deepseek": (lambda url: LlmClient.deepseek(api_key_env="MY_KEY", base_url=url), OPENAI_OK),
    "moonshot": (lambda url: LlmClient.moonshot(api_key_env="MY_KEY", base_url=url), OPENAI_OK),
    "volcengine": (lambda url: LlmClient.volcengine(api_key_env="MY_KEY", base_url=url), OPENAI_OK),
    "xiaomi": (lambda url: LlmClient.xiaomi(api_key_env="MY_KEY", base_url=url), OPENAI_OK),
    "longcat": (lambda url: LlmClient.longcat(api_key_env="MY_KEY", base_url=url), OPENAI_OK),
    "minimax": (lambda url: LlmClient.minimax(api_key_env="MY_KEY", base_url=url), OPENAI_OK),
    "zhipu_openai_compatible": (lambda url: LlmClient.zhipu_openai_compatible(api_key_env="MY_KEY", base_url=url),
                                OPENAI_OK),
    "aliyun_compatible": (lambda url: LlmClient.aliyun_compatible(api_key_env="MY_KEY", base_url=url), OPENAI_OK),
    "anthropic": (lambda url: LlmClient.anthropic(api_key_env="MY_KEY", base_url=url), ANTHROPIC_OK),
    "longcat_anthropic": (lambda url: LlmClient.longcat_anthropic(api_key_env="MY_KEY", base_url=url),
                          ANTHROPIC_OK),
    "anthropic_vertex": (lambda url: LlmClient.anthropic_vertex("p", "us-east5", access_token_env="MY_KEY",
                                                                base_url=url), ANTHROPIC_OK),
    "anthropic_bedrock": (lambda url: LlmClient.anthropic_bedrock("us-east-1", access_key_env="MY_KEY",
                                                                  secret_key_env="MY_SECRET", base_url=url),
                          ANTHROPIC_OK),
    "google": (lambda url: LlmClient.google(api_key_env="MY_KEY", base_url=url), GEMINI_OK),
    "from_env openai": (lambda url: LlmClient.from_env("openai", base_url=url), OPENAI_OK),
    "from_env anthropic": (lambda url: LlmClient.from_env("anthropic", base_url=url), ANTHROPIC_OK),
    "from_env google": (lambda url: LlmClient.from_env("google", base_url=url), GEMINI_OK),
    "from_env deepseek": (lambda url: LlmClient.from_env("deepseek", base_url=url), OPENAI_OK),
    "from_env azure_openai": (lambda url: LlmClient.from_env("azure_openai", base_url=url), OPENAI_OK),
    "from_env anthropic_bedrock": (lambda url: LlmClient.from_env("anthropic_bedrock", base_url=url),
                                   ANTHROPIC_OK),
}

#: constructors whose services answer in shapes of their own: checked for pickle bytes, not answered here
FROM_ENV_NO_ANSWER: Dict[str, Callable[[], LlmClient]] = {
    "aliyun": lambda: LlmClient.aliyun(api_key_env="MY_KEY"),
    "aliyun_international": lambda: LlmClient.aliyun_international(api_key_env="MY_KEY"),
    "zhipu": lambda: LlmClient.zhipu(api_key_env="MY_KEY"),
    "hunyuan": lambda: LlmClient.hunyuan(api_key_env="MY_KEY"),
    "tencent": lambda: LlmClient.tencent(secret_id_env="MY_KEY", secret_key_env="MY_SECRET"),
    "from_env tencent": lambda: LlmClient.from_env("tencent"),
}

#: name -> the same constructor given the literal key
LITERAL: Dict[str, Callable[[], LlmClient]] = {
    "openai": lambda: LlmClient.openai(SECRET),
    "openai_compatible": lambda: LlmClient.openai_compatible(SECRET, "http://127.0.0.1:1/v1"),
    "azure_openai": lambda: LlmClient.azure_openai(SECRET, "https://x.openai.azure.com", "dep"),
    "deepseek": lambda: LlmClient.deepseek(SECRET),
    "moonshot": lambda: LlmClient.moonshot(SECRET),
    "volcengine": lambda: LlmClient.volcengine(SECRET),
    "xiaomi": lambda: LlmClient.xiaomi(SECRET),
    "longcat": lambda: LlmClient.longcat(SECRET),
    "minimax": lambda: LlmClient.minimax(SECRET),
    "zhipu_openai_compatible": lambda: LlmClient.zhipu_openai_compatible(SECRET),
    "aliyun_compatible": lambda: LlmClient.aliyun_compatible(SECRET),
    "anthropic": lambda: LlmClient.anthropic(SECRET),
    "longcat_anthropic": lambda: LlmClient.longcat_anthropic(SECRET),
    "anthropic_vertex": lambda: LlmClient.anthropic_vertex("p", "us-east5", SECRET),
    "anthropic_bedrock": lambda: LlmClient.anthropic_bedrock("us-east-1", "AKIDLITERAL", SECRET),
    "bedrock session token": lambda: LlmClient.anthropic_bedrock("us-east-1", "AKIDLITERAL", "s3cr3t-key",
                                                                 session_token=SECRET),
    "google": lambda: LlmClient.google(SECRET),
    "aliyun": lambda: LlmClient.aliyun(SECRET),
    "aliyun_international": lambda: LlmClient.aliyun_international(SECRET),
    "zhipu": lambda: LlmClient.zhipu(SECRET),
    "hunyuan": lambda: LlmClient.hunyuan(SECRET),
    "tencent": lambda: LlmClient.tencent("AKIDLITERAL", SECRET),
    "ollama with an Authorization header": lambda: LlmClient.ollama(headers={"Authorization": "Bearer " + SECRET}),
    "proxy password": lambda: LlmClient.ollama(proxy=f"http://user:{SECRET}@127.0.0.1:3128"),
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("MY_KEY", "MY_SECRET", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "DEEPSEEK_API_KEY",
                 "AZURE_OPENAI_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, SECRET)
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://x.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "dep")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_ID", "AKID-tencent")
    monkeypatch.setenv("TENCENTCLOUD_SECRET_KEY", SECRET)
    for name in ("GEMINI_API_KEY", "AWS_SESSION_TOKEN", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL",
                 "TENCENTCLOUD_SESSION_TOKEN", "TENCENT_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def request() -> ChatRequest:
    return ChatRequest(model="m", messages=[Message.user("hi")])


def sent_credentials(server: LocalServer) -> str:
    headers = server.requests[-1].headers
    return " ".join(headers.get(h, "") for h in ("Authorization", "api-key", "x-api-key", "x-goog-api-key"))


@pytest.mark.parametrize("name", sorted(FROM_ENV))
def test_a_client_from_the_environment_pickles_without_its_key_and_reads_it_where_unpickled(
        name: str, env: pytest.MonkeyPatch, server: LocalServer) -> None:
    build, answer = FROM_ENV[name]
    data = pickle.dumps(build(server.url))
    assert SECRET.encode() not in data
    env.setenv("MY_KEY", SECOND)
    for variable in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GOOGLE_API_KEY", "DEEPSEEK_API_KEY",
                     "AZURE_OPENAI_API_KEY", "AWS_ACCESS_KEY_ID"):
        env.setenv(variable, SECOND)
    client = pickle.loads(data)
    server.add(Reply.json(answer))
    assert client.chat(request()).content == "ok"
    assert SECOND in sent_credentials(server)  # the key of the unpickling environment, not the one pickled
    assert SECRET not in sent_credentials(server)


@pytest.mark.parametrize("name", sorted(FROM_ENV_NO_ANSWER))
def test_other_clients_from_the_environment_pickle_without_their_secrets(name: str, env: pytest.MonkeyPatch) -> None:
    client = FROM_ENV_NO_ANSWER[name]()
    data = pickle.dumps(client)
    assert SECRET.encode() not in data
    env.setenv("MY_SECRET", SECOND)
    env.setenv("MY_KEY", SECOND)
    copy = pickle.loads(data)
    assert copy.provider_name == client.provider_name and SECOND.encode() not in pickle.dumps(copy)


def test_every_constructor_is_checked_both_ways() -> None:
    constructors = {name for name, value in vars(LlmClient).items()
                    if isinstance(value, classmethod) and not name.startswith("_")} - {"from_env"}
    keyless = {"ollama", "mock", "openai_compatible"}
    covered_env = set(FROM_ENV) | set(FROM_ENV_NO_ANSWER)
    assert constructors - keyless - covered_env == set()
    assert constructors - {"ollama", "mock"} - set(LITERAL) == set()


@pytest.mark.parametrize("name", sorted(LITERAL))
def test_a_client_holding_a_literal_secret_refuses_to_pickle_and_says_how_to_make_it_portable(name: str) -> None:
    client = LITERAL[name]()
    with pytest.raises(TypeError) as info:
        pickle.dumps(client)
    message = str(info.value)
    assert "from_env" in message and "_env" in message
    assert SECRET not in message


def test_the_pickle_error_names_api_key_env_for_a_keyed_constructor() -> None:
    with pytest.raises(TypeError, match=r"cannot pickle this openai client: it holds a literal API key.*"
                                        r"LlmClient\.from_env\('openai'\).*api_key_env="):
        pickle.dumps(LlmClient.openai(SECRET))


def test_keyless_clients_pickle_as_they_are(server: LocalServer) -> None:
    ollama = pickle.loads(pickle.dumps(LlmClient.ollama(server.url, timeout=7.0)))
    assert repr(ollama) == f"OllamaClient(base_url={server.url!r})"
    server.add(Reply.ndjson({"model": "m", "message": {"role": "assistant", "content": "ok"}, "done": True,
                             "done_reason": "stop"}))
    assert ollama.chat(request()).content == "ok"
    mock = pickle.loads(pickle.dumps(LlmClient.mock(reply="scripted")))
    assert mock.chat(request()).content == "scripted"
    keyless = pickle.loads(pickle.dumps(LlmClient.openai_compatible(None, server.url + "/v1", name="gateway")))
    assert keyless.provider_name == "gateway"


def test_the_options_travel_in_the_recipe(env: pytest.MonkeyPatch, server: LocalServer) -> None:
    client = LlmClient.openai(api_key_env="MY_KEY", base_url=server.url + "/v1", headers={"X-Team": "blue"},
                              max_retries=0, verify=False, options={"stream_usage": False})
    copy = pickle.loads(pickle.dumps(client))
    assert repr(copy) == "LlmClient(provider='openai', verify=False)"
    server.add(Reply.json(OPENAI_OK))
    copy.chat(request())
    assert server.requests[0].headers["X-Team"] == "blue"
    assert server.requests[0].path == "/v1/chat/completions"


def test_unpickling_where_the_variable_is_unset_names_the_variable(env: pytest.MonkeyPatch) -> None:
    data = pickle.dumps(LlmClient.openai(api_key_env="MY_KEY"))
    env.delenv("MY_KEY")
    with pytest.raises(ConfigurationError, match=r"api_key: environment variable MY_KEY is not set"):
        pickle.loads(data)


def test_an_auth_pickles_as_its_recipe_only_when_built_from_the_environment(env: pytest.MonkeyPatch) -> None:
    auth = AwsSigV4Auth.from_env({"access_key": "MY_KEY", "secret_key": "MY_SECRET"}, region="eu-west-1")
    data = pickle.dumps(auth)
    assert SECRET.encode() not in data
    copy = pickle.loads(data)
    assert isinstance(copy, AwsSigV4Auth) and copy.region == "eu-west-1" and copy.has_credentials
    with pytest.raises(TypeError, match="literal credentials"):
        pickle.dumps(BearerAuth(SECRET))


def test_api_key_and_api_key_env_together_are_refused(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="give one, not both"):
        LlmClient.openai(SECRET, api_key_env="MY_KEY")
    with pytest.raises(ConfigurationError, match="not both"):
        LlmClient.anthropic_bedrock("us-east-1", "AKID", SECRET, access_key_env="MY_KEY", secret_key_env="MY_KEY")


def _answer_in_child(data: bytes, url: str, out: Any) -> None:
    try:
        client = pickle.loads(data)
        out.put(client.chat(ChatRequest(model="m", messages=[Message.user("hi")]), base_url=url).content)
    except BaseException as exc:  # pragma: no cover - reported to the parent
        out.put(f"error: {exc!r}")


def test_a_from_env_client_unpickled_in_a_spawned_process_answers_with_that_process_key(
        env: pytest.MonkeyPatch, server: LocalServer) -> None:
    data = pickle.dumps(LlmClient.from_env("openai", base_url=server.url + "/v1", max_retries=0))
    assert SECRET.encode() not in data
    env.setenv("OPENAI_API_KEY", SECOND)  # the child inherits this environment, not the parent's old key
    server.add(Reply.json(OPENAI_OK))
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    child = context.Process(target=_answer_in_child, args=(data, server.url + "/v1", out))
    child.start()
    try:
        assert out.get(timeout=120) == "ok"
    finally:
        child.join(30)
    assert child.exitcode == 0
    assert server.requests[0].headers["Authorization"] == "Bearer " + SECOND
