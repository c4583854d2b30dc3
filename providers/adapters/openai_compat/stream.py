"""OpenAI chat-completion chunks -> the Anthropic Messages event grammar.

Blocks are numbered in order of first appearance and only the first unfinished one (the head) is
open on the wire; content for later blocks is buffered until the head closes, so the client never
sees two open blocks and no fragment is lost whatever order the upstream interleaves them in.

A thinking or text block closes as soon as any other block gets content; a tool call stays open
until its choice finishes (a later call's arguments are buffered meanwhile), because tool-call
deltas carry no end marker. ``message_delta``/``message_stop`` wait for ``[DONE]`` or ``flush()``
since the usage chunk follows the finish chunk; the open block closes at the finish chunk.

Choices made where the wire leaves room:
- zero-argument tool calls (empty or whitespace-only arguments) get one ``input_json_delta`` of
  ``"{}"``; otherwise the fragments concatenate to exactly the upstream arguments (leading
  whitespace is held back until the first real fragment);
- thinking blocks start with ``signature: ""`` and get no ``signature_delta`` (no backend here
  signs its reasoning, and signatures never go back upstream);
- ``[DONE]`` without a finish reason is a clean end; end of input without either is a truncated
  stream and ends in an ``error`` event with no ``message_stop``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from providers.adapters.base import (
    JSON,
    StreamEvent,
    StreamStats,
    UpstreamRequest,
    anthropic_error_event,
    dumps,
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
from providers.adapters.openai_compat.common import new_id, stop_reason, usage_body, usage_or_estimate
from providers.adapters.openai_compat.errors import error_object_type


@dataclass(slots=True)
class _Block:
    kind: str                # "thinking" | "text" | "tool_use"
    choice: int
    index: int = -1          # Anthropic content index, once opened
    up_id: str = ""          # upstream tool call id
    name: str = ""
    pending: list[str] = field(default_factory=list)
    started: bool = False
    done: bool = False       # no more content expected
    closed: bool = False
    args_seen: bool = False  # a non-whitespace argument fragment arrived
    held_ws: str = ""        # leading whitespace held back


class OpenAIStreamTranslator:
    """feed(StreamEvent) -> list[StreamEvent]; flush() at end of input."""

    def __init__(self, up: UpstreamRequest, make_id: Callable[[str], str] = new_id) -> None:
        self.stats = StreamStats()
        self._up = up
        self._make_id = make_id
        self._blocks: list[_Block] = []
        self._head = 0
        self._next_index = 0
        self._by_index: dict[tuple[int, int], _Block] = {}
        self._by_id: dict[tuple[int, str], _Block] = {}
        self._last_tool: dict[int, _Block] = {}
        self._finishes: dict[int, str] = {}
        self._stop_string: str | None = None
        self._usage: Mapping[str, Any] | None = None
        self._chars = 0
        self._started = False
        self._ended = False

    def feed(self, event: StreamEvent) -> list[StreamEvent]:
        if self._ended:
            return []
        data = event.data
        if data.get("_done"):
            return self._end([])
        if event.event == "error" or data.get("error") or data.get("object") == "error":
            return self._fail([], *error_object_type(data.get("error") or data))
        choices = data.get("choices")
        usage = data.get("usage")
        if choices is None and not usage:
            return []  # keep-alives, non-JSON lines
        out: list[StreamEvent] = []
        if not self._started:
            self._start(data, out)
        if isinstance(choices, list):
            for choice in choices:
                if isinstance(choice, dict) and not self._ended:
                    self._choice(choice, out)
        if isinstance(usage, dict):
            self._usage = usage
        return out

    def flush(self) -> list[StreamEvent]:
        if self._ended:
            return []
        if self._finishes:
            return self._end([])  # finished but no [DONE]: some backends just close
        return self._fail([], "api_error", TRUNCATED)

    # -- message level ---------------------------------------------------------------------------

    def _start(self, data: Mapping[str, Any], out: list[StreamEvent]) -> None:
        self._started = True
        upstream_id = data.get("id")
        out.append(message_start(upstream_id, up=self._up, stats=self.stats, make_id=self._make_id))

    def _end(self, out: list[StreamEvent]) -> list[StreamEvent]:
        """Close every block, then message_delta (stop reason, usage) and message_stop."""
        if not self._started:
            self._start({}, out)
        for block in self._blocks:
            block.done = True
        self._advance(out)
        has_tool = any(b.kind == "tool_use" and b.started for b in self._blocks)
        reason, sequence = stop_reason(list(self._finishes.values()), self._stop_string, has_tool)
        usage = usage_body(*usage_or_estimate(self._usage, self._up.input_estimate, self._chars))
        message_end(out, stats=self.stats, reason=reason, sequence=sequence, usage=usage)
        self._ended = True
        return out

    def _fail(self, out: list[StreamEvent], error_type: str, message: str) -> list[StreamEvent]:
        self._ended = True
        self.stats.error = message
        out.append(anthropic_error_event(error_type, message))
        return out

    # -- choices ---------------------------------------------------------------------------------

    def _choice(self, choice: Mapping[str, Any], out: list[StreamEvent]) -> None:
        index = choice.get("index")
        ci = index if isinstance(index, int) else 0
        delta = choice.get("delta") or choice.get("message")
        if isinstance(delta, dict):
            thought = delta.get("reasoning_content") or delta.get("reasoning")
            if thought and isinstance(thought, str):
                self._text("thinking", ci, thought, out)
            for key in ("content", "refusal"):
                text = delta.get(key)
                if text and isinstance(text, str):
                    self._text("text", ci, text, out)
            calls = delta.get("tool_calls")
            if calls and isinstance(calls, list):
                for call in calls:
                    if isinstance(call, dict):
                        self._tool(ci, call, out)
            elif isinstance(delta.get("function_call"), dict):
                self._tool(ci, {"index": 0, "function": delta["function_call"]}, out)
        finish = choice.get("finish_reason")
        if finish == "error":  # OpenRouter: a provider failed mid-stream
            self._fail(out, "api_error", "upstream reported an error mid-stream")
        elif finish:
            self._finish_choice(ci, str(finish), choice.get("stop_reason"), out)

    def _finish_choice(self, ci: int, finish: str, stop_string: Any, out: list[StreamEvent]) -> None:
        self._finishes[ci] = finish
        if isinstance(stop_string, str) and stop_string:
            self._stop_string = stop_string
        for block in self._blocks[self._head:]:
            if block.choice == ci:
                block.done = True
        self._advance(out)

    def _text(self, kind: str, ci: int, fragment: str, out: list[StreamEvent]) -> None:
        blocks = self._blocks
        block = blocks[-1] if blocks else None
        if block is None or block.kind != kind or block.choice != ci or block.done:
            block = self._new_block(kind, ci)
            self._advance(out)
        self._chars += len(fragment)
        self._put(block, fragment, out)

    def _tool(self, ci: int, call: Mapping[str, Any], out: list[StreamEvent]) -> None:
        block = self._tool_block(ci, call)
        function = call.get("function")
        if isinstance(function, dict):
            name = function.get("name")
            if name and isinstance(name, str) and not block.name:
                block.name = name
            args = function.get("arguments")
            if args is not None and not isinstance(args, str):
                args = dumps(args).decode()  # a few backends send an object
            if args:
                self._args(block, args, out)
        self._advance(out)

    def _tool_block(self, ci: int, call: Mapping[str, Any]) -> _Block:
        """The block a tool-call delta belongs to: by id, else by index, else the choice's last
        call (deltas without index or id continue the current call)."""
        raw_id = call.get("id")
        up_id = raw_id if isinstance(raw_id, str) else ""
        index = call.get("index")
        block = self._by_id.get((ci, up_id)) if up_id else None
        if block is None and isinstance(index, int):
            found = self._by_index.get((ci, index))
            if found is not None and not (up_id and found.up_id and found.up_id != up_id):
                block = found
        elif block is None and not up_id:
            block = self._last_tool.get(ci)
        if block is None or block.closed:
            block = self._new_block("tool_use", ci)
            if isinstance(index, int):
                self._by_index[(ci, index)] = block
        if up_id and not block.up_id:
            block.up_id = up_id
            self._by_id[(ci, up_id)] = block
        self._last_tool[ci] = block
        return block

    # -- blocks ----------------------------------------------------------------------------------

    def _new_block(self, kind: str, ci: int) -> _Block:
        blocks = self._blocks
        if blocks and blocks[-1].kind != "tool_use":
            blocks[-1].done = True
        block = _Block(kind, ci)
        blocks.append(block)
        return block

    def _args(self, block: _Block, fragment: str, out: list[StreamEvent]) -> None:
        if not block.args_seen:
            if not fragment.strip():
                block.held_ws += fragment
                return
            block.args_seen = True
            if block.held_ws:
                fragment, block.held_ws = block.held_ws + fragment, ""
        self._chars += len(fragment)
        self._put(block, fragment, out)

    def _put(self, block: _Block, fragment: str, out: list[StreamEvent]) -> None:
        if block.closed:
            return  # content after its choice finished: nowhere valid to put it
        if block.started:
            out.append(self._delta(block, fragment))
        else:
            block.pending.append(fragment)

    def _advance(self, out: list[StreamEvent]) -> None:
        """Open the head block when it can start, close it when done, and move on."""
        blocks = self._blocks
        while self._head < len(blocks):
            block = blocks[self._head]
            if not block.started:
                if block.kind == "tool_use" and not block.name:
                    if not block.done:
                        return  # wait for the name
                    block.closed = True  # never named: unusable, skipped
                    self._head += 1
                    continue
                self._open(block, out)
            if not block.done:
                return
            if block.kind == "tool_use" and not block.args_seen:
                self._chars += 2
                out.append(self._delta(block, "{}"))
            out.append(block_stop(block.index))
            block.closed = True
            self._head += 1

    def _open(self, block: _Block, out: list[StreamEvent]) -> None:
        block.index = self._next_index
        self._next_index += 1
        block.started = True
        content: JSON
        if block.kind in ("text", "thinking"):
            content = empty_block(block.kind)
        else:
            name = self._up.tool_names.get(block.name, block.name)
            content = {"type": "tool_use", "id": block.up_id or self._make_id("toolu_"), "name": name, "input": {}}
        out.append(block_start(block.index, content))
        self.stats.first_content = True
        for fragment in block.pending:
            out.append(self._delta(block, fragment))
        block.pending.clear()

    def _delta(self, block: _Block, fragment: str) -> StreamEvent:
        delta_type, key = DELTA_TYPES[block.kind]
        return block_delta(block.index, delta_type, key, fragment)
