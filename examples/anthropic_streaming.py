"""Stream Claude's extended thinking (stderr) and its answer (stdout): Anthropic with ANTHROPIC_API_KEY, else the
offline mock provider with scripted reasoning.

    python examples/anthropic_streaming.py "How many r's are in strawberry?"
"""

import os
import sys

from llm_connector import ChatRequest, LlmClient, Message


def main() -> None:
    prompt = " ".join(sys.argv[1:]) or "How many r's are in the word strawberry?"
    if os.environ.get("ANTHROPIC_API_KEY"):
        client = LlmClient.anthropic(os.environ["ANTHROPIC_API_KEY"])
        model = os.environ.get("ANTHROPIC_MODEL", "claude-sonnet-4-5")
    else:
        print("(no ANTHROPIC_API_KEY: using the offline mock provider)", file=sys.stderr)
        client = LlmClient.mock(reply="There are 3 r's in strawberry.",
                                reasoning="s-t-r-a-w-b-e-r-r-y: one r after t, two more after e. That makes 3.")
        model = "mock-model"

    # thinking_budget turns extended thinking on; max_tokens is raised above the budget when needed.
    request = ChatRequest(model=model, messages=[Message.user(prompt)], thinking_budget=2048)
    thinking = False
    with client.chat_stream(request) as stream:
        for chunk in stream:
            if chunk.reasoning_content:
                if not thinking:
                    print("[thinking] ", end="", file=sys.stderr)
                    thinking = True
                print(chunk.reasoning_content, end="", file=sys.stderr, flush=True)
            if chunk.get_content():
                if thinking:
                    print("\n", file=sys.stderr)
                    thinking = False
                print(chunk.get_content(), end="", flush=True)
            if chunk.usage:
                print(f"\n[{chunk.usage.prompt_tokens} prompt + {chunk.usage.completion_tokens} output tokens]",
                      file=sys.stderr)
    print()


if __name__ == "__main__":
    main()
