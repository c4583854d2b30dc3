"""Anthropic stream events and messages, built the same way by every translator that writes
them itself (OpenAI chat, OpenAI Responses, Gemini, Bedrock Converse).

Each builder returns a fresh ``StreamEvent`` (or appends to ``out``) and, where the event ends
the message, records the outcome on the translator's ``StreamStats``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from providers.adapters.base import JSON, ChatResponse, StreamEvent, StreamStats, UpstreamRequest

TRUNCATED = "upstream stream ended unexpectedly"
# block kind -> (delta type, its key) for content_block_delta
DELTA_TYPES: dict[str, tuple[str, str]] = {
    "text": ("text_delta", "text"),
    "thinking": ("thinking_delta", "thinking"),
    "tool_use": ("input_json_delta", "partial_json"),
}


def usage_body(input_tokens: int, output_tokens: int, cached: int) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def message_id(upstream_id: Any, make_id: Callable[[str], str]) -> str:
    """``msg_`` + the backend's id, else a new one."""
    return "msg_" + upstream_id if isinstance(upstream_id, str) and upstream_id else make_id("msg_")


def message_response(
    status: int, *, msg_id: str, up: UpstreamRequest, content: list[JSON], reason: str, sequence: str | None,
    usage: Mapping[str, int],
) -> ChatResponse:
    """A whole Anthropic message; a backend's other 2xx statuses become 200."""
    return ChatResponse({
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": up.requested_model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage,
    }, status if 200 <= status < 300 else 200)


def message_start(
    upstream_id: Any, *, up: UpstreamRequest, stats: StreamStats, make_id: Callable[[str], str],
) -> StreamEvent:
    """message_start with the backend's id (``msg_`` + id, else a new one) and the input estimate
    as usage until the backend reports its own."""
    msg_id = message_id(upstream_id, make_id)
    estimate = up.input_estimate
    stats.input_tokens = estimate
    return StreamEvent("message_start", {"type": "message_start", "message": {
        "id": msg_id, "type": "message", "role": "assistant", "model": up.requested_model,
        "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage_body(estimate, 1, 0),
    }})


def message_end(
    out: list[StreamEvent], *, stats: StreamStats, reason: str, sequence: str | None, usage: Mapping[str, int],
) -> None:
    """message_delta (stop reason, usage) and message_stop, with the outcome put on ``stats``."""
    stats.input_tokens, stats.output_tokens = usage["input_tokens"], usage["output_tokens"]
    stats.cache_read_input_tokens = usage["cache_read_input_tokens"]
    stats.stop_reason, stats.finished = reason, True
    out.append(StreamEvent("message_delta", {
        "type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": sequence}, "usage": usage,
    }))
    out.append(StreamEvent("message_stop", {"type": "message_stop"}))


def empty_block(kind: str) -> JSON:
    """The content_block of a content_block_start for a text or thinking block."""
    if kind == "text":
        return {"type": "text", "text": ""}
    return {"type": "thinking", "thinking": "", "signature": ""}


def block_start(index: int, content: JSON) -> StreamEvent:
    return StreamEvent("content_block_start", {"type": "content_block_start", "index": index, "content_block": content})


def block_delta(index: int, delta_type: str, key: str, value: str) -> StreamEvent:
    return StreamEvent("content_block_delta", {
        "type": "content_block_delta", "index": index, "delta": {"type": delta_type, key: value},
    })


def block_stop(index: int) -> StreamEvent:
    return StreamEvent("content_block_stop", {"type": "content_block_stop", "index": index})
