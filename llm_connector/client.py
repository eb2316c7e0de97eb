"""``LlmClient``: one client for every provider.

It picks the provider's protocol module and glues the steps (encode, send, decode); nothing
protocol-specific lives here.
"""

import itertools
import json
import os
import re
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Type, Union

from .auth import (
    SECRET_HEADERS,
    Auth,
    AwsSigV4Auth,
    BearerAuth,
    HeaderKeyAuth,
    NoAuth,
    TencentTc3Auth,
    check_credential,
    read_env_credential,
)
from .errors import (
    SHAPE_ERRORS,
    APIStatusError,
    ConfigurationError,
    IncompleteStreamError,
    StreamParseError,
    UnsupportedOperationError,
    shape_error,
    shorten,
)
from .presets import DETECT_ORDER, PRESETS, Preset, get_preset, provider_names
from .protocols import Endpoint, load, loads
from .stream import ChatStream, Stream
from .transport import (
    DEFAULT_TIMEOUT,
    HttpRequest,
    Response,
    Session,
    TimeoutSpec,
    Transport,
    close_response,
    redact_url,
    release_after_end,
)
from .types import (
    ChatRequest,
    ChatResponse,
    Delta,
    OllamaStreamChunk,
    StreamingChoice,
    StreamingResponse,
    ToolCall,
)

if TYPE_CHECKING:  # pragma: no cover
    from .batch import BatchRun
    from .protocols.ollama_models import OllamaModel, OllamaModelInfo, OllamaProgress, OllamaRunningModel

__all__ = ["LlmClient", "OllamaClient"]


#: A preset's ``auth`` style -> the auth class its ``credentials`` build (presets name a style, never a class).
_AUTH_CLASSES: Dict[str, Any] = {"bearer": BearerAuth, "sigv4": AwsSigV4Auth, "tc3": TencentTc3Auth}


def _auth_for(style: str, key: Optional[str], provider: str = "") -> Auth:
    if style in ("tc3", "sigv4"):
        raise ConfigurationError(f"{provider}: build the client with its constructor (LlmClient.{provider}(...)) "
                                 f"or LlmClient.from_env({provider!r})", provider=provider)
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
            auth=_auth_for(self.preset.auth, api_key, endpoint.provider) if api_key is not None else endpoint.auth,
            headers=merged,
            options=endpoint.options,
        )

    def _send(self, protocol: Any, http: Any, deadline: Optional[float]) -> Response:
        """Send; an HTTP error answer goes through the protocol's optional ``classify_error`` (a service's own
        error codes say more than the status)."""
        try:
            return self.transport.send(http, deadline=deadline)
        except APIStatusError as exc:
            classify = getattr(protocol, "classify_error", None)
            if classify is None:
                raise
            raise classify(exc) from None

    def open(self, http: HttpRequest, endpoint: Endpoint, deadline: Optional[float] = None,
             protocol: Any = None) -> Response:
        """Send one request with the endpoint's headers; the response comes back with its body unread.

        An HTTP error answer is typed by the transport, then by the protocol's optional ``classify_error``.
        """
        http.headers.update(endpoint.headers)
        return self._send(protocol if protocol is not None else self.protocol, http, deadline)

    def exchange(self, http: HttpRequest, endpoint: Endpoint, what: str, decode: Callable[[Any, Endpoint], Any],
                 deadline: Optional[float] = None, protocol: Any = None) -> Any:
        """The one send-read-parse step: send, read the whole body, parse it as JSON (``what`` names it in a
        ``StreamParseError``) and ``decode(data, endpoint)``; JSON of a shape the decoder did not expect is a
        ``StreamParseError`` too, never a raw ``KeyError``. Chat answers, model lists and Ollama's model
        management all go through it."""
        body = self.transport.read_all(self.open(http, endpoint, deadline, protocol))
        data = loads(body.decode("utf-8", "replace"), endpoint.provider, what)
        try:
            return decode(data, endpoint)
        except SHAPE_ERRORS as exc:  # e.g. an AttributeError from a list where an object was expected
            raise shape_error(exc, endpoint.provider, "a response" if what == "response body" else what) from None

    def chat(self, request: ChatRequest, endpoint: Endpoint, deadline: Optional[float]) -> ChatResponse:
        protocol = self.protocol
        http = protocol.encode_chat(request, endpoint, False)
        answer: ChatResponse = self.exchange(http, endpoint, "response body", protocol.decode_response, deadline,
                                             protocol)
        think_tags = endpoint.option("think_tags")
        if think_tags:
            from .thinktags import split_response

            answer = split_response(answer, think_tags)
        return answer

    def chat_stream(self, request: ChatRequest, endpoint: Endpoint, deadline: Optional[float]) -> ChatStream:
        protocol = self.protocol
        response = self.open(protocol.encode_chat(request, endpoint, True), endpoint, deadline, protocol)
        kind = _media_type(response)
        if kind == "text/html":
            raise _html_instead_of_stream(self.transport.read_all(response, deadline=deadline), response, endpoint)
        if kind == "application/json":  # the server ignored "stream": true and sent the whole answer
            chunks = _whole_answer(self.transport, response, protocol, endpoint, deadline)
        else:
            chunks = protocol.decode_stream(self.transport.iter_bytes(response, deadline=deadline), endpoint)
        think_tags = endpoint.option("think_tags")
        if think_tags:
            from .thinktags import split_stream

            chunks = split_stream(chunks, think_tags)
        return ChatStream(chunks, response=response, on_close=lambda: close_response(response),
                          on_end=lambda: release_after_end(response))

    def models(self, endpoint: Endpoint) -> List[str]:
        protocol = self.protocol
        encode = getattr(protocol, "encode_models", None)
        if encode is None or not endpoint.option("models", True):
            raise UnsupportedOperationError(f"{endpoint.provider} does not offer a model list",
                                            provider=endpoint.provider)
        names: List[str] = self.exchange(encode(endpoint), endpoint, "model list", protocol.decode_models,
                                         protocol=protocol)
        return names

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
        session: Optional[Session] = None,
        verify: Union[bool, str] = True,
        auth: Optional[Auth] = None,
        options: Optional[Mapping[str, Any]] = None,
        name: Optional[str] = None,
        api_key_env: Optional[str] = None,
        think_tags: Union[bool, str, None] = None,
    ) -> None:
        """A client for the provider called ``provider`` (see ``supported_providers()``).

        ``think_tags=True`` moves ``<think>…</think>`` text inside answers to ``reasoning_content`` (for models
        that reason inline: DeepSeek-R1 distills, Qwen3 on vLLM / llama.cpp, MiniMax), ``"open"`` when the
        stream starts inside the reasoning; see ``llm_connector.thinktags``. Off by default, on by default in
        presets whose service is known to do it; ``think_tags=False`` turns it off there.

        ``api_key_env`` names an environment variable holding the key, instead of ``api_key``: such a client
        pickles as its recipe and reads the key where it is unpickled (a client holding a literal key refuses
        to pickle). ``auth`` replaces the key-based auth (for signed protocols); ``options`` adds protocol
        quirks; ``name`` overrides the provider name shown in errors and ``provider_name``.
        """
        preset = get_preset(provider)
        if preset.backend:
            raise ConfigurationError(f"provider {provider!r} is not a service: use LlmClient.from_env({provider!r})",
                                     provider=provider)
        base = base_url or preset.base_url
        if not base:
            raise ConfigurationError(f"base_url: provider {provider!r} needs a base_url", provider=provider)
        if api_key_env is not None:
            if api_key is not None:
                raise ConfigurationError("api_key, api_key_env: give one, not both", provider=provider)
            api_key = read_env_credential(api_key_env, "api_key", provider)
        elif api_key:
            check_credential(api_key, "api_key", provider)
        given_auth = auth
        if auth is None:
            if preset.key_required and not api_key:
                hint = f" (or set {preset.env[0]})" if preset.env else ""
                raise ConfigurationError(f"api_key: provider {provider!r} needs an API key{hint}",
                                         provider=provider)
            auth = _auth_for(preset.auth, api_key, provider)
        normalize = getattr(_protocol_or_none(preset.protocol), "normalize_base_url", None)
        base = normalize(base) if normalize is not None else base.rstrip("/")
        merged_options: Dict[str, Any] = dict(preset.options)
        merged_options.update(options or {})
        if think_tags is not None:
            merged_options["think_tags"] = think_tags
        label = name or provider
        endpoint = Endpoint(provider=label, base_url=base, auth=auth, headers={}, options=merged_options)
        transport = Transport(
            label, timeout=timeout, proxy=proxy, verify=verify, headers=headers, max_retries=max_retries,
            session=session, deadline=deadline,
        )
        self._backend: Any = _HttpBackend(preset, endpoint, transport)
        self._provider = label
        self._verify = verify
        literal = _literal_secret(api_key if api_key_env is None else None, headers, proxy, base_url)
        self._recipe: Optional[Dict[str, Any]] = None if literal else dict(
            provider=provider, api_key_env=api_key_env, base_url=base_url, timeout=timeout, deadline=deadline,
            proxy=proxy, headers=dict(headers) if headers else None, max_retries=max_retries, verify=verify,
            auth=given_auth, options=dict(options) if options else None, name=name, think_tags=think_tags)
        self._literal = literal

    # -- constructors -------------------------------------------------------------------------------------

    @classmethod
    def _with_backend(cls, backend: Any, name: str) -> "LlmClient":
        client = cls.__new__(cls)
        client._backend = backend
        client._provider = name
        client._verify = True
        client._recipe = None
        client._literal = None
        return client

    def __reduce__(self) -> Any:
        """Pickle as a recipe: the constructor's arguments with the key's variable name, never the key.

        A client built with ``from_env`` or ``api_key_env=`` reads its key again where it is unpickled; a
        shared ``session`` is not carried (the unpickled client makes its own). A client holding a literal
        key refuses; a client without HTTP (``mock``) pickles its backend as it is.
        """
        if self._literal:
            provider = self._provider
            raise TypeError(
                f"cannot pickle this {provider} client: it holds a literal {self._literal}, which a pickle "
                f"would carry in clear. Build it with LlmClient.from_env({provider!r}) or give api_key_env="
                "'VAR' instead of the key (credentials in headers, a proxy or base URL: leave them out); "
                "such a client pickles as a recipe and reads the key from the environment where it is unpickled"
            )
        if self._recipe is None:
            return _rebuild_with_backend, (type(self), self._backend, self._provider)
        return _rebuild_from_recipe, (type(self), self._recipe)

    @classmethod
    def openai(cls, api_key: Optional[str] = None, **options: Any) -> "LlmClient":
        """OpenAI (``https://api.openai.com/v1``)."""
        return cls("openai", api_key, **options)

    @classmethod
    def azure_openai(cls, api_key: Optional[str], endpoint: str, deployment: str, api_version: str = "2024-10-21",
                     **options: Any) -> "LlmClient":
        """Azure OpenAI: ``{endpoint}/openai/deployments/{deployment}``, ``api-version`` query, ``api-key``
        header."""
        return cls._from_parts("azure_openai", {"endpoint": endpoint, "deployment": deployment,
                                                "api_version": api_version}, api_key=api_key, **options)

    @classmethod
    def openai_compatible(cls, api_key: Optional[str], base_url: str, name: str = "openai_compatible",
                          **options: Any) -> "LlmClient":
        """Any OpenAI-compatible service; ``base_url`` includes the version path (``.../v1``)."""
        return cls("openai_compatible", api_key, base_url=base_url, name=name, **options)

    @classmethod
    def deepseek(cls, api_key: Optional[str] = None, **options: Any) -> "LlmClient":
        """DeepSeek (reasoning arrives in ``reasoning_content``)."""
        return cls("deepseek", api_key, **options)

    @classmethod
    def moonshot(cls, api_key: Optional[str] = None, **options: Any) -> "LlmClient":
        """Moonshot / Kimi (``https://api.moonshot.cn/v1``)."""
        return cls("moonshot", api_key, **options)

    @classmethod
    def volcengine(cls, api_key: Optional[str] = None, **options: Any) -> "LlmClient":
        """Volcengine Ark (``https://ark.cn-beijing.volces.com/api/v3``); the model is the endpoint id."""
        return cls("volcengine", api_key, **options)

    @classmethod
    def xiaomi(cls, api_key: Optional[str] = None, **options: Any) -> "LlmClient":
        """Xiaomi MiMo."""
        return cls("xiaomi", api_key, **options)

    @classmethod
    def longcat(cls, api_key: Optional[str] = None, **options: Any) -> "LlmClient":
        """LongCat, OpenAI mode."""
        return cls("longcat", api_key, **options)

    @classmethod
    def zhipu_openai_compatible(cls, api_key: Optional[str] = None, **options: Any) -> "LlmClient":
        """Zhipu GLM through its OpenAI-compatible API (``/api/paas/v4``)."""
        return cls("zhipu_openai_compatible", api_key, **options)

    @classmethod
    def aliyun_compatible(cls, api_key: Optional[str] = None, **options: Any) -> "LlmClient":
        """Aliyun DashScope's OpenAI-compatible mode."""
        return cls("aliyun_compatible", api_key, **options)

    @classmethod
    def aliyun(cls, api_key: Optional[str] = None, **options: Any) -> "LlmClient":
        """Aliyun DashScope's native API (``https://dashscope.aliyuncs.com/api/v1``): Qwen with
        ``enable_thinking`` / ``thinking_budget``, tools, and the multimodal endpoint for images."""
        return cls("aliyun", api_key, **options)

    @classmethod
    def aliyun_international(cls, api_key: Optional[str] = None, **options: Any) -> "LlmClient":
        """Aliyun DashScope's native API on the international host (``https://dashscope-intl.aliyuncs.com``)."""
        return cls("aliyun_international", api_key, **options)

    @classmethod
    def zhipu(cls, api_key: Optional[str] = None, **options: Any) -> "LlmClient":
        """Zhipu GLM's native API v4 (``https://open.bigmodel.cn/api/paas/v4``): ``thinking``, reasoning,
        tools with ``tool_stream``, vision, Zhipu's error codes. ``zhipu_openai_compatible`` is the same service
        through the OpenAI module."""
        return cls("zhipu", api_key, **options)

    @classmethod
    def minimax(cls, api_key: Optional[str] = None, **options: Any) -> "LlmClient":
        """MiniMax (``https://api.minimax.io/v1``; ``https://api.minimaxi.com/v1`` in mainland China as
        ``base_url``). Its models reason inline as ``<think>`` tags: ``think_tags`` is on."""
        return cls("minimax", api_key, **options)

    @classmethod
    def hunyuan(cls, api_key: Optional[str] = None, **options: Any) -> "LlmClient":
        """Tencent Hunyuan through its OpenAI-compatible endpoint (``https://api.hunyuan.cloud.tencent.com/v1``,
        an API key from the Hunyuan console): the simpler route Tencent recommends."""
        return cls("hunyuan", api_key, **options)

    @classmethod
    def tencent(cls, secret_id: Optional[str] = None, secret_key: Optional[str] = None,
                region: str = "ap-guangzhou", session_token: Optional[str] = None, *,
                secret_id_env: Optional[str] = None, secret_key_env: Optional[str] = None,
                session_token_env: Optional[str] = None, **options: Any) -> "LlmClient":
        """Tencent Hunyuan through the native Tencent Cloud API v3 (``hunyuan.tencentcloudapi.com``,
        ``ChatCompletions``), each attempt signed with TC3-HMAC-SHA256 from a SecretId and SecretKey
        (``session_token`` for temporary credentials). ``region`` is sent as ``X-TC-Region``.

        The ``*_env`` options name variables holding the credentials instead (the client then pickles as a
        recipe); ``LlmClient.from_env("tencent")`` reads ``TENCENTCLOUD_SECRET_ID``,
        ``TENCENTCLOUD_SECRET_KEY``, ``TENCENTCLOUD_SESSION_TOKEN`` and ``TENCENTCLOUD_REGION``.
        """
        return cls._from_parts(
            "tencent", {"region": region},
            {"secret_id": (secret_id, secret_id_env), "secret_key": (secret_key, secret_key_env),
             "session_token": (session_token, session_token_env)}, **options)

    @classmethod
    def anthropic(cls, api_key: Optional[str] = None, **options: Any) -> "LlmClient":
        """Anthropic Claude (``https://api.anthropic.com``)."""
        return cls("anthropic", api_key, **options)

    @classmethod
    def longcat_anthropic(cls, api_key: Optional[str] = None, **options: Any) -> "LlmClient":
        """LongCat, Anthropic mode (Bearer auth)."""
        return cls("longcat_anthropic", api_key, **options)

    @classmethod
    def anthropic_vertex(cls, project_id: str, region: str, access_token: Optional[str] = None, *,
                         access_token_env: Optional[str] = None, **options: Any) -> "LlmClient":
        """Claude on Google Vertex AI: ``:rawPredict`` / ``:streamRawPredict`` with an OAuth access token.

        ``access_token_env`` names a variable holding the token instead (the client then pickles).
        """
        return cls._from_parts("anthropic_vertex", {"project_id": project_id, "region": region},
                               {"access_token": (access_token, access_token_env)}, **options)

    @classmethod
    def anthropic_bedrock(cls, region: str, access_key: Optional[str] = None, secret_key: Optional[str] = None,
                          session_token: Optional[str] = None, *, access_key_env: Optional[str] = None,
                          secret_key_env: Optional[str] = None, session_token_env: Optional[str] = None,
                          **options: Any) -> "LlmClient":
        """Claude on AWS Bedrock (``InvokeModel`` / ``InvokeModelWithResponseStream``), signed with SigV4.

        The model is the Bedrock model id, e.g. ``anthropic.claude-3-5-sonnet-20240620-v1:0``. The
        ``*_env`` options name variables holding the credentials instead (the client then pickles);
        ``LlmClient.from_env("anthropic_bedrock")`` reads ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
        ``AWS_SESSION_TOKEN`` and ``AWS_REGION``.
        """
        return cls._from_parts(
            "anthropic_bedrock", {"region": region},
            {"access_key": (access_key, access_key_env), "secret_key": (secret_key, secret_key_env),
             "session_token": (session_token, session_token_env)}, **options)

    @classmethod
    def _from_parts(cls, provider: str, parts: Mapping[str, Optional[str]],
                    credentials: Optional[Mapping[str, Tuple[Optional[str], Optional[str]]]] = None,
                    **options: Any) -> "LlmClient":
        """A client for a preset whose base URL, options or auth are built from parts and credentials (the
        preset's ``parts`` / ``credentials`` rows): ``parts`` maps a part's name to its value,
        ``credentials`` a credential's name to ``(literal, variable name)``."""
        preset = get_preset(provider)
        values = {p.name: parts.get(p.name) or p.default for p in preset.parts}
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise ConfigurationError(f"{', '.join(missing)}: {provider} needs {' and '.join(missing)}",
                                     provider=provider)
        given: Dict[str, str] = {k: str(v) for k, v in values.items() if v}
        extra = dict(options.pop("options", None) or {})
        extra.update((p.option, given[p.name]) for p in preset.parts if p.option)
        if preset.credentials and options.get("auth") is None:
            public = dict(preset.auth_params)
            public.update((p.auth, given[p.name]) for p in preset.parts if p.auth)
            fields: Dict[str, Tuple[str, Optional[str], Optional[str]]] = {}
            for c in preset.credentials:
                literal, variable = (credentials or {}).get(c.name, (None, None))
                fields[c.name] = (c.param, literal, variable)
            options["auth"] = _signed_auth(_AUTH_CLASSES[preset.auth], provider, fields, public,
                                           optional=tuple(c.name for c in preset.credentials if c.optional))
        base = options.pop("base_url", None) or (preset.url(given) if preset.url_template else None)
        return cls(provider, options.pop("api_key", None), base_url=base, options=extra or None, **options)

    @classmethod
    def google(cls, api_key: Optional[str] = None, **options: Any) -> "LlmClient":
        """Google Gemini (the key travels in the ``x-goog-api-key`` header, never in the URL)."""
        return cls("google", api_key, **options)

    @classmethod
    def ollama(cls, base_url: Optional[str] = None, **options: Any) -> "OllamaClient":
        """Ollama at ``base_url`` (default ``$OLLAMA_HOST`` or ``http://localhost:11434``).

        The returned ``OllamaClient`` also manages local models (list, show, pull, copy, delete).
        """
        return OllamaClient("ollama", None, base_url=base_url or os.environ.get("OLLAMA_HOST") or None, **options)

    @classmethod
    def mock(cls, reply: Any = None, **options: Any) -> "LlmClient":
        """An offline provider that answers and streams a scripted or generated reply.

        Takes the options of ``llm_connector.mock.MockProvider`` (``reply``, ``reasoning``, ``tool_calls``,
        ``usage``, ...); ``client.mock_provider`` gives it back, to queue replies or errors and to read the
        requests it received.
        """
        return cls._with_backend(_mock_backend(reply, **options), "mock")

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
        preset = get_preset(name)
        if preset.backend:  # not a service: no URL, no key, nothing to read
            return cls._with_backend(_BACKENDS[preset.backend](**options), name)
        client_cls = _class_for(preset)
        if preset.credentials:
            return client_cls._from_parts(name, _parts_from_env(preset, options), _credentials_from_env(preset),
                                          **options)
        key_env = next((v for v in preset.env if os.environ.get(v)), None)
        if preset.key_required and not key_env:
            raise ConfigurationError(
                "from_env: {} needs {} in the environment".format(name, " or ".join(preset.env)), provider=name
            )
        if "base_url" not in options and preset.base_url_env and os.environ.get(preset.base_url_env):
            options["base_url"] = os.environ[preset.base_url_env]
        if preset.parts:
            return client_cls._from_parts(name, _parts_from_env(preset, options), api_key_env=key_env, **options)
        return client_cls(name, api_key_env=key_env, **options)

    @staticmethod
    def supported_providers() -> List[str]:
        """The provider names this version knows: the services in alphabetical order, then the offline ones."""
        return provider_names()

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

        Iterate it in a plain ``for`` loop: ``for chunk in client.chat_stream(r): break`` closes the connection
        at once. The stream is one iterator: ``next()``, loops and ``.collect()`` (the ``ChatResponse`` the rest
        adds up to) continue it; it closes at its end, on ``close()``, on leaving ``with``, or when dropped.
        Overrides as for ``chat``.
        """
        _check_request(request)
        stream: ChatStream = self._backend.chat_stream(
            request, self._endpoint(api_key, base_url, headers), deadline
        )
        stream._provider, stream._model = self.provider_name, request.model
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
        return Stream(writer(iter(stream), request.model), response=stream.response, on_close=stream.close,
                      provider=self.provider_name, model=request.model)

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
        verify = "" if self._verify is True else f", verify={self._verify!r}"
        return f"LlmClient(provider={self._provider!r}{verify})"


def _media_type(response: Any) -> str:
    return str(response.headers.get("content-type") or "").split(";", 1)[0].strip().lower()


def _html_instead_of_stream(page: bytes, response: Any, endpoint: Endpoint) -> StreamParseError:
    """A web page where a stream was asked for: a captive portal, a proxy's login page, a misrouted URL."""
    found = re.search(rb"<title[^>]*>(.*?)</title", page, re.IGNORECASE | re.DOTALL)
    title = shorten(found.group(1).decode("utf-8", "replace").strip(), 80) if found else ""
    named = f", page title {title!r}" if title else ", no page title"
    return StreamParseError(
        f"a stream was asked for, but the answer is a web page (text/html{named}): a captive portal, a proxy's "
        "login page or a wrong base_url?", provider=endpoint.provider, status_code=response.status_code,
        body=title or page[:200])


def _whole_answer(transport: Transport, response: Any, protocol: Any, endpoint: Endpoint,
                  deadline: Optional[float]) -> Iterator[StreamingResponse]:
    """A stream request answered with ``application/json``: a whole answer is one chunk, and the end.

    A body that does not start with ``{`` (SSE under a JSON label) is read as the stream, as it arrives.
    """
    pieces = transport.iter_bytes(response, deadline=deadline)
    head = b""
    for piece in pieces:
        head += piece
        if head.strip():
            break
    if head.lstrip()[:1] != b"{":
        yield from protocol.decode_stream(itertools.chain((head,), pieces), endpoint)
        return
    body = head + b"".join(pieces)
    try:
        data = json.loads(body.decode("utf-8", "replace"))
    except ValueError:  # not one JSON document (NDJSON lines under a JSON label): read it as the stream
        data = None
    if not isinstance(data, dict):
        yield from protocol.decode_stream(iter((body,)), endpoint)
        return
    yield _as_chunk(protocol.decode_response(data, endpoint))


def _as_chunk(answer: ChatResponse) -> StreamingResponse:
    """A whole answer as the one chunk of a stream (what ``collect()`` turns back into the same answer)."""
    choices = []
    for choice in answer.choices:
        message = choice.message
        calls = [ToolCall(c.id, c.type, c.function, i, c.thought_signature)
                 for i, c in enumerate(message.tool_calls or ())] or None
        text = message.text_content() or None
        delta = Delta("assistant", text, message.reasoning_content, calls)
        choices.append(StreamingChoice(choice.index, delta, choice.finish_reason, choice.finish_reason_raw,
                                       choice.logprobs))
    return StreamingResponse(answer.id, "chat.completion.chunk", answer.created, answer.model, choices,
                             answer.content, answer.reasoning_content, answer.usage, answer.system_fingerprint,
                             answer.raw)


def _literal_secret(api_key: Optional[str], headers: Optional[Mapping[str, str]], proxy: Optional[str],
                    base_url: Optional[str]) -> Optional[str]:
    """What literal credential a client's arguments hold (named for the pickling error), or None."""
    if api_key:
        return "API key"
    if headers and any(k.lower() in SECRET_HEADERS for k in headers):
        return "credential header"
    for what, url in (("proxy", proxy), ("base URL", base_url)):
        if url and "@" in url.split("//", 1)[-1].split("/", 1)[0]:
            return f"{what} password"
    return None


def _signed_auth(cls: Any, provider: str, fields: Mapping[str, Tuple[str, Optional[str], Optional[str]]],
                 public: Mapping[str, Any], optional: Tuple[str, ...] = ()) -> Auth:
    """An auth from literal credentials or from named environment variables (``Auth.from_env``), not both.

    ``fields`` maps the constructor's argument name to (the auth's parameter, the literal, the variable name).
    """
    literal = {name: value for name, (_, value, _) in fields.items() if value}
    env = {name: variable for name, (_, _, variable) in fields.items() if variable}
    if literal and env:
        raise ConfigurationError("{}: give the credentials or their *_env variables, not both".format(
            ", ".join(sorted(literal))), provider=provider)
    missing = [name for name in fields if name not in literal and name not in env and name not in optional]
    if missing:
        raise ConfigurationError("{}: {} needs {}".format(
            "/".join(missing), provider, " and ".join(f"{n} (or {n}_env)" for n in missing)), provider=provider)
    if env:
        auth: Auth = cls.from_env({fields[n][0]: v for n, v in env.items()}, **public)
        return auth
    made: Auth = cls(**public, **{fields[n][0]: v for n, v in literal.items()})
    return made


def _rebuild_from_recipe(cls: Any, recipe: Dict[str, Any]) -> "LlmClient":
    """Unpickling a client: build it again from its recipe (reading its key from this environment)."""
    client: LlmClient = cls(**recipe)
    return client


def _rebuild_with_backend(cls: Any, backend: Any, name: str) -> "LlmClient":
    client: LlmClient = cls._with_backend(backend, name)
    return client


def _class_for(preset: Preset) -> Type["LlmClient"]:
    """The class a preset's clients are: ``LlmClient``, or the one its ``client`` names (Ollama's)."""
    return _CLIENT_CLASSES[preset.client] if preset.client else LlmClient


def _parts_from_env(preset: Preset, options: Dict[str, Any]) -> Dict[str, Optional[str]]:
    """The preset's parts from ``options`` (taken out of them) or the environment, or their defaults; a
    ``ConfigurationError`` naming every variable still missing."""
    values: Dict[str, Optional[str]] = {}
    missing: List[str] = []
    for part in preset.parts:
        value = options.pop(part.name, None)
        if not value:
            variable = _first_set(*part.env)
            value = os.environ[variable] if variable else part.default
        if not value:
            missing.append(part.env[0] if part.env else part.name)
        values[part.name] = value
    if missing:
        raise ConfigurationError(f"from_env: {preset.name} needs {', '.join(missing)} in the environment",
                                 provider=preset.name)
    return values


def _credentials_from_env(preset: Preset) -> Dict[str, Tuple[Optional[str], Optional[str]]]:
    """Each credential as ``(None, the first of its variables that is set)``; a ``ConfigurationError`` naming
    the variables of the required ones that are not."""
    found: Dict[str, Tuple[Optional[str], Optional[str]]] = {c.name: (None, _first_set(*c.env))
                                                             for c in preset.credentials}
    missing = [c.env[0] for c in preset.credentials if not c.optional and not found[c.name][1] and c.env]
    if missing:
        raise ConfigurationError(f"from_env: {preset.name} needs {' and '.join(missing)} in the environment",
                                 provider=preset.name)
    return found


def _first_set(*names: str) -> Optional[str]:
    """The name of the first of the environment variables ``names`` that is set and not empty, or None."""
    return next((n for n in names if os.environ.get(n)), None)


def _protocol_or_none(name: str) -> Any:
    try:
        return load(name)
    except ImportError:
        return None


def detect_provider() -> Optional[str]:
    """The first provider whose key variable is set, or None."""
    for name in DETECT_ORDER:
        if any(os.environ.get(v) for v in PRESETS[name].env):
            return name
    return None


# -- Ollama -----------------------------------------------------------------------------------------------


def _models() -> Any:
    """Ollama's model-management shapes (``protocols/ollama_models.py``), loaded on first use."""
    return load("ollama_models")


class OllamaClient(LlmClient):
    """A client for an Ollama server: ``chat``, ``chat_stream`` and ``models`` as on every client, plus model
    management. HTTP errors are typed (an unknown model is a ``NotFoundError`` with Ollama's message).

    ``base_url`` defaults to ``$OLLAMA_HOST``, then ``http://localhost:11434``; ``OLLAMA_HOST`` forms such as
    ``0.0.0.0`` or ``myhost:11434`` are accepted (see ``protocols.ollama.normalize_base_url``).
    """

    def __init__(self, provider: str = "ollama", api_key: Optional[str] = None, *,
                 base_url: Optional[str] = None, **options: Any) -> None:
        if base_url is None:
            base_url = os.environ.get("OLLAMA_HOST") or None
        super().__init__(provider, api_key, base_url=base_url, **options)

    @property
    def base_url(self) -> str:
        """The server's base URL, as requests are sent to it."""
        base: str = self._backend.endpoint.base_url
        return base

    def __repr__(self) -> str:
        return f"OllamaClient(base_url={redact_url(self.base_url)!r})"

    # -- sending: the client's one send-read-parse step -------------------------------------------------

    def _call(self, http: HttpRequest, what: str, decode: Callable[[Any, Any], Any]) -> Any:
        backend = self._backend
        return backend.exchange(http, backend.endpoint, what, decode)

    def _call_no_answer(self, http: HttpRequest) -> None:
        backend = self._backend
        backend.transport.read_all(backend.open(http, backend.endpoint))

    # -- model management -------------------------------------------------------------------------------

    def list_models(self) -> "List[OllamaModel]":
        """The models on the server (``GET /api/tags``), with size, digest and details."""
        shapes = _models()
        return self._call(shapes.encode_list_models(self._backend.endpoint), "model list",  # type: ignore[no-any-return]
                          shapes.decode_model_list)

    def show_model(self, name: str, *, verbose: bool = False) -> "OllamaModelInfo":
        """What Ollama knows about model ``name`` (``POST /api/show``): Modelfile, template, parameters,
        details, capabilities. ``NotFoundError`` when there is no such model."""
        shapes = _models()
        return self._call(shapes.encode_show(self._backend.endpoint, name, verbose),  # type: ignore[no-any-return]
                          "model information", shapes.decode_model_info)

    def pull_model_stream(self, name: str, *, insecure: bool = False) -> "Stream[OllamaProgress]":
        """Download model ``name``, yielding each progress line as it arrives (``POST /api/pull``).

        The last item has ``status == "success"``. Leaving the loop closes the connection (the server goes on
        downloading; a later pull resumes). An ``{"error": ...}`` line raises the typed error.
        """
        backend = self._backend
        endpoint = backend.endpoint
        shapes = _models()
        response = backend.open(shapes.encode_pull(endpoint, name, insecure), endpoint)
        progress = shapes.decode_progress(backend.transport.iter_bytes(response), endpoint)
        return Stream(progress, response=response, on_close=lambda: close_response(response))

    def pull_model(self, name: str, *, insecure: bool = False) -> "OllamaProgress":
        """Download model ``name`` and return the final status (``status == "success"``), waiting until done.

        The progress is read as it streams, so a long download never looks like an idle connection.
        """
        last: Optional[OllamaProgress] = None
        with self.pull_model_stream(name, insecure=insecure) as stream:
            for progress in stream:
                last = progress
        if last is None:  # pragma: no cover - decode_progress raises before this
            raise IncompleteStreamError(f"{self._provider}: the pull ended without progress",
                                        provider=self._provider)
        return last

    def copy_model(self, source: str, destination: str) -> None:
        """Copy model ``source`` to the new name ``destination`` (``POST /api/copy``)."""
        self._call_no_answer(_models().encode_copy(self._backend.endpoint, source, destination))

    def delete_model(self, name: str) -> None:
        """Delete model ``name`` and its data (``DELETE /api/delete``). ``NotFoundError`` when there is none."""
        self._call_no_answer(_models().encode_delete(self._backend.endpoint, name))

    def running_models(self) -> "List[OllamaRunningModel]":
        """The models loaded in memory (``GET /api/ps``)."""
        shapes = _models()
        return self._call(shapes.encode_running_models(self._backend.endpoint),  # type: ignore[no-any-return]
                          "running model list", shapes.decode_running_models)

    def version(self) -> str:
        """The server's version, e.g. ``"0.6.2"`` (``GET /api/version``)."""
        shapes = _models()
        version: str = self._call(shapes.encode_version(self._backend.endpoint), "version", shapes.decode_version)
        return version


def _mock_backend(reply: Any = None, **options: Any) -> Any:
    from .mock import MockProvider

    return MockProvider(reply, **options)


#: A preset's ``backend`` -> what builds it from ``from_env``'s options (a provider that is not a service).
_BACKENDS: Dict[str, Callable[..., Any]] = {"mock": _mock_backend}

#: A preset's ``client`` -> the class its clients are (``LlmClient`` when it names none).
_CLIENT_CLASSES: Dict[str, Type[LlmClient]] = {"ollama": OllamaClient}
