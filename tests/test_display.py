"""Notebook display: short reprs, Markdown/HTML reprs, and ``stream.display()`` live and in a terminal."""

import io
import os
import subprocess
import sys
import types

import pytest
from helpers import chunk, sse

from llm_connector import ChatRequest, ChatResponse, LlmClient, Message, StreamingResponse, ToolCall, Usage
from llm_connector.display import in_notebook
from llm_connector.testing import Pause, Reply


def request():
    return ChatRequest(model="m", messages=[Message.user("hi")])


def answered(server, *parts):
    server.add(Reply(parts=sse(*parts)))
    return LlmClient.openai("k", base_url=server.url, max_retries=0).chat_stream(request())


def a_response():
    response = LlmClient.mock(reply="The answer is <b>4</b>", reasoning="2 + 2 = 4").chat(request())
    response.usage = Usage(5, 6, 11)
    return response


# -- reprs --------------------------------------------------------------------------------------------------

def test_an_empty_response_repr_lists_nothing():
    assert repr(ChatResponse()) == "ChatResponse()"
    assert repr(StreamingResponse()) == "StreamingResponse()"


def test_response_repr_shows_only_what_is_set():
    text = repr(a_response())
    assert text == ("ChatResponse(id='mock-1', model='m', content='The answer is <b>4</b>', "
                    "reasoning_content='2 + 2 = 4', finish_reason='stop', "
                    "usage=Usage(prompt_tokens=5, completion_tokens=6, total_tokens=11))")
    assert "None" not in text


def test_repr_cuts_a_long_answer_and_names_tool_calls_and_extra_choices():
    response = LlmClient.mock(reply="x" * 1000).chat(request())
    assert "x" * 200 + "…'" in repr(response) and "x" * 201 not in repr(response)
    calls = LlmClient.mock(tool_calls=[ToolCall.create("c1", "weather", {"city": "Oslo"})]).chat(request())
    assert "tool_calls=[weather({\"city\":\"Oslo\"}) #c1]" in repr(calls)
    calls.choices.append(calls.choices[0])
    assert "choices=<2>" in repr(calls)


def test_chunk_repr_shows_its_piece_only():
    chunks = list(LlmClient.mock(reply="Hi").chat_stream(request()))
    assert [repr(c) for c in chunks[:2]] == ["StreamingResponse(id='mock-1', model='m', content='Hi')",
                                             "StreamingResponse(id='mock-1', model='m', finish_reason='stop')"]


def test_markdown_folds_the_reasoning_before_the_answer_and_ends_with_finish_and_usage():
    md = a_response()._repr_markdown_()
    assert md.startswith("<details><summary>Reasoning</summary>\n\n2 + 2 = 4\n\n</details>")
    assert md.index("</details>") < md.index("The answer is <b>4</b>")
    assert md.endswith("*finish: stop · model: m · 5 prompt + 6 completion = 11 tokens*")


def test_html_escapes_the_texts_and_folds_the_reasoning():
    page = a_response()._repr_html_()
    assert "The answer is &lt;b&gt;4&lt;/b&gt;" in page and "<b>4</b>" not in page
    assert "<details><summary" in page and page.index("2 + 2 = 4") < page.index("The answer")


def test_html_and_markdown_list_tool_calls():
    response = LlmClient.mock(tool_calls=[ToolCall.create("c1", "weather", {"city": "Oslo"})]).chat(request())
    assert "- `weather` `{\"city\":\"Oslo\"}` (c1)" in response._repr_markdown_()
    assert "<code>weather</code>" in response._repr_html_()


# -- display() outside a notebook ---------------------------------------------------------------------------

def test_display_prints_answer_to_stdout_reasoning_to_stderr_and_returns_the_response(server):
    stream = answered(server, chunk(reasoning="hmm"), chunk("Hel"), chunk("lo", finish="stop"))
    out, err = io.StringIO(), io.StringIO()
    response = stream.display(stdout=out, stderr=err, notebook=False)
    assert (out.getvalue(), err.getvalue()) == ("Hello\n", "hmm\n")
    assert (response.content, response.reasoning_content, response.finish_reason) == ("Hello", "hmm", "stop")
    assert stream.closed


class _InterruptingOut(io.StringIO):
    def write(self, text):  # the first piece of text arrives, then Ctrl-C
        super().write(text)
        if self.getvalue() == text:
            raise KeyboardInterrupt


def test_an_interrupt_during_display_closes_the_stream(server):
    server.add(Reply(parts=sse(chunk("a"), done=False) + [Pause(5.0)] + sse(chunk("b", finish="stop"))))
    stream = LlmClient.openai("k", base_url=server.url, max_retries=0).chat_stream(request())
    out = _InterruptingOut()
    with pytest.raises(KeyboardInterrupt):
        stream.display(stdout=out, stderr=io.StringIO(), notebook=False)
    assert stream.closed and out.getvalue() == "a\n"
    assert server.requests[0].closed_by_client.wait(2.0)


def test_display_outside_a_notebook_never_imports_ipython():
    code = ("import sys; from llm_connector import *; "
            "r = LlmClient.mock(reply='ok').chat_stream(ChatRequest(model='m', messages=[Message.user('x')]))"
            ".display(); print('IPython' in sys.modules, r.content)")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out == "ok\nFalse ok\n"


# -- display() in a notebook (a stand-in IPython kernel) ----------------------------------------------------

class _Handle:
    def __init__(self, shown):
        self.shown = shown

    def update(self, obj):
        self.shown.append(obj.data)


@pytest.fixture
def fake_kernel(monkeypatch):
    shown = []
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: types.SimpleNamespace(kernel=object())
    display_module = types.ModuleType("IPython.display")
    display_module.HTML = lambda data: types.SimpleNamespace(data=data)

    def display(obj, display_id=False):
        assert display_id is True
        shown.append(obj.data)
        return _Handle(shown)

    display_module.display = display
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display_module)
    return shown


def test_in_a_notebook_one_output_is_redrawn_and_ends_with_the_whole_answer(server, fake_kernel):
    assert in_notebook()
    stream = answered(server, chunk(reasoning="<think>"), chunk("Hel"), chunk("lo", finish="stop"))
    out = io.StringIO()
    response = stream.display(stdout=out)
    assert out.getvalue() == ""  # nothing printed: drawn in the notebook
    assert response.content == "Hello"
    first, last = fake_kernel[0], fake_kernel[-1]
    assert "<details open>" in first and "&lt;think&gt;" in first  # reasoning shown live, unfolded while alone
    assert last == response._repr_html_() and "<details>" in last  # folded once the answer is there
