"""The command line: ``python -m llm_connector "prompt"`` (also the ``llm-connector`` command).

Streams a reply from the provider named by ``--provider`` or found in the environment, falling back to the
offline mock provider (and saying so on stderr). The answer goes to stdout, reasoning to stderr. Errors are
one line on stderr and a non-zero exit, never a traceback.
"""

import argparse
import sys
from typing import Any, List, Optional, TextIO

from .client import LlmClient, detect_provider
from .errors import LlmConnectorError
from .presets import PRESETS
from .types import ChatRequest, Message

FORMATS = ("text", "json", "sse", "ndjson", "ollama")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llm-connector",
        description="Stream a reply from any LLM provider. Without --provider, the first provider whose key is "
        "in the environment is used, else the offline mock provider.",
    )
    p.add_argument("prompt", nargs="*", help="the prompt (read from stdin when absent or '-')")
    p.add_argument("--provider", "-p", help="provider name (see --list-providers)")
    p.add_argument("--model", "-m", help="model id (default: the provider's usual model)")
    p.add_argument("--base-url", help="override the provider's base URL")
    p.add_argument("--api-key", help="API key (default: the provider's environment variable)")
    p.add_argument("--system", "-s", help="a system prompt")
    p.add_argument("--show-reasoning", action="store_true", help="print reasoning (thinking) on stderr")
    p.add_argument("--format", "-f", choices=FORMATS, default="text",
                   help="text (default), or every chunk as json / sse / ndjson / ollama (Ollama NDJSON)")
    p.add_argument("--max-tokens", type=int, help="cap on the reply's tokens")
    p.add_argument("--temperature", type=float)
    p.add_argument("--no-stream", action="store_true", help="wait for the whole answer instead of streaming")
    p.add_argument("--list-providers", action="store_true", help="list provider names and exit")
    p.add_argument("--list-models", action="store_true", help="list the provider's models and exit")
    return p


def _client(args: argparse.Namespace, err: TextIO) -> LlmClient:
    name = args.provider
    if name is None:
        name = detect_provider()
        if name is None:
            err.write("llm-connector: no provider key in the environment; using the offline mock provider\n")
            name = "mock"
        else:
            err.write(f"llm-connector: using {name} (found its key in the environment)\n")
    options: Any = {}
    if args.base_url:
        options["base_url"] = args.base_url
    if name not in PRESETS:  # the offline mock provider (or an unknown name, which from_env explains)
        return LlmClient.from_env(name)
    if args.api_key is not None:
        return LlmClient(name, args.api_key, **options)
    return LlmClient.from_env(name, **options)  # a provider that needs no key is built without one


def _prompt(args: argparse.Namespace, stdin: TextIO) -> str:
    if args.prompt and args.prompt != ["-"]:
        return " ".join(args.prompt)
    if stdin.isatty():
        raise LlmConnectorError("no prompt: give one as an argument or on stdin")
    return stdin.read().strip()


def run(argv: Optional[List[str]] = None, stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr,
        stdin: TextIO = sys.stdin) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.list_providers:
        for name in LlmClient.supported_providers():
            preset = PRESETS.get(name)
            description = preset.description if preset else "offline mock provider"
            stdout.write(f"{name:<26} {description}\n")
        return 0
    try:
        client = _client(args, stderr)
        if args.list_models:
            for model in client.models():
                stdout.write(model + "\n")
            return 0
        preset = PRESETS.get(client.provider_name)
        model = args.model or (preset.default_model if preset else "") or "mock-model"
        messages = [Message.system(args.system)] if args.system else []
        messages.append(Message.user(_prompt(args, stdin)))
        request = ChatRequest(model=model, messages=messages, max_tokens=args.max_tokens,
                              temperature=args.temperature)
        if args.no_stream:
            _print_response(client, request, args, stdout, stderr)
        else:
            _print_stream(client, request, args, stdout, stderr)
        return 0
    except LlmConnectorError as exc:
        stdout.flush()
        stderr.write(f"llm-connector: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        stderr.write("\n")
        return 130


def _print_response(client: LlmClient, request: ChatRequest, args: argparse.Namespace, out: TextIO,
                    err: TextIO) -> None:
    response = client.chat(request)
    if args.format == "text":
        if args.show_reasoning and response.reasoning_content:
            err.write(response.reasoning_content + "\n")
        out.write(response.content + "\n")
    else:
        out.write(getattr(response, "to_" + ("json" if args.format == "ollama" else args.format))())
        if args.format == "json":
            out.write("\n")


def _print_stream(client: LlmClient, request: ChatRequest, args: argparse.Namespace, out: TextIO,
                  err: TextIO) -> None:
    fmt = args.format
    if fmt == "ollama":
        for ochunk in client.chat_stream_ollama(request):
            out.write(ochunk.to_ndjson())
            out.flush()
        return
    with client.chat_stream(request) as stream:
        for chunk in stream:
            if fmt == "text":
                if args.show_reasoning and chunk.reasoning_content:
                    err.write(chunk.reasoning_content)
                    err.flush()
                if chunk.content:
                    out.write(chunk.content)
                    out.flush()
            elif fmt == "json":
                out.write(chunk.to_json() + "\n")
            elif fmt == "sse":
                out.write(chunk.to_sse())
            else:
                out.write(chunk.to_ndjson())
    if fmt == "text":
        out.write("\n")


def main() -> None:
    """Entry point of the ``llm-connector`` command."""
    sys.exit(run())


if __name__ == "__main__":
    main()
