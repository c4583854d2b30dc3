"""A fake Anthropic Messages upstream and builders for its bodies and event streams."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any, ClassVar

from tests.fakes.server import Chunk, FakeServer, Recorded, Reply, chunk_text

# (input_tokens, output_tokens[, cache_read_input_tokens]) or a full usage dict.
Usage = tuple[int, int] | tuple[int, int, int] | dict[str, Any]
ToolUse = tuple[str, str, dict[str, Any]]  # (id, name, input)

DEFAULT_TEXT = "Hello from the fake Anthropic upstream."
_ids = itertools.count(1)


def _usage(usage: Usage) -> dict[str, Any]:
    if isinstance(usage, dict):
        return dict(usage)
    inp, out, *rest = usage
    return {
        "input_tokens": inp,
        "output_tokens": out,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": rest[0] if rest else 0,
    }


def anthropic_message(
    text: str | None = DEFAULT_TEXT,
    model: str = "claude-test",
    usage: Usage = (10, 5),
    tool_uses: Sequence[ToolUse] = (),
    stop_reason: str | None = None,
) -> dict[str, Any]:
    """A non-stream Messages response body."""
    content: list[dict[str, Any]] = []
    if text:
        content.append({"type": "text", "text": text})
    content += [{"type": "tool_use", "id": i, "name": n, "input": inp} for i, n, inp in tool_uses]
    return {
        "id": f"msg_fake{next(_ids):04d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason or ("tool_use" if tool_uses else "end_turn"),
        "stop_sequence": None,
        "usage": _usage(usage),
    }


def anthropic_stream_events(
    text: str | None = DEFAULT_TEXT,
    model: str = "claude-test",
    usage: Usage = (10, 5),
    tool_uses: Sequence[ToolUse] = (),
    stop_reason: str | None = None,
    pieces: Sequence[str] | None = None,
    ping: bool = True,
) -> list[dict[str, Any]]:
    """A valid event sequence: message_start, blocks (start/deltas/stop), message_delta, message_stop."""
    full = _usage(usage)
    start_usage = {**full, "output_tokens": 1}
    msg = anthropic_message(None, model=model, usage=start_usage)
    msg.update(content=[], stop_reason=None)
    events: list[dict[str, Any]] = [{"type": "message_start", "message": msg}]
    if ping:
        events.append({"type": "ping"})
    index = 0
    if text:
        events.append({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
        for piece in chunk_text(text, pieces):
            events.append(
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
            )
        events.append({"type": "content_block_stop", "index": 0})
        index = 1
    for tid, name, inp in tool_uses:
        events.append(
            {
                "type": "content_block_start",
                "index": index,
                "content_block": {"type": "tool_use", "id": tid, "name": name, "input": {}},
            }
        )
        for frag in chunk_text(json.dumps(inp), size=9):
            events.append(
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": frag},
                }
            )
        events.append({"type": "content_block_stop", "index": index})
        index += 1
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason or ("tool_use" if tool_uses else "end_turn"), "stop_sequence": None},
            "usage": {"output_tokens": full.get("output_tokens", 0)},
        }
    )
    events.append({"type": "message_stop"})
    return events


def anthropic_error(status: int, message: str = "fake error", type_: str | None = None) -> dict[str, Any]:
    """An Anthropic-shaped error body with the type Anthropic uses for ``status``."""
    types = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
             404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
             500: "api_error", 529: "overloaded_error"}
    return {"type": "error", "error": {"type": type_ or types.get(status, "api_error"), "message": message}}


def anthropic_text_reply(rec: Recorded, text: str = DEFAULT_TEXT, model: str | None = None) -> Reply:
    """A text reply in the shape the request asked for (SSE when ``stream`` is true)."""
    body = rec.json if isinstance(rec.json, dict) else {}
    model = model or str(body.get("model") or "claude-test")
    if rec.stream:
        return Reply.sse(anthropic_stream_events(text, model=model))
    return Reply.json(anthropic_message(text, model=model))


class FakeAnthropic(FakeServer):
    """Anthropic upstream: ``base_url`` is the origin; POST /v1/messages (+ count_tokens, models)."""

    main_paths: ClassVar[tuple[str, ...]] = ("/v1/messages",)
    name: ClassVar[str] = "fake-anthropic"

    def encode_event(self, chunk: Chunk) -> bytes:
        if isinstance(chunk, dict):
            return f"event: {chunk.get('type', 'message')}\n".encode() + super().encode_event(chunk)
        return super().encode_event(chunk)

    def canned(self, rec: Recorded) -> Reply:
        return anthropic_text_reply(rec)

    def side_reply(self, rec: Recorded) -> Reply | None:
        if rec.method == "POST" and rec.path == "/v1/messages/count_tokens":
            size = len(rec.raw)
            return Reply.json({"input_tokens": max(1, size // 4)})
        if rec.method == "GET" and rec.path == "/v1/models":
            return Reply.json(
                {
                    "data": [
                        {
                            "type": "model",
                            "id": "claude-test",
                            "display_name": "Claude Test",
                            "created_at": "2025-01-01T00:00:00Z",
                        }
                    ],
                    "has_more": False,
                    "first_id": "claude-test",
                    "last_id": "claude-test",
                }
            )
        if rec.method in ("HEAD", "GET") and rec.path == "/":
            return Reply.json({})
        return None

    def __enter__(self) -> FakeAnthropic:
        self.start()
        return self
