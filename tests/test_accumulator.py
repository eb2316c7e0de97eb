"""The accumulator behind ``collect()``: its short path for the common chunk agrees with the long one, its text
costs about its length in memory, and a stream adds chunks up only while something could ask for their sum."""

import tracemalloc

from helpers import chunk, sse
from hypothesis import given, settings
from hypothesis import strategies as st

import llm_connector.stream as stream_module
from llm_connector import (
    ChatRequest,
    Delta,
    FunctionCall,
    LlmClient,
    Message,
    StreamAccumulator,
    StreamingChoice,
    StreamingResponse,
    ToolCall,
    Usage,
)
from llm_connector.testing import Reply

_texts = st.one_of(st.none(), st.sampled_from(["", "a", "bc", "déf", "\u2028"]))


@st.composite
def _chunks(draw):
    """One chunk of any shape the accumulator reads: mostly the common one (choice 0, text only)."""
    kind = draw(st.sampled_from(["text"] * 6 + ["reasoning", "finish", "usage", "tool", "other_choice", "two",
                                                  "empty", "meta"]))
    ident = draw(st.sampled_from(["", "id1", "id2"]))
    model = draw(st.sampled_from(["", "m1", "m2"]))
    created = draw(st.sampled_from([0, 1, 2]))
    fingerprint = draw(st.sampled_from([None, "", "fp1", "fp2"]))
    text = draw(_texts)
    usage = None
    choices = []
    if kind in ("text", "meta"):
        choices = [StreamingChoice(0, Delta(draw(st.sampled_from([None, "assistant"])), text))]
    elif kind == "reasoning":
        choices = [StreamingChoice(0, Delta(None, text, draw(st.sampled_from(["r", "s"]))))]
    elif kind == "finish":
        reason = draw(st.sampled_from(["stop", "length"]))
        choices = [StreamingChoice(0, Delta(None, text), reason, draw(st.sampled_from([None, reason.upper()])))]
    elif kind == "usage":
        usage = Usage(draw(st.integers(0, 9)), 1, 2)
        choices = [StreamingChoice(0, Delta(None, text))]
    elif kind == "tool":
        choices = [StreamingChoice(0, Delta(None, text, None, [ToolCall("c", "function", FunctionCall("f", "{"), 0)]))]
    elif kind == "other_choice":
        choices = [StreamingChoice(1, Delta(None, text))]
    elif kind == "two":
        choices = [StreamingChoice(1, Delta(None, "x")), StreamingChoice(0, Delta(None, text))]
    return StreamingResponse(ident, "chat.completion.chunk", created, model, choices, "", None, usage, fingerprint)


def _expected(chunks):
    """What the chunks add up to, written the plain way: every field of every chunk looked at."""
    first = lambda values: next((v for v in values if v), None)  # noqa: E731
    texts, reasons, finish, tools = {}, {}, {}, set()
    for c in chunks:
        for ch in c.choices:
            if ch.delta.content:
                texts[ch.index] = texts.get(ch.index, "") + ch.delta.content
            if ch.delta.reasoning_content:
                reasons[ch.index] = reasons.get(ch.index, "") + ch.delta.reasoning_content
            if ch.delta.tool_calls:
                tools.add(ch.index)
            if ch.finish_reason is not None or ch.finish_reason_raw is not None:
                finish[ch.index] = (ch.finish_reason, ch.finish_reason_raw)
            else:
                finish.setdefault(ch.index, (None, None))
    indexes = sorted(set(texts) | set(reasons) | tools | set(finish)) or [0]
    return {
        "id": first(c.id for c in chunks) or "", "model": first(c.model for c in chunks) or "",
        "created": first(c.created for c in chunks) or 0,
        "fingerprint": first(c.system_fingerprint for c in reversed(chunks)),
        "usage": next((c.usage for c in reversed(chunks) if c.usage is not None), None),
        "choices": [(i, texts.get(i, None if i in tools else ""), reasons.get(i), finish.get(i, (None, None)))
                    for i in indexes],
    }


def _got(result):
    return {
        "id": result.id, "model": result.model, "created": result.created,
        "fingerprint": result.system_fingerprint or None, "usage": result.usage,
        "choices": [(c.index, c.message.content, c.message.reasoning_content, (c.finish_reason, c.finish_reason_raw))
                    for c in result.choices],
    }


@settings(max_examples=300, deadline=None)
@given(st.lists(_chunks(), max_size=40), st.sampled_from([1, 2, 3, 256]))
def test_the_short_path_adds_up_what_the_long_one_would(chunks, block):
    saved, stream_module._BLOCK = stream_module._BLOCK, block  # small blocks: joins happen in short lists too
    try:
        acc = StreamAccumulator()
        for c in chunks:
            acc.add(c)
    finally:
        stream_module._BLOCK = saved
    assert _got(acc.result()) == _expected(chunks)


def test_text_costs_about_its_length_in_memory_not_an_object_per_piece():
    pieces = 60_000
    acc = StreamAccumulator()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for i in range(pieces):
            text = chr(97 + i % 26) * 3  # a new 3-character str each time (one character strings are shared)
            acc.add(StreamingResponse("id", "chat.completion.chunk", 1, "m", [StreamingChoice(0, Delta(None, text))]))
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert acc.result().content.startswith("aaabbbccc") and len(acc.result().content) == 3 * pieces
    # 180 KB of text; a str per piece in a list would be about 60 bytes a piece (3.6 MB)
    assert grown < 600_000, grown


def _long_reply(pieces=12000, size=200):
    return Reply(parts=sse(*(chunk(chr(97 + n % 26) * size) for n in range(pieces)), chunk("", finish="stop")))


def _peak_while(run):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak() if hasattr(tracemalloc, "reset_peak") else None
        base = tracemalloc.get_traced_memory()[0]
        run()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_a_loop_over_an_unheld_stream_adds_nothing_up_and_a_held_stream_collects_everything(server):
    """Nothing can call collect() on ``for c in client.chat_stream(r)``: its 2.4 MB of text is not kept (what the
    loop allocates is bounded by the reads, whatever the stream's length). The same loop over a stream held in a
    variable keeps it, for a later collect()."""
    client = LlmClient.openai("k", base_url=server.url, max_retries=0)
    request = ChatRequest(model="m", messages=[Message.user("hi")])
    server.add(_long_reply(pieces=5))
    server.add(_long_reply())
    server.add(_long_reply())
    client.chat_stream(request).collect()  # warm: the connection, the imports
    counted = []

    def unheld():
        n = 0
        for c in client.chat_stream(request):
            n += len(c.content)
        counted.append(n)

    held_stream = []

    def held():
        s = client.chat_stream(request)
        for _ in s:
            pass
        held_stream.append(s)

    unheld_peak = _peak_while(unheld)
    held_peak = _peak_while(held)
    assert counted == [2_400_000]
    assert held_stream[0].collect().content == "".join(chr(97 + n % 26) * 200 for n in range(12000))
    assert held_peak > 2_400_000, held_peak  # the measure can see the text kept
    assert unheld_peak < 1_000_000, unheld_peak  # measured: 0.16-0.41 MB


def test_dropping_a_stream_mid_loop_stops_the_adding_up(server):
    server.add(_long_reply(pieces=10))
    client = LlmClient.openai("k", base_url=server.url, max_retries=0)
    s = client.chat_stream(ChatRequest(model="m", messages=[Message.user("hi")]))
    it = iter(s)
    next(it)
    closer = s._closer
    assert closer.keep is not None
    del s
    assert closer.keep is None
    assert len(list(it)) == 10  # the loop goes on, the connection with it
