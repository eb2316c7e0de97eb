"""``llm-connector-batch input.jsonl -o output.jsonl``: a JSONL file of requests answered into a JSONL file.

(also ``python -m llm_connector.batch``.)

Input lines take either of two shapes:

- the OpenAI Batch API's: ``{"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions",
  "body": {"model": ..., "messages": [...], ...}}`` (body keys a ``ChatRequest`` has no field for travel in
  ``extra_body``);
- a short one: ``{"id": "r1", "prompt": "...", "system": "...", "model": "..."}`` (``system`` and ``model``
  optional; the model defaults to ``--model``, then the provider's usual one).

Each result is appended to the output and flushed as soon as it completes, in the OpenAI Batch output shape:
``{"id": "batch_req_...", "custom_id": "r1", "response": {"status_code": 200, "request_id": ..., "body":
{chat.completion}}, "error": null}``. A failed request has ``"error": {"code", "message"}`` (and, when the
service answered with an HTTP error, ``response`` with its status and the error as body).

Running again with the same output resumes: ids already answered are skipped, and a last line cut short by a
crash is removed first, so a crash or Ctrl-C loses nothing that finished and answers nothing twice. Requests
that failed are sent again (their lines are removed first, so the output keeps one line per id), unless
``--keep-failed``.
A malformed input line is reported on stderr with its line number and does not stop the others.

Exit status: 0 when every line was answered, 1 when some failed or were malformed, 130 on Ctrl-C, 2 on bad
arguments.
"""

import argparse
import json
import os
import sys
import uuid
from typing import Any, Dict, Iterator, List, Optional, Set, TextIO, Tuple

from .batch import BatchResult, run_batch
from .client import LlmClient, detect_provider
from .errors import LlmConnectorError
from .presets import PRESETS
from .types import ChatRequest

__all__ = ["run", "read_answered", "parse_line", "result_line"]

_CHAT_URLS = ("/v1/chat/completions", "/chat/completions")
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class BadLine(ValueError):
    """An input line that cannot be sent; the message says why."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llm-connector-batch",
        description="Answer a JSONL file of chat requests (OpenAI Batch input lines, or {\"id\", \"prompt\"}) "
        "into a JSONL file of OpenAI Batch output lines. Run again with the same output to resume.",
    )
    p.add_argument("input", help="the requests, one JSON object a line ('-' for stdin)")
    p.add_argument("-o", "--output", required=True, help="the results file; appended to, and read to resume")
    p.add_argument("--provider", "-p", help="provider name (default: the first whose key is in the environment; "
                   "'mock' answers offline)")
    p.add_argument("--model", "-m", help="model for lines that name none (default: the provider's usual model)")
    p.add_argument("--base-url", help="override the provider's base URL")
    p.add_argument("--concurrency", "-c", type=int, default=16, help="requests in flight (default 16)")
    p.add_argument("--max-retries", type=int, default=4,
                   help="tries per request after the first, with one backoff shared by all (default 4)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--keep-failed", action="store_true",
                   help="when resuming, keep the lines of failed requests instead of sending them again")
    return p


def _client(args: argparse.Namespace) -> LlmClient:
    name = args.provider or detect_provider()
    if name is None:
        raise LlmConnectorError("no provider: pass --provider (or set its key variable; 'mock' answers offline)")
    preset = PRESETS.get(name)
    if preset is not None and preset.backend:  # not a service (the offline mock): nothing to read, no options
        return LlmClient.from_env(name)
    options: Dict[str, Any] = {"base_url": args.base_url} if args.base_url else {}
    return LlmClient.from_env(name, **options)  # a provider that needs no key is built without one


# -- input ------------------------------------------------------------------------------------------------


def parse_line(text: str, default_model: str) -> Tuple[str, ChatRequest]:
    """``(custom_id, request)`` for one input line; ``BadLine`` saying what is wrong."""
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise BadLine(f"not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise BadLine(f"expected a JSON object, got {type(obj).__name__}")
    if "custom_id" in obj or "body" in obj:
        return _openai_line(obj, default_model)
    if "prompt" in obj:
        return _short_line(obj, default_model)
    raise BadLine("expected {\"custom_id\", \"method\", \"url\", \"body\"} or {\"id\", \"prompt\"}")


def _ident(value: Any, name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise BadLine(f"{name}: expected a non-empty string, got {json.dumps(value)[:60]}")
    return str(value)


def _openai_line(obj: Dict[str, Any], default_model: str) -> Tuple[str, ChatRequest]:
    ident = _ident(obj.get("custom_id"), "custom_id")
    url = obj.get("url", "/v1/chat/completions")
    if url not in _CHAT_URLS:
        raise BadLine(f"url: only /v1/chat/completions is supported, got {str(url)[:60]!r}")
    method = str(obj.get("method", "POST")).upper()
    if method != "POST":
        raise BadLine(f"method: expected POST, got {method[:20]!r}")
    body = obj.get("body")
    if not isinstance(body, dict):
        raise BadLine("body: expected a JSON object")
    return ident, _request(body, default_model)


def _short_line(obj: Dict[str, Any], default_model: str) -> Tuple[str, ChatRequest]:
    ident = _ident(obj.get("id"), "id")
    prompt = obj.get("prompt")
    if not isinstance(prompt, str):
        raise BadLine("prompt: expected a string")
    messages = [{"role": "system", "content": obj["system"]}] if isinstance(obj.get("system"), str) else []
    messages.append({"role": "user", "content": prompt})
    return ident, _request({"model": obj.get("model"), "messages": messages}, default_model)


def _request(body: Dict[str, Any], default_model: str) -> ChatRequest:
    fields = dict(body)
    fields.pop("stream", None)
    fields.pop("stream_options", None)
    extra = {k: fields.pop(k) for k in list(fields) if k not in ChatRequest._names()}
    if not fields.get("model"):
        fields["model"] = default_model
    messages = fields.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadLine("messages: expected a non-empty list")
    try:
        request = ChatRequest.from_dict(fields)
    except (LlmConnectorError, TypeError, ValueError, AttributeError) as exc:
        raise BadLine(f"body: {exc}") from None
    if extra:
        request.extra_body = {**extra, **(request.extra_body or {})}
    return request


# -- output -----------------------------------------------------------------------------------------------


def read_answered(path: str, err: TextIO, retry_failed: bool = True) -> Set[str]:
    """The custom ids that already have a line in ``path``.

    A last line cut short (a crash mid-write) is removed. With ``retry_failed``, the lines of failed requests
    are removed too (the file is rewritten whole, then renamed over the old one), so that those ids are sent
    again and the output keeps one line per id.
    """
    answered: Set[str] = set()
    if not os.path.exists(path):
        return answered
    with open(path, "rb+") as f:
        data = f.read()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            err.write(f"llm-connector-batch: {path}: removing a last line cut short ({len(data) - end} bytes)\n")
            f.truncate(end)
    kept: List[bytes] = []
    failed = 0
    for number, raw in enumerate(data[:end].splitlines(keepends=True), 1):
        try:
            record = json.loads(raw.decode("utf-8"))
            ident = record.get("custom_id")
        except (ValueError, AttributeError, UnicodeDecodeError):
            err.write(f"llm-connector-batch: {path}:{number}: not a result line; ignored\n")
            kept.append(raw)
            continue
        if ident is None:
            kept.append(raw)
        elif retry_failed and record.get("error") is not None:
            failed += 1
        else:
            answered.add(str(ident))
            kept.append(raw)
    if failed:
        err.write(f"llm-connector-batch: {path}: {failed} failed requests will be sent again\n")
        temporary = path + ".rewrite"
        with open(temporary, "wb") as f:
            f.writelines(kept)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    return answered


def result_line(custom_id: str, result: BatchResult) -> str:
    """One OpenAI Batch output line (no newline)."""
    record: Dict[str, Any] = {"id": "batch_req_" + uuid.uuid4().hex, "custom_id": custom_id,
                              "response": None, "error": None}
    error = result.error
    if error is None and result.response is not None:
        body = result.response.to_dict()
        record["response"] = {"status_code": 200, "request_id": result.request_id, "body": body}
        return _dumps(record)
    status = getattr(error, "status_code", None)
    code = getattr(error, "code", None) or type(error).__name__
    message = str(error)
    if status is not None:
        record["response"] = {"status_code": status, "request_id": getattr(error, "request_id", None),
                              "body": {"error": {"message": message, "type": type(error).__name__, "code": code}}}
    record["error"] = {"code": code, "message": message}
    return _dumps(record)


# -- running ----------------------------------------------------------------------------------------------


class _Input:
    """The input's requests, read lazily; skips answered ids, reports malformed lines."""

    def __init__(self, lines: Iterator[str], name: str, answered: Set[str], model: str, err: TextIO) -> None:
        self.lines = lines
        self.name = name
        self.answered = answered
        self.model = model
        self.err = err
        self.seen: Dict[str, int] = {}
        self.malformed = 0
        self.skipped = 0

    def __iter__(self) -> Iterator[Tuple[str, ChatRequest]]:
        for number, text in enumerate(self.lines, 1):
            if not text.strip():
                continue
            try:
                ident, request = parse_line(text, self.model)
            except BadLine as exc:
                self._bad(number, str(exc))
                continue
            if ident in self.seen:
                self._bad(number, f"id {ident!r} repeats line {self.seen[ident]}; skipped")
                continue
            self.seen[ident] = number
            if ident in self.answered:
                self.skipped += 1
                continue
            yield ident, request

    def _bad(self, number: int, why: str) -> None:
        self.malformed += 1
        self.err.write(f"llm-connector-batch: {self.name}:{number}: {why}\n")
        self.err.flush()


def run(argv: List[str], stdin: Optional[TextIO] = None, stderr: Optional[TextIO] = None) -> int:
    """Run the command; returns the exit status."""
    err = stderr if stderr is not None else sys.stderr
    args = _parser().parse_args(argv)
    if args.concurrency < 1:
        err.write("llm-connector-batch: --concurrency must be 1 or more\n")
        return 2
    try:
        client = _client(args)
    except LlmConnectorError as exc:
        err.write(f"llm-connector-batch: error: {exc}\n")
        return 2
    preset = PRESETS.get(client.provider_name)
    model = args.model or (preset.default_model if preset else "")
    if not model:
        err.write(f"llm-connector-batch: error: {client.provider_name} has no default model: pass --model\n")
        return 2
    answered = read_answered(args.output, err, retry_failed=not args.keep_failed)
    source = stdin if args.input == "-" else None
    try:
        handle = source if source is not None else open(args.input, encoding="utf-8")
    except OSError as exc:
        err.write(f"llm-connector-batch: cannot read {args.input}: {exc.strerror}\n")
        return 2
    with handle, open(args.output, "a", encoding="utf-8") as out:
        total = _count_lines(args.input) - len(answered) if source is None else None
        requests = _Input(iter(handle), args.input, answered, model, err)
        return _answer(client, requests, out, args, max(total, 0) if total is not None else None, err)


def _count_lines(path: str) -> int:
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip())


def _answer(client: LlmClient, requests: _Input, out: TextIO, args: argparse.Namespace, total: Optional[int],
            err: TextIO) -> int:
    batch = run_batch(client, requests, concurrency=args.concurrency, ordered=False,
                      progress=False if args.no_progress else None, max_retries=args.max_retries, total=total)
    interrupted = False
    try:
        for result in batch:
            out.write(result_line(result.id, result) + "\n")
            out.flush()
    except KeyboardInterrupt:  # between two results: stop the batch, keep what was written
        interrupted = True
    finally:
        batch.close()
    interrupted = interrupted or batch.interrupted
    err.write(f"llm-connector-batch: {batch.done - batch.errors} answered, {batch.errors} failed, "
              f"{requests.malformed} malformed, {requests.skipped} already in {args.output}"
              f"{' (interrupted: run again to resume)' if interrupted else ''}\n")
    if interrupted:
        return 130
    return 1 if batch.errors or requests.malformed else 0
