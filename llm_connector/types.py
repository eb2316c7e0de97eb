"""The plain data of llm_connector: requests, responses, stream chunks, Ollama chunks.

Every class is a dataclass built with keywords and defaults, so ``ChatRequest(model=..., messages=[...])``
works. Every class has ``to_dict()`` (fields that are None are left out), ``from_dict(d)`` (tolerant of
missing and unknown keys; the original mapping is kept in ``.raw`` where the class has one) and three
writers: ``to_json()`` (compact JSON), ``to_sse()`` (``data: {...}\\n\\n``) and ``to_ndjson()``
(``{...}\\n``).

>>> from llm_connector import ChatRequest, Message, Role
>>> req = ChatRequest(model="gpt-4o", messages=[Message.text(Role.USER, "hi")])
>>> req.messages[0].to_json()
'{"role":"user","content":"hi"}'
"""

import json
from enum import Enum
from typing import Any, Callable, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple, Type, TypeVar, Union

from .errors import ConfigurationError, StreamParseError, shorten

__all__ = [
    "Role",
    "TextBlock",
    "ImageBlock",
    "ContentBlock",
    "Message",
    "FunctionCall",
    "ToolCall",
    "Tool",
    "ToolChoice",
    "ResponseFormat",
    "ChatRequest",
    "Usage",
    "Choice",
    "ChatResponse",
    "Delta",
    "StreamingChoice",
    "StreamingResponse",
    "OllamaMessage",
    "OllamaStreamChunk",
    "normalize_finish_reason",
]

_T = TypeVar("_T", bound="_Data")

#: The one compact JSON encoder (no spaces, UTF-8 kept as is): the writers here, request bodies and error bodies
#: (``protocols.json_body``, ``protocols.dumps``) all use it, so what is sent, signed and shown is the same text.
compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_dumps = compact_json


def _plain(value: Any) -> Any:
    """A JSON-ready copy of ``value`` (dataclasses through their to_dict, enums through their value)."""
    if isinstance(value, _Data):
        return value.to_dict()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class _Data:
    """The shared behaviour of the data classes: equality, repr and the writers, all driven by ``_fields``.

    The classes are plain ``__slots__`` classes with explicit ``__init__``s rather than dataclasses: that keeps
    ``import llm_connector`` cheap (no ``dataclasses``/``inspect``) and chunk construction fast. A subclass may
    still be a dataclass (``_fields`` is then read from it once).
    """

    __slots__ = ()
    #: the field names, in ``__init__`` order (``raw`` never among them): derived once, when the class is made,
    #: from its ``__slots__``, so that each field is named once per class
    _fields: ClassVar[Tuple[str, ...]] = ()
    #: nested field name -> class (a list of it when the field holds a list)
    _nested: ClassVar[Dict[str, Type["_Data"]]] = {}
    #: the class keeps the mapping it was read from in ``.raw`` (a ``raw`` slot)
    _has_raw: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        slots = cls.__dict__.get("__slots__")
        if slots and "_fields" not in cls.__dict__:
            cls._fields = tuple(name for name in slots if name != "raw")
            cls._has_raw = "raw" in slots

    @classmethod
    def _names(cls) -> Tuple[str, ...]:
        names = cls.__dict__.get("_fields")
        if not names and hasattr(cls, "__dataclass_fields__"):
            import dataclasses

            names = tuple(f.name for f in dataclasses.fields(cls) if f.name != "raw")  # type: ignore[arg-type]
            cls._fields = names
        return names or cls._fields

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._names())

    __hash__ = None  # type: ignore[assignment]  # mutable, like a dataclass

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._names())
        return f"{type(self).__name__}({inner})"

    def to_dict(self) -> Dict[str, Any]:
        """This object as plain JSON-ready data; None fields are left out, ``raw`` is never included."""
        out: Dict[str, Any] = {}
        for name in self._names():
            value = getattr(self, name)
            if value is not None:
                out[name] = _plain(value)
        return out

    def to_json(self) -> str:
        """Compact JSON, no trailing newline."""
        return _dumps(self.to_dict())

    def to_sse(self) -> str:
        """One Server-Sent Event: ``data: {...}\\n\\n``."""
        return "data: " + _dumps(self.to_dict()) + "\n\n"

    def to_ndjson(self) -> str:
        """One NDJSON line: ``{...}\\n``."""
        return _dumps(self.to_dict()) + "\n"

    @classmethod
    def from_dict(cls: Type[_T], data: Mapping[str, Any]) -> _T:
        """Build from a mapping, ignoring unknown keys; nested objects are built too."""
        if not isinstance(data, Mapping):
            raise StreamParseError(f"expected a JSON object for {cls.__name__}, got {shorten(data, 200)}")
        kwargs: Dict[str, Any] = {}
        names = cls._names()
        for key, value in data.items():
            if key not in names:
                continue
            nested = cls._nested.get(key)
            if nested is not None and value is not None:
                if isinstance(value, list):
                    value = [nested.from_dict(v) for v in value]
                else:
                    value = nested.from_dict(value)
            kwargs[key] = value
        obj = cls(**kwargs)
        if cls._has_raw or "raw" in getattr(cls, "__dataclass_fields__", ()):
            object.__setattr__(obj, "raw", data)
        return obj


class Role(str, Enum):
    """Who speaks a message."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"
    #: OpenAI's newer name for system instructions (o-series, gpt-5); sent as ``system`` to services without it
    DEVELOPER = "developer"

    @property
    def wire_value(self) -> str:
        """The role for services that know no ``developer`` role: ``developer`` is ``system``."""
        return "system" if self is Role.DEVELOPER else self.value

    def __str__(self) -> str:
        return self.value


def _role(value: Union[str, Role]) -> Role:
    if isinstance(value, Role):
        return value
    try:
        return Role(str(value).lower())
    except ValueError:
        raise ConfigurationError(
            f"Message.role: unknown role {value!r} (expected one of system, user, assistant, tool, developer)"
        ) from None


class TextBlock(_Data):
    """A piece of text inside a message."""

    text: str
    type: str

    __slots__ = ("text", "type")

    def __init__(self, text: str = "", type: str = "text") -> None:
        self.text = text
        self.type = type


class ImageBlock(_Data):
    """An image inside a message: by URL (``url``, also a ``data:`` URL) or as base64 ``data`` + ``media_type``."""

    url: Optional[str]
    media_type: Optional[str]
    data: Optional[str]
    detail: Optional[str]
    type: str

    __slots__ = ("url", "media_type", "data", "detail", "type")

    def __init__(self, url: Optional[str] = None, media_type: Optional[str] = None, data: Optional[str] = None,
            detail: Optional[str] = None, type: str = "image") -> None:
        self.url = url
        self.media_type = media_type
        self.data = data
        self.detail = detail
        self.type = type

    @classmethod
    def from_url(cls, url: str, detail: Optional[str] = None) -> "ImageBlock":
        return cls(url=url, detail=detail)

    @classmethod
    def from_base64(cls, media_type: str, data: str) -> "ImageBlock":
        return cls(media_type=media_type, data=data)

    def as_base64(self) -> Optional[Tuple[str, str]]:
        """``(media_type, data)`` when the image is inline (base64 or a ``data:`` URL), else None."""
        if self.data is not None:
            return (self.media_type or "image/png", self.data)
        if self.url and self.url.startswith("data:") and ";base64," in self.url:
            head, _, data = self.url.partition(";base64,")
            return (head[5:] or "image/png", data)
        return None

    def as_url(self) -> str:
        """A URL for this image; inline images become a ``data:`` URL."""
        if self.url is not None:
            return self.url
        return "data:{};base64,{}".format(self.media_type or "image/png", self.data or "")


ContentBlock = Union[TextBlock, ImageBlock]


def _block(value: Any) -> ContentBlock:
    """Accept our blocks, or OpenAI / Anthropic style dicts for them."""
    if isinstance(value, (TextBlock, ImageBlock)):
        return value
    if isinstance(value, str):
        return TextBlock(value)
    if isinstance(value, Mapping):
        kind = value.get("type")
        if kind == "text":
            return TextBlock(str(value.get("text", "")))
        if kind == "image_url":
            image = value.get("image_url") or {}
            if isinstance(image, str):
                return ImageBlock(url=image)
            return ImageBlock(url=image.get("url"), detail=image.get("detail"))
        if kind == "image":
            source = value.get("source") or {}
            if source.get("type") == "base64":
                return ImageBlock(media_type=source.get("media_type"), data=source.get("data"))
            if source.get("url") or value.get("url"):
                return ImageBlock(url=source.get("url") or value.get("url"))
            if value.get("data") is not None:
                return ImageBlock(media_type=value.get("media_type"), data=value.get("data"))
    raise ConfigurationError(f"Message.content: unsupported content block {shorten(repr(value), 120)}")


class FunctionCall(_Data):
    """The function a tool call invokes. ``arguments`` is the JSON text as the model wrote it."""

    name: str
    arguments: str

    __slots__ = ("name", "arguments")

    def __init__(self, name: str = "", arguments: str = "") -> None:
        self.name = name
        self.arguments = arguments


class ToolCall(_Data):
    """A call the model asks the caller to execute.

    In a stream, a ``ToolCall`` in ``Delta.tool_calls`` is a piece in OpenAI's shape: ``index`` says which call
    it belongs to, ``id`` and ``function.name`` come with the first piece, ``function.arguments`` is a fragment.
    ``thought_signature`` (Gemini) is kept so the call can be replayed in a later turn.
    """

    id: str
    type: str
    function: FunctionCall
    index: Optional[int]
    thought_signature: Optional[str]

    __slots__ = ("id", "type", "function", "index", "thought_signature")

    def __init__(self, id: str = "", type: str = "function", function: Optional[FunctionCall] = None,
            index: Optional[int] = None, thought_signature: Optional[str] = None) -> None:
        self.id = id
        self.type = type
        self.function = FunctionCall() if function is None else function
        self.index = index
        self.thought_signature = thought_signature

    _nested: ClassVar[Dict[str, Type[_Data]]] = {"function": FunctionCall}

    @classmethod
    def create(cls, id: str, name: str, arguments: Union[str, Mapping[str, Any]] = "") -> "ToolCall":
        """A complete call; ``arguments`` may be a mapping (it is written as JSON)."""
        if not isinstance(arguments, str):
            arguments = _dumps(dict(arguments))
        return cls(id=id, function=FunctionCall(name=name, arguments=arguments))

    @property
    def name(self) -> str:
        return self.function.name

    @property
    def arguments(self) -> str:
        return self.function.arguments

    def arguments_json(self) -> Any:
        """The arguments parsed as JSON (``{}`` when empty); a clear error when they are cut off or invalid."""
        text = self.function.arguments
        if not text or not text.strip():
            return {}
        try:
            return json.loads(text)
        except ValueError as exc:
            raise StreamParseError(
                f"tool call {self.function.name!r} ({self.id}): arguments are not complete JSON ({exc}): "
                f"{shorten(text, 200)}",
                body=text,
            ) from None


class Message(_Data):
    """One turn of a conversation.

    ``content`` is a string, a list of blocks (``TextBlock``, ``ImageBlock``, or OpenAI/Anthropic style
    dicts, which are converted), or None for an assistant turn that only called tools.
    ``reasoning_content`` holds an assistant turn's reasoning; ``thinking_blocks`` keeps Anthropic's signed
    thinking blocks so they can be sent back unchanged in the next turn of a tool round trip.
    """

    role: Role
    content: Union[str, List[ContentBlock], None]
    name: Optional[str]
    tool_calls: Optional[List[ToolCall]]
    tool_call_id: Optional[str]
    reasoning_content: Optional[str]
    thinking_blocks: Optional[List[Dict[str, Any]]]

    __slots__ = ("role", "content", "name", "tool_calls", "tool_call_id", "reasoning_content", "thinking_blocks")

    def __init__(self, role: Role = Role.USER, content: Union[str, List[ContentBlock], None] = "",
            name: Optional[str] = None, tool_calls: Optional[List[ToolCall]] = None,
            tool_call_id: Optional[str] = None, reasoning_content: Optional[str] = None,
            thinking_blocks: Optional[List[Dict[str, Any]]] = None) -> None:
        self.role = role
        self.content = content
        self.name = name
        self.tool_calls = tool_calls
        self.tool_call_id = tool_call_id
        self.reasoning_content = reasoning_content
        self.thinking_blocks = thinking_blocks
        self._check()

    _nested: ClassVar[Dict[str, Type[_Data]]] = {"tool_calls": ToolCall}

    def _check(self) -> None:
        self.role = _role(self.role)
        content = self.content
        if content is not None and not isinstance(content, str):
            if isinstance(content, (list, tuple)):
                self.content = [_block(b) for b in content]
            else:
                raise ConfigurationError(
                    f"Message.content: expected a string or a list of blocks, got {type(content).__name__}"
                )

    @classmethod
    def text(cls, role: Union[Role, str], text: str) -> "Message":
        """A plain text message: ``Message.text(Role.USER, "hi")``."""
        return cls(role=_role(role), content=text)

    @classmethod
    def system(cls, content: str) -> "Message":
        return cls(role=Role.SYSTEM, content=content)

    @classmethod
    def user(cls, content: Union[str, Sequence[Any]]) -> "Message":
        """A user message; ``content`` may be a list of blocks (text and images)."""
        return cls(role=Role.USER, content=content if isinstance(content, str) else [_block(b) for b in content])

    @classmethod
    def assistant(
        cls,
        content: Optional[str] = None,
        tool_calls: Optional[List[ToolCall]] = None,
        reasoning_content: Optional[str] = None,
    ) -> "Message":
        """An assistant turn; one that called tools has ``content=None, tool_calls=[...]``."""
        return cls(role=Role.ASSISTANT, content=content, tool_calls=tool_calls, reasoning_content=reasoning_content)

    @classmethod
    def tool(cls, content: str, tool_call_id: str, name: Optional[str] = None) -> "Message":
        """The result of one tool call, answering the call with ``tool_call_id``."""
        return cls(role=Role.TOOL, content=content, tool_call_id=tool_call_id, name=name)

    def text_content(self) -> str:
        """The message's text: the string, or its text blocks joined with newlines."""
        content = self.content
        if content is None:
            return ""
        if isinstance(content, str):
            return content
        return "\n".join(b.text for b in content if isinstance(b, TextBlock))

    def blocks(self) -> List[ContentBlock]:
        """The content as a list of blocks (a string is one text block; None is no block)."""
        content = self.content
        if content is None:
            return []
        if isinstance(content, str):
            return [TextBlock(content)] if content else []
        return list(content)

    def to_dict(self) -> Dict[str, Any]:
        out = super().to_dict()
        if self.content is None and "content" not in out:
            out["content"] = None
        return out


class Tool(_Data):
    """A function the model may call. ``parameters`` is a JSON schema object."""

    name: str
    description: Optional[str]
    parameters: Optional[Dict[str, Any]]
    type: str

    __slots__ = ("name", "description", "parameters", "type")

    def __init__(self, name: str = "", description: Optional[str] = None,
            parameters: Optional[Dict[str, Any]] = None, type: str = "function") -> None:
        self.name = name
        self.description = description
        self.parameters = parameters
        self.type = type

    @classmethod
    def function(
        cls, name: str, description: Optional[str] = None, parameters: Optional[Mapping[str, Any]] = None
    ) -> "Tool":
        """``Tool.function("get_weather", "Weather for a city", {"type": "object", ...})``."""
        return cls(name=name, description=description, parameters=dict(parameters) if parameters else None)

    def schema(self) -> Dict[str, Any]:
        """The parameters schema (an empty object schema when none was given)."""
        return self.parameters if self.parameters is not None else {"type": "object", "properties": {}}

    def to_dict(self) -> Dict[str, Any]:
        fn: Dict[str, Any] = {"name": self.name}
        if self.description is not None:
            fn["description"] = self.description
        fn["parameters"] = self.schema()
        return {"type": self.type, "function": fn}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Tool":
        fn = data.get("function") if isinstance(data.get("function"), Mapping) else data
        assert isinstance(fn, Mapping)
        return cls(name=str(fn.get("name", "")), description=fn.get("description"), parameters=fn.get("parameters"))


class ToolChoice:
    """Values for ``ChatRequest.tool_choice``: a mode string, or ``ToolChoice.function(name)``."""

    AUTO = "auto"
    NONE = "none"
    REQUIRED = "required"

    @staticmethod
    def function(name: str) -> Dict[str, Any]:
        """Force a call of the function ``name``."""
        return {"type": "function", "function": {"name": name}}


class ResponseFormat:
    """Values for ``ChatRequest.response_format`` (OpenAI's shape; other protocols translate it)."""

    @staticmethod
    def text() -> Dict[str, Any]:
        return {"type": "text"}

    @staticmethod
    def json_object() -> Dict[str, Any]:
        """Any JSON object."""
        return {"type": "json_object"}

    @staticmethod
    def json_schema(name: str, schema: Mapping[str, Any], strict: bool = True) -> Dict[str, Any]:
        """JSON that follows ``schema``."""
        return {"type": "json_schema", "json_schema": {"name": name, "schema": dict(schema), "strict": strict}}


def _messages(messages: Sequence[Union[Message, Mapping[str, Any]]]) -> List[Message]:
    """``messages`` as ``Message`` objects: OpenAI-style dicts converted once, with ``Message.from_dict``. A
    list of ``Message`` objects is kept as it is (the same list)."""
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, (list, tuple)):
        raise ConfigurationError(
            f"messages: expected a list of Message objects or dicts, got {shorten(repr(messages), 80)}")
    if isinstance(messages, list) and all(type(m) is Message for m in messages):
        return messages
    out: List[Message] = []
    for i, message in enumerate(messages):
        if isinstance(message, Message):
            out.append(message)
            continue
        if not isinstance(message, Mapping) or "role" not in message:
            raise ConfigurationError(
                f'messages[{i}]: expected a Message or a dict with "role", got {shorten(repr(message), 80)}')
        try:
            out.append(Message.from_dict(message))
        except (ConfigurationError, StreamParseError, TypeError, ValueError, AttributeError) as exc:
            detail = exc.message if isinstance(exc, (ConfigurationError, StreamParseError)) else str(exc)
            raise ConfigurationError(f"messages[{i}]: {detail}") from None
    return out


class ChatRequest(_Data):
    """What to ask. Only ``model`` and ``messages`` are needed; every other field is left out when None.

    ``messages`` are ``Message`` objects or OpenAI-style dicts (``{"role": "user", "content": "hi"}``, also
    with ``tool_calls`` and ``tool_call_id``), converted once, here, with ``Message.from_dict``.

    Reasoning switches: ``enable_thinking`` (on/off where the service has a switch), ``reasoning_effort``
    (``"low"``/``"medium"``/``"high"``, OpenAI o-series and compatible), ``thinking_budget`` (tokens, Anthropic
    and Gemini). ``extra_body`` is merged into the JSON body last, for anything a service takes that is not
    modelled here.
    """

    model: str
    messages: List[Message]
    temperature: Optional[float]
    top_p: Optional[float]
    max_tokens: Optional[int]
    stream: Optional[bool]
    stop: Optional[Union[str, List[str]]]
    presence_penalty: Optional[float]
    frequency_penalty: Optional[float]
    seed: Optional[int]
    user: Optional[str]
    tools: Optional[List[Tool]]
    tool_choice: Optional[Union[str, Dict[str, Any]]]
    response_format: Optional[Dict[str, Any]]
    enable_thinking: Optional[bool]
    reasoning_effort: Optional[str]
    thinking_budget: Optional[int]
    extra_body: Optional[Dict[str, Any]]

    __slots__ = (
        "model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop", "presence_penalty",
        "frequency_penalty", "seed", "user", "tools", "tool_choice", "response_format", "enable_thinking",
        "reasoning_effort", "thinking_budget", "extra_body"
    )

    def __init__(self, model: str = "", messages: Optional[Sequence[Union[Message, Mapping[str, Any]]]] = None,
            temperature: Optional[float] = None, top_p: Optional[float] = None, max_tokens: Optional[int] = None,
            stream: Optional[bool] = None, stop: Optional[Union[str, List[str]]] = None,
            presence_penalty: Optional[float] = None, frequency_penalty: Optional[float] = None,
            seed: Optional[int] = None, user: Optional[str] = None, tools: Optional[List[Tool]] = None,
            tool_choice: Optional[Union[str, Dict[str, Any]]] = None,
            response_format: Optional[Dict[str, Any]] = None, enable_thinking: Optional[bool] = None,
            reasoning_effort: Optional[str] = None, thinking_budget: Optional[int] = None,
            extra_body: Optional[Dict[str, Any]] = None) -> None:
        self.model = model
        self.messages = [] if messages is None else _messages(messages)
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.stream = stream
        self.stop = stop
        self.presence_penalty = presence_penalty
        self.frequency_penalty = frequency_penalty
        self.seed = seed
        self.user = user
        self.tools = tools
        self.tool_choice = tool_choice
        self.response_format = response_format
        self.enable_thinking = enable_thinking
        self.reasoning_effort = reasoning_effort
        self.thinking_budget = thinking_budget
        self.extra_body = extra_body

    _nested: ClassVar[Dict[str, Type[_Data]]] = {"messages": Message, "tools": Tool}

    def stop_list(self) -> Optional[List[str]]:
        """``stop`` as a list (a single string becomes a one-item list)."""
        if self.stop is None:
            return None
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def thinking_wanted(self) -> bool:
        """True when the caller asked for reasoning by any of the switches."""
        return bool(self.enable_thinking or self.thinking_budget or self.reasoning_effort)


class Usage(_Data):
    """Token counts, as the service reported them.

    ``reasoning_tokens`` (part of completion_tokens), ``cached_tokens`` (prompt tokens read from cache) and
    ``cache_creation_tokens`` (prompt tokens written to cache) are None when the service did not say.
    """

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    reasoning_tokens: Optional[int]
    cached_tokens: Optional[int]
    cache_creation_tokens: Optional[int]

    __slots__ = (
        "prompt_tokens", "completion_tokens", "total_tokens", "reasoning_tokens", "cached_tokens",
        "cache_creation_tokens"
    )

    def __init__(self, prompt_tokens: int = 0, completion_tokens: int = 0, total_tokens: int = 0,
            reasoning_tokens: Optional[int] = None, cached_tokens: Optional[int] = None,
            cache_creation_tokens: Optional[int] = None) -> None:
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.total_tokens = total_tokens
        self.reasoning_tokens = reasoning_tokens
        self.cached_tokens = cached_tokens
        self.cache_creation_tokens = cache_creation_tokens


#: Where every protocol module's finish words come from: ``llm_connector.protocols.finish_words``, handed over
#: when that package is imported (it lies above this module); called once, on the first word normalized.
_finish_words_source: Optional[Callable[[], Dict[str, str]]] = None
_finish_words: Optional[Dict[str, str]] = None


def normalize_finish_reason(raw: Any) -> Optional[str]:
    """The service's finish reason in OpenAI's words (``stop``, ``length``, ``tool_calls``,
    ``content_filter``); ``None``, ``""`` and ``"null"`` are None; an unknown word is kept lower-cased.

    The words are every protocol module's ``FINISH_REASONS`` together (each service's words live in its module).
    """
    if raw is None or raw == "" or raw == "null":
        return None
    text = str(raw).lower()
    words = _finish_words
    if words is None:
        words = _load_finish_words()
    return words.get(text, text)


def _finish_words_from(source: Callable[[], Dict[str, str]]) -> None:
    """Hand over the composer of every protocol module's words (``llm_connector.protocols`` does, on import)."""
    global _finish_words_source, _finish_words
    _finish_words_source = source
    _finish_words = None


def _load_finish_words() -> Dict[str, str]:
    global _finish_words
    source = _finish_words_source
    words = source() if source is not None else {}
    _finish_words = words
    return words


class Choice(_Data):
    """One answer of a ``ChatResponse``.

    ``finish_reason`` is normalized, ``finish_reason_raw`` is the service's word.
    """

    index: int
    message: Message
    finish_reason: Optional[str]
    finish_reason_raw: Optional[str]
    logprobs: Optional[Any]

    __slots__ = ("index", "message", "finish_reason", "finish_reason_raw", "logprobs")

    def __init__(self, index: int = 0, message: Optional[Message] = None, finish_reason: Optional[str] = None,
            finish_reason_raw: Optional[str] = None, logprobs: Optional[Any] = None) -> None:
        self.index = index
        self.message = Message(role=Role.ASSISTANT) if message is None else message
        self.finish_reason = finish_reason
        self.finish_reason_raw = finish_reason_raw
        self.logprobs = logprobs

    _nested: ClassVar[Dict[str, Type[_Data]]] = {"message": Message}


def _choice_0(choices: List[Any]) -> Any:
    """The choice with index 0 (the first listed when none says 0), or None."""
    return next((c for c in choices if c.index == 0), choices[0] if choices else None)


class ChatResponse(_Data):
    """A whole answer.

    ``content`` is the first choice's text, ``reasoning_content`` its reasoning (never mixed into
    ``content``), ``usage`` is None when the service reported none.
    """

    id: str
    object: str
    created: int
    model: str
    choices: List[Choice]
    content: str
    reasoning_content: Optional[str]
    usage: Optional[Usage]
    system_fingerprint: Optional[str]
    raw: Any

    __slots__ = (
        "id", "object", "created", "model", "choices", "content", "reasoning_content", "usage",
        "system_fingerprint", "raw"
    )

    def __init__(self, id: str = "", object: str = "chat.completion", created: int = 0, model: str = "",
            choices: Optional[List[Choice]] = None, content: str = "", reasoning_content: Optional[str] = None,
            usage: Optional[Usage] = None, system_fingerprint: Optional[str] = None, raw: Any = None) -> None:
        self.id = id
        self.object = object
        self.created = created
        self.model = model
        self.choices = [] if choices is None else choices
        self.content = content
        self.reasoning_content = reasoning_content
        self.usage = usage
        self.system_fingerprint = system_fingerprint
        self.raw = raw

    _nested: ClassVar[Dict[str, Type[_Data]]] = {"choices": Choice, "usage": Usage}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ChatResponse":
        """Build from a mapping (``to_dict()``'s or a service's wire JSON); ``content`` and ``reasoning_content``
        not given are choice 0's."""
        response = super().from_dict(data)
        assert isinstance(response, ChatResponse)
        first = _choice_0(response.choices)
        if first is not None:
            if "content" not in data:
                response.content = first.message.text_content()
            if "reasoning_content" not in data:
                response.reasoning_content = first.message.reasoning_content
        return response

    @classmethod
    def from_choices(cls, choices: List[Choice], **fields: Any) -> "ChatResponse":
        """A response whose ``content`` and ``reasoning_content`` are choice 0's (what every protocol's
        ``decode_response`` builds); ``fields`` are the other constructor arguments."""
        first = _choice_0(choices)
        if first is not None:
            fields["content"] = first.message.text_content()
            fields["reasoning_content"] = first.message.reasoning_content
        return cls(choices=choices, **fields)

    def get_content(self) -> Optional[str]:
        """The text, or None when there is none."""
        return self.content or None

    def __repr__(self) -> str:
        """Only the fields that are set; the first choice through content, tool calls and finish reason."""
        from ._render import short_repr

        return short_repr(self, "chat.completion")

    def _repr_markdown_(self) -> str:
        from ._render import markdown

        return markdown(self)

    def _repr_html_(self) -> str:
        from ._render import to_html

        return to_html(self)

    @property
    def message(self) -> Message:
        """The first choice's message (an empty assistant message when there is no choice)."""
        return self.choices[0].message if self.choices else Message(role=Role.ASSISTANT)

    @property
    def tool_calls(self) -> List[ToolCall]:
        """The first choice's tool calls (empty when none)."""
        return list(self.message.tool_calls or [])

    @property
    def finish_reason(self) -> Optional[str]:
        return self.choices[0].finish_reason if self.choices else None

    def has_tool_calls(self) -> bool:
        return bool(self.tool_calls)

    def to_message(self) -> Message:
        """The assistant turn to append to the conversation (keeps tool calls and signed thinking)."""
        m = self.message
        content: Optional[str] = m.text_content() or None
        return Message(
            role=Role.ASSISTANT,
            content=content,
            tool_calls=m.tool_calls,
            reasoning_content=m.reasoning_content,
            thinking_blocks=m.thinking_blocks,
        )


class Delta(_Data):
    """What one stream chunk adds: text, reasoning, or pieces of tool calls.

    ``thinking_signature`` (Anthropic) signs the reasoning since the previous signature; ``thinking_block`` is a
    whole block to replay as is (Anthropic ``redacted_thinking``).
    """

    role: Optional[str]
    content: Optional[str]
    reasoning_content: Optional[str]
    tool_calls: Optional[List[ToolCall]]
    thinking_signature: Optional[str]
    thinking_block: Optional[Dict[str, Any]]

    __slots__ = ("role", "content", "reasoning_content", "tool_calls", "thinking_signature", "thinking_block")

    def __init__(self, role: Optional[str] = None, content: Optional[str] = None,
            reasoning_content: Optional[str] = None, tool_calls: Optional[List[ToolCall]] = None,
            thinking_signature: Optional[str] = None, thinking_block: Optional[Dict[str, Any]] = None) -> None:
        self.role = role
        self.content = content
        self.reasoning_content = reasoning_content
        self.tool_calls = tool_calls
        self.thinking_signature = thinking_signature
        self.thinking_block = thinking_block

    _nested: ClassVar[Dict[str, Type[_Data]]] = {"tool_calls": ToolCall}


class StreamingChoice(_Data):
    """One choice in a stream chunk."""

    index: int
    delta: Delta
    finish_reason: Optional[str]
    finish_reason_raw: Optional[str]
    logprobs: Optional[Any]

    __slots__ = ("index", "delta", "finish_reason", "finish_reason_raw", "logprobs")

    def __init__(self, index: int = 0, delta: Optional[Delta] = None, finish_reason: Optional[str] = None,
            finish_reason_raw: Optional[str] = None, logprobs: Optional[Any] = None) -> None:
        self.index = index
        self.delta = Delta() if delta is None else delta
        self.finish_reason = finish_reason
        self.finish_reason_raw = finish_reason_raw
        self.logprobs = logprobs

    _nested: ClassVar[Dict[str, Type[_Data]]] = {"delta": Delta}


class StreamingResponse(_Data):
    """One chunk of a stream; the same type for every provider.

    ``content`` is this chunk's text of the first choice ("" when none; ``get_content()`` gives None then),
    ``reasoning_content`` its reasoning (never part of ``content``), ``usage`` is set on the chunk that
    carries the final token counts.
    """

    id: str
    object: str
    created: int
    model: str
    choices: List[StreamingChoice]
    content: str
    reasoning_content: Optional[str]
    usage: Optional[Usage]
    system_fingerprint: Optional[str]
    raw: Any

    __slots__ = (
        "id", "object", "created", "model", "choices", "content", "reasoning_content", "usage",
        "system_fingerprint", "raw"
    )

    def __init__(self, id: str = "", object: str = "chat.completion.chunk", created: int = 0, model: str = "",
            choices: Optional[List[StreamingChoice]] = None, content: str = "",
            reasoning_content: Optional[str] = None, usage: Optional[Usage] = None,
            system_fingerprint: Optional[str] = None, raw: Any = None) -> None:
        self.id = id
        self.object = object
        self.created = created
        self.model = model
        self.choices = [] if choices is None else choices
        self.content = content
        self.reasoning_content = reasoning_content
        self.usage = usage
        self.system_fingerprint = system_fingerprint
        self.raw = raw

    _nested: ClassVar[Dict[str, Type[_Data]]] = {"choices": StreamingChoice, "usage": Usage}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "StreamingResponse":
        """Build from a mapping (``to_dict()``'s or a service's wire chunk); ``content`` and
        ``reasoning_content`` not given are choice 0's."""
        chunk = super().from_dict(data)
        assert isinstance(chunk, StreamingResponse)
        first = _choice_0(chunk.choices)
        if first is not None:
            if "content" not in data:
                text = first.delta.content
                chunk.content = text if isinstance(text, str) else ""
            if "reasoning_content" not in data:
                chunk.reasoning_content = first.delta.reasoning_content
        return chunk

    def get_content(self) -> Optional[str]:
        """This chunk's text, or None when it carries none."""
        return self.content or None

    def __repr__(self) -> str:
        """Only the fields that are set; the first choice through content, tool calls and finish reason."""
        from ._render import short_repr

        return short_repr(self, "chat.completion.chunk")

    def _repr_markdown_(self) -> str:
        from ._render import markdown

        return markdown(self)

    def _repr_html_(self) -> str:
        from ._render import to_html

        return to_html(self)

    @property
    def finish_reason(self) -> Optional[str]:
        """The first finish reason among the choices, or None."""
        for c in self.choices:
            if c.finish_reason is not None:
                return c.finish_reason
        return None

    @property
    def tool_calls(self) -> List[ToolCall]:
        """Tool-call pieces in this chunk (all choices)."""
        out: List[ToolCall] = []
        for c in self.choices:
            if c.delta.tool_calls:
                out.extend(c.delta.tool_calls)
        return out


class OllamaMessage(_Data):
    """The message of an Ollama chat chunk."""

    role: str
    content: str
    thinking: Optional[str]
    tool_calls: Optional[List[Dict[str, Any]]]
    images: Optional[List[str]]

    __slots__ = ("role", "content", "thinking", "tool_calls", "images")

    def __init__(self, role: str = "assistant", content: str = "", thinking: Optional[str] = None,
            tool_calls: Optional[List[Dict[str, Any]]] = None, images: Optional[List[str]] = None) -> None:
        self.role = role
        self.content = content
        self.thinking = thinking
        self.tool_calls = tool_calls
        self.images = images


class OllamaStreamChunk(_Data):
    """One line of Ollama's ``/api/chat`` stream. Durations are nanoseconds; the final chunk has ``done=True``."""

    model: str
    created_at: str
    message: OllamaMessage
    done: bool
    done_reason: Optional[str]
    total_duration: Optional[int]
    load_duration: Optional[int]
    prompt_eval_count: Optional[int]
    prompt_eval_duration: Optional[int]
    eval_count: Optional[int]
    eval_duration: Optional[int]

    __slots__ = (
        "model", "created_at", "message", "done", "done_reason", "total_duration", "load_duration",
        "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration"
    )

    def __init__(self, model: str = "", created_at: str = "", message: Optional[OllamaMessage] = None,
            done: bool = False, done_reason: Optional[str] = None, total_duration: Optional[int] = None,
            load_duration: Optional[int] = None, prompt_eval_count: Optional[int] = None,
            prompt_eval_duration: Optional[int] = None, eval_count: Optional[int] = None,
            eval_duration: Optional[int] = None) -> None:
        self.model = model
        self.created_at = created_at
        self.message = OllamaMessage() if message is None else message
        self.done = done
        self.done_reason = done_reason
        self.total_duration = total_duration
        self.load_duration = load_duration
        self.prompt_eval_count = prompt_eval_count
        self.prompt_eval_duration = prompt_eval_duration
        self.eval_count = eval_count
        self.eval_duration = eval_duration

    _nested: ClassVar[Dict[str, Type[_Data]]] = {"message": OllamaMessage}
