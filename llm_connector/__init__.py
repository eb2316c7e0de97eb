"""llm_connector: one small synchronous client for every major LLM service, with streaming in a plain loop.

>>> from llm_connector import LlmClient, ChatRequest, Message, Role
>>> client = LlmClient.mock(reply="Hi!")
>>> client.chat(ChatRequest(model="mock", messages=[Message.text(Role.USER, "Hello")])).content
'Hi!'
"""

from ._version import __version__
from .client import LlmClient, OllamaClient
from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ContextLengthExceededError,
    IncompleteStreamError,
    LlmConnectorError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    StreamParseError,
    UnsupportedOperationError,
)
from .stream import ChatStream, Stream, StreamAccumulator
from .types import (
    ChatRequest,
    ChatResponse,
    Choice,
    Delta,
    FunctionCall,
    ImageBlock,
    Message,
    OllamaMessage,
    OllamaStreamChunk,
    ResponseFormat,
    Role,
    StreamingChoice,
    StreamingResponse,
    TextBlock,
    Tool,
    ToolCall,
    ToolChoice,
    Usage,
)

__all__ = [
    "__version__",
    "LlmClient",
    "OllamaClient",
    "ChatStream",
    "Stream",
    "StreamAccumulator",
    # types
    "Role",
    "Message",
    "TextBlock",
    "ImageBlock",
    "ChatRequest",
    "ChatResponse",
    "Choice",
    "Usage",
    "Tool",
    "ToolCall",
    "ToolChoice",
    "FunctionCall",
    "ResponseFormat",
    "StreamingResponse",
    "StreamingChoice",
    "Delta",
    "OllamaStreamChunk",
    "OllamaMessage",
    # errors
    "LlmConnectorError",
    "APIStatusError",
    "BadRequestError",
    "ContextLengthExceededError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "RateLimitError",
    "ServerError",
    "OverloadedError",
    "APIConnectionError",
    "APITimeoutError",
    "IncompleteStreamError",
    "StreamParseError",
    "ConfigurationError",
    "UnsupportedOperationError",
]
