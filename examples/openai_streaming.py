"""Stream a reply from OpenAI (with OPENAI_API_KEY set) or from the offline mock provider.

    python examples/openai_streaming.py "Tell me a story"
"""

import os
import sys

from llm_connector import ChatRequest, LlmClient, Message, Role


def main() -> None:
    prompt = " ".join(sys.argv[1:]) or "Tell me a three-sentence story about a lighthouse."
    if os.environ.get("OPENAI_API_KEY"):
        client = LlmClient.openai(os.environ["OPENAI_API_KEY"])
        model = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
    else:
        print("(no OPENAI_API_KEY: using the offline mock provider)", file=sys.stderr)
        client, model = LlmClient.mock(), "mock-model"

    request = ChatRequest(model=model, messages=[Message.text(Role.USER, prompt)])
    with client.chat_stream(request) as stream:
        for chunk in stream:
            if chunk.get_content():
                print(chunk.get_content(), end="", flush=True)
            if chunk.usage:
                print(f"\n[{chunk.usage.prompt_tokens} prompt + {chunk.usage.completion_tokens} completion tokens]",
                      file=sys.stderr)
    print()


if __name__ == "__main__":
    main()
