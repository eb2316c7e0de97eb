"""A full tool round trip with the same code on every provider: the model asks for a tool, we run it, send
the result back, and stream the final answer.

Uses the first provider whose key is in the environment (OpenAI, Anthropic, Google, DeepSeek, ...), or the
offline mock provider.

    python examples/tool_calling.py "What's the weather in Paris?"
"""

import json
import sys
from typing import Any, Dict, Tuple

from llm_connector import ChatRequest, ConfigurationError, LlmClient, Message, Tool, ToolCall
from llm_connector.mock import MockReply
from llm_connector.presets import PRESETS

WEATHER = Tool.function(
    "get_weather",
    "Current weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def get_weather(city: str) -> Dict[str, Any]:
    return {"city": city, "temp_c": 21, "sky": "clear"}


def make_client() -> Tuple[LlmClient, str]:
    try:
        client = LlmClient.from_env()
        return client, PRESETS[client.provider_name].default_model
    except ConfigurationError:
        print("(no provider key in the environment: using the offline mock provider)", file=sys.stderr)
        client = LlmClient.mock(reply="")
        client.mock_provider.add(MockReply(tool_calls=[ToolCall.create("call_1", "get_weather", {"city": "Paris"})]))
        client.mock_provider.add("It is 21 °C and clear in Paris.")
        return client, "mock-model"


def main() -> None:
    client, model = make_client()
    messages = [Message.user(" ".join(sys.argv[1:]) or "What's the weather in Paris?")]
    response = client.chat_stream(ChatRequest(model=model, messages=messages, tools=[WEATHER])).collect()
    if not response.tool_calls:
        print(response.content)
        return
    messages.append(response.to_message())
    for call in response.tool_calls:
        result = get_weather(**call.arguments_json())
        print(f"[tool] {call.name}({call.arguments}) -> {result}", file=sys.stderr)
        messages.append(Message.tool(json.dumps(result), tool_call_id=call.id))
    for chunk in client.chat_stream(ChatRequest(model=model, messages=messages, tools=[WEATHER])):
        print(chunk.get_content() or "", end="", flush=True)
    print()


if __name__ == "__main__":
    main()
