"""Providers as data: name -> protocol, default base URL, key variable, how the key is sent, quirks.

A service that speaks a protocol we already have is one row here (and, for discoverability, a one-line
constructor on ``LlmClient``). Presets name their protocol; they do not import it.
"""

from typing import Any, Dict, Mapping, Optional, Tuple

__all__ = ["Preset", "PRESETS", "get_preset"]


class Preset:
    """One provider.

    ``auth`` is how the key is sent: ``"bearer"``, a header name (``"x-api-key"``, ``"api-key"``,
    ``"x-goog-api-key"``), ``"none"``, or ``"tc3"`` (Tencent's signature: the constructor builds it from a
    SecretId and SecretKey). ``env`` lists the variables ``from_env`` reads, first found wins.
    ``options`` are the protocol quirks (see each protocol module's docstring).
    """

    __slots__ = ("name", "protocol", "base_url", "env", "auth", "key_required", "options", "base_url_env",
                 "description", "default_model")

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
               base_url_env="AZURE_OPENAI_ENDPOINT", description="Azure OpenAI (deployment URL + api-version)"),
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
        Preset("hunyuan", "openai", "https://api.hunyuan.cloud.tencent.com/v1", ("HUNYUAN_API_KEY",),
               default_model="hunyuan-turbos-latest", description="Tencent Hunyuan (OpenAI-compatible endpoint)"),
        Preset("tencent", "tencent", "https://hunyuan.tencentcloudapi.com",
               ("TENCENTCLOUD_SECRET_ID", "TENCENT_SECRET_ID"), auth="tc3",
               options={"region": "ap-guangzhou", "models": False}, default_model="hunyuan-turbos-latest",
               description="Tencent Hunyuan (native API v3, TC3-signed)"),
        Preset("anthropic", "anthropic", "https://api.anthropic.com", ("ANTHROPIC_API_KEY",), auth="x-api-key",
               base_url_env="ANTHROPIC_BASE_URL", default_model="claude-sonnet-4-5", description="Anthropic Claude"),
        Preset("longcat_anthropic", "anthropic", "https://api.longcat.chat/anthropic", ("LONGCAT_API_KEY",),
               options={"models": False},
               default_model="LongCat-Flash-Chat", description="LongCat (Anthropic mode, Bearer auth)"),
        Preset("anthropic_vertex", "anthropic", None, (), key_required=False,
               options={"vertex": True}, description="Claude on Google Vertex AI (OAuth access token)"),
        Preset("anthropic_bedrock", "bedrock", None, (), key_required=False,
               description="Claude on AWS Bedrock (SigV4-signed)"),
        Preset("google", "gemini", "https://generativelanguage.googleapis.com/v1beta",
               ("GOOGLE_API_KEY", "GEMINI_API_KEY"), auth="x-goog-api-key", default_model="gemini-2.5-flash",
               description="Google Gemini"),
        Preset("ollama", "ollama", "http://localhost:11434", (), auth="none", key_required=False,
               base_url_env="OLLAMA_HOST", default_model="llama3.2", description="Ollama (local models)"),
    )
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; a ``ConfigurationError`` listing the known names otherwise."""
    preset = PRESETS.get(name)
    if preset is None:
        from .errors import ConfigurationError

        raise ConfigurationError(
            "provider: unknown provider {!r} (known: {})".format(name, ", ".join(sorted(PRESETS) + ["mock"]))
        )
    return preset
