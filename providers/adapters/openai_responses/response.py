"""OpenAI Responses ``response`` object -> Anthropic message (non-streaming replies)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from providers.adapters.base import JSON, ChatResponse, UpstreamRequest, dumps
from providers.adapters.events import message_id, message_response
from providers.adapters.openai_compat.common import new_id, usage_body
from providers.adapters.openai_compat.errors import error_from_object
from providers.adapters.openai_compat.response import parse_arguments
from providers.adapters.openai_responses.common import (
    signature_encode,
    stop_reason,
    summary_text,
    usage_or_estimate,
)


def translate_response(
    status: int, body: Mapping[str, Any], up: UpstreamRequest, make_id: Callable[[str], str] = new_id
) -> ChatResponse:
    """Steps: a failed response (or a bare error object) raises AdapterError; each output item in
    order becomes blocks (reasoning -> thinking with the item in its signature, message -> text,
    function_call -> tool_use); stop reason from status/incomplete_details; usage with cached."""
    if body.get("status") == "failed" or (not isinstance(body.get("output"), list) and body.get("error")):
        raise error_from_object(body.get("error") or {"message": "upstream response failed"})
    content: list[JSON] = []
    refused = False
    for item in body.get("output") or ():
        if isinstance(item, dict):
            refused = _item_blocks(item, up, content, make_id) or refused
    has_tool = any(b["type"] == "tool_use" for b in content)
    return message_response(
        status, msg_id=message_id(body.get("id"), make_id), up=up, content=content,
        reason=stop_reason(body, has_tool, refused), sequence=None, usage=_usage(body.get("usage"), up, content),
    )


def _item_blocks(item: Mapping[str, Any], up: UpstreamRequest, content: list[JSON],
                 make_id: Callable[[str], str]) -> bool:
    """Append the blocks of one output item; True when it was a refusal."""
    kind = item.get("type")
    if kind == "reasoning":
        thinking = summary_text(item)
        signature = signature_encode(item) if item.get("encrypted_content") else ""
        if thinking or signature:
            content.append({"type": "thinking", "thinking": thinking, "signature": signature})
    elif kind == "message":
        refused = False
        texts: list[str] = []
        for part in item.get("content") or ():
            if not isinstance(part, dict):
                continue
            text = part.get("text") if part.get("type") == "output_text" else part.get("refusal")
            refused = refused or part.get("type") == "refusal"
            if isinstance(text, str) and text:
                texts.append(text)
        if texts:  # one text block per message item, as the stream builds it
            content.append({"type": "text", "text": "".join(texts)})
        return refused
    elif kind == "function_call" and item.get("name"):
        name = str(item["name"])
        content.append({
            "type": "tool_use",
            "id": item.get("call_id") or make_id("toolu_"),
            "name": up.tool_names.get(name, name),
            "input": parse_arguments(item.get("arguments")),
        })
    return False


def _usage(usage: Any, up: UpstreamRequest, content: list[JSON]) -> dict[str, int]:
    chars = sum(len(dumps(b["input"])) if b["type"] == "tool_use" else len(b.get("text") or b.get("thinking") or "")
                for b in content)
    return usage_body(*usage_or_estimate(usage, up.input_estimate, chars))
