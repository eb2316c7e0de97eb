"""Stream from Tencent Hunyuan's native API v3 (TC3-signed, PascalCase SSE): reasoning on stderr, the answer on
stdout. With TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY set it calls Hunyuan; otherwise a local server
plays Hunyuan's part with the bytes Hunyuan sends, so the example runs offline.

    python examples/tencent_native_streaming.py "用一句话介绍深圳"

The simpler route Tencent recommends, its OpenAI-compatible endpoint, is ``LlmClient.hunyuan(api_key)``.
"""

import json
import os
import sys
from contextlib import ExitStack

from llm_connector import ChatRequest, LlmClient, Message
from llm_connector.testing import LocalServer, Reply


def hunyuan_event(delta, finish="", usage=None):
    """One SSE event as Hunyuan writes it."""
    event = {"Note": "以上内容为AI生成，不代表开发者立场，请勿删除或修改本标记", "Id": "offline-1",
             "Created": 1717000000, "Choices": [{"Index": 0, "Delta": dict(delta, Role="assistant"),
                                                 "FinishReason": finish}],
             "Usage": usage or {"PromptTokens": 8, "CompletionTokens": 1, "TotalTokens": 9}}
    return "data: " + json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n\n"


def offline_client(stack: ExitStack) -> LlmClient:
    server = stack.enter_context(LocalServer())
    server.add(Reply(200, {"Content-Type": "text/event-stream"}, [
        hunyuan_event({"ReasoningContent": "用户想要一句话的介绍。"}),
        hunyuan_event({"Content": "深圳是中国南方的科技之城，"}),
        hunyuan_event({"Content": "以创新和速度闻名。"}),
        hunyuan_event({"Content": ""}, "stop", {"PromptTokens": 8, "CompletionTokens": 20, "TotalTokens": 28}),
    ]))
    # Signed exactly as for Tencent (TC3-HMAC-SHA256), sent to the local server instead.
    return LlmClient.tencent("AKIDexample", "example-secret-key", region="ap-guangzhou", base_url=server.url)


def main() -> None:
    prompt = " ".join(sys.argv[1:]) or "用一句话介绍深圳"
    with ExitStack() as stack:
        if os.environ.get("TENCENTCLOUD_SECRET_ID") and os.environ.get("TENCENTCLOUD_SECRET_KEY"):
            client = LlmClient.from_env("tencent")
        else:
            print("(no TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY: a local server plays Hunyuan)", file=sys.stderr)
            client = offline_client(stack)
        request = ChatRequest(model="hunyuan-t1-latest", messages=[Message.user(prompt)])
        usage = None
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
            usage = chunk.usage or usage
        print()
        if usage:
            print(f"[{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens]", file=sys.stderr)


if __name__ == "__main__":
    main()
