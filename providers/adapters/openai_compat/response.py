"""OpenAI chat.completion -> Anthropic message (non-streaming replies)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from providers.adapters.base import JSON, ChatResponse, UpstreamRequest, dumps, loads
from providers.adapters.events import message_id, message_response
from providers.adapters.openai_compat.common import (
    new_id,
    stop_reason,
    usage_body,
    usage_or_estimate,
)
from providers.adapters.openai_compat.errors import error_from_object

RAW_ARGUMENTS = "_raw_arguments"  # key holding tool arguments that were not a JSON object


def translate_response(
    status: int, body: Mapping[str, Any], up: UpstreamRequest, make_id: Callable[[str], str] = new_id
) -> ChatResponse:
    """Steps: reasoning of every choice -> one thinking block first; then per choice (in index
    order) its text and its tool calls; stop reason and usage from all choices.

    A 200 body that carries only an ``error`` object raises AdapterError (502 unless it says more).
    """
    choices = body.get("choices")
    if not isinstance(choices, list):
        if "error" in body or body.get("object") == "error":
            raise error_from_object(body.get("error", body))
        choices = []
    ordered = sorted((c for c in choices if isinstance(c, dict)), key=lambda c: c.get("index") or 0)
    reasoning: list[str] = []
    blocks: list[JSON] = []
    finishes: list[str] = []
    stop_string: str | None = None
    for choice in ordered:
        message = choice.get("message") or {}
        _choice_blocks(message, up, reasoning, blocks, make_id)
        if choice.get("finish_reason"):
            finishes.append(str(choice["finish_reason"]))
        if isinstance(choice.get("stop_reason"), str) and choice["stop_reason"]:
            stop_string = choice["stop_reason"]
    content: list[JSON] = [{"type": "thinking", "thinking": "".join(reasoning), "signature": ""}] if reasoning else []
    content += blocks
    reason, sequence = stop_reason(finishes, stop_string, any(b["type"] == "tool_use" for b in blocks))
    return message_response(
        status, msg_id=message_id(body.get("id"), make_id), up=up, content=content, reason=reason,
        sequence=sequence, usage=_usage(body.get("usage"), up, content),
    )


def _choice_blocks(
    message: Mapping[str, Any],
    up: UpstreamRequest,
    reasoning: list[str],
    blocks: list[JSON],
    make_id: Callable[[str], str],
) -> None:
    thought = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(thought, str) and thought:
        reasoning.append(thought)
    text = _text(message.get("content")) or _text(message.get("refusal"))
    if text:
        blocks.append({"type": "text", "text": text})
    calls = message.get("tool_calls")
    if not isinstance(calls, list):
        legacy = message.get("function_call")
        calls = [{"function": legacy}] if isinstance(legacy, dict) else []
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            continue  # a call without a name is unusable
        name = str(function["name"])
        blocks.append({
            "type": "tool_use",
            "id": call.get("id") or make_id("toolu_"),
            "name": up.tool_names.get(name, name),
            "input": parse_arguments(function.get("arguments")),
        })


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some backends answer with content parts
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def parse_arguments(raw: Any) -> JSON:
    """Tool arguments as an object: ``{}`` for empty, double-encoded JSON unwrapped, and anything
    that is not a JSON object kept verbatim under ``_raw_arguments`` (the client's schema check then
    tells the model its call was malformed instead of the gateway failing the whole reply)."""
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        value = loads(raw) if isinstance(raw, str) else raw
        if isinstance(value, str):
            value = loads(value)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {RAW_ARGUMENTS: raw if isinstance(raw, str) else str(raw)}


def _usage(usage: Any, up: UpstreamRequest, content: list[JSON]) -> dict[str, int]:
    chars = sum(len(b["input"] and dumps(b["input"])) if b["type"] == "tool_use" else len(b.get("text") or b.get("thinking") or "")
                for b in content)
    return usage_body(*usage_or_estimate(usage, up.input_estimate, chars))
