"""The command line: ``python -m llm_connector "prompt"`` (also the ``llm-connector`` command).

Streams a reply from the provider named by ``--provider`` or found in the environment, falling back to the
offline mock provider (and saying so on stderr). The answer goes to stdout, reasoning to stderr; every line is
flushed as it is written, so a pipe sees the stream as it comes. Errors are one line on stderr and a non-zero
exit, never a traceback; a reader that closes the pipe early (``| head -1``) ends the command quietly, exit
status 0, and the stream's connection is closed. When stderr is a terminal, the command shows that it is
waiting (elapsed seconds) until the first chunk, and each retry.
"""

import argparse
import difflib
import logging
import os
import sys
import threading
import time
from typing import Any, Dict, Iterator, List, Optional, TextIO

from ._version import __version__
from .client import LlmClient, detect_provider
from .errors import LlmConnectorError
from .presets import PRESETS
from .stream import StreamAccumulator
from .types import ChatRequest, ChatResponse, Message, StreamingResponse, compact_json

PROG = "llm-connector"
FORMATS = ("text", "json", "sse", "ndjson", "ollama")
DIM, RESET = "\x1b[2m", "\x1b[0m"


class UsageError(Exception):
    """The command line itself is wrong (exit status 2)."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Stream a reply from any LLM provider. Without --provider, the first provider whose key is "
        "in the environment is used, else the offline mock provider.",
    )
    p.add_argument("prompt", nargs="*", help="the prompt (read from stdin when absent or '-')")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    p.add_argument("--provider", "-p", help="provider name (see --list-providers)")
    p.add_argument("--model", "-m", help="model id (default: the provider's usual model)")
    p.add_argument("--base-url", help="override the provider's base URL (needs --provider)")
    p.add_argument("--api-key", help="API key (default: the provider's environment variable; needs --provider)")
    p.add_argument("--system", "-s", help="a system prompt")
    p.add_argument("--show-reasoning", action="store_true", help="print reasoning (thinking) on stderr")
    p.add_argument("--think", action="store_true",
                   help="ask for reasoning where the model has a switch (see it with --show-reasoning)")
    p.add_argument("--reasoning-effort", choices=("low", "medium", "high"),
                   help="how hard a reasoning model thinks (OpenAI o-series and compatible)")
    p.add_argument("--format", "-f", choices=FORMATS, default="text",
                   help="text (default); json: the whole response as one JSON document; sse / ndjson / "
                   "ollama (Ollama NDJSON): every chunk as it comes")
    p.add_argument("--max-tokens", type=int, help="cap on the reply's tokens")
    p.add_argument("--temperature", type=float,
                   help="sampling temperature: 0 for the most likely words, higher (up to 1 or 2) for more varied")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="connect timeout and longest silence between two bytes (default: 10 s to connect, "
                   "300 s of silence); a timeout before the answer starts is retried")
    p.add_argument("--deadline", type=float, metavar="SECONDS", help="cap on the whole call, retries included")
    p.add_argument("--max-retries", type=int, metavar="N", help="retries before the answer starts (default 2)")
    p.add_argument("--no-stream", action="store_true", help="wait for the whole answer instead of streaming")
    p.add_argument("--list-providers", action="store_true", help="list provider names and exit")
    p.add_argument("--list-models", action="store_true", help="list the provider's models and exit")
    return p


def _provider_name(args: argparse.Namespace, err: "_Writer") -> str:
    name: Optional[str] = args.provider
    if name is not None:
        known = LlmClient.supported_providers()
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else " (see --list-providers)"
            raise UsageError(f"unknown provider {name!r}{hint}")
        return name
    given = [flag for flag, value in (("--api-key", args.api_key), ("--base-url", args.base_url)) if value]
    if given:
        raise UsageError(f"{' and '.join(given)} need{'s' if len(given) == 1 else ''} --provider: "
                         "name the service they are for (see --list-providers)")
    name = detect_provider()
    if name is None:
        err.write(f"{PROG}: no provider key in the environment; using the offline mock provider\n")
        return "mock"
    err.write(f"{PROG}: using {name} (found its key in the environment)\n")
    return name


def _client(args: argparse.Namespace, err: "_Writer") -> LlmClient:
    name = _provider_name(args, err)
    if PRESETS[name].backend:  # not a service (the offline mock): nothing to read, no options
        return LlmClient.from_env(name)
    options: Dict[str, Any] = {}
    for option in ("base_url", "timeout", "deadline", "max_retries"):
        if getattr(args, option) is not None:
            options[option] = getattr(args, option)
    if args.api_key is not None:
        credentials = PRESETS[name].credentials
        if credentials:  # not one key: signed (AWS, Tencent) or a token with its parts (Vertex)
            variables = ", ".join(c.env[0] for c in credentials if c.env)
            raise UsageError(f"{name} takes no --api-key: it reads {variables or 'its credentials'} "
                             "from the environment")
        return LlmClient(name, args.api_key, **options)
    preset = PRESETS[name]
    if not (args.base_url or preset.base_url or preset.url_template or preset.base_url_env):
        raise UsageError(f"{name} needs --base-url (the service's URL, e.g. http://host:8000/v1)")
    return LlmClient.from_env(name, **options)  # a provider that needs no key is built without one


def _prompt(args: argparse.Namespace, stdin: TextIO) -> str:
    if args.prompt and args.prompt != ["-"]:
        text = " ".join(args.prompt)
        where = "the prompt"
    else:
        if stdin.isatty():
            raise UsageError("no prompt: give one as an argument or on stdin")
        text = stdin.read()
        where = "the prompt read from stdin"
    if not text.strip():
        raise UsageError(f"{where} is empty")
    return text.strip()


def _model(args: argparse.Namespace, client: LlmClient) -> str:
    if args.model:
        return str(args.model)
    name = client.provider_name
    preset = PRESETS.get(name)
    if preset is not None and preset.default_model:
        return preset.default_model
    raise UsageError(f"{name} has no default model: name one with --model")


class _Writer:
    """A text stream that is flushed at every write and knows whether its last line is unfinished."""

    def __init__(self, stream: TextIO, dim: bool = False) -> None:
        self.stream = stream
        self.mid_line = False
        self.dim = dim

    def write(self, text: str, dim: bool = False) -> None:
        if not text:
            return
        self.stream.write(DIM + text + RESET if dim and self.dim else text)
        self.stream.flush()
        self.mid_line = not text.endswith("\n")

    def end_line(self) -> None:
        if self.mid_line:
            self.write("\n")


class _Waiting:
    """On a terminal: ``waiting for <provider>... 12s`` on stderr until the first chunk; retry lines."""

    def __init__(self, err: _Writer, provider: str) -> None:
        self.err = err
        self.provider = provider
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.shown = False
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._run, name="llm-connector-waiting", daemon=True)

    def __enter__(self) -> "_Waiting":
        self.handler = _RetryLines(self)
        logger = logging.getLogger("llm_connector")
        self.level = logger.level
        logger.addHandler(self.handler)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        logger = logging.getLogger("llm_connector")
        logger.removeHandler(self.handler)
        logger.setLevel(self.level)

    def _run(self) -> None:
        while not self.stopped.wait(1.0):
            with self.lock:
                if not self.stopped.is_set():
                    elapsed = time.monotonic() - self.started
                    self.err.stream.write(f"\r{PROG}: waiting for {self.provider}... {elapsed:.0f}s\x1b[K")
                    self.err.stream.flush()
                    self.shown = True

    def note(self, line: str) -> None:
        with self.lock:
            self._clear()
            self.err.stream.write(line + "\n")
            self.err.stream.flush()

    def stop(self) -> None:
        if self.stopped.is_set():
            return
        with self.lock:
            self.stopped.set()
            self._clear()

    def _clear(self) -> None:
        if self.shown:
            self.err.stream.write("\r\x1b[K")
            self.err.stream.flush()
            self.shown = False


class _RetryLines(logging.Handler):
    def __init__(self, waiting: _Waiting) -> None:
        super().__init__(logging.INFO)
        self.waiting = waiting

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "attempt"):  # the transport's retry records
            self.waiting.note(f"{PROG}: {record.getMessage()}")


class _NoWaiting:
    def __enter__(self) -> "_NoWaiting":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass

    def stop(self) -> None:
        pass


def run(argv: Optional[List[str]] = None, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr,
        stdin: TextIO = sys.stdin) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    out = _Writer(stdout)
    err = _Writer(stderr, dim=_is_terminal(stderr) and not os.environ.get("NO_COLOR"))
    try:
        if args.list_providers:
            for name in LlmClient.supported_providers():
                preset = PRESETS.get(name)
                description = preset.description if preset else "offline mock provider"
                out.write(f"{name:<26} {description}\n")
            return 0
        client = _client(args, err)
        if args.list_models:
            for model in client.models():
                out.write(model + "\n")
            return 0
        request = _request(args, client, stdin)
        waiting = _Waiting(err, client.provider_name) if _is_terminal(stderr) else _NoWaiting()
        with waiting:
            if args.no_stream:
                _print_response(client, request, args, out, err, waiting)
            else:
                _print_stream(client, request, args, out, err, waiting)
        return 0
    except BrokenPipeError:  # the reader is gone (`| head -1`): a quiet end, like `yes | head`
        _silence(stdout)
        return 0
    except (LlmConnectorError, UsageError) as exc:
        _end_lines(out, err)
        err.write(f"{PROG}: error: {exc}\n")
        return 2 if isinstance(exc, UsageError) else 1
    except KeyboardInterrupt:
        _end_lines(out, err)
        return 130


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _end_lines(out: _Writer, err: _Writer) -> None:
    """Finish a partial line of answer or reasoning, so that what follows starts on its own line."""
    try:
        out.end_line()
    except (BrokenPipeError, ValueError):
        _silence(out.stream)
    err.end_line()


def _silence(stdout: TextIO) -> None:
    """Point a closed stdout at /dev/null, so that the interpreter's last flush does not complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # not a real file (tests pass a StringIO)
        pass


def _request(args: argparse.Namespace, client: LlmClient, stdin: TextIO) -> ChatRequest:
    prompt = _prompt(args, stdin)
    model = _model(args, client)
    messages = [Message.system(args.system)] if args.system else []
    messages.append(Message.user(prompt))
    return ChatRequest(model=model, messages=messages, max_tokens=args.max_tokens, temperature=args.temperature,
                       enable_thinking=True if args.think else None, reasoning_effort=args.reasoning_effort)


def _print_response(client: LlmClient, request: ChatRequest, args: argparse.Namespace, out: _Writer,
                    err: _Writer, waiting: Any) -> None:
    response = client.chat(request)
    waiting.stop()
    fmt = args.format
    if fmt == "text":
        if args.show_reasoning and response.reasoning_content:
            err.write(response.reasoning_content, dim=True)
            err.write("\n")
        out.write(response.content + "\n")
    elif fmt == "json":
        out.write(response.to_json() + "\n")
    elif fmt == "sse":
        out.write(response.to_sse())
        out.write("data: [DONE]\n\n")
    elif fmt == "ndjson":
        out.write(response.to_ndjson())
    else:
        out.write(compact_json(_ollama_answer(response)) + "\n")


def _ollama_answer(response: ChatResponse) -> Dict[str, Any]:
    from .protocols import ollama

    answer: Dict[str, Any] = ollama.encode_response(response)
    return answer


def _print_stream(client: LlmClient, request: ChatRequest, args: argparse.Namespace, out: _Writer,
                  err: _Writer, waiting: Any) -> None:
    fmt = args.format
    if fmt == "ollama":
        with client.chat_stream_ollama(request) as ostream:
            for ochunk in ostream:
                waiting.stop()
                out.write(ochunk.to_ndjson())
        return
    with client.chat_stream(request) as stream:
        if fmt == "json":
            collected = StreamAccumulator()
            for chunk in stream:
                waiting.stop()
                collected.add(chunk)
            out.write(collected.result().to_json() + "\n")
        elif fmt == "text":
            _print_text(stream, args.show_reasoning, out, err, waiting)
        else:
            for chunk in stream:
                waiting.stop()
                out.write(chunk.to_sse() if fmt == "sse" else chunk.to_ndjson())
            if fmt == "sse":
                out.write("data: [DONE]\n\n")


def _print_text(stream: Iterator[StreamingResponse], show_reasoning: bool, out: _Writer, err: _Writer,
                waiting: Any) -> None:
    for chunk in stream:
        waiting.stop()
        if show_reasoning and chunk.reasoning_content:
            err.write(chunk.reasoning_content, dim=True)
        if chunk.content:
            err.end_line()  # the reasoning ends on its own line, apart from the answer
            out.write(chunk.content)
    err.end_line()
    out.write("\n")


def main() -> None:
    """Entry point of the ``llm-connector`` command."""
    sys.exit(run())


if __name__ == "__main__":
    main()
