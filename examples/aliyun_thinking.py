"""Qwen with thinking on, through Aliyun DashScope's native API: the reasoning on stderr, the answer on stdout,
then the token counts. With DASHSCOPE_API_KEY set it calls DashScope; otherwise a local server plays
DashScope's part with its own SSE framing (``id:`` / ``event:result`` / ``:HTTP_STATUS/200`` / ``data:``).

    python examples/aliyun_thinking.py "9.11 和 9.9 哪个大？"
"""

import json
import os
import sys
from contextlib import ExitStack

from llm_connector import ChatRequest, LlmClient, Message
from llm_connector.testing import LocalServer, Reply


def dashscope_event(n, content="", reasoning="", finish="null"):
    """One event as DashScope frames it (incremental output)."""
    data = {"output": {"choices": [{"message": {"content": content, "reasoning_content": reasoning,
                                                "role": "assistant"}, "finish_reason": finish}]},
            "usage": {"input_tokens": 15, "output_tokens": n * 6, "total_tokens": 15 + n * 6,
                      "output_tokens_details": {"reasoning_tokens": 12}},
            "request_id": "offline-req"}
    return f"id:{n}\nevent:result\n:HTTP_STATUS/200\ndata:{json.dumps(data, ensure_ascii=False)}\n\n"


def offline_client(stack: ExitStack) -> LlmClient:
    server = stack.enter_context(LocalServer())
    server.add(Reply(200, {"Content-Type": "text/event-stream;charset=UTF-8"}, [
        dashscope_event(1, reasoning="比较小数：先看整数部分，都是 9；"),
        dashscope_event(2, reasoning="再看十分位，1 < 9。"),
        dashscope_event(3, content="9.9 更大。"),
        dashscope_event(4, finish="stop"),
    ]))
    return LlmClient.aliyun("sk-example", base_url=server.url + "/api/v1")


def main() -> None:
    prompt = " ".join(sys.argv[1:]) or "9.11 和 9.9 哪个大？"
    with ExitStack() as stack:
        if os.environ.get("DASHSCOPE_API_KEY"):
            client = LlmClient.from_env("aliyun")
        else:
            print("(no DASHSCOPE_API_KEY: a local server plays DashScope)", file=sys.stderr)
            client = offline_client(stack)
        request = ChatRequest(model="qwen-plus", messages=[Message.user(prompt)], enable_thinking=True,
                              thinking_budget=2000)
        usage, finish = None, None
        with client.chat_stream(request) as stream:
            thinking = False
            for chunk in stream:
                usage = chunk.usage or usage
                finish = chunk.finish_reason or finish
                if chunk.reasoning_content:
                    thinking = True
                    print(chunk.reasoning_content, end="", file=sys.stderr, flush=True)
                if chunk.get_content():
                    if thinking:
                        print(file=sys.stderr)  # the reasoning is over
                        thinking = False
                    print(chunk.get_content(), end="", flush=True)
            print()
        if usage:
            print(f"[{usage.reasoning_tokens} reasoning tokens of {usage.completion_tokens}, finish: {finish}]",
                  file=sys.stderr)


if __name__ == "__main__":
    main()
