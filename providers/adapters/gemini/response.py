"""Gemini GenerateContentResponse -> Anthropic message (non-streaming replies).

A complete reply is one chunk of the stream, so it goes through the stream translator and the
events are folded into a message: one set of part rules for both paths.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from providers.adapters.base import JSON, ChatResponse, StreamEvent, UpstreamRequest, loads
from providers.adapters.gemini.stream import GeminiStreamTranslator
from providers.adapters.openai_compat.common import new_id
from providers.adapters.openai_compat.errors import error_from_object
from providers.adapters.openai_compat.response import RAW_ARGUMENTS

DEFAULT_FINISH = "STOP"
DELTA_KEYS: dict[str, str] = {"text_delta": "text", "thinking_delta": "thinking", "signature_delta": "signature"}


def translate_response(
    status: int, body: Mapping[str, Any], up: UpstreamRequest, make_id: Callable[[str], str] = new_id
) -> ChatResponse:
    """A 200 body that carries only an ``error`` object raises AdapterError."""
    if "error" in body and "candidates" not in body:
        raise error_from_object(body["error"])
    translator = GeminiStreamTranslator(up, make_id)
    events = translator.feed(StreamEvent("message", dict(body)))
    if _unfinished(body):
        # a complete reply is complete even when it names no finish reason (a stream would be cut)
        events += translator.feed(StreamEvent("message", {"candidates": [{"finishReason": DEFAULT_FINISH}]}))
    events += translator.flush()
    message: JSON = {}
    for event in events:
        _fold(event, message)
    if event.event == "error":
        raise error_from_object(event.data.get("error"))
    return ChatResponse(message, status if 200 <= status < 300 else 200)


def _unfinished(body: Mapping[str, Any]) -> bool:
    candidates = body.get("candidates")
    first = candidates[0] if isinstance(candidates, list) and candidates else None
    return isinstance(first, dict) and not first.get("finishReason")


def _fold(event: StreamEvent, message: JSON) -> None:
    data = event.data
    kind = event.event
    if kind == "message_start":
        message.update(data["message"])
    elif kind == "content_block_start":
        message["content"].append(dict(data["content_block"]))
    elif kind == "content_block_delta":
        block = message["content"][data["index"]]
        delta = data["delta"]
        if delta["type"] == "input_json_delta":
            block["input"] = _arguments(delta["partial_json"])
        else:
            key = DELTA_KEYS[delta["type"]]
            block[key] = (block.get(key) or "") + delta[key] if key != "signature" else delta[key]
    elif kind == "message_delta":
        message.update(data["delta"])
        message["usage"] = data["usage"]


def _arguments(raw: str) -> JSON:
    value = loads(raw)
    return value if isinstance(value, dict) else {RAW_ARGUMENTS: raw}
