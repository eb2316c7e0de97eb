"""The offline ``mock`` provider: scripted or generated replies, no network.

For users' own tests and for trying the library without a key::

    >>> from llm_connector import LlmClient, ChatRequest, Message
    >>> client = LlmClient.mock(reply="4", reasoning="2 + 2 is 4")
    >>> response = client.chat(ChatRequest(model="mock", messages=[Message.user("2 + 2?")]))
    >>> response.content, response.reasoning_content
    ('4', '2 + 2 is 4')
    >>> client.mock_provider.requests[0].messages[0].content
    '2 + 2?'
"""

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, Iterator, List, Optional, Union

from .errors import LlmConnectorError
from .stream import ChatStream, StreamAccumulator
from .types import (
    ChatRequest,
    ChatResponse,
    Delta,
    FunctionCall,
    StreamingChoice,
    StreamingResponse,
    ToolCall,
    Usage,
)

__all__ = ["MockProvider", "MockReply"]


@dataclass
class MockReply:
    """One scripted answer.

    ``error`` is raised instead of answering; with ``error_after=N`` a stream first yields N chunks, then
    raises it (a fault mid-stream).
    """

    text: str = ""
    reasoning: Optional[str] = None
    tool_calls: Optional[List[ToolCall]] = None
    usage: Optional[Usage] = None
    finish_reason: Optional[str] = None
    error: Optional[LlmConnectorError] = None
    error_after: Optional[int] = None


ReplySource = Union[None, str, MockReply, LlmConnectorError, Callable[[ChatRequest], Any]]


def _default_text(request: ChatRequest) -> str:
    last = next((m.text_content() for m in reversed(request.messages) if m.role.value == "user"), "")
    return (
        f"Hello from llm_connector's offline mock provider. You said: \"{last}\". "
        "Set OPENAI_API_KEY, ANTHROPIC_API_KEY or GOOGLE_API_KEY (or pick --provider) to talk to a real model."
    )


def _pieces(text: str) -> List[str]:
    """Split text into word-sized stream pieces (spaces kept with the word that follows)."""
    out: List[str] = []
    start = 0
    for i in range(1, len(text)):
        if text[i] == " ":
            out.append(text[start:i])
            start = i
    if text:
        out.append(text[start:])
    return out


def _count_tokens(text: str) -> int:
    return max(1, len(text.split())) if text else 0


class MockProvider:
    """Answers from a queue of scripted replies, then from the default ``reply``.

    ``reply`` may be a string, a ``MockReply``, an error to raise, or a function of the request returning any
    of those; None generates a friendly echo. ``requests`` records every request received.
    ``delay`` (seconds) is slept between streamed pieces.
    """

    def __init__(
        self,
        reply: ReplySource = None,
        *,
        reasoning: Optional[str] = None,
        tool_calls: Optional[List[ToolCall]] = None,
        usage: bool = True,
        model: str = "mock-model",
        delay: float = 0.0,
        models: Optional[List[str]] = None,
    ) -> None:
        self.reply = reply
        self.reasoning = reasoning
        self.tool_calls = tool_calls
        self.usage = usage
        self.model = model
        self.delay = delay
        self.model_ids = list(models or ["mock-model", "mock-reasoner"])
        self.requests: List[ChatRequest] = []
        self._queue: Deque[ReplySource] = deque()
        self._lock = threading.Lock()

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        del state["_lock"]  # a lock does not pickle; the copy gets its own
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MockProvider(model={self.model!r}, queued={len(self._queue)}, received={len(self.requests)})"

    def add(self, reply: ReplySource) -> None:
        """Queue a reply (or an error) for the next request."""
        with self._lock:
            self._queue.append(reply)

    def _next(self, request: ChatRequest) -> MockReply:
        with self._lock:
            self.requests.append(request)
            source = self._queue.popleft() if self._queue else self.reply
        if callable(source) and not isinstance(source, (MockReply, LlmConnectorError)):
            source = source(request)
        if isinstance(source, LlmConnectorError):
            return MockReply(error=source)
        if isinstance(source, MockReply):
            return source
        text = _default_text(request) if source is None else str(source)
        return MockReply(text=text, reasoning=self.reasoning, tool_calls=self.tool_calls)

    def _chunks(self, request: ChatRequest, reply: MockReply) -> Iterator[StreamingResponse]:
        created = int(time.time())
        model = request.model or self.model
        ident = f"mock-{len(self.requests)}"
        count = 0

        def chunk(delta: Delta, finish: Optional[str] = None, usage: Optional[Usage] = None) -> StreamingResponse:
            choices = [StreamingChoice(0, delta, finish, finish)] if delta is not None else []
            return StreamingResponse(ident, "chat.completion.chunk", created, model, choices,
                                     delta.content or "" if delta is not None else "",
                                     delta.reasoning_content if delta is not None else None, usage)

        def check() -> None:
            if reply.error is not None and reply.error_after is not None and count >= reply.error_after:
                raise reply.error

        if reply.error is not None and reply.error_after is None:
            raise reply.error
        first = True
        for piece in _pieces(reply.reasoning or ""):
            check()
            yield chunk(Delta(role="assistant" if first else None, reasoning_content=piece))
            first, count = False, count + 1
            self._sleep()
        for piece in _pieces(reply.text):
            check()
            yield chunk(Delta(role="assistant" if first else None, content=piece))
            first, count = False, count + 1
            self._sleep()
        for i, call in enumerate(reply.tool_calls or ()):
            check()
            yield chunk(Delta(tool_calls=[ToolCall(call.id or f"call_mock_{i}", "function",
                                                   FunctionCall(call.function.name, call.function.arguments), i)]))
            count += 1
        check()
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        yield chunk(Delta(), finish)
        if self.usage or reply.usage is not None:
            yield chunk(None, usage=reply.usage or self._usage(request, reply))  # type: ignore[arg-type]

    def _usage(self, request: ChatRequest, reply: MockReply) -> Usage:
        prompt = sum(_count_tokens(m.text_content()) for m in request.messages)
        reasoning = _count_tokens(reply.reasoning or "")
        completion = _count_tokens(reply.text) + reasoning
        return Usage(prompt, completion, prompt + completion, reasoning_tokens=reasoning or None)

    def _sleep(self) -> None:
        if self.delay:
            time.sleep(self.delay)

    # -- the backend surface LlmClient calls ------------------------------------------------------------

    def chat(self, request: ChatRequest, endpoint: Any, deadline: Optional[float]) -> ChatResponse:
        reply = self._next(request)
        if reply.error is not None:
            raise reply.error
        acc = StreamAccumulator()
        for c in self._chunks(request, MockReply(reply.text, reply.reasoning, reply.tool_calls, reply.usage,
                                                 reply.finish_reason)):
            acc.add(c)
        response = acc.result()
        response.object = "chat.completion"
        return response

    def chat_stream(self, request: ChatRequest, endpoint: Any, deadline: Optional[float]) -> ChatStream:
        reply = self._next(request)
        if reply.error is not None and reply.error_after is None:
            raise reply.error
        return ChatStream(self._chunks(request, reply))

    def models(self, endpoint: Any) -> List[str]:
        return list(self.model_ids)

    def close(self) -> None:
        pass
