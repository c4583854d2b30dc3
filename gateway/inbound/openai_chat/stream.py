"""Anthropic stream events -> OpenAI ``chat.completion.chunk`` dicts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.inbound.openai_chat.response import (
    completion_id,
    error_to_openai,
    finish_reason,
    json_text,
    obj,
    usage_to_openai,
)
from providers.adapters.base import JSON, StreamEvent, dumps

DONE = b"data: [DONE]\n\n"
KEEPALIVE = b": keep-alive\n\n"  # an SSE comment: OpenAI clients skip it

# Anthropic delta type -> (its text field, the OpenAI delta key it feeds)
DELTAS: dict[str, tuple[str, str]] = {
    "text_delta": ("text", "content"),
    "thinking_delta": ("thinking", "reasoning_content"),
    "input_json_delta": ("partial_json", "tool_calls"),
}


def _index(data: Mapping[str, Any]) -> int:
    index = data.get("index")
    return index if isinstance(index, int) else 0


@dataclass(slots=True)
class AnthropicToOpenAIStream:
    """Anthropic stream events -> ``chat.completion.chunk`` dicts (feed/flush, no I/O).

    Emits a role chunk at message_start, content / reasoning_content / tool_calls deltas as they
    come, a finish chunk at message_stop and, when asked, a ``choices: []`` usage chunk. An
    Anthropic ``error`` event becomes an ``{"error": ...}`` chunk and ends the stream.
    """

    model: str
    include_usage: bool = False
    created: int = 0
    id: str = "chatcmpl-gateway"
    usage: dict[str, int] = field(default_factory=dict)
    tool_index: dict[int, int] = field(default_factory=dict)  # Anthropic block index -> tool_calls index
    finish: str | None = None
    started: bool = False
    done: bool = False

    def feed(self, event: StreamEvent) -> list[JSON]:
        data = event.data
        kind = data.get("type") or event.event
        if self.done:
            return []
        if kind == "message_start":
            return self._start(obj(data.get("message")))
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "content_block_delta":
            return self._delta(data)
        if kind == "message_delta":
            self._message_delta(data)
            return []
        if kind == "message_stop":
            return self._stop()
        if kind == "error":
            self.done = True
            return [error_to_openai(500, {"error": obj(data.get("error"))})]
        return []  # ping, content_block_stop, unknown events

    def flush(self) -> list[JSON]:
        if self.done or not self.started:
            return []
        self.done = True
        return [error_to_openai(502, {"error": {"type": "api_error", "message": "upstream stream ended early"}})]

    def _chunk(self, delta: JSON, finish: str | None = None) -> JSON:
        chunk: JSON = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                       "model": self.model,
                       "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def _start(self, message: Mapping[str, Any]) -> list[JSON]:
        self.started = True
        self.id = completion_id(message.get("id"))
        self.model = str(message.get("model") or self.model)
        self._merge_usage(message.get("usage"))
        return [self._chunk({"role": "assistant", "content": "", "refusal": None})]

    def _block_start(self, data: Mapping[str, Any]) -> list[JSON]:
        block = obj(data.get("content_block"))
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str) and block["text"]:
            return [self._chunk({"content": block["text"]})]
        if kind != "tool_use":
            return []
        index = len(self.tool_index)
        self.tool_index[_index(data)] = index
        initial = block.get("input")
        call = {"index": index, "id": str(block.get("id") or ""), "type": "function",
                "function": {"name": str(block.get("name") or ""),
                             "arguments": json_text(initial) if initial else ""}}
        return [self._chunk({"tool_calls": [call]})]

    def _delta(self, data: Mapping[str, Any]) -> list[JSON]:
        delta = obj(data.get("delta"))
        kind = delta.get("type")
        field_name, key = DELTAS.get(kind if isinstance(kind, str) else "", ("", ""))
        value = delta.get(field_name) if field_name else None
        if not isinstance(value, str) or not value:
            return []  # signature_delta, citations_delta, empty deltas
        if key != "tool_calls":
            return [self._chunk({key: value})]
        index = self.tool_index.get(_index(data))
        if index is None:
            return []
        return [self._chunk({"tool_calls": [{"index": index, "function": {"arguments": value}}]})]

    def _message_delta(self, data: Mapping[str, Any]) -> None:
        delta = obj(data.get("delta"))
        if delta.get("stop_reason"):
            self.finish = finish_reason(delta["stop_reason"])
        self._merge_usage(data.get("usage"))

    def _merge_usage(self, usage: Any) -> None:
        if isinstance(usage, dict):
            self.usage.update({k: v for k, v in usage.items() if isinstance(v, int) and not isinstance(v, bool)})

    def _stop(self) -> list[JSON]:
        self.done = True
        out = [self._chunk({}, self.finish or "stop")]
        if self.include_usage:
            out.append({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                        "model": self.model, "choices": [], "usage": usage_to_openai(self.usage)})
        return out


def encode_chunks(chunks: list[JSON]) -> bytes:
    return b"".join([b"data: " + dumps(chunk) + b"\n\n" for chunk in chunks])


class OpenAIChunks:
    """The OpenAI dialect's stream encoder (gateway.inbound.encoders.StreamEncoder): Anthropic
    events -> ``data:`` chunks, keep-alives (and upstream pings) as SSE comments, ``[DONE]`` last."""

    __slots__ = ("translator",)
    wants_raw = False

    def __init__(self, translator: AnthropicToOpenAIStream) -> None:
        self.translator = translator

    def encode(self, events: list[StreamEvent]) -> bytes:
        feed = self.translator.feed
        chunks = [chunk for event in events for chunk in feed(event)]
        if chunks:
            return encode_chunks(chunks)
        if all(event.event == "ping" for event in events):  # keep-alives stay keep-alives
            return KEEPALIVE
        return b""

    def keepalive(self, started: bool) -> bytes:
        return KEEPALIVE

    def end(self) -> bytes:
        return encode_chunks(self.translator.flush()) + DONE
