"""How a response or a stream chunk shows itself: a short ``repr``, and Markdown / HTML for notebooks.

No I/O and no imports from the package: the objects are read by attribute (``ChatResponse`` and
``StreamingResponse`` alike), so ``types`` can use this module and ``display`` can use it for live output.
"""

import html
from typing import Any, List, Optional

#: How much of a long text a ``repr`` shows.
REPR_TEXT = 200


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def short_repr(obj: Any, default_object: str) -> str:
    """``ChatResponse(id=..., model=..., content=..., finish_reason=..., usage=...)``: only what is set.

    The first choice is shown through ``content``, ``reasoning_content``, ``tool_calls`` and ``finish_reason``;
    more than one choice shows as ``choices=<n>``. Long texts are cut to ``REPR_TEXT`` characters.
    """
    parts: List[str] = []
    for name in ("id", "model"):
        value = getattr(obj, name)
        if value:
            parts.append(f"{name}={value!r}")
    if obj.object != default_object:
        parts.append(f"object={obj.object!r}")
    if obj.content:
        parts.append(f"content={_cut(obj.content, REPR_TEXT)!r}")
    if obj.reasoning_content:
        parts.append(f"reasoning_content={_cut(obj.reasoning_content, REPR_TEXT)!r}")
    calls = obj.tool_calls
    if calls:
        parts.append("tool_calls=[{}]".format(", ".join(_call_repr(c) for c in calls)))
    if obj.finish_reason:
        parts.append(f"finish_reason={obj.finish_reason!r}")
    if len(obj.choices) > 1:
        parts.append(f"choices=<{len(obj.choices)}>")
    if obj.usage is not None:
        parts.append(f"usage={_usage_repr(obj.usage)}")
    if obj.system_fingerprint:
        parts.append(f"system_fingerprint={obj.system_fingerprint!r}")
    return "{}({})".format(type(obj).__name__, ", ".join(parts))


def _call_repr(call: Any) -> str:
    name = call.function.name or "?"
    args = _cut(call.function.arguments or "", 80)
    return f"{name}({args})" if not call.id else f"{name}({args}) #{call.id}"


def _usage_repr(usage: Any) -> str:
    names = ("prompt_tokens", "completion_tokens", "total_tokens", "reasoning_tokens", "cached_tokens",
             "cache_creation_tokens")
    inner = ", ".join(f"{n}={getattr(usage, n)!r}" for n in names if getattr(usage, n, None) is not None)
    return f"Usage({inner})"


def usage_line(usage: Any) -> str:
    """``12 prompt + 30 completion = 42 tokens`` (with reasoning and cached counts when the service gave them)."""
    text = f"{usage.prompt_tokens} prompt + {usage.completion_tokens} completion = {usage.total_tokens} tokens"
    extra = [f"{getattr(usage, n)} {label}" for n, label in
             (("reasoning_tokens", "reasoning"), ("cached_tokens", "cached")) if getattr(usage, n, None)]
    return text + (" ({})".format(", ".join(extra)) if extra else "")


def _footer(obj: Any) -> List[str]:
    bits = []
    if obj.finish_reason:
        bits.append(f"finish: {obj.finish_reason}")
    if obj.model:
        bits.append(f"model: {obj.model}")
    if obj.usage is not None:
        bits.append(usage_line(obj.usage))
    return bits


def markdown(obj: Any) -> str:
    """The answer as Markdown, reasoning folded in a ``<details>`` block, then tool calls, finish, usage."""
    out: List[str] = []
    if obj.reasoning_content:
        out.append("<details><summary>Reasoning</summary>\n\n" + obj.reasoning_content + "\n\n</details>\n")
    if obj.content:
        out.append(obj.content + "\n")
    calls = obj.tool_calls
    if calls:
        out.append("**Tool calls**\n")
        out.extend(f"- `{c.function.name}` `{c.function.arguments}`" + (f" ({c.id})" if c.id else "")
                   for c in calls)
        out.append("")
    footer = _footer(obj)
    if footer:
        out.append("*" + " · ".join(footer) + "*")
    return "\n".join(out)


def html_text(text: str) -> str:
    return '<div style="white-space: pre-wrap">' + html.escape(text) + "</div>"


def html_reasoning(text: str, is_open: bool = False) -> str:
    return ('<details{}><summary style="opacity: 0.7">Reasoning</summary><div style="white-space: pre-wrap; '
            'opacity: 0.7">{}</div></details>').format(" open" if is_open else "", html.escape(text))


def to_html(obj: Any) -> str:
    """The same as :func:`markdown`, as HTML (every text escaped)."""
    return live_html(obj.content, obj.reasoning_content, obj.tool_calls, _footer(obj))


def live_html(content: str, reasoning: Optional[str], calls: Any = (), footer: Any = (),
              reasoning_open: bool = False) -> str:
    """HTML for an answer so far: reasoning folded (open while it is all there is), text, tool calls, footer."""
    out: List[str] = []
    if reasoning:
        out.append(html_reasoning(reasoning, reasoning_open and not content))
    if content:
        out.append(html_text(content))
    if calls:
        items = "".join("<li><code>{}</code> <code>{}</code>{}</li>".format(
            html.escape(c.function.name), html.escape(c.function.arguments),
            f" ({html.escape(c.id)})" if c.id else "") for c in calls)
        out.append(f"<div><b>Tool calls</b><ul>{items}</ul></div>")
    if footer:
        out.append('<div style="opacity: 0.6; font-size: smaller">{}</div>'.format(
            html.escape(" · ".join(footer))))
    return "<div>" + "".join(out) + "</div>"
