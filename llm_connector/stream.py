"""The stream object ``chat_stream`` returns, and the accumulator behind ``collect()``.

The stream owns the HTTP response and closes it on every way out: the end of the body, ``break``, an
exception in the caller's loop, ``close()`` (also from another thread), ``with``, garbage collection.
"""

import threading
from typing import Any, Callable, Dict, Generic, Iterator, List, Optional, Tuple, TypeVar

from .errors import (
    SHAPE_ERRORS,
    APIStatusError,
    IncompleteStreamError,
    LlmConnectorError,
    request_id_from,
    shape_error,
)
from .types import (
    ChatResponse,
    Choice,
    FunctionCall,
    Message,
    Role,
    StreamingResponse,
    ToolCall,
    Usage,
)

__all__ = ["Stream", "ChatStream", "StreamAccumulator", "ToolCallMerger"]

T = TypeVar("T")
_S = TypeVar("_S", bound="Stream[Any]")


class _Closer:
    """Closes a stream's connection once. Shared by the stream object and its generator, so that neither
    holds the other in a cycle: the socket is freed as soon as the last of them is gone."""

    __slots__ = ("closed", "ended", "lock", "on_close", "on_end", "chunks", "count", "status", "keep", "__weakref__")

    def __init__(self, chunks: Iterator[Any], on_close: Optional[Callable[[], None]],
                 on_end: Optional[Callable[[], None]] = None) -> None:
        self.closed = False
        self.ended = False  # the chunks ran out normally
        self.lock = threading.Lock()
        self.on_close = on_close
        self.on_end = on_end
        self.chunks = chunks
        self.count = 0
        self.status: Optional[int] = None
        # Called with every chunk handed out while the stream object lives (ChatStream adds them up for collect():
        # their text, never the chunks themselves, so a long stream's memory grows with its text only). None once
        # the stream object is gone: in `for chunk in client.chat_stream(r)` the loop holds the generator alone, so
        # nothing could call collect() and the chunks are not added up at all.
        self.keep: Optional[Callable[[Any], None]] = None

    def close(self, ended: bool = False) -> None:
        """Free the connection; ``ended``: the stream reached its end marker, so it may be kept for reuse."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            self.ended = ended
        release = self.on_end if ended and self.on_end is not None else self.on_close
        if release is not None:
            try:
                release()
            except Exception:  # noqa: BLE001 - closing must never raise
                pass
        close = getattr(self.chunks, "close", None)
        if close is not None:
            try:
                close()
            except ValueError:  # the generator is running in another thread; the closed socket ends it
                pass

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - never raise from a finalizer
            pass


def _iterate(closer: _Closer) -> Iterator[Any]:
    """Yield the chunks, and close the connection on every way out (a module-level generator, so that the
    stream object is not kept alive by it)."""
    count = 0
    try:
        for chunk in closer.chunks:
            count += 1
            keep = closer.keep  # read per chunk: None once nothing can ask for the chunks' sum any more
            if keep is not None:
                keep(chunk)
            yield chunk
        closer.count = count
        closer.close(ended=True)
    except LlmConnectorError as exc:
        if closer.closed:  # closed from another thread while a read was waiting: a quiet end
            return
        if isinstance(exc, IncompleteStreamError) and not getattr(exc, "_counted", False):
            exc.chunks_received = count  # counted once: a stream re-expressing another (Ollama's) keeps its count
            exc.message = f"{exc.message} (after {count} chunks)"
            exc.args = (exc.message,)
            setattr(exc, "_counted", True)  # noqa: B010
        elif isinstance(exc, APIStatusError) and exc.status_code is None:
            exc.status_code = closer.status  # an error inside a stream carries the HTTP status it came with
        raise
    except SHAPE_ERRORS as exc:  # a decoder met JSON of a shape it did not expect: never a raw AttributeError
        if closer.closed:
            return
        raise shape_error(exc, None, "a stream event") from None
    finally:
        closer.count = count
        closer.close()


class Stream(Generic[T]):
    """An iterator of chunks that owns its connection.

    A stream is one iterator, like a file: a ``for`` loop, ``next(stream)`` and ``collect()`` continue the same
    stream where the last one stopped. It closes its connection at the end of the chunks, on ``close()`` (also
    from another thread), on leaving ``with``, and when dropped: ``for chunk in client.chat_stream(r): break``
    closes at once (nothing holds the stream), while a stream held in a variable stays open after ``break``
    for a later ``next()`` or ``collect()``.

    >>> from llm_connector import LlmClient, ChatRequest, Message
    >>> client = LlmClient.mock(reply="Hello there")
    >>> with client.chat_stream(ChatRequest(model="m", messages=[Message.user("hi")])) as stream:
    ...     first = next(stream).content
    ...     rest = "".join(chunk.content for chunk in stream)
    >>> first + rest
    'Hello there'
    """

    def __init__(
        self,
        chunks: Iterator[T],
        *,
        response: Any = None,
        on_close: Optional[Callable[[], None]] = None,
        on_end: Optional[Callable[[], None]] = None,
        provider: Optional[str] = None,
        model: Optional[str] = None,
    ) -> None:
        """``chunks``: the decoded chunks; ``response``: what ``.response`` shows; ``on_close``: frees the
        connection (called once); ``on_end``: called instead when the chunks ran out normally (the protocol's
        end marker was read), to keep the connection for reuse; ``provider`` and ``model``: for ``repr``."""
        self._closer = _Closer(chunks, on_close, on_end)
        self._closer.status = getattr(response, "status_code", None)
        self._response = response
        # The one generator every way of reading shares. It holds the closer, never the stream: no cycle, so
        # dropping the stream (or, in `for c in client.chat_stream(r)`, the loop's reference) closes at once.
        self._iterator: Iterator[T] = _iterate(self._closer)
        self._provider = provider
        self._model = model

    @property
    def response(self) -> Any:
        """The ``requests.Response`` (status, headers such as the request id); None for the mock provider."""
        return self._response

    @property
    def request_id(self) -> Optional[str]:
        """The service's request id from the response headers, when it sent one."""
        return request_id_from(getattr(self._response, "headers", None))

    @property
    def provider(self) -> Optional[str]:
        """The provider's name (``"openai"``, ``"anthropic"``, ...), when the client gave it."""
        return self._provider

    @property
    def model(self) -> Optional[str]:
        """The model the request asked for, when the client gave it."""
        return self._model

    @property
    def closed(self) -> bool:
        return self._closer.closed

    @property
    def chunks_received(self) -> int:
        """How many chunks the stream delivered, once it has ended or been closed."""
        return self._closer.count

    def __iter__(self) -> Iterator[T]:
        if self._closer.closed and not self._closer.ended:
            raise RuntimeError("this stream is closed; start a new chat_stream() call")
        return self._iterator  # the same iterator every time: a loop continues where the last one stopped

    def __next__(self) -> T:
        if self._closer.closed and not self._closer.ended:
            raise RuntimeError("this stream is closed; start a new chat_stream() call")
        return next(self._iterator)

    def close(self) -> None:
        """Close the connection. Safe to call more than once, and from another thread."""
        self._closer.close()
        close = getattr(self._iterator, "close", None)
        if close is not None:
            try:
                close()  # runs the generator's `finally`: chunks_received is counted
            except ValueError:  # it is running in another thread; the closed connection ends it
                pass

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError(f"cannot pickle {type(self).__name__}: a stream is a live connection to the service; "
                        "pickle what it gives instead (stream.collect(), or the chunks)")

    def __repr__(self) -> str:
        closer = self._closer
        if closer.ended:
            state = f"ended after {closer.count} chunks"
        elif closer.closed:
            state = "closed"
        else:
            state = "open"
        label = " ".join(part for part in (self._provider, repr(self._model) if self._model else None) if part)
        return f"<{type(self).__name__} {label + ' ' if label else ''}{state}>"


class ChatStream(Stream[StreamingResponse]):
    """The stream of ``StreamingResponse`` chunks from ``chat_stream``; ``collect()`` adds them up."""

    def __init__(self, chunks: Iterator[StreamingResponse], **options: Any) -> None:
        super().__init__(chunks, **options)
        self._answer = StreamAccumulator()
        self._closer.keep = self._answer.add  # every chunk is added up as it is handed out, for collect()

    def __del__(self) -> None:
        # Nothing can call collect() any more: the generator, if a loop still holds it, stops adding chunks up.
        closer = self.__dict__.get("_closer")
        if closer is not None:
            closer.keep = None

    def collect(self) -> ChatResponse:
        """Read the rest of the stream and return the ``ChatResponse`` the whole stream adds up to: the chunks a
        loop or ``next()`` already handed out are included (the stream adds each chunk up as it hands it out,
        keeping their text, not the chunks), so ``collect()`` after a peek at the first chunk still gives the
        whole answer. The adding up lasts as long as the stream object does: ``for chunk in
        client.chat_stream(r)`` keeps no reference to it, so such a loop adds nothing up and pays nothing for it."""
        for _ in self:
            pass
        return self._answer.result()

    def text(self) -> str:
        """Read the rest of the stream and return its text (reasoning excluded)."""
        return "".join(chunk.content for chunk in self)

    def display(self, **options: Any) -> ChatResponse:
        """Show the stream as it arrives and return the ``ChatResponse`` it adds up to.

        In Jupyter the answer is redrawn live with the reasoning folded apart; elsewhere the answer goes to
        stdout and the reasoning to stderr. Interrupting closes the stream. See ``llm_connector.display``.
        """
        from .display import show_stream

        return show_stream(self, StreamAccumulator(), **options)


class _ToolCallParts:
    __slots__ = ("id", "type", "name", "arguments", "thought_signature")

    def __init__(self) -> None:
        self.id = ""
        self.type = "function"
        self.name = ""
        self.arguments: List[str] = []
        self.thought_signature: Optional[str] = None


class ToolCallMerger:
    """Tool-call pieces from a stream merged into whole calls: the one rule, used by ``StreamAccumulator`` and by
    the Ollama writer behind ``chat_stream_ollama``.

    A piece with an ``index`` belongs to the call of that index (indexes may skip: 0, 2, ...). A piece without
    one continues the latest call (the highest index so far), unless it carries an ``id``: then it opens a new
    call after the highest index. The first piece without an index opens call 0.
    """

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        self._calls: Dict[int, _ToolCallParts] = {}

    def __bool__(self) -> bool:
        return bool(self._calls)

    def add(self, piece: ToolCall) -> None:
        """Take one piece into account."""
        calls = self._calls
        index = piece.index
        if index is None:
            index = 0 if not calls else (max(calls) + 1 if piece.id else max(calls))
        parts = calls.get(index)
        if parts is None:
            parts = calls[index] = _ToolCallParts()
        if piece.id:
            parts.id = piece.id
        if piece.type:
            parts.type = piece.type
        if piece.function.name:
            parts.name = piece.function.name
        if piece.function.arguments:
            parts.arguments.append(piece.function.arguments)
        if piece.thought_signature:
            parts.thought_signature = piece.thought_signature

    def calls(self) -> List[ToolCall]:
        """The whole calls so far, in index order, each with its arguments joined."""
        return [
            ToolCall(p.id, p.type, FunctionCall(p.name, "".join(p.arguments)), n, p.thought_signature)
            for n, p in sorted(self._calls.items())
        ]


class _Text:
    """A growing text kept compact: pieces are joined into blocks of ``_BLOCK`` as they come, so a long stream's
    text costs about its length in memory, not an object per piece (a 16-character piece as its own ``str`` in a
    list costs about 80 bytes)."""

    __slots__ = ("pieces", "blocks")

    def __init__(self, first: str) -> None:
        self.pieces = [first]
        self.blocks: List[str] = []

    def add(self, text: str) -> None:
        pieces = self.pieces
        pieces.append(text)
        if len(pieces) >= _BLOCK:
            self.flush()

    def flush(self) -> None:
        self.blocks.append("".join(self.pieces))
        self.pieces.clear()

    def __str__(self) -> str:
        return "".join(self.blocks) + "".join(self.pieces)


_BLOCK = 256


class StreamAccumulator:
    """Adds stream chunks up to a ``ChatResponse``; works on any iterable of chunks, no stream needed.

    Text and reasoning are collected as they come and joined once (in blocks, so memory grows with the text's
    length, not with the number of chunks); tool-call pieces are merged by index into complete calls.
    """

    def __init__(self) -> None:
        self.id = ""
        self.model = ""
        self.created = 0
        self.system_fingerprint: Optional[str] = None
        self.usage: Optional[Usage] = None
        self._text: Dict[int, _Text] = {}
        self._text0: Optional[_Text] = None  # choice 0's, for the common chunk's short path
        self._reasoning: Dict[int, _Text] = {}
        self._blocks: Dict[int, List[Dict[str, Any]]] = {}
        self._unsigned: Dict[int, _Text] = {}  # the reasoning since choice i's last thinking signature
        self._finish: Dict[int, Tuple[Optional[str], Optional[str]]] = {}
        self._tools: Dict[int, ToolCallMerger] = {}

    def add(self, chunk: StreamingResponse) -> None:
        """Take one chunk into account."""
        if chunk.id and not self.id:
            self.id = chunk.id
        if chunk.model and not self.model:
            self.model = chunk.model
        if chunk.created and not self.created:
            self.created = chunk.created
        if chunk.system_fingerprint:
            self.system_fingerprint = chunk.system_fingerprint
        choices = chunk.choices
        text0 = self._text0
        if text0 is not None and len(choices) == 1 and chunk.usage is None:
            # The short path: the common chunk (choice 0's text only) once choice 0 has text; every field the
            # long path reads below is checked here, so the two always agree.
            c = choices[0]
            d = c.delta
            if (not c.index and c.finish_reason is None and c.finish_reason_raw is None and d.tool_calls is None
                    and d.reasoning_content is None and d.thinking_signature is None and d.thinking_block is None):
                text = d.content
                if text:
                    pieces = text0.pieces
                    pieces.append(text)
                    if len(pieces) >= _BLOCK:
                        text0.flush()
                return
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in choices:
            i = choice.index
            delta = choice.delta
            if delta.content:
                kept = self._text.get(i)
                if kept is None:
                    kept = self._text[i] = _Text(delta.content)
                    if i == 0:
                        self._text0 = kept
                else:
                    kept.add(delta.content)
            if delta.reasoning_content:
                reasoning = self._reasoning.get(i)
                if reasoning is None:
                    self._reasoning[i] = _Text(delta.reasoning_content)
                else:
                    reasoning.add(delta.reasoning_content)
                unsigned = self._unsigned.get(i)
                if unsigned is None:
                    self._unsigned[i] = _Text(delta.reasoning_content)
                else:
                    unsigned.add(delta.reasoning_content)
            if delta.thinking_signature:
                # A signature closes one thinking block: the reasoning since the previous one.
                thought = str(self._unsigned.pop(i, ""))
                self._blocks.setdefault(i, []).append(
                    {"type": "thinking", "thinking": thought, "signature": delta.thinking_signature})
            if delta.thinking_block:
                self._blocks.setdefault(i, []).append(dict(delta.thinking_block))
            if delta.tool_calls:
                merger = self._tools.get(i)
                if merger is None:
                    merger = self._tools[i] = ToolCallMerger()
                for piece in delta.tool_calls:
                    merger.add(piece)
            if choice.finish_reason is not None or choice.finish_reason_raw is not None:
                self._finish[i] = (choice.finish_reason, choice.finish_reason_raw)
            elif i not in self._finish:
                self._finish[i] = (None, None)

    def result(self) -> ChatResponse:
        """The ``ChatResponse`` the chunks so far add up to."""
        indexes = sorted(set(self._text) | set(self._reasoning) | set(self._tools) | set(self._finish)) or [0]
        choices = []
        for i in indexes:
            reasoning = str(self._reasoning[i]) if i in self._reasoning else None
            merger = self._tools.get(i)
            calls = merger.calls() if merger is not None else []
            thinking_blocks = self._blocks.get(i) or None
            reason, raw = self._finish.get(i, (None, None))
            choices.append(Choice(
                index=i,
                message=Message(
                    role=Role.ASSISTANT,
                    content=str(self._text[i]) if i in self._text else (None if calls else ""),
                    tool_calls=calls or None,
                    reasoning_content=reasoning,
                    thinking_blocks=thinking_blocks,
                ),
                finish_reason=reason,
                finish_reason_raw=raw,
            ))
        first = choices[0].message
        return ChatResponse(
            id=self.id,
            object="chat.completion",
            created=self.created,
            model=self.model,
            choices=choices,
            content=first.text_content(),
            reasoning_content=first.reasoning_content,
            usage=self.usage,
            system_fingerprint=self.system_fingerprint,
        )
