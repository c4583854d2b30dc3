"""ConverseStream events -> the Anthropic Messages event grammar.

The event-stream framer (``providers/eventstream.py``) hands over each message as
``StreamEvent(<:event-type>, <payload JSON>)``: ``messageStart``, ``contentBlockStart`` (tool uses
only: text and reasoning blocks begin with their first delta), ``contentBlockDelta`` (``text``,
``toolUse.input`` fragments, ``reasoningContent.text`` / ``signature`` / ``redactedContent``),
``contentBlockStop``, ``messageStop`` (the stop reason) and ``metadata`` (usage, after the stop).
In-stream exceptions arrive already as Anthropic ``error`` events.

One block is open at a time; a delta for another upstream index or kind closes it. The message
ends at ``metadata`` after ``messageStop`` (or at flush when the usage never came); end of input
before ``messageStop`` is a truncated stream: an ``error`` event and no ``message_stop``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from providers.adapters.base import JSON, StreamEvent, StreamStats, UpstreamRequest, anthropic_error_event
from providers.adapters.bedrock_converse.common import stop_reason, usage_tokens
from providers.adapters.events import (
    TRUNCATED,
    block_delta,
    block_start,
    block_stop,
    message_end,
    message_start,
)
from providers.adapters.openai_compat.common import new_id


@dataclass(slots=True)
class _Open:
    kind: str  # "text" | "thinking" | "tool_use" | "redacted"
    upstream: int
    index: int
    has_input: bool = False
    data: list[str] = field(default_factory=list)  # redactedContent pieces, sent whole at the close


class ConverseStreamTranslator:
    """feed(StreamEvent) -> list[StreamEvent]; flush() at end of input."""

    def __init__(self, up: UpstreamRequest, make_id: Callable[[str], str] = new_id) -> None:
        self.stats = StreamStats()
        self._up = up
        self._make_id = make_id
        self._open: _Open | None = None
        self._next_index = 0
        self._has_tool = False
        self._stop: str | None = None
        self._chars = 0
        self._started = False
        self._ended = False

    def feed(self, event: StreamEvent) -> list[StreamEvent]:
        if self._ended:
            return []
        if event.event == "error":
            error = event.data.get("error")
            self.stats.error = str(error.get("message") if isinstance(error, dict) else error)
            self._ended = True
            return [event]
        out: list[StreamEvent] = []
        if not self._started:
            self._start(out)
        data = event.data
        handler = self._HANDLERS.get(event.event)
        if handler is not None:
            handler(self, data, out)
        return out

    def flush(self) -> list[StreamEvent]:
        if self._ended:
            return []
        if self._stop is not None:
            return self._end(None, [])
        self._ended = True
        self.stats.error = TRUNCATED
        return [anthropic_error_event("api_error", TRUNCATED)]

    # -- message level ---------------------------------------------------------------------------

    def _start(self, out: list[StreamEvent]) -> None:
        self._started = True
        out.append(message_start(None, up=self._up, stats=self.stats, make_id=self._make_id))

    def _message_stop(self, data: Mapping[str, Any], out: list[StreamEvent]) -> None:
        self._close(out)
        self._stop = str(data.get("stopReason") or "end_turn")

    def _metadata(self, data: Mapping[str, Any], out: list[StreamEvent]) -> None:
        if self._stop is not None:
            self._end(data.get("usage"), out)

    def _end(self, usage_raw: Any, out: list[StreamEvent]) -> list[StreamEvent]:
        self._close(out)
        reason = stop_reason(self._stop, self._has_tool)
        usage = usage_tokens(usage_raw, self._up.input_estimate, self._chars)
        self.stats.cache_creation_input_tokens = usage["cache_creation_input_tokens"]
        self.stats.upstream_stopped = True
        message_end(out, stats=self.stats, reason=reason, sequence=None, usage=usage)
        self._ended = True
        return out

    # -- blocks ----------------------------------------------------------------------------------

    def _block_start(self, data: Mapping[str, Any], out: list[StreamEvent]) -> None:
        start = data.get("start")
        tool = start.get("toolUse") if isinstance(start, dict) else None
        if not isinstance(tool, dict):
            return
        name = str(tool.get("name") or "")
        tool_id = tool.get("toolUseId")
        self._has_tool = True
        self._begin("tool_use", _index(data), out, {
            "type": "tool_use", "id": tool_id if isinstance(tool_id, str) and tool_id else self._make_id("toolu_"),
            "name": self._up.tool_names.get(name, name), "input": {},
        })

    def _block_delta(self, data: Mapping[str, Any], out: list[StreamEvent]) -> None:
        delta = data.get("delta")
        if not isinstance(delta, dict):
            return
        upstream = _index(data)
        if isinstance(delta.get("text"), str):
            self._piece("text", upstream, "text_delta", "text", delta["text"], out)
        elif isinstance(delta.get("toolUse"), dict):
            self._tool_input(upstream, str(delta["toolUse"].get("input") or ""), out)
        elif isinstance(delta.get("reasoningContent"), dict):
            self._reasoning(upstream, delta["reasoningContent"], out)

    def _block_stop(self, data: Mapping[str, Any], out: list[StreamEvent]) -> None:
        if self._open is not None and self._open.upstream == _index(data):
            self._close(out)

    def _piece(self, kind: str, upstream: int, delta_type: str, key: str, value: str, out: list[StreamEvent]) -> None:
        if not value and key != "signature":
            return
        if not self._is_open(kind, upstream):
            block: JSON = {"type": "text", "text": ""} if kind == "text" else {
                "type": "thinking", "thinking": "", "signature": ""}
            self._begin(kind, upstream, out, block)
        self._chars += len(value)
        out.append(self._delta(delta_type, key, value))

    def _tool_input(self, upstream: int, fragment: str, out: list[StreamEvent]) -> None:
        if not self._is_open("tool_use", upstream):  # input without its start: an unnamed call
            self._has_tool = True
            self._begin("tool_use", upstream, out, {"type": "tool_use", "id": self._make_id("toolu_"),
                                                    "name": "", "input": {}})
        if fragment:
            assert self._open is not None
            self._open.has_input = True
            self._chars += len(fragment)
            out.append(self._delta("input_json_delta", "partial_json", fragment))

    def _reasoning(self, upstream: int, reasoning: Mapping[str, Any], out: list[StreamEvent]) -> None:
        if isinstance(reasoning.get("text"), str):
            self._piece("thinking", upstream, "thinking_delta", "thinking", reasoning["text"], out)
        elif isinstance(reasoning.get("signature"), str):
            self._piece("thinking", upstream, "signature_delta", "signature", reasoning["signature"], out)
        elif isinstance(reasoning.get("redactedContent"), str):
            if not self._is_open("redacted", upstream):
                self._close(out)
                self._open = _Open("redacted", upstream, -1)
            assert self._open is not None
            self._open.data.append(reasoning["redactedContent"])

    def _is_open(self, kind: str, upstream: int) -> bool:
        return self._open is not None and (self._open.kind, self._open.upstream) == (kind, upstream)

    def _begin(self, kind: str, upstream: int, out: list[StreamEvent], block: JSON) -> None:
        self._close(out)
        self._open = _Open(kind, upstream, self._next_index)
        self._next_index += 1
        out.append(block_start(self._open.index, block))
        self.stats.first_content = True

    def _close(self, out: list[StreamEvent]) -> None:
        opened, self._open = self._open, None
        if opened is None:
            return
        if opened.kind == "redacted":  # the whole block at once: its data is one opaque value
            opened.index, self._next_index = self._next_index, self._next_index + 1
            out.append(block_start(opened.index, {"type": "redacted_thinking", "data": "".join(opened.data)}))
            self.stats.first_content = True
        elif opened.kind == "tool_use" and not opened.has_input:  # a call without arguments
            out.append(block_delta(opened.index, "input_json_delta", "partial_json", "{}"))
        out.append(block_stop(opened.index))

    def _delta(self, delta_type: str, key: str, value: str) -> StreamEvent:
        assert self._open is not None
        return block_delta(self._open.index, delta_type, key, value)

    _HANDLERS: dict[str, Callable[[ConverseStreamTranslator, Mapping[str, Any], list[StreamEvent]], None]] = {
        "contentBlockStart": _block_start,
        "contentBlockDelta": _block_delta,
        "contentBlockStop": _block_stop,
        "messageStop": _message_stop,
        "metadata": _metadata,
    }


def _index(data: Mapping[str, Any]) -> int:
    value = data.get("contentBlockIndex")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
