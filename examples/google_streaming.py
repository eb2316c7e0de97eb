"""Stream a Gemini answer, with its thoughts when asked.

    GOOGLE_API_KEY=... python examples/google_streaming.py "Why is the sky blue?" --thoughts

Without ``GOOGLE_API_KEY`` (or ``GEMINI_API_KEY``) the offline mock provider answers instead, so the example
runs anywhere. The answer goes to stdout; thoughts (``--thoughts``) and the token counts go to stderr.
"""

import argparse
import os
import sys

from llm_connector import ChatRequest, LlmClient, Message


def make_client() -> LlmClient:
    """Gemini when a key is set, else the offline mock provider (with a note saying so)."""
    key = os.environ.get("GOOGLE_API_KEY") or os.environ.get("GEMINI_API_KEY")
    if key:
        return LlmClient.google(key)
    print("note: GOOGLE_API_KEY is not set; the offline mock provider answers instead.\n", file=sys.stderr)
    return LlmClient.mock(
        reply="Sunlight scatters off air molecules, and blue light scatters the most, so the sky looks blue.",
        reasoning="The user asks about Rayleigh scattering; keep it to one sentence.",
        delay=0.03,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("prompt", nargs="?", default="Why is the sky blue? One sentence.")
    parser.add_argument("--model", default="gemini-2.5-flash")
    parser.add_argument("--thoughts", action="store_true", help="ask for and show the model's thoughts")
    args = parser.parse_args()

    client = make_client()
    request = ChatRequest(
        model=args.model,
        messages=[Message.user(args.prompt)],
        # A budget asks Gemini to think and to send its thought summaries back (thinkingConfig).
        thinking_budget=1024 if args.thoughts else None,
    )

    usage = None
    thinking = False
    with client.chat_stream(request) as stream:
        for chunk in stream:
            if args.thoughts and chunk.reasoning_content:
                if not thinking:
                    print("[thinking] ", end="", file=sys.stderr)
                    thinking = True
                print(chunk.reasoning_content, end="", file=sys.stderr, flush=True)
            content = chunk.get_content()
            if content:
                if thinking:
                    print("\n", file=sys.stderr)
                    thinking = False
                print(content, end="", flush=True)
            if chunk.usage is not None:
                usage = chunk.usage
    print()
    if usage is not None:
        print(
            f"tokens: {usage.prompt_tokens} prompt, {usage.completion_tokens} completion "
            f"({usage.reasoning_tokens or 0} reasoning), {usage.total_tokens} total",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
