"""OpenAI Responses stream events -> the Anthropic Messages event grammar.

The Responses API streams output items one after another (``output_item.added`` ... ``done``),
so each item maps to at most one Anthropic block and only one block is ever open. Text and
reasoning blocks open at their first content (no empty text block before tool calls); a function
call opens at once, since its ``added`` event already names it. A reasoning item's encrypted
content arrives with its ``done`` event and goes out as the thinking block's ``signature_delta``.

Choices made where the wire leaves room:
- several summary parts of one reasoning item are joined with a blank line (as the non-stream
  translation does); ``*.done`` events fill in content only when no delta carried it;
- a zero-argument call gets one ``input_json_delta`` of ``"{}"``;
- ``response.failed`` and ``error`` end in an Anthropic ``error`` event with no ``message_stop``,
  and so does end of input before ``response.completed`` / ``response.incomplete``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from providers.adapters.base import (
    JSON,
    StreamEvent,
    StreamStats,
    UpstreamRequest,
    anthropic_error_event,
)
from providers.adapters.events import (
    DELTA_TYPES,
    TRUNCATED,
    block_delta,
    block_start,
    block_stop,
    empty_block,
    message_end,
    message_start,
)
from providers.adapters.openai_compat.common import new_id, usage_body
from providers.adapters.openai_compat.errors import error_object_type
from providers.adapters.openai_responses.common import (
    SUMMARY_JOIN,
    signature_encode,
    stop_reason,
    summary_text,
    usage_or_estimate,
)

ITEM_KINDS: dict[str, str] = {"message": "text", "reasoning": "thinking", "function_call": "tool_use"}


@dataclass(slots=True)
class _Block:
    kind: str                 # "thinking" | "text" | "tool_use"
    output_index: int
    index: int = -1           # Anthropic content index, once opened
    up_id: str = ""
    name: str = ""
    sent: bool = False        # a delta went out
    summary_index: int = 0    # reasoning: the summary part the last delta belonged to


class ResponsesStreamTranslator:
    """feed(StreamEvent) -> list[StreamEvent]; flush() at end of input."""

    def __init__(self, up: UpstreamRequest, make_id: Callable[[str], str] = new_id) -> None:
        self.stats = StreamStats()
        self._up = up
        self._make_id = make_id
        self._block: _Block | None = None
        self._next_index = 0
        self._has_tool = False
        self._refused = False
        self._chars = 0
        self._started = False
        self._ended = False
        self._handlers: dict[str, Callable[[Mapping[str, Any], list[StreamEvent]], None]] = {
            "response.created": self._created,
            "response.in_progress": self._created,
            "response.output_item.added": self._item_added,
            "response.output_item.done": self._item_done,
            "response.output_text.delta": self._text_delta,
            "response.refusal.delta": self._refusal_delta,
            "response.output_text.done": self._text_done,
            "response.reasoning_summary_text.delta": self._summary_delta,
            "response.function_call_arguments.delta": self._args_delta,
            "response.function_call_arguments.done": self._args_done,
            "response.completed": self._completed,
            "response.incomplete": self._completed,
            "response.failed": self._failed,
            "error": self._error,
        }

    def feed(self, event: StreamEvent) -> list[StreamEvent]:
        if self._ended:
            return []
        data = event.data
        declared = data.get("type")
        kind = declared if isinstance(declared, str) else event.event
        handler = self._handlers.get(kind)
        if handler is None:
            return []  # part/summary bookkeeping events, keep-alives, events we do not need
        out: list[StreamEvent] = []
        if not self._started and kind != "error":
            self._start(data.get("response"), out)
        handler(data, out)
        return out

    def flush(self) -> list[StreamEvent]:
        if self._ended:
            return []
        return self._fail([], "api_error", TRUNCATED)

    # -- response level --------------------------------------------------------------------------

    def _start(self, response: Any, out: list[StreamEvent]) -> None:
        self._started = True
        upstream_id = response.get("id") if isinstance(response, Mapping) else None
        out.append(message_start(upstream_id, up=self._up, stats=self.stats, make_id=self._make_id))

    def _created(self, data: Mapping[str, Any], out: list[StreamEvent]) -> None:
        return  # message_start went out in feed()

    def _completed(self, data: Mapping[str, Any], out: list[StreamEvent]) -> None:
        """Close the open block, then message_delta (stop reason, usage) and message_stop."""
        self._close(out)
        response = data.get("response")
        response = response if isinstance(response, Mapping) else {}
        reason = stop_reason(response, self._has_tool, self._refused)
        usage = usage_body(*usage_or_estimate(response.get("usage"), self._up.input_estimate, self._chars))
        message_end(out, stats=self.stats, reason=reason, sequence=None, usage=usage)
        self._ended = True

    def _failed(self, data: Mapping[str, Any], out: list[StreamEvent]) -> None:
        response = data.get("response")
        error = response.get("error") if isinstance(response, Mapping) else None
        self._fail(out, *error_object_type(error or {"message": "upstream response failed"}))

    def _error(self, data: Mapping[str, Any], out: list[StreamEvent]) -> None:
        nested = data.get("error")
        self._fail(out, *error_object_type(nested if isinstance(nested, Mapping) else data))

    def _fail(self, out: list[StreamEvent], error_type: str, message: str) -> list[StreamEvent]:
        self._ended = True
        self.stats.error = message
        out.append(anthropic_error_event(error_type, message))
        return out

    # -- items -----------------------------------------------------------------------------------

    def _item_added(self, data: Mapping[str, Any], out: list[StreamEvent]) -> None:
        item = data.get("item")
        if not isinstance(item, Mapping) or item.get("type") not in ITEM_KINDS:
            return  # built-in tool calls and other items have no Anthropic equivalent here
        block = self._switch(ITEM_KINDS[str(item["type"])], data, out)
        if block.kind == "tool_use":
            block.up_id = str(item.get("call_id") or "")
            block.name = str(item.get("name") or "")
            if block.name:
                self._open(block, out)

    def _item_done(self, data: Mapping[str, Any], out: list[StreamEvent]) -> None:
        """Fill in what no delta carried, add the reasoning signature, close the block."""
        item = data.get("item")
        if not isinstance(item, Mapping) or item.get("type") not in ITEM_KINDS:
            return
        kind = ITEM_KINDS[str(item["type"])]
        block = self._block
        if block is None or block.output_index != _index(data) or block.kind != kind:
            block = self._switch(kind, data, out)
        if kind == "thinking":
            self._reasoning_done(block, item, out)
        elif kind == "text" and not block.sent:
            self._put(block, _message_text(item), out)
        elif kind == "tool_use":
            block.up_id = block.up_id or str(item.get("call_id") or "")
            block.name = block.name or str(item.get("name") or "")
            if not block.sent:
                arguments = item.get("arguments")
                self._args(block, arguments if isinstance(arguments, str) else "", out)
        self._close(out)

    def _reasoning_done(self, block: _Block, item: Mapping[str, Any], out: list[StreamEvent]) -> None:
        if not block.sent:
            self._put(block, summary_text(item), out)
        if item.get("encrypted_content"):
            self._open(block, out)
            out.append(block_delta(block.index, "signature_delta", "signature", signature_encode(item)))

    def _text_delta(self, data: Mapping[str, Any], out: list[StreamEvent]) -> None:
        self._put(self._current("text", data, out), _str(data.get("delta")), out)

    def _refusal_delta(self, data: Mapping[str, Any], out: list[StreamEvent]) -> None:
        self._refused = True
        self._text_delta(data, out)

    def _text_done(self, data: Mapping[str, Any], out: list[StreamEvent]) -> None:
        block = self._current("text", data, out)
        if not block.sent:
            self._put(block, _str(data.get("text")), out)

    def _summary_delta(self, data: Mapping[str, Any], out: list[StreamEvent]) -> None:
        block = self._current("thinking", data, out)
        fragment = _str(data.get("delta"))
        part = data.get("summary_index")
        if isinstance(part, int) and part != block.summary_index:
            block.summary_index = part
            if block.sent and fragment:
                fragment = SUMMARY_JOIN + fragment
        self._put(block, fragment, out)

    def _args_delta(self, data: Mapping[str, Any], out: list[StreamEvent]) -> None:
        self._args(self._current("tool_use", data, out), _str(data.get("delta")), out)

    def _args_done(self, data: Mapping[str, Any], out: list[StreamEvent]) -> None:
        block = self._current("tool_use", data, out)
        if not block.sent:
            self._args(block, _str(data.get("arguments")), out)

    # -- blocks ----------------------------------------------------------------------------------

    def _current(self, kind: str, data: Mapping[str, Any], out: list[StreamEvent]) -> _Block:
        """The open block for this event's output item (a new one if its ``added`` was missed)."""
        block = self._block
        if block is not None and block.kind == kind and block.output_index == _index(data):
            return block
        return self._switch(kind, data, out)

    def _switch(self, kind: str, data: Mapping[str, Any], out: list[StreamEvent]) -> _Block:
        self._close(out)
        block = self._block = _Block(kind, _index(data))
        return block

    def _args(self, block: _Block, fragment: str, out: list[StreamEvent]) -> None:
        if fragment.strip() or block.sent:
            self._put(block, fragment, out)

    def _put(self, block: _Block, fragment: str, out: list[StreamEvent]) -> None:
        if not fragment or block is not self._block:
            return
        if block.kind == "tool_use" and not block.name:
            return  # an unnamed call is unusable (and nothing was opened for it)
        self._open(block, out)
        block.sent = True
        self._chars += len(fragment)
        delta_type, key = DELTA_TYPES[block.kind]
        out.append(block_delta(block.index, delta_type, key, fragment))

    def _open(self, block: _Block, out: list[StreamEvent]) -> None:
        if block.index >= 0:
            return
        block.index = self._next_index
        self._next_index += 1
        content: JSON
        if block.kind in ("text", "thinking"):
            content = empty_block(block.kind)
        else:
            self._has_tool = True
            name = self._up.tool_names.get(block.name, block.name)
            content = {"type": "tool_use", "id": block.up_id or self._make_id("toolu_"), "name": name, "input": {}}
        out.append(block_start(block.index, content))
        self.stats.first_content = True

    def _close(self, out: list[StreamEvent]) -> None:
        block, self._block = self._block, None
        if block is None or block.index < 0:
            return
        if block.kind == "tool_use" and not block.sent:
            self._chars += 2
            out.append(block_delta(block.index, "input_json_delta", "partial_json", "{}"))
        out.append(block_stop(block.index))


def _index(data: Mapping[str, Any]) -> int:
    value = data.get("output_index")
    return value if isinstance(value, int) else -1


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _message_text(item: Mapping[str, Any]) -> str:
    parts = item.get("content")
    if not isinstance(parts, list):
        return ""
    return "".join(_str(p.get("text") if p.get("type") == "output_text" else p.get("refusal"))
                   for p in parts if isinstance(p, Mapping))
