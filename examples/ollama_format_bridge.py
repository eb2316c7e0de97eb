"""Any provider's streamed answer, written out in Ollama's /api/chat NDJSON format on stdout.

    python examples/ollama_format_bridge.py ["Why is the sky blue?"] > answer.ndjson

The provider is the first one whose key is in the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY,
GOOGLE_API_KEY, ...), else the offline mock provider; $LLM_MODEL overrides the provider's default model.
Each line is one Ollama chunk; the last has "done": true, the finish reason and the token counts. This is what
a tool that speaks Ollama (Zed, for one) reads.
"""

import os
import sys
from typing import Tuple

from llm_connector import ChatRequest, ConfigurationError, LlmClient, LlmConnectorError, Message
from llm_connector.presets import PRESETS


def pick_client() -> Tuple[LlmClient, str]:
    try:
        client = LlmClient.from_env()
    except ConfigurationError:
        print("note: no provider key in the environment; using the offline mock provider", file=sys.stderr)
        return LlmClient.mock(), os.environ.get("LLM_MODEL") or "mock"
    preset = PRESETS.get(client.provider_name)
    return client, os.environ.get("LLM_MODEL") or (preset.default_model if preset else "") or "default"


def main() -> int:
    prompt = " ".join(sys.argv[1:]) or "Say hello in three languages."
    client, model = pick_client()
    request = ChatRequest(model=model, messages=[Message.user(prompt)])
    try:
        with client.chat_stream_ollama(request) as stream:
            for chunk in stream:
                sys.stdout.write(chunk.to_ndjson())
                sys.stdout.flush()
    except LlmConnectorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
