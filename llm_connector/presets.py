"""Providers as data: name -> protocol, default base URL, key variable, how the key is sent, quirks.

A service that speaks a protocol we already have is one row here (and, for discoverability, a one-line
constructor on ``LlmClient``). Presets name their protocol; they do not import it.
"""

from typing import Any, Dict, List, Mapping, Optional, Tuple

__all__ = ["Part", "Credential", "Preset", "PRESETS", "DETECT_ORDER", "get_preset", "provider_names"]


class Part:
    """A value a provider's constructor takes to build its base URL, an option or its auth: Azure's endpoint and
    deployment, Vertex's project and region, Bedrock's region, ...

    ``env`` lists the variables ``from_env`` reads it from (first set wins); ``default`` is used when none is
    set (a part without one is required). ``option`` names the ``Endpoint`` option it sets, ``auth`` the auth
    parameter it sets (Bedrock's region goes into the SigV4 scope). Every part fills ``{name}`` in the preset's
    ``url_template``.
    """

    __slots__ = ("name", "env", "default", "option", "auth")

    def __init__(self, name: str, env: Tuple[str, ...] = (), default: Optional[str] = None,
                 option: Optional[str] = None, auth: Optional[str] = None) -> None:
        self.name = name
        self.env = env
        self.default = default
        self.option = option
        self.auth = auth

    def __repr__(self) -> str:
        return f"Part({self.name!r})"


class Credential:
    """One secret of a signed or token auth: the constructor's argument ``name`` (its variable twin is
    ``name + "_env"``), the auth's parameter ``param``, the variables ``from_env`` reads (first set wins), and
    whether it may be left out (a session token)."""

    __slots__ = ("name", "param", "env", "optional")

    def __init__(self, name: str, param: str, env: Tuple[str, ...] = (), optional: bool = False) -> None:
        self.name = name
        self.param = param
        self.env = env
        self.optional = optional

    def __repr__(self) -> str:
        return f"Credential({self.name!r})"


class Preset:
    """One provider.

    ``auth`` is how the key is sent: ``"bearer"``, a header name (``"x-api-key"``, ``"api-key"``,
    ``"x-goog-api-key"``), ``"none"``; or, for a preset with ``credentials``, the auth built from them:
    ``"bearer"`` (a token), ``"sigv4"`` (AWS), ``"tc3"`` (Tencent), with ``auth_params`` as its public settings.
    ``env`` lists the variables ``from_env`` reads the key from, first found wins. ``options`` are the protocol
    quirks (see each protocol module's docstring).

    A service whose base URL is built from parts has a ``url_template`` (``"{endpoint}/openai/deployments/
    {deployment}"``) filled from its ``parts``; ``url_templates`` holds templates for particular part values
    (``{"region=global": "..."}``). ``client`` names a client class beyond ``LlmClient`` (``"ollama"``:
    ``OllamaClient``, with model management).

    A provider that is not a service names its ``backend`` instead (``"mock"``: ``llm_connector.mock.MockProvider``,
    offline): no protocol, URL or key; ``from_env`` builds that backend from its options.
    """

    __slots__ = ("name", "protocol", "base_url", "env", "auth", "key_required", "options", "base_url_env",
                 "description", "default_model", "url_template", "url_templates", "parts", "credentials",
                 "auth_params", "client", "backend")

    def __init__(
        self,
        name: str,
        protocol: str,
        base_url: Optional[str],
        env: Tuple[str, ...] = (),
        auth: str = "bearer",
        key_required: bool = True,
        options: Optional[Mapping[str, Any]] = None,
        base_url_env: Optional[str] = None,
        description: str = "",
        default_model: str = "",
        url_template: Optional[str] = None,
        url_templates: Optional[Mapping[str, str]] = None,
        parts: Tuple[Part, ...] = (),
        credentials: Tuple[Credential, ...] = (),
        auth_params: Optional[Mapping[str, Any]] = None,
        client: Optional[str] = None,
        backend: Optional[str] = None,
    ) -> None:
        self.name = name
        self.protocol = protocol
        self.base_url = base_url
        self.env = env
        self.auth = auth
        self.key_required = key_required
        self.options: Mapping[str, Any] = options or {}
        self.base_url_env = base_url_env
        self.description = description
        self.default_model = default_model
        self.url_template = url_template
        self.url_templates: Mapping[str, str] = url_templates or {}
        self.parts = parts
        self.credentials = credentials
        self.auth_params: Mapping[str, Any] = auth_params or {}
        self.client = client
        self.backend = backend

    def url(self, values: Mapping[str, str]) -> Optional[str]:
        """The base URL for these part values: the template for their values if one is given, else
        ``url_template``, filled in; the fixed ``base_url`` for a preset without a template."""
        template = self.url_template
        for condition, special in self.url_templates.items():
            part, _, value = condition.partition("=")
            if values.get(part) == value:
                template = special
        if template is None:
            return self.base_url
        return template.format(**{k: v.rstrip("/") for k, v in values.items()})

    def __repr__(self) -> str:
        return f"Preset({self.name!r}, protocol={self.protocol!r}, base_url={self.base_url!r})"


PRESETS: Dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("openai", "openai", "https://api.openai.com/v1", ("OPENAI_API_KEY",),
               options={"max_tokens_field": "max_completion_tokens", "developer_role": True},
               base_url_env="OPENAI_BASE_URL", default_model="gpt-4o-mini", description="OpenAI"),
        Preset("azure_openai", "openai", None, ("AZURE_OPENAI_API_KEY",), auth="api-key",
               options={"models": False, "max_tokens_field": "max_completion_tokens", "developer_role": True},
               description="Azure OpenAI (deployment URL + api-version)",
               url_template="{endpoint}/openai/deployments/{deployment}",
               parts=(Part("endpoint", ("AZURE_OPENAI_ENDPOINT",)), Part("deployment", ("AZURE_OPENAI_DEPLOYMENT",)),
                      Part("api_version", ("OPENAI_API_VERSION",), "2024-10-21", option="api_version"))),
        Preset("openai_compatible", "openai", None, (), key_required=False,
               description="any OpenAI-compatible service or gateway"),
        Preset("deepseek", "openai", "https://api.deepseek.com", ("DEEPSEEK_API_KEY",),
               default_model="deepseek-chat", description="DeepSeek"),
        Preset("moonshot", "openai", "https://api.moonshot.cn/v1", ("MOONSHOT_API_KEY",),
               options={"send_reasoning": True}, default_model="kimi-k2-0905-preview",
               description="Moonshot (Kimi)"),
        Preset("volcengine", "openai", "https://ark.cn-beijing.volces.com/api/v3",
               ("VOLCENGINE_API_KEY", "ARK_API_KEY"), options={"thinking_style": "thinking_type"},
               default_model="doubao-seed-1-6-250615", description="Volcengine Ark (Doubao)"),
        Preset("xiaomi", "openai", "https://api.xiaomimimo.com/v1", ("XIAOMI_API_KEY",),
               default_model="mimo-v2-flash", description="Xiaomi MiMo"),
        Preset("longcat", "openai", "https://api.longcat.chat/openai/v1", ("LONGCAT_API_KEY",),
               default_model="LongCat-Flash-Chat", description="LongCat (OpenAI mode)"),
        Preset("zhipu_openai_compatible", "openai", "https://open.bigmodel.cn/api/paas/v4", ("ZHIPU_API_KEY",),
               options={"thinking_style": "thinking_type"}, default_model="glm-4.5-flash",
               description="Zhipu GLM (OpenAI-compatible mode)"),
        Preset("aliyun_compatible", "openai", "https://dashscope.aliyuncs.com/compatible-mode/v1",
               ("DASHSCOPE_API_KEY",), options={"thinking_style": "enable_thinking"},
               default_model="qwen-plus", description="Aliyun DashScope (OpenAI-compatible mode)"),
        Preset("aliyun", "dashscope", "https://dashscope.aliyuncs.com/api/v1", ("DASHSCOPE_API_KEY",),
               options={"models": False}, default_model="qwen-plus",
               description="Aliyun DashScope (native API, Qwen)"),
        Preset("aliyun_international", "dashscope", "https://dashscope-intl.aliyuncs.com/api/v1",
               ("DASHSCOPE_API_KEY",), options={"models": False}, default_model="qwen-plus",
               description="Aliyun DashScope, international (Singapore) host (native API, Qwen)"),
        Preset("zhipu", "zhipu", "https://open.bigmodel.cn/api/paas/v4", ("ZHIPU_API_KEY",),
               options={"models": False}, default_model="glm-4.5-flash", description="Zhipu GLM (native API v4)"),
        Preset("minimax", "openai", "https://api.minimax.io/v1", ("MINIMAX_API_KEY",),
               options={"think_tags": True}, default_model="MiniMax-M2",
               description="MiniMax (OpenAI-compatible; reasoning inline as <think> tags)"),
        Preset("hunyuan", "openai", "https://api.hunyuan.cloud.tencent.com/v1", ("HUNYUAN_API_KEY",),
               default_model="hunyuan-turbos-latest", description="Tencent Hunyuan (OpenAI-compatible endpoint)"),
        Preset("tencent", "tencent", "https://hunyuan.tencentcloudapi.com",
               ("TENCENTCLOUD_SECRET_ID", "TENCENT_SECRET_ID"), auth="tc3",
               options={"region": "ap-guangzhou", "models": False}, default_model="hunyuan-turbos-latest",
               description="Tencent Hunyuan (native API v3, TC3-signed)",
               parts=(Part("region", ("TENCENTCLOUD_REGION",), "ap-guangzhou", option="region"),),
               credentials=(Credential("secret_id", "secret_id", ("TENCENTCLOUD_SECRET_ID", "TENCENT_SECRET_ID")),
                            Credential("secret_key", "secret_key", ("TENCENTCLOUD_SECRET_KEY", "TENCENT_SECRET_KEY")),
                            Credential("session_token", "session_token",
                                       ("TENCENTCLOUD_SESSION_TOKEN", "TENCENT_SESSION_TOKEN"), optional=True)),
               auth_params={"service": "hunyuan"}),
        Preset("anthropic", "anthropic", "https://api.anthropic.com", ("ANTHROPIC_API_KEY",), auth="x-api-key",
               base_url_env="ANTHROPIC_BASE_URL", default_model="claude-sonnet-4-5", description="Anthropic Claude"),
        Preset("longcat_anthropic", "anthropic", "https://api.longcat.chat/anthropic", ("LONGCAT_API_KEY",),
               options={"models": False},
               default_model="LongCat-Flash-Chat", description="LongCat (Anthropic mode, Bearer auth)"),
        Preset("anthropic_vertex", "anthropic", None, (), key_required=False,
               options={"vertex": True}, description="Claude on Google Vertex AI (OAuth access token)",
               url_template="https://{region}-aiplatform.googleapis.com/v1/projects/{project_id}/locations/{region}"
                            "/publishers/anthropic/models",
               url_templates={"region=global": "https://aiplatform.googleapis.com/v1/projects/{project_id}"
                                               "/locations/global/publishers/anthropic/models"},
               parts=(Part("project_id", ("GOOGLE_CLOUD_PROJECT", "ANTHROPIC_VERTEX_PROJECT_ID")),
                      Part("region", ("GOOGLE_CLOUD_REGION", "CLOUD_ML_REGION", "GOOGLE_CLOUD_LOCATION"))),
               credentials=(Credential("access_token", "token",
                                       ("GOOGLE_OAUTH_ACCESS_TOKEN", "CLOUDSDK_AUTH_ACCESS_TOKEN")),)),
        Preset("anthropic_bedrock", "bedrock", None, (), auth="sigv4", key_required=False,
               description="Claude on AWS Bedrock (SigV4-signed)",
               url_template="https://bedrock-runtime.{region}.amazonaws.com",
               parts=(Part("region", ("AWS_REGION", "AWS_DEFAULT_REGION"), auth="region"),),
               credentials=(Credential("access_key", "access_key", ("AWS_ACCESS_KEY_ID",)),
                            Credential("secret_key", "secret_key", ("AWS_SECRET_ACCESS_KEY",)),
                            Credential("session_token", "session_token", ("AWS_SESSION_TOKEN",), optional=True)),
               auth_params={"service": "bedrock"}),
        Preset("google", "gemini", "https://generativelanguage.googleapis.com/v1beta",
               ("GOOGLE_API_KEY", "GEMINI_API_KEY"), auth="x-goog-api-key", default_model="gemini-2.5-flash",
               description="Google Gemini"),
        Preset("ollama", "ollama", "http://localhost:11434", (), auth="none", key_required=False,
               base_url_env="OLLAMA_HOST", default_model="llama3.2", description="Ollama (local models)",
               client="ollama"),
        Preset("mock", "", None, (), auth="none", key_required=False, default_model="mock-model",
               description="offline mock provider", backend="mock"),
    )
}


#: Order in which ``from_env()`` and the CLI look for a key (a preset not listed is used when named).
DETECT_ORDER = ("openai", "anthropic", "google", "deepseek", "moonshot", "zhipu_openai_compatible",
                "aliyun_compatible", "volcengine", "xiaomi", "longcat", "hunyuan", "tencent")


def provider_names() -> List[str]:
    """Every provider name: the services in alphabetical order, then the offline ones (``mock``)."""
    return (sorted(n for n, p in PRESETS.items() if not p.backend)
            + sorted(n for n, p in PRESETS.items() if p.backend))


def get_preset(name: str) -> Preset:
    """The preset called ``name``; a ``ConfigurationError`` listing the known names otherwise."""
    preset = PRESETS.get(name)
    if preset is None:
        from .errors import ConfigurationError

        raise ConfigurationError(
            "provider: unknown provider {!r} (known: {})".format(name, ", ".join(provider_names()))
        )
    return preset
