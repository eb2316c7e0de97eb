"""Show a reasoning model's thinking (stderr) apart from its answer (stdout): DeepSeek with DEEPSEEK_API_KEY,
else the offline mock provider with scripted reasoning.

    python examples/deepseek_reasoning.py "Is 1001 prime?"
"""

import os
import sys

from llm_connector import ChatRequest, LlmClient, Message


def main() -> None:
    prompt = " ".join(sys.argv[1:]) or "Is 1001 a prime number?"
    if os.environ.get("DEEPSEEK_API_KEY"):
        client, model = LlmClient.deepseek(os.environ["DEEPSEEK_API_KEY"]), "deepseek-reasoner"
    else:
        print("(no DEEPSEEK_API_KEY: using the offline mock provider)", file=sys.stderr)
        client = LlmClient.mock(reply="No: 1001 = 7 × 11 × 13.",
                                reasoning="1001 is odd. Try 7: 7 × 143 = 1001, so it is not prime.")
        model = "mock-reasoner"

    request = ChatRequest(model=model, messages=[Message.user(prompt)])
    thinking = False
    for chunk in client.chat_stream(request):
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
    print()


if __name__ == "__main__":
    main()
