"""Inline ``<think>`` reasoning moved to ``reasoning_content`` (the ``think_tags`` client option)."""

import pytest
from helpers import chunk, sse
from hypothesis import example, given, settings
from hypothesis import strategies as st

from llm_connector import ChatRequest, LlmClient, Message
from llm_connector.testing import Reply
from llm_connector.thinktags import ThinkTagSplitter


def split_whole(text, mode=True):
    splitter = ThinkTagSplitter(mode)
    answer, reasoning = splitter.feed(text)
    tail = splitter.flush()
    return answer + tail[0], reasoning + tail[1]


def split_pieces(pieces, mode=True):
    splitter = ThinkTagSplitter(mode)
    answers, reasonings = [], []
    for piece in pieces:
        answer, reasoning = splitter.feed(piece)
        answers.append(answer)
        reasonings.append(reasoning)
    answer, reasoning = splitter.flush()
    return "".join(answers) + answer, "".join(reasonings) + reasoning


@pytest.mark.parametrize("text, mode, expected", [
    ("<think>\nstep by step\n</think>\n\nThe answer.", True, ("The answer.", "step by step\n")),
    ("step by step</think>\n\nThe answer.", True, ("The answer.", "step by step")),
    ("no tags at all", True, ("no tags at all", "")),
    ("Answer <think>aside</think> more", True, ("Answer more", "aside")),
    ("reasoning</think>answer", "open", ("answer", "reasoning")),
    ("<think>never closed", True, ("", "never closed")),
    ("a <thin", True, ("a <thin", "")),
    ("1 < 2 and <b>bold</b>", True, ("1 < 2 and <b>bold</b>", "")),
])
def test_tagged_text_is_split_into_answer_and_reasoning(text, mode, expected):
    assert split_whole(text, mode) == expected


pieces_alphabet = st.sampled_from(["<think>", "</think>", "<", ">", "/", "t", "h", "i", "n", "k", "a", " ", "\n",
                                   "<thi", "nk>", "</th", "ink>", "思", "x"])


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(pieces_alphabet, max_size=30), cuts=st.lists(st.integers(0, 400), max_size=12),
       mode=st.sampled_from([True, "open"]))
@example(parts=["<think>", "abc", "</think>", "answer"], cuts=[3, 5, 10, 13], mode=True)
@example(parts=["abc", "</think>", "answer"], cuts=[4, 6], mode=True)
def test_any_split_of_a_tagged_text_gives_the_same_answer_and_reasoning_as_the_whole(parts, cuts, mode):
    text = "".join(parts)
    points = sorted({c % (len(text) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points:
        pieces.append(text[last:p])
        last = p
    pieces.append(text[last:])
    assert split_pieces(pieces, mode) == split_whole(text, mode)
    assert split_pieces(list(text), mode) == split_whole(text, mode)  # one character per chunk


# -- through the client --------------------------------------------------------------------------------------


def client_for(server, **kw):
    return LlmClient.openai_compatible("sk-test", server.url + "/v1", max_retries=0, **kw)


REQUEST = ChatRequest(model="qwen3-8b", messages=[Message.user("hi")])


def test_a_stream_with_tags_split_across_chunks_gives_reasoning_apart(server):
    server.add(Reply.sse(*[chunk(t) for t in ["<thi", "nk>Let me", " think.</th", "ink>\n\nHel", "lo"]],
                         chunk(finish="stop"), done=True))
    chunks = list(client_for(server, think_tags=True).chat_stream(REQUEST))
    assert "".join(c.content for c in chunks) == "Hello"
    assert "".join(c.reasoning_content or "" for c in chunks) == "Let me think."
    assert all("<" not in c.content for c in chunks)


def test_collect_and_chat_stream_ollama_see_the_moved_reasoning(server):
    parts = [chunk(t) for t in ["Let me", " think.</think>", "Hi"]] + [chunk(finish="stop")]
    server.add(Reply.sse(*parts, done=True))
    server.add(Reply.sse(*parts, done=True))
    client = client_for(server, think_tags=True)
    reply = client.chat_stream(REQUEST).collect()
    assert (reply.content, reply.reasoning_content) == ("Hi", "Let me think.")
    ollama = list(client.chat_stream_ollama(REQUEST))
    assert "".join(c.message.content for c in ollama) == "Hi"
    assert "".join(c.message.thinking or "" for c in ollama) == "Let me think."


def test_text_held_back_before_a_tag_comes_out_at_the_end_of_a_stream_without_tags(server):
    server.add(Reply.sse(chunk("plain "), chunk("answer"), chunk(finish="stop"), done=True))
    reply = client_for(server, think_tags=True).chat_stream(REQUEST).collect()
    assert (reply.content, reply.reasoning_content) == ("plain answer", None)


def test_a_whole_answer_is_split_too(server):
    server.add(Reply.json({"choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "<think>step by step</think>final answer"}}]}))
    reply = client_for(server, think_tags=True).chat(REQUEST)
    assert (reply.content, reply.reasoning_content) == ("final answer", "step by step")
    assert reply.choices[0].message.content == "final answer"


def test_think_tags_are_off_by_default(server):
    server.add(Reply.sse(chunk("<think>r</think>a"), chunk(finish="stop"), done=True))
    reply = client_for(server).chat_stream(REQUEST).collect()
    assert (reply.content, reply.reasoning_content) == ("<think>r</think>a", None)


def test_open_mode_streams_reasoning_at_once(server):
    server.add(Reply(200, {"Content-Type": "text/event-stream"},
                     sse(chunk("first thought"), chunk("</think>answer"), chunk(finish="stop"))))
    chunks = list(client_for(server, think_tags="open").chat_stream(REQUEST))
    assert chunks[0].reasoning_content == "first thought"  # not held back
    assert "".join(c.content for c in chunks) == "answer"


def test_the_minimax_preset_has_think_tags_on_and_the_client_can_turn_them_off(server):
    parts = [chunk("<think>plan</think>"), chunk("answer"), chunk(finish="stop")]
    server.add(Reply.sse(*parts, done=True))
    server.add(Reply.sse(*parts, done=True))
    on = LlmClient.minimax("mm-key", base_url=server.url + "/v1", max_retries=0)
    reply = on.chat_stream(ChatRequest(model="MiniMax-M2", messages=[Message.user("hi")])).collect()
    assert (reply.content, reply.reasoning_content) == ("answer", "plan")
    off = LlmClient.minimax("mm-key", base_url=server.url + "/v1", max_retries=0, think_tags=False)
    reply = off.chat_stream(ChatRequest(model="MiniMax-M2", messages=[Message.user("hi")])).collect()
    assert (reply.content, reply.reasoning_content) == ("<think>plan</think>answer", None)
