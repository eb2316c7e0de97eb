"""Helpers for tests: OpenAI-style stream parts."""

import json
from typing import Any, List


def sse(*objs: Any, done: bool = True) -> List[str]:
    """SSE parts (one event per part) for OpenAI-style streams; strings pass through as raw parts."""
    parts = [o if isinstance(o, str) else "data: " + json.dumps(o) + "\n\n" for o in objs]
    if done:
        parts.append("data: [DONE]\n\n")
    return parts


def chunk(content: Any = None, *, reasoning: Any = None, finish: Any = None, tool_calls: Any = None,
          role: Any = None, usage: Any = None, id: str = "chatcmpl-1", model: str = "gpt-test") -> dict:
    """One OpenAI chat.completion.chunk object."""
    delta: dict = {}
    if role:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta["reasoning_content"] = reasoning
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    obj: dict = {"id": id, "object": "chat.completion.chunk", "created": 1700000000, "model": model,
                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        obj["usage"] = usage
    return obj
