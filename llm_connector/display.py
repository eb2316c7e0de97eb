"""Show a stream as it arrives: live in a Jupyter notebook, as plain text in a terminal.

``client.chat_stream(request).display()`` is the entry point (``ChatStream.display``). In a notebook the
answer is redrawn in one output area as chunks arrive, the reasoning folded apart from it; elsewhere the
answer is written to stdout and the reasoning to stderr, as the command line does. IPython is never
imported here: a notebook is recognised by an IPython kernel already running in this process.
"""

import importlib
import sys
import time
from typing import Any, Callable, List, Optional, TextIO

from ._render import live_html, to_html
from .types import ChatResponse, StreamingResponse

__all__ = ["show_stream", "in_notebook"]

#: Seconds between two redraws of the notebook output (each redraw sends the whole text so far).
REDRAW_INTERVAL = 0.1


def in_notebook() -> bool:
    """True when this code runs inside a Jupyter (IPython kernel) session."""
    ipython = sys.modules.get("IPython")  # not imported: only a running kernel has it loaded already
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001 - an odd IPython: treat as no notebook
        return False
    return shell is not None and getattr(shell, "kernel", None) is not None


def show_stream(stream: Any, accumulator: Any, *, stdout: Optional[TextIO] = None,
                stderr: Optional[TextIO] = None, notebook: Optional[bool] = None) -> ChatResponse:
    """Read ``stream`` to its end, showing text and reasoning as they arrive; return the ``ChatResponse``.

    ``accumulator`` adds the chunks up (a ``StreamAccumulator``). The stream is closed on every way out;
    a ``KeyboardInterrupt`` (the notebook's stop button, Ctrl-C) closes it and is raised again, with what
    arrived left on screen. ``notebook`` forces one mode (default: detected).
    """
    if notebook is None:
        notebook = in_notebook()
    sink = _NotebookSink() if notebook else _TextSink(stdout or sys.stdout, stderr or sys.stderr)
    try:
        for chunk in stream:
            accumulator.add(chunk)
            sink.chunk(chunk)
    finally:
        stream.close()
        response: ChatResponse = accumulator.result()
        sink.finish(response)
    return response


class _TextSink:
    """Answer to stdout, reasoning to stderr, written as they arrive."""

    def __init__(self, stdout: TextIO, stderr: TextIO) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.wrote_text = False
        self.wrote_reasoning = False

    def chunk(self, chunk: StreamingResponse) -> None:
        if chunk.reasoning_content:
            self.wrote_reasoning = True
            self.stderr.write(chunk.reasoning_content)
            self.stderr.flush()
        if chunk.content:
            self.wrote_text = True
            self.stdout.write(chunk.content)
            self.stdout.flush()

    def finish(self, response: ChatResponse) -> None:
        if self.wrote_reasoning:
            self.stderr.write("\n")
            self.stderr.flush()
        if self.wrote_text:
            self.stdout.write("\n")
            self.stdout.flush()


class _NotebookSink:
    """One output area, redrawn at most every ``REDRAW_INTERVAL`` seconds and once at the end."""

    def __init__(self, show: Optional[Callable[[str], Any]] = None) -> None:
        self.text: List[str] = []
        self.reasoning: List[str] = []
        self.last = 0.0
        self.handle: Any = None
        self._show = show

    def _draw(self, html: str) -> None:
        if self._show is not None:
            self._show(html)
            return
        # Only here: in a notebook IPython is loaded already (imported by name: it is no dependency of ours).
        ipython_display: Any = importlib.import_module("IPython.display")
        if self.handle is None:
            self.handle = ipython_display.display(ipython_display.HTML(html), display_id=True)
        else:
            self.handle.update(ipython_display.HTML(html))

    def chunk(self, chunk: StreamingResponse) -> None:
        if chunk.content:
            self.text.append(chunk.content)
        if chunk.reasoning_content:
            self.reasoning.append(chunk.reasoning_content)
        now = time.monotonic()
        if now - self.last >= REDRAW_INTERVAL:
            self.last = now
            self._draw(live_html("".join(self.text), "".join(self.reasoning) or None, reasoning_open=True))

    def finish(self, response: ChatResponse) -> None:
        self._draw(to_html(response))

