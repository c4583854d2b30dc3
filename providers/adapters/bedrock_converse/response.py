"""Converse reply -> Anthropic message (non-streaming)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from providers.adapters.base import JSON, AdapterError, ChatResponse, UpstreamRequest, dumps
from providers.adapters.bedrock_converse.common import stop_reason, usage_tokens
from providers.adapters.events import message_response
from providers.adapters.openai_compat.common import new_id


def translate_response(
    status: int, body: Mapping[str, Any], up: UpstreamRequest, make_id: Callable[[str], str] = new_id
) -> ChatResponse:
    """A 200 body without ``output.message`` raises a retryable AdapterError (nothing to answer)."""
    output = body.get("output")
    message = output.get("message") if isinstance(output, dict) else None
    if not isinstance(message, dict):
        raise AdapterError("upstream sent a Converse reply without output.message", 502, True)
    content: list[JSON] = []
    chars = 0
    for block in message.get("content") or ():
        converted = _block(block, up, make_id) if isinstance(block, dict) else None
        if converted is not None:
            content.append(converted)
            chars += len(dumps(converted))
    has_tool = any(b["type"] == "tool_use" for b in content)
    return message_response(
        status, msg_id=make_id("msg_"), up=up, content=content, reason=stop_reason(body.get("stopReason"), has_tool),
        sequence=None, usage=usage_tokens(body.get("usage"), up.input_estimate, chars),
    )


def _block(block: Mapping[str, Any], up: UpstreamRequest, make_id: Callable[[str], str]) -> JSON | None:
    if isinstance(block.get("text"), str):
        return {"type": "text", "text": block["text"]}
    tool = block.get("toolUse")
    if isinstance(tool, dict):
        name = str(tool.get("name") or "")
        tool_id = tool.get("toolUseId")
        args = tool.get("input")
        return {"type": "tool_use", "id": tool_id if isinstance(tool_id, str) and tool_id else make_id("toolu_"),
                "name": up.tool_names.get(name, name), "input": args if isinstance(args, dict) else {}}
    reasoning = block.get("reasoningContent")
    if isinstance(reasoning, dict):
        text = reasoning.get("reasoningText")
        if isinstance(text, dict):
            return {"type": "thinking", "thinking": str(text.get("text") or ""),
                    "signature": str(text.get("signature") or "")}
        if isinstance(reasoning.get("redactedContent"), str):
            return {"type": "redacted_thinking", "data": reasoning["redactedContent"]}
    return None
