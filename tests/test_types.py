"""The dataclasses: construction, writers, from_dict, helpers."""

import json

import pytest

from llm_connector import (
    ChatRequest,
    ChatResponse,
    ConfigurationError,
    ImageBlock,
    Message,
    OllamaMessage,
    OllamaStreamChunk,
    Role,
    StreamingResponse,
    TextBlock,
    Tool,
    ToolCall,
    Usage,
)
from llm_connector.types import normalize_finish_reason


def test_keyword_construction_with_defaults_as_in_the_streaming_guide():
    req = ChatRequest(model="gpt-4", messages=[Message.text(Role.USER, "Tell me a story")], stream=True)
    assert req.temperature is None and req.tools is None and req.stream is True
    assert req.messages[0].role is Role.USER


def test_message_constructors():
    assert Message.system("s").role is Role.SYSTEM
    assert Message.assistant(content=None, tool_calls=[ToolCall.create("c", "f")]).content is None
    tool = Message.tool("result", tool_call_id="c1")
    assert (tool.role, tool.tool_call_id) == (Role.TOOL, "c1")
    assert Message.text("user", "x").role is Role.USER


def test_content_blocks_accept_openai_and_anthropic_dicts():
    msg = Message.user([{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "http://x/i.png"}},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/gif", "data": "R0"}}])
    assert msg.content == [TextBlock("a"), ImageBlock(url="http://x/i.png"), ImageBlock(media_type="image/gif",
                                                                                        data="R0")]
    with pytest.raises(ConfigurationError):
        Message.user([{"type": "video"}])


def test_data_url_images_are_seen_as_base64():
    assert ImageBlock.from_url("data:image/png;base64,QUJD").as_base64() == ("image/png", "QUJD")
    assert ImageBlock.from_base64("image/jpeg", "QUJD").as_url() == "data:image/jpeg;base64,QUJD"
    assert ImageBlock.from_url("https://x/y.png").as_base64() is None


def test_writers_json_sse_ndjson():
    chunk = StreamingResponse(id="1", model="m", content="hi")
    assert json.loads(chunk.to_json())["content"] == "hi"
    assert chunk.to_sse() == "data: " + chunk.to_json() + "\n\n"
    assert chunk.to_ndjson() == chunk.to_json() + "\n"
    assert "raw" not in chunk.to_dict() and "usage" not in chunk.to_dict()


def test_non_ascii_text_is_written_as_utf8_not_escaped():
    assert StreamingResponse(content="你好").to_json().count("你好") == 1


def test_ollama_chunk_writes_ollamas_shape():
    c = OllamaStreamChunk(model="m", created_at="2026-01-01T00:00:00Z", message=OllamaMessage(content="x"), done=False)
    assert json.loads(c.to_ndjson()) == {"model": "m", "created_at": "2026-01-01T00:00:00Z",
                                         "message": {"role": "assistant", "content": "x"}, "done": False}


def test_from_dict_is_tolerant_and_keeps_raw():
    data = {"id": "a", "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}, "surprise": True}
    resp = ChatResponse.from_dict(data)
    assert resp.choices[0].message.content == "x"
    assert resp.usage == Usage(1, 1, 2)
    assert resp.raw is data


def test_round_trip_through_to_dict_and_from_dict():
    req = ChatRequest(model="m", messages=[Message.user("hi"), Message.assistant("yo")],
                      tools=[Tool.function("f", "d", {"type": "object"})], temperature=0.2)
    again = ChatRequest.from_dict(json.loads(req.to_json()))
    assert again == req


@pytest.mark.parametrize("raw, normalized", [
    ("stop", "stop"), ("end_turn", "stop"), ("STOP", "stop"), ("MAX_TOKENS", "length"), ("max_tokens", "length"),
    ("tool_use", "tool_calls"), ("SAFETY", "content_filter"), ("", None), ("null", None), (None, None),
])
def test_finish_reasons_are_normalized_to_openai_words(raw, normalized):
    assert normalize_finish_reason(raw) == normalized


def test_tool_arguments_json_of_empty_is_an_empty_object():
    assert ToolCall.create("c", "f").arguments_json() == {}
    assert ToolCall.create("c", "f", {"a": [1]}).arguments_json() == {"a": [1]}


def test_to_message_keeps_tool_calls_for_the_next_turn():
    resp = ChatResponse.from_dict({"choices": [{"message": {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}}]})
    turn = resp.to_message()
    assert turn.role is Role.ASSISTANT and turn.content is None and turn.tool_calls[0].id == "c"


def test_each_class_names_its_fields_once_in_its_slots():
    import inspect

    import llm_connector.types as types_module

    classes = [c for c in vars(types_module).values()
               if isinstance(c, type) and issubclass(c, types_module._Data) and c is not types_module._Data]
    assert len(classes) >= 15
    for cls in classes:
        assert cls._fields == tuple(n for n in cls.__slots__ if n != "raw"), cls
        assert cls._has_raw is ("raw" in cls.__slots__), cls
    assert "_fields = (" not in inspect.getsource(types_module)
    assert StreamingResponse.from_dict({"id": "x", "raw": 1, "choices": []}).raw == {"id": "x", "raw": 1, "choices": []}
