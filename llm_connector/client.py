"""``LlmClient``: one client for every provider.

It picks the provider's protocol module and glues the steps (encode, send, decode); nothing
protocol-specific lives here.
"""

import os
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Union

import requests

from .auth import Auth, BearerAuth, HeaderKeyAuth, NoAuth
from .errors import SHAPE_ERRORS, ConfigurationError, UnsupportedOperationError, shape_error
from .presets import PRESETS, Preset, get_preset
from .protocols import Endpoint, load, loads
from .stream import ChatStream, Stream
from .transport import DEFAULT_TIMEOUT, TimeoutSpec, Transport, close_response, release_after_end
from .types import ChatRequest, ChatResponse, OllamaStreamChunk, StreamingResponse

if TYPE_CHECKING:  # pragma: no cover
    from .batch import BatchRun
    from .ollama import OllamaClient

__all__ = ["LlmClient"]


def _auth_for(style: str, key: Optional[str]) -> Auth:
    if not key or style == "none":
        return NoAuth()
    if style == "bearer":
        return BearerAuth(key)
    return HeaderKeyAuth(style, key)


def _check_request(request: ChatRequest) -> None:
    if not isinstance(request, ChatRequest):
        raise ConfigurationError(f"request: expected a ChatRequest, got {type(request).__name__}")
    if not request.model:
        raise ConfigurationError("ChatRequest.model: no model given")
    if not request.messages:
        raise ConfigurationError("ChatRequest.messages: no messages given")


class _HttpBackend:
    """A provider reached over HTTP through one protocol module."""

    def __init__(self, preset: Preset, endpoint: Endpoint, transport: Transport) -> None:
        self.preset = preset
        self.endpoint = endpoint
        self.transport = transport

    @property
    def protocol(self) -> Any:
        return load(self.preset.protocol)

    def _endpoint(self, api_key: Optional[str], base_url: Optional[str],
                  headers: Optional[Mapping[str, str]]) -> Endpoint:
        endpoint = self.endpoint
        if api_key is None and base_url is None and not headers:
            return endpoint
        merged = dict(endpoint.headers)
        merged.update(headers or {})
        if api_key is not None and not api_key and self.preset.key_required:
            raise ConfigurationError("api_key: the per-call key is empty", provider=endpoint.provider)
        if base_url:
            normalize = getattr(self.protocol, "normalize_base_url", None)
            base_url = normalize(base_url) if normalize is not None else base_url.rstrip("/")
        return Endpoint(
            provider=endpoint.provider,
            base_url=base_url or endpoint.base_url,
            auth=_auth_for(self.preset.auth, api_key) if api_key is not None else endpoint.auth,
            headers=merged,
            options=endpoint.options,
        )

    def chat(self, request: ChatRequest, endpoint: Endpoint, deadline: Optional[float]) -> ChatResponse:
        protocol = self.protocol
        http = protocol.encode_chat(request, endpoint, False)
        http.headers.update(endpoint.headers)
        response = self.transport.send(http, deadline=deadline)
        body = self.transport.read_all(response)
        data = loads(body.decode("utf-8", "replace"), endpoint.provider, "response body")
        try:
            return protocol.decode_response(data, endpoint)  # type: ignore[no-any-return]
        except SHAPE_ERRORS as exc:  # JSON of a shape the decoder did not expect: never a raw AttributeError
            raise shape_error(exc, endpoint.provider, "a response") from None

    def chat_stream(self, request: ChatRequest, endpoint: Endpoint, deadline: Optional[float]) -> ChatStream:
        protocol = self.protocol
        http = protocol.encode_chat(request, endpoint, True)
        http.headers.update(endpoint.headers)
        response = self.transport.send(http, deadline=deadline)
        chunks = protocol.decode_stream(self.transport.iter_bytes(response, deadline=deadline), endpoint)
        return ChatStream(chunks, response=response, on_close=lambda: close_response(response),
                          on_end=lambda: release_after_end(response))

    def models(self, endpoint: Endpoint) -> List[str]:
        protocol = self.protocol
        encode = getattr(protocol, "encode_models", None)
        if encode is None or not endpoint.option("models", True):
            raise UnsupportedOperationError(f"{endpoint.provider} does not offer a model list",
                                            provider=endpoint.provider)
        http = encode(endpoint)
        http.headers.update(endpoint.headers)
        body = self.transport.read_all(self.transport.send(http))
        data = loads(body.decode("utf-8", "replace"), endpoint.provider, "model list")
        return protocol.decode_models(data, endpoint)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.transport.close()


class LlmClient:
    """One client for every provider; ``chat`` answers, ``chat_stream`` streams, the same types everywhere.

    Build one with a provider constructor (``LlmClient.openai(key)``, ``LlmClient.anthropic(key)``,
    ``LlmClient.ollama()``, ``LlmClient.mock()``, ...) or ``LlmClient.from_env()``. Every constructor takes
    the keyword options ``base_url``, ``timeout`` (seconds, or a ``(connect, idle)`` pair; never a cap on a
    whole stream), ``deadline`` (seconds for one whole call), ``proxy``, ``headers``, ``max_retries``
    (default 2), ``session`` (a ``requests.Session`` to share) and ``verify``.

    A client is safe to share across threads.

    >>> from llm_connector import LlmClient, ChatRequest, Message, Role
    >>> client = LlmClient.mock(reply="Once upon a time")
    >>> request = ChatRequest(model="mock", messages=[Message.text(Role.USER, "Tell me a story")])
    >>> for chunk in client.chat_stream(request):
    ...     print(chunk.get_content() or "", end="")
    Once upon a time
    """

    def __init__(
        self,
        provider: str,
        api_key: Optional[str] = None,
        *,
        base_url: Optional[str] = None,
        timeout: TimeoutSpec = DEFAULT_TIMEOUT,
        deadline: Optional[float] = None,
        proxy: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        max_retries: int = 2,
        session: Optional[requests.Session] = None,
        verify: Union[bool, str] = True,
        auth: Optional[Auth] = None,
        options: Optional[Mapping[str, Any]] = None,
        name: Optional[str] = None,
    ) -> None:
        """A client for the provider called ``provider`` (see ``supported_providers()``).

        ``auth`` replaces the key-based auth (for signed protocols); ``options`` adds protocol quirks;
        ``name`` overrides the provider name shown in errors and ``provider_name``.
        """
        preset = get_preset(provider)
        base = base_url or preset.base_url
        if not base:
            raise ConfigurationError(f"base_url: provider {provider!r} needs a base_url", provider=provider)
        if auth is None:
            if preset.key_required and not api_key:
                hint = f" (or set {preset.env[0]})" if preset.env else ""
                raise ConfigurationError(f"api_key: provider {provider!r} needs an API key{hint}",
                                         provider=provider)
            auth = _auth_for(preset.auth, api_key)
        normalize = getattr(_protocol_or_none(preset.protocol), "normalize_base_url", None)
        base = normalize(base) if normalize is not None else base.rstrip("/")
        merged_options: Dict[str, Any] = dict(preset.options)
        merged_options.update(options or {})
        label = name or provider
        endpoint = Endpoint(provider=label, base_url=base, auth=auth, headers={}, options=merged_options)
        transport = Transport(
            label, timeout=timeout, proxy=proxy, verify=verify, headers=headers, max_retries=max_retries,
            session=session, deadline=deadline,
        )
        self._backend: Any = _HttpBackend(preset, endpoint, transport)
        self._provider = label

    # -- constructors -------------------------------------------------------------------------------------

    @classmethod
    def _with_backend(cls, backend: Any, name: str) -> "LlmClient":
        client = cls.__new__(cls)
        client._backend = backend
        client._provider = name
        return client

    @classmethod
    def openai(cls, api_key: str, **options: Any) -> "LlmClient":
        """OpenAI (``https://api.openai.com/v1``)."""
        return cls("openai", api_key, **options)

    @classmethod
    def azure_openai(cls, api_key: str, endpoint: str, deployment: str, api_version: str = "2024-10-21",
                     **options: Any) -> "LlmClient":
        """Azure OpenAI: ``{endpoint}/openai/deployments/{deployment}``, ``api-version`` query, ``api-key``
        header."""
        base = "{}/openai/deployments/{}".format(endpoint.rstrip("/"), deployment)
        extra = dict(options.pop("options", None) or {})
        extra["api_version"] = api_version
        return cls("azure_openai", api_key, base_url=options.pop("base_url", None) or base, options=extra, **options)

    @classmethod
    def openai_compatible(cls, api_key: Optional[str], base_url: str, name: str = "openai_compatible",
                          **options: Any) -> "LlmClient":
        """Any OpenAI-compatible service; ``base_url`` includes the version path (``.../v1``)."""
        return cls("openai_compatible", api_key, base_url=base_url, name=name, **options)

    @classmethod
    def deepseek(cls, api_key: str, **options: Any) -> "LlmClient":
        """DeepSeek (reasoning arrives in ``reasoning_content``)."""
        return cls("deepseek", api_key, **options)

    @classmethod
    def moonshot(cls, api_key: str, **options: Any) -> "LlmClient":
        """Moonshot / Kimi (``https://api.moonshot.cn/v1``)."""
        return cls("moonshot", api_key, **options)

    @classmethod
    def volcengine(cls, api_key: str, **options: Any) -> "LlmClient":
        """Volcengine Ark (``https://ark.cn-beijing.volces.com/api/v3``); the model is the endpoint id."""
        return cls("volcengine", api_key, **options)

    @classmethod
    def xiaomi(cls, api_key: str, **options: Any) -> "LlmClient":
        """Xiaomi MiMo."""
        return cls("xiaomi", api_key, **options)

    @classmethod
    def longcat(cls, api_key: str, **options: Any) -> "LlmClient":
        """LongCat, OpenAI mode."""
        return cls("longcat", api_key, **options)

    @classmethod
    def zhipu_openai_compatible(cls, api_key: str, **options: Any) -> "LlmClient":
        """Zhipu GLM through its OpenAI-compatible API (``/api/paas/v4``)."""
        return cls("zhipu_openai_compatible", api_key, **options)

    @classmethod
    def aliyun_compatible(cls, api_key: str, **options: Any) -> "LlmClient":
        """Aliyun DashScope's OpenAI-compatible mode."""
        return cls("aliyun_compatible", api_key, **options)

    @classmethod
    def anthropic(cls, api_key: str, **options: Any) -> "LlmClient":
        """Anthropic Claude (``https://api.anthropic.com``)."""
        return cls("anthropic", api_key, **options)

    @classmethod
    def longcat_anthropic(cls, api_key: str, **options: Any) -> "LlmClient":
        """LongCat, Anthropic mode (Bearer auth)."""
        return cls("longcat_anthropic", api_key, **options)

    @classmethod
    def anthropic_vertex(cls, project_id: str, region: str, access_token: str, **options: Any) -> "LlmClient":
        """Claude on Google Vertex AI: ``:rawPredict`` / ``:streamRawPredict`` with an OAuth access token."""
        if not access_token:
            raise ConfigurationError("access_token: anthropic_vertex needs an OAuth access token",
                                     provider="anthropic_vertex")
        host = "aiplatform.googleapis.com" if region == "global" else f"{region}-aiplatform.googleapis.com"
        base = f"https://{host}/v1/projects/{project_id}/locations/{region}/publishers/anthropic/models"
        return cls("anthropic_vertex", None, base_url=options.pop("base_url", None) or base,
                   auth=BearerAuth(access_token), **options)

    @classmethod
    def anthropic_bedrock(cls, region: str, access_key: str, secret_key: str, session_token: Optional[str] = None,
                          **options: Any) -> "LlmClient":
        """Claude on AWS Bedrock (``InvokeModel`` / ``InvokeModelWithResponseStream``), signed with SigV4.

        The model is the Bedrock model id, e.g. ``anthropic.claude-3-5-sonnet-20240620-v1:0``.
        """
        from .auth import AwsSigV4Auth

        if not access_key or not secret_key:
            raise ConfigurationError("access_key/secret_key: anthropic_bedrock needs AWS credentials",
                                     provider="anthropic_bedrock")
        base = f"https://bedrock-runtime.{region}.amazonaws.com"
        auth = AwsSigV4Auth(access_key, secret_key, region, "bedrock", session_token=session_token)
        return cls("anthropic_bedrock", None, base_url=options.pop("base_url", None) or base, auth=auth, **options)

    @classmethod
    def google(cls, api_key: str, **options: Any) -> "LlmClient":
        """Google Gemini (the key travels in the ``x-goog-api-key`` header, never in the URL)."""
        return cls("google", api_key, **options)

    @classmethod
    def ollama(cls, base_url: Optional[str] = None, **options: Any) -> "OllamaClient":
        """Ollama at ``base_url`` (default ``$OLLAMA_HOST`` or ``http://localhost:11434``).

        The returned ``OllamaClient`` also manages local models (list, show, pull, copy, delete).
        """
        from .ollama import OllamaClient

        return OllamaClient("ollama", None, base_url=base_url or os.environ.get("OLLAMA_HOST") or None, **options)

    @classmethod
    def mock(cls, reply: Any = None, **options: Any) -> "LlmClient":
        """An offline provider that answers and streams a scripted or generated reply.

        Takes the options of ``llm_connector.mock.MockProvider`` (``reply``, ``reasoning``, ``tool_calls``,
        ``usage``, ...); ``client.mock_provider`` gives it back, to queue replies or errors and to read the
        requests it received.
        """
        from .mock import MockProvider

        return cls._with_backend(MockProvider(reply, **options), "mock")

    @classmethod
    def from_env(cls, name: Optional[str] = None, **options: Any) -> "LlmClient":
        """A client for provider ``name`` with its key (and base URL) from the environment.

        Without ``name``, the first provider whose key variable is set (OpenAI, Anthropic, Google, DeepSeek,
        ...) is used; a ``ConfigurationError`` when none is.
        """
        if name is None:
            name = detect_provider()
            if name is None:
                raise ConfigurationError("from_env: no provider key found in the environment")
        if name == "mock":
            return cls.mock(**options)
        if name == "ollama":
            return cls.ollama(**options)
        if name == "azure_openai":
            missing = [v for v in ("AZURE_OPENAI_API_KEY", "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_DEPLOYMENT")
                       if not os.environ.get(v)]
            if missing:
                raise ConfigurationError(f"from_env: azure_openai needs {', '.join(missing)} in the environment",
                                         provider=name)
            return cls.azure_openai(os.environ["AZURE_OPENAI_API_KEY"], os.environ["AZURE_OPENAI_ENDPOINT"],
                                    os.environ["AZURE_OPENAI_DEPLOYMENT"],
                                    os.environ.get("OPENAI_API_VERSION") or "2024-10-21", **options)
        preset = get_preset(name)
        key = next((os.environ[v] for v in preset.env if os.environ.get(v)), None)
        if preset.key_required and not key:
            raise ConfigurationError(
                "from_env: {} needs {} in the environment".format(name, " or ".join(preset.env)), provider=name
            )
        if "base_url" not in options and preset.base_url_env and os.environ.get(preset.base_url_env):
            options["base_url"] = os.environ[preset.base_url_env]
        return cls(name, key, **options)

    @staticmethod
    def supported_providers() -> List[str]:
        """The provider names this version knows."""
        return sorted(PRESETS) + ["mock"]

    # -- calls ---------------------------------------------------------------------------------------------

    @property
    def provider_name(self) -> str:
        """The provider's name (``"openai"``, ``"deepseek"``, ``"mock"``, ...)."""
        return self._provider

    @property
    def mock_provider(self) -> Any:
        """The ``MockProvider`` behind a ``LlmClient.mock()`` client (None for other providers)."""
        from .mock import MockProvider

        return self._backend if isinstance(self._backend, MockProvider) else None

    def _endpoint(self, api_key: Optional[str], base_url: Optional[str],
                  headers: Optional[Mapping[str, str]]) -> Any:
        backend = self._backend
        if isinstance(backend, _HttpBackend):
            return backend._endpoint(api_key, base_url, headers)
        return None

    def chat(
        self,
        request: ChatRequest,
        *,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        deadline: Optional[float] = None,
    ) -> ChatResponse:
        """Ask and wait for the whole answer.

        ``api_key``, ``base_url`` and ``headers`` override the client's for this call (gateway use);
        ``deadline`` caps this call's total time in seconds.
        """
        _check_request(request)
        result: ChatResponse = self._backend.chat(request, self._endpoint(api_key, base_url, headers), deadline)
        return result

    def chat_stream(
        self,
        request: ChatRequest,
        *,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        headers: Optional[Mapping[str, str]] = None,
        deadline: Optional[float] = None,
    ) -> ChatStream:
        """Ask and stream the answer: a ``ChatStream`` of ``StreamingResponse`` chunks.

        Iterate it in a plain ``for`` loop; leaving the loop closes the connection. ``with`` works too, and
        ``.collect()`` returns the ``ChatResponse`` the stream adds up to. Overrides as for ``chat``.
        """
        _check_request(request)
        stream: ChatStream = self._backend.chat_stream(
            request, self._endpoint(api_key, base_url, headers), deadline
        )
        return stream

    def chat_stream_ollama(self, request: ChatRequest, **overrides: Any) -> Stream[OllamaStreamChunk]:
        """The provider's stream re-expressed as Ollama ``/api/chat`` chunks (for tools that speak Ollama).

        Each piece of text is one chunk with ``done=False``; exactly one final chunk has ``done=True``,
        ``done_reason`` and the token counts when the provider gave usage.
        """
        stream = self.chat_stream(request, **overrides)
        writer: Callable[[Iterator[StreamingResponse], str], Iterator[OllamaStreamChunk]] = load(
            "ollama"
        ).to_ollama_chunks
        return Stream(writer(iter(stream), request.model), response=stream.response, on_close=stream.close)

    def chat_batch(
        self,
        requests: Iterable[Any],
        *,
        concurrency: int = 8,
        ordered: bool = True,
        progress: Any = None,
        max_retries: int = 4,
        total: Optional[int] = None,
    ) -> "BatchRun":
        """Send many requests from ``concurrency`` threads; an iterator of ``BatchResult`` (``index``, ``id``,
        ``response`` or a typed ``error``, ``attempts``, ``elapsed``).

        ``requests``: ``ChatRequest`` objects or ``(id, ChatRequest)`` pairs, read lazily. ``ordered``: results
        in input order (else as they finish). ``progress``: None (a bar on stderr when it is a terminal), True,
        False, or a callable taking a ``BatchProgress``. ``max_retries``: tries per item after the first, with
        one backoff shared by all threads (honouring ``Retry-After``). Ctrl-C closes the requests in flight
        and ends the iteration after the results that finished (``.interrupted`` is then True). See
        ``llm_connector.batch``.
        """
        from .batch import run_batch

        return run_batch(self, requests, concurrency=concurrency, ordered=ordered, progress=progress,
                         max_retries=max_retries, total=total)

    def models(self) -> List[str]:
        """The model ids the service lists (``UnsupportedOperationError`` where it has no list)."""
        result: List[str] = self._backend.models(self._endpoint(None, None, None))
        return result

    def close(self) -> None:
        """Close the client's connections."""
        self._backend.close()

    def __enter__(self) -> "LlmClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LlmClient(provider={self._provider!r})"


def _protocol_or_none(name: str) -> Any:
    try:
        return load(name)
    except ImportError:
        return None


#: Order in which ``from_env()`` and the CLI look for a key.
DETECT_ORDER = ("openai", "anthropic", "google", "deepseek", "moonshot", "zhipu_openai_compatible",
                "aliyun_compatible", "volcengine", "xiaomi", "longcat")


def detect_provider() -> Optional[str]:
    """The first provider whose key variable is set, or None."""
    for name in DETECT_ORDER:
        if any(os.environ.get(v) for v in PRESETS[name].env):
            return name
    return None
