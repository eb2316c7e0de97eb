"""Many requests from plain synchronous code: ``client.chat_batch(requests)``.

``chat_batch`` sends the requests from a few threads and yields one :class:`BatchResult` per request, in the
input's order (``ordered=True``) or as they finish. It is built to survive long runs:

- **One failed item never stops the batch**: its result carries the typed error instead of a response.
- **One shared backoff.** Retries are made here, not per thread: a rate limit or an overload (429, 503, 529,
  or any answer with ``Retry-After``) pauses *every* thread — for the ``Retry-After`` the service asked (up
  to ``MAX_RETRY_DELAY``), else an exponential backoff with jitter — because a rate limit belongs to the key,
  not to one thread. The first success after it resets the backoff. Other passing failures (a connection
  reset, a stream cut short, a timeout, another 5xx) are retried by their own thread after its own backoff.
- **Ctrl-C stops cleanly**: in-flight streams are closed, the results that finished are still yielded, then
  the iteration ends and ``BatchRun.interrupted`` is True (the command line exits 130).
- **The HTTP pool is sized to the concurrency** (a pool of its own for the run, unless the client was given
  its own ``session``).
- **Progress on stderr** when it is a terminal: tqdm when installed, a one-line display otherwise, nothing
  when stderr is not a terminal; or a callback of your own (for notebooks).

>>> from llm_connector import LlmClient, ChatRequest, Message
>>> client = LlmClient.mock(reply="ok")
>>> prompts = {"a": "one", "b": "two"}
>>> requests = [(key, ChatRequest(model="m", messages=[Message.user(p)])) for key, p in prompts.items()]
>>> [(r.id, r.response.content) for r in client.chat_batch(requests, concurrency=2)]
[('a', 'ok'), ('b', 'ok')]

The same engine runs the ``llm-connector-batch`` command (``python -m llm_connector.batch``); see
:func:`main`.
"""

import copy
import importlib
import queue
import random
import sys
import threading
import time
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    Hashable,
    Iterable,
    Iterator,
    List,
    Optional,
    Set,
    TextIO,
    Tuple,
    Union,
)

from .errors import (
    APIStatusError,
    ConfigurationError,
    IncompleteStreamError,
    LlmConnectorError,
    OverloadedError,
)
from .transport import MAX_RETRY_DELAY, Transport, _make_session, _retryable
from .types import ChatRequest, ChatResponse

if TYPE_CHECKING:  # pragma: no cover
    from .client import LlmClient

__all__ = ["BatchResult", "BatchProgress", "BatchRun", "SharedBackoff", "run_batch", "main"]

#: First and largest wait of the shared backoff (seconds) when the service named none.
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 16.0
#: Retries per item by default (each item is tried up to ``max_retries + 1`` times).
DEFAULT_MAX_RETRIES = 4
#: Seconds between two redraws of the progress line.
PROGRESS_INTERVAL = 0.2

BatchItem = Union[ChatRequest, Tuple[Hashable, ChatRequest]]
ProgressOption = Union[None, bool, Callable[["BatchProgress"], Any]]


class BatchResult:
    """The outcome of one request of a batch.

    ``index``: its position in the input; ``id``: the caller's id (the first of a ``(id, request)`` pair), or
    None; ``response``: the ``ChatResponse``, or None when ``error`` (the typed error of the last try) is set;
    ``attempts``: how many times it was sent; ``elapsed``: seconds from its first try to its end, waits included;
    ``request_id``: the service's request id of the answer, when it sent one.
    """

    __slots__ = ("index", "id", "response", "error", "attempts", "elapsed", "request_id")

    def __init__(self, index: int, id: Any = None, response: Optional[ChatResponse] = None,
                 error: Optional[BaseException] = None, attempts: int = 0, elapsed: float = 0.0,
                 request_id: Optional[str] = None) -> None:
        self.index = index
        self.id = id
        self.response = response
        self.error = error
        self.attempts = attempts
        self.elapsed = elapsed
        self.request_id = request_id

    @property
    def ok(self) -> bool:
        """True when the request was answered."""
        return self.error is None and self.response is not None

    def __repr__(self) -> str:
        what = f"error={self.error!r}" if self.error is not None else f"response={self.response!r}"
        ident = f", id={self.id!r}" if self.id is not None else ""
        return f"BatchResult(index={self.index}{ident}, {what}, attempts={self.attempts}, elapsed={self.elapsed:.2f})"


class BatchProgress:
    """Where a batch stands; what a progress callback receives after each finished request.

    ``total`` is None when the input has no length. ``rate`` is requests per second, ``eta`` seconds left.
    """

    __slots__ = ("done", "total", "errors", "tokens", "elapsed", "finished")

    def __init__(self, done: int, total: Optional[int], errors: int, tokens: int, elapsed: float,
                 finished: bool = False) -> None:
        self.done = done
        self.total = total
        self.errors = errors
        self.tokens = tokens
        self.elapsed = elapsed
        self.finished = finished

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> Optional[float]:
        if self.total is None or not self.done:
            return None
        return max(0.0, (self.total - self.done) / self.rate) if self.rate else None

    def line(self) -> str:
        """``412/1000 41% 52.1/s ETA 0:11 errors 3 tokens 51,230``."""
        total = "?" if self.total is None else str(self.total)
        percent = f" {100 * self.done // self.total:3d}%" if self.total else ""
        eta = "" if self.eta is None else f" ETA {_clock(self.eta)}"
        return (f"{self.done}/{total}{percent} {self.rate:.1f}/s{eta} errors {self.errors} "
                f"tokens {self.tokens:,}")

    def __repr__(self) -> str:
        return f"BatchProgress({self.line()})"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class SharedBackoff:
    """One pause for every thread of a batch.

    ``wait()`` blocks while a pause is on (False when the batch is stopping); ``failed(error)`` starts or
    lengthens the pause; ``succeeded()`` resets the exponential level. Failures that arrive while a pause is
    already on (the other threads' requests, sent before it) lengthen it without raising the level.
    """

    def __init__(self, stop: threading.Event, first: Optional[float] = None, largest: Optional[float] = None) -> None:
        self._stop = stop
        self._lock = threading.Lock()
        self._resume_at = 0.0
        self._level = 0
        self._first = BACKOFF_FIRST if first is None else first
        self._largest = BACKOFF_MAX if largest is None else largest
        self.pauses = 0

    def wait(self) -> bool:
        while True:
            with self._lock:
                left = self._resume_at - time.monotonic()
            if left <= 0:
                return not self._stop.is_set()
            if self._stop.wait(left):
                return False

    def failed(self, error: BaseException) -> float:
        """Pause everyone for the wait ``error`` asks for (``Retry-After``) or the next backoff step."""
        asked = error.retry_after if isinstance(error, APIStatusError) else None
        with self._lock:
            now = time.monotonic()
            if asked is not None:
                delay = float(asked)
            else:
                if now >= self._resume_at:
                    self._level += 1
                step = self._first * (2.0 ** (max(self._level, 1) - 1))
                delay = _jitter(min(step, self._largest))
            if now + delay > self._resume_at:
                self._resume_at = now + delay
                self.pauses += 1
            return delay

    def succeeded(self) -> None:
        with self._lock:
            self._level = 0


def _jitter(seconds: float) -> float:
    return seconds * (0.75 + random.random() * 0.5)


_SHARED_STATUSES = frozenset({429, 503, 529})


def _shared(error: BaseException) -> bool:
    """A failure that says the service wants everyone to slow down (the key's rate limit, an overload)."""
    return isinstance(error, APIStatusError) and (
        error.status_code in _SHARED_STATUSES or error.retry_after is not None or isinstance(error, OverloadedError))


def _retryable_in_batch(error: BaseException) -> bool:
    if not isinstance(error, LlmConnectorError):
        return False
    if isinstance(error, APIStatusError) and error.retry_after is not None and error.retry_after > MAX_RETRY_DELAY:
        return False  # the service asks for longer than we wait: the error goes to the caller
    # A stream cut short is safe to send again here: its partial answer is thrown away.
    return isinstance(error, IncompleteStreamError) or _retryable(error)


def _batch_client(client: "LlmClient", concurrency: int) -> Tuple["LlmClient", Optional[Transport]]:
    """A view of ``client`` for one batch: no retries of its own (the batch's shared backoff does them), and
    a connection pool sized to ``concurrency`` unless the caller gave the client its own session. Returns the
    view and the transport whose session the batch must close, if any."""
    backend = getattr(client, "_backend", None)
    transport = getattr(backend, "transport", None)
    if not isinstance(transport, Transport):
        return client, None  # the mock provider, or a backend without HTTP
    view = copy.copy(transport)
    view.max_retries = 0
    owned = None
    if transport._own_session:
        view.session = _make_session(max(concurrency, 1))
        owned = view
    view._own_session = False  # the client's close() must not close the batch's pool, nor the reverse
    view_backend: Any = copy.copy(backend)
    view_backend.transport = view
    return type(client)._with_backend(view_backend, client.provider_name), owned


def _normalize(index: int, item: Any) -> Tuple[Any, Optional[ChatRequest], Optional[BaseException]]:
    """``(id, request, error)`` for one input item."""
    ident: Any = None
    request = item
    if isinstance(item, tuple) and len(item) == 2:
        ident, request = item
    if not isinstance(request, ChatRequest):
        return ident, None, ConfigurationError(
            f"chat_batch: item {index} is not a ChatRequest or an (id, ChatRequest) pair: "
            f"{type(request).__name__}")
    return ident, request, None


class _Work:
    """The state the worker threads share."""

    def __init__(self, client: "LlmClient", max_retries: int, stop: threading.Event) -> None:
        self.client = client
        self.max_retries = max_retries
        self.stop = stop
        self.backoff = SharedBackoff(stop)
        self.todo: queue.Queue[Optional[Tuple[int, Any, ChatRequest]]] = queue.Queue()
        self.done: queue.Queue[BatchResult] = queue.Queue()
        self.lock = threading.Lock()
        self.open_streams: Set[Any] = set()

    def run(self) -> None:
        while True:
            job = self.todo.get()
            if job is None:
                return
            result = self.answer(*job)
            if result is not None:
                self.done.put(result)

    def answer(self, index: int, ident: Any, request: ChatRequest) -> Optional[BatchResult]:
        """The item's result; None when the batch stopped before it finished."""
        started = time.monotonic()
        attempts = 0
        while True:
            if not self.backoff.wait():
                return None
            attempts += 1
            try:
                response, request_id = self._once(request)
            except Exception as exc:  # noqa: BLE001 - one failed item never stops the batch
                if self.stop.is_set():
                    return None
                if attempts <= self.max_retries and _retryable_in_batch(exc):
                    if _shared(exc):
                        self.backoff.failed(exc)
                    elif self.stop.wait(_jitter(min(BACKOFF_FIRST * 2.0 ** (attempts - 1), BACKOFF_MAX))):
                        return None
                    continue
                return BatchResult(index, ident, None, exc, attempts, time.monotonic() - started)
            if response is None:
                return None
            self.backoff.succeeded()
            return BatchResult(index, ident, response, None, attempts, time.monotonic() - started, request_id)

    def _once(self, request: ChatRequest) -> Tuple[Optional[ChatResponse], Optional[str]]:
        stream = self.client.chat_stream(request)
        with self.lock:
            self.open_streams.add(stream)
        try:
            if self.stop.is_set():
                return None, None
            response = stream.collect()
        finally:
            with self.lock:
                self.open_streams.discard(stream)
            stream.close()
        if self.stop.is_set():  # closed from outside: a partial answer, dropped
            return None, None
        return response, stream.request_id

    def halt(self) -> None:
        """Stop taking work and close every stream in flight (from the caller's thread)."""
        self.stop.set()
        with self.lock:
            streams = list(self.open_streams)
        for stream in streams:
            stream.close()


class BatchRun:
    """The iterator ``chat_batch`` returns: ``BatchResult`` objects; also a context manager.

    After the loop: ``interrupted`` (Ctrl-C ended it early), ``done``, ``errors``, ``tokens`` (total tokens of
    the answers that reported usage). ``close()`` stops the batch (also on leaving ``with``).
    """

    def __init__(self, results: Iterator[BatchResult], state: Dict[str, Any]) -> None:
        self._results = results
        self._state = state

    def __iter__(self) -> "BatchRun":
        return self

    def __next__(self) -> BatchResult:
        return next(self._results)

    @property
    def interrupted(self) -> bool:
        return bool(self._state["interrupted"])

    @property
    def done(self) -> int:
        return int(self._state["done"])

    @property
    def errors(self) -> int:
        return int(self._state["errors"])

    @property
    def tokens(self) -> int:
        return int(self._state["tokens"])

    def close(self) -> None:
        close = getattr(self._results, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "BatchRun":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "interrupted" if self.interrupted else "running or finished"
        return f"<BatchRun {state}: {self.done} done, {self.errors} errors>"


def run_batch(
    client: "LlmClient",
    requests: Iterable[BatchItem],
    *,
    concurrency: int = 8,
    ordered: bool = True,
    progress: ProgressOption = None,
    max_retries: int = DEFAULT_MAX_RETRIES,
    total: Optional[int] = None,
) -> BatchRun:
    """The engine behind ``LlmClient.chat_batch``; see there."""
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError(f"chat_batch: concurrency must be a whole number, 1 or more, got {concurrency!r}")
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ConfigurationError(f"chat_batch: max_retries must be a whole number, 0 or more, got {max_retries!r}")
    if total is None:
        try:
            total = len(requests)  # type: ignore[arg-type]
        except TypeError:
            total = None
    state: Dict[str, Any] = {"interrupted": False, "done": 0, "errors": 0, "tokens": 0}
    work = _results(client, iter(requests), concurrency, ordered, max_retries, progress, total, state)
    return BatchRun(work, state)


def _results(client: "LlmClient", items: Iterator[Any], concurrency: int, ordered: bool, max_retries: int,
             progress: ProgressOption, total: Optional[int], state: Dict[str, Any]) -> Iterator[BatchResult]:
    reporter = make_progress(progress, total)  # here: nothing is drawn before the loop starts
    view, owned = _batch_client(client, concurrency)
    work = _Work(view, max_retries, threading.Event())
    threads = [threading.Thread(target=work.run, name=f"llm_connector.batch-{n}", daemon=True)
               for n in range(concurrency)]
    for thread in threads:
        thread.start()
    window = max(4 * concurrency, 16)  # items read ahead of the results handed out: memory stays flat
    started = time.monotonic()
    waiting: Dict[int, BatchResult] = {}
    next_index = 0
    fed = handed = 0
    exhausted = False
    try:
        try:
            while True:
                while not exhausted and fed - handed < window:
                    try:
                        item = next(items)
                    except StopIteration:
                        exhausted = True
                        break
                    ident, request, error = _normalize(fed, item)
                    if request is None:
                        work.done.put(BatchResult(fed, ident, None, error))
                    else:
                        work.todo.put((fed, ident, request))
                    fed += 1
                if handed == fed and exhausted:
                    break
                result = _next_result(work.done)
                waiting[result.index] = result  # kept before anything else can be interrupted
                _count(state, result)
                reporter.update(BatchProgress(state["done"], reporter.total, state["errors"], state["tokens"],
                                              time.monotonic() - started))
                if not ordered:
                    handed += 1
                    yield waiting.pop(result.index)
                    continue
                while next_index in waiting:
                    handed += 1
                    next_index += 1
                    yield waiting.pop(next_index - 1)
        except KeyboardInterrupt:
            state["interrupted"] = True
            work.halt()
            for _ in threads:
                work.todo.put(None)
            for result in _drain(work, threads, waiting):
                yield result
    finally:
        work.halt()
        for _ in threads:
            work.todo.put(None)
        reporter.close(BatchProgress(state["done"], reporter.total, state["errors"], state["tokens"],
                                     time.monotonic() - started, finished=True), state["interrupted"])
        if owned is not None:
            owned.session.close()


def _next_result(done: "queue.Queue[BatchResult]") -> BatchResult:
    while True:  # a wait with a timeout, so that Ctrl-C is seen at once everywhere
        try:
            return done.get(timeout=0.25)
        except queue.Empty:
            continue


def _count(state: Dict[str, Any], result: BatchResult) -> None:
    state["done"] += 1
    if result.error is not None:
        state["errors"] += 1
    elif result.response is not None and result.response.usage is not None:
        state["tokens"] += result.response.usage.total_tokens


def _drain(work: _Work, threads: List[threading.Thread], waiting: Dict[int, BatchResult]) -> Iterator[BatchResult]:
    """After an interrupt: the results that had finished, in index order (in-flight ones are dropped)."""
    give_up = time.monotonic() + 1.0  # a thread still waiting for an answer's head is left behind (a daemon)
    for thread in threads:
        thread.join(max(0.0, give_up - time.monotonic()))
    while True:
        try:
            result = work.done.get_nowait()
        except queue.Empty:
            break
        waiting[result.index] = result
    for index in sorted(waiting):
        yield waiting[index]
    waiting.clear()


# -- progress ---------------------------------------------------------------------------------------------


class _Reporter:
    """Shows progress; the quiet one shows nothing."""

    def __init__(self, total: Optional[int]) -> None:
        self.total = total

    def update(self, progress: BatchProgress) -> None:
        pass

    def close(self, progress: BatchProgress, interrupted: bool) -> None:
        pass


class _Callback(_Reporter):
    def __init__(self, total: Optional[int], callback: Callable[[BatchProgress], Any]) -> None:
        super().__init__(total)
        self.callback = callback

    def update(self, progress: BatchProgress) -> None:
        self.callback(progress)

    def close(self, progress: BatchProgress, interrupted: bool) -> None:
        self.callback(progress)


class _Line(_Reporter):
    """``\\r412/1000  41% 52.1/s ETA 0:11 errors 3 tokens 51,230`` redrawn in place on stderr."""

    def __init__(self, total: Optional[int], stream: TextIO) -> None:
        super().__init__(total)
        self.stream = stream
        self.last = 0.0
        self.width = 0

    def _draw(self, progress: BatchProgress) -> None:
        text = progress.line()
        self.stream.write("\r" + text + " " * max(0, self.width - len(text)))
        self.stream.flush()
        self.width = len(text)

    def update(self, progress: BatchProgress) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_INTERVAL:
            self.last = now
            self._draw(progress)

    def close(self, progress: BatchProgress, interrupted: bool) -> None:
        self._draw(progress)
        self.stream.write(" (interrupted)\n" if interrupted else "\n")
        self.stream.flush()


class _Tqdm(_Reporter):
    def __init__(self, total: Optional[int], stream: TextIO, tqdm: Any) -> None:
        super().__init__(total)
        self.bar = tqdm(total=total, file=stream, unit="req", dynamic_ncols=True)
        self.shown = 0
        self.last = 0.0

    def update(self, progress: BatchProgress) -> None:
        now = time.monotonic()
        if now - self.last >= PROGRESS_INTERVAL:
            self.last = now
            self._show(progress)

    def _show(self, progress: BatchProgress) -> None:
        self.bar.set_postfix(errors=progress.errors, tokens=progress.tokens, refresh=False)
        self.bar.update(progress.done - self.shown)
        self.shown = progress.done

    def close(self, progress: BatchProgress, interrupted: bool) -> None:
        self._show(progress)
        if interrupted:
            self.bar.set_description("interrupted", refresh=False)
        self.bar.close()


def make_progress(progress: ProgressOption, total: Optional[int], stream: Optional[TextIO] = None) -> _Reporter:
    """The reporter for ``progress``: None shows a bar only when ``stream`` (stderr) is a terminal, True always,
    False never; a callable is called with a :class:`BatchProgress` after each result and at the end."""
    if callable(progress) and not isinstance(progress, bool):
        return _Callback(total, progress)
    out = stream if stream is not None else sys.stderr
    if progress is False or (progress is None and not _is_terminal(out)):
        return _Reporter(total)
    try:
        tqdm = importlib.import_module("tqdm").tqdm  # optional: used when installed
    except ImportError:
        return _Line(total, out)
    return _Tqdm(total, out, tqdm)


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def main(argv: Optional[List[str]] = None) -> int:
    """``llm-connector-batch`` / ``python -m llm_connector.batch``; see ``batch_cli``."""
    from .batch_cli import run

    status: int = run(sys.argv[1:] if argv is None else argv)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
