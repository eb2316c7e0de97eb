"""A tool round trip with Zhipu GLM's native API: the model asks for a tool, we run it, the model answers with
the result. With ZHIPU_API_KEY set it calls Zhipu; otherwise a local server plays Zhipu's part (two streamed
answers: a tool call, then the final text), so it runs offline.

    python examples/zhipu_tools.py "北京今天天气怎么样？"
"""

import json
import os
import sys
from contextlib import ExitStack

from llm_connector import ChatRequest, LlmClient, Message, Tool

WEATHER = Tool.function("get_weather", "Get the current weather in a city",
                        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})


def get_weather(city: str) -> dict:
    return {"city": city, "weather": "晴", "temperature_c": 24}


def offline_client(stack: ExitStack) -> LlmClient:
    from llm_connector.testing import LocalServer, Reply

    def chunk(delta, finish=None):
        return {"id": "offline", "created": 1717000000, "model": "glm-4.6",
                "choices": [{"index": 0, "delta": dict(delta, role="assistant"), "finish_reason": finish}]}

    server = stack.enter_context(LocalServer())
    call = {"index": 0, "id": "call_offline_1", "type": "function", "function": {"name": "get_weather"}}
    server.add(Reply.sse(chunk({"tool_calls": [dict(call, function={"name": "get_weather", "arguments": ""})]}),
                         chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\": "}}]}),
                         chunk({"tool_calls": [{"index": 0, "function": {"arguments": "\"北京\"}"}}]}),
                         chunk({}, "tool_calls"), done=True))
    server.add(Reply.sse(chunk({"content": "北京今天晴，"}), chunk({"content": "气温 24°C。"}), chunk({}, "stop"),
                         done=True))
    return LlmClient.zhipu("zhipu-example-key", base_url=server.url + "/api/paas/v4")


def main() -> None:
    prompt = " ".join(sys.argv[1:]) or "北京今天天气怎么样？"
    with ExitStack() as stack:
        if os.environ.get("ZHIPU_API_KEY"):
            client = LlmClient.from_env("zhipu")
        else:
            print("(no ZHIPU_API_KEY: a local server plays Zhipu)", file=sys.stderr)
            client = offline_client(stack)
        messages = [Message.user(prompt)]
        request = ChatRequest(model="glm-4.6", messages=messages, tools=[WEATHER])
        first = client.chat_stream(request).collect()       # tool-call pieces merged (tool_stream on GLM-4.6)
        if not first.tool_calls:
            print(first.content)
            return
        messages.append(first.to_message())
        for call in first.tool_calls:
            result = get_weather(**call.arguments_json())
            print(f"[tool] {call.name}({call.arguments}) -> {result}", file=sys.stderr)
            messages.append(Message.tool(json.dumps(result, ensure_ascii=False), tool_call_id=call.id))
        for chunk in client.chat_stream(ChatRequest(model="glm-4.6", messages=messages, tools=[WEATHER])):
            print(chunk.get_content() or "", end="", flush=True)
        print()


if __name__ == "__main__":
    main()
