"""Stream from Volcengine Ark (Doubao) with thinking on: reasoning on stderr, the answer on stdout. With
VOLCENGINE_API_KEY (or ARK_API_KEY) set it calls Ark (the model is ARK_MODEL, an endpoint id or a model name);
otherwise a local server plays Ark's part (OpenAI-shaped chunks with ``reasoning_content``), so it runs offline.

    python examples/volcengine_streaming.py "Why is the sky blue?"
"""

import os
import sys
from contextlib import ExitStack

from llm_connector import ChatRequest, LlmClient, Message
from llm_connector.testing import LocalServer, Reply


def ark_chunk(content=None, reasoning=None, finish=None, usage=None):
    delta = {"role": "assistant"}
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta["reasoning_content"] = reasoning
    chunk = {"id": "offline", "object": "chat.completion.chunk", "created": 1717000000,
             "model": "doubao-seed-1-6-250615", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage:
        chunk["usage"] = usage
    return chunk


def offline_client(stack: ExitStack) -> LlmClient:
    server = stack.enter_context(LocalServer())
    server.add(Reply.sse(
        ark_chunk(reasoning="Sunlight scatters off air molecules; "),
        ark_chunk(reasoning="shorter waves scatter more."),
        ark_chunk("Blue light is scattered most by the air, "), ark_chunk("so the sky looks blue."),
        ark_chunk(finish="stop", usage={"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42}),
        done=True))
    return LlmClient.volcengine("ark-example-key", base_url=server.url + "/api/v3")


def main() -> None:
    prompt = " ".join(sys.argv[1:]) or "Why is the sky blue?"
    with ExitStack() as stack:
        key = os.environ.get("VOLCENGINE_API_KEY") or os.environ.get("ARK_API_KEY")
        if key:
            client = LlmClient.volcengine(key)
        else:
            print("(no VOLCENGINE_API_KEY: a local server plays Volcengine Ark)", file=sys.stderr)
            client = offline_client(stack)
        model = os.environ.get("ARK_MODEL") or "doubao-seed-1-6-250615"
        request = ChatRequest(model=model, messages=[Message.user(prompt)], enable_thinking=True)
        thinking = False
        for chunk in client.chat_stream(request):
            if chunk.reasoning_content:
                thinking = True
                print(chunk.reasoning_content, end="", file=sys.stderr, flush=True)
            if chunk.get_content():
                if thinking:
                    print(file=sys.stderr)  # the reasoning is over
                    thinking = False
                print(chunk.get_content(), end="", flush=True)
        print()


if __name__ == "__main__":
    main()
