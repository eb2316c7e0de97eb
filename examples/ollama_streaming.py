"""Stream a reply from a local Ollama server, or from the offline mock provider when none is running.

    python examples/ollama_streaming.py ["Why is the sky blue?"]

The server is found at $OLLAMA_HOST (default http://localhost:11434); $OLLAMA_MODEL picks the model, else the
first model the server has. The answer goes to stdout, the model's thinking (if any) to stderr.
"""

import os
import sys
from typing import Tuple

from llm_connector import ChatRequest, LlmClient, LlmConnectorError, Message


def pick_client() -> Tuple[LlmClient, str]:
    """The local Ollama server and a model it has, or the mock provider when no server answers."""
    ollama = LlmClient.ollama(timeout=(2.0, 300.0), max_retries=0)
    try:
        names = ollama.models()
    except LlmConnectorError as exc:
        print(f"note: no Ollama server answered at {ollama.base_url} ({exc}); using the offline mock provider",
              file=sys.stderr)
        return LlmClient.mock(), "mock"
    return ollama, os.environ.get("OLLAMA_MODEL") or (names[0] if names else "llama3.2")


def main() -> int:
    prompt = " ".join(sys.argv[1:]) or "Tell me a short story about a llama."
    client, model = pick_client()
    request = ChatRequest(model=model, messages=[Message.user(prompt)])
    print(f"[{client.provider_name} / {model}]", file=sys.stderr)
    finish, usage = None, None
    try:
        with client.chat_stream(request) as stream:
            for chunk in stream:
                if chunk.reasoning_content:
                    print(chunk.reasoning_content, end="", file=sys.stderr, flush=True)
                content = chunk.get_content()
                if content:
                    print(content, end="", flush=True)
                finish = chunk.finish_reason or finish
                usage = chunk.usage or usage
    except LlmConnectorError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    print()
    if usage is not None:
        print(f"[{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens]", file=sys.stderr)
    print(f"[finish: {finish}]", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
