"""Inline reasoning: ``<think>…</think>`` inside the answer text moved to ``reasoning_content``.

Some models write their reasoning into the answer itself (DeepSeek-R1 distills and Qwen3 served by vLLM,
llama.cpp or Ollama's OpenAI endpoint, MiniMax). With the client option ``think_tags`` the text between
``<think>`` and ``</think>`` becomes reasoning, wherever the chunks happen to split it: a tag cut across two
chunks is recognised, and no text is delayed longer than it takes to know which side of a tag it is on.

``think_tags=True``: the text before the first tag is held back until a tag shows which it was: ``</think>``
first means the stream started inside an unopened ``<think>`` (the opening tag was in the prompt template) and
the held text was reasoning; ``<think>`` first means it was answer. At the end of a stream with no tag at all
the held text is the answer. ``think_tags="open"``: the stream starts inside the reasoning (no holding back).
Whitespace right after a tag is dropped (``"</think>\\n\\nAnswer"`` gives ``"Answer"``).

No I/O, no provider names: the client applies it to any protocol's chunks and answers.
"""

from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from .types import ChatResponse, StreamingResponse

__all__ = ["ThinkTagSplitter", "split_stream", "split_response"]

OPEN = "<think>"
CLOSE = "</think>"

_UNDECIDED, _OUTSIDE, _INSIDE = 0, 1, 2


def _partial_suffix(text: str, tag: str) -> int:
    """The length of the longest end of ``text`` that is the start of ``tag`` (a tag cut by a chunk boundary)."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class ThinkTagSplitter:
    """One text stream's state: ``feed(text)`` returns ``(answer, reasoning)`` for what can be decided so far,
    ``flush()`` what is left at the end. Any split of a text gives the same joined results as the whole."""

    __slots__ = ("_state", "_pending", "_held", "_strip")

    def __init__(self, mode: Union[bool, str] = True) -> None:
        self._state = _INSIDE if mode == "open" else _UNDECIDED
        self._pending = ""  # the start of a tag, cut by a chunk boundary
        self._held: List[str] = []  # undecided text before the first tag
        self._strip = mode == "open"  # drop whitespace at the start of the next piece

    def feed(self, text: str) -> Tuple[str, str]:
        answer: List[str] = []
        reasoning: List[str] = []
        s = self._pending + text
        self._pending = ""
        while s:
            if self._strip:
                s = s.lstrip()
                if not s:
                    break
                self._strip = False
            if self._state == _UNDECIDED:
                i, j = s.find(OPEN), s.find(CLOSE)
                if i < 0 and j < 0:
                    keep = max(_partial_suffix(s, OPEN), _partial_suffix(s, CLOSE))
                    self._held.append(s[:len(s) - keep])
                    self._pending = s[len(s) - keep:]
                    break
                closing = j >= 0 and (i < 0 or j < i)
                cut, tag = (j, CLOSE) if closing else (i, OPEN)
                self._held.append(s[:cut])
                (reasoning if closing else answer).append("".join(self._held))
                self._held = []
                self._state = _OUTSIDE if closing else _INSIDE
                self._strip = True
                s = s[cut + len(tag):]
                continue
            tag = CLOSE if self._state == _INSIDE else OPEN
            out = reasoning if self._state == _INSIDE else answer
            i = s.find(tag)
            if i < 0:
                keep = _partial_suffix(s, tag)
                out.append(s[:len(s) - keep])
                self._pending = s[len(s) - keep:]
                break
            out.append(s[:i])
            self._state = _OUTSIDE if self._state == _INSIDE else _INSIDE
            self._strip = True
            s = s[i + len(tag):]
        return "".join(answer), "".join(reasoning)

    def flush(self) -> Tuple[str, str]:
        """The text still held back at the end: undecided text is answer; a cut tag is text as it stands."""
        rest = "".join(self._held) + self._pending
        self._held = []
        self._pending = ""
        if self._state == _INSIDE:
            return "", rest
        return rest, ""


def _join(first: Optional[str], second: str) -> Optional[str]:
    if not second:
        return first or None
    return (first or "") + second


def split_response(response: ChatResponse, mode: Union[bool, str] = True) -> ChatResponse:
    """A whole answer with its ``<think>`` text moved to ``reasoning_content`` (in place, and returned)."""
    for choice in response.choices:
        message = choice.message
        if isinstance(message.content, str) and message.content:
            splitter = ThinkTagSplitter(mode)
            answer, reasoning = splitter.feed(message.content)
            tail_answer, tail_reasoning = splitter.flush()
            message.content = answer + tail_answer
            message.reasoning_content = _join(message.reasoning_content, reasoning + tail_reasoning)
    if response.choices:
        first = response.choices[0].message
        response.content = first.text_content()
        response.reasoning_content = first.reasoning_content
    return response


def split_stream(chunks: Iterable[StreamingResponse], mode: Union[bool, str] = True) -> Iterator[StreamingResponse]:
    """The chunks with their ``<think>`` text moved to ``reasoning_content``; held-back text comes out with the
    chunk that carries the finish reason, or in one more chunk at the end."""
    splitters: Dict[int, ThinkTagSplitter] = {}
    last: Optional[StreamingResponse] = None
    for chunk in chunks:
        last = chunk
        for choice in chunk.choices:
            splitter = splitters.get(choice.index)
            if splitter is None:
                splitter = splitters[choice.index] = ThinkTagSplitter(mode)
            delta = choice.delta
            answer, reasoning = splitter.feed(delta.content) if delta.content else ("", "")
            if choice.finish_reason is not None:
                tail_answer, tail_reasoning = splitter.flush()
                answer += tail_answer
                reasoning += tail_reasoning
            if delta.content or answer or reasoning:
                delta.content = answer if answer or delta.content is not None else None
                delta.reasoning_content = _join(delta.reasoning_content, reasoning)
        _refresh(chunk)
        yield chunk
    leftovers = [(index, s.flush()) for index, s in splitters.items()]
    leftovers = [(index, pair) for index, pair in leftovers if pair[0] or pair[1]]
    if leftovers:
        yield _tail(last, leftovers)


def _refresh(chunk: StreamingResponse) -> None:
    if chunk.choices:
        first = chunk.choices[0].delta
        chunk.content = first.content or ""
        chunk.reasoning_content = first.reasoning_content or None


def _tail(last: Any, leftovers: List[Tuple[int, Tuple[str, str]]]) -> StreamingResponse:
    from .types import Delta, StreamingChoice

    choices = [StreamingChoice(index, Delta(None, answer or None, reasoning or None))
               for index, (answer, reasoning) in leftovers]
    chunk = StreamingResponse(getattr(last, "id", ""), "chat.completion.chunk", getattr(last, "created", 0),
                              getattr(last, "model", ""), choices)
    _refresh(chunk)
    return chunk
