"""Gemini ``streamGenerateContent?alt=sse`` chunks -> the Anthropic Messages event grammar.

Every chunk is a whole GenerateContentResponse carrying the next parts of one candidate, in order,
so one block is open at a time: consecutive text (or unsigned thought) parts extend the open
block, anything else closes it. A functionCall part arrives whole (name and args in one part) and
becomes a complete tool_use block. Signatures become thinking-block signatures (see common.py):
a thought part's own closes its thinking block; one on a functionCall or text part goes on the
open unsigned thinking block, or on an empty thinking block of its own, just before that part; one
arriving after text was streamed (Gemini's final empty text part) goes on a thinking block after it.

Gemini ends a stream by closing it; the last chunk has ``finishReason`` and the final
``usageMetadata``. ``message_delta``/``message_stop`` follow at ``flush()``; end of input without a
finish reason is a truncated stream and ends in an ``error`` event with no ``message_stop``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from providers.adapters.base import (
    StreamEvent,
    StreamStats,
    UpstreamRequest,
    anthropic_error_event,
    dumps,
)
from providers.adapters.events import (
    TRUNCATED,
    block_delta,
    block_start,
    block_stop,
    empty_block,
    message_end,
    message_start,
)
from providers.adapters.gemini.common import NEXT, OWN, PREV, sig_encode, stop_reason, usage_tokens
from providers.adapters.openai_compat.common import new_id
from providers.adapters.openai_compat.errors import error_object_type

BLOCKED = "PROHIBITED_CONTENT"  # a prompt blocked before any candidate: a refusal


@dataclass(slots=True)
class _Open:
    kind: str  # "thinking" | "text"
    index: int


class GeminiStreamTranslator:
    """feed(StreamEvent) -> list[StreamEvent]; flush() at end of input."""

    def __init__(self, up: UpstreamRequest, make_id: Callable[[str], str] = new_id) -> None:
        self.stats = StreamStats()
        self._up = up
        self._make_id = make_id
        self._open: _Open | None = None
        self._next_index = 0
        self._has_tool = False
        self._finish: str | None = None
        self._usage: Mapping[str, Any] | None = None
        self._chars = 0
        self._started = False
        self._ended = False

    def feed(self, event: StreamEvent) -> list[StreamEvent]:
        if self._ended:
            return []
        data = event.data
        if event.event == "error" or "error" in data:
            return self._fail([], *error_object_type(data.get("error") or data))
        candidates = data.get("candidates")
        if candidates is None and "usageMetadata" not in data and "promptFeedback" not in data:
            return []  # keep-alives, non-JSON lines
        out: list[StreamEvent] = []
        if not self._started:
            self._start(data, out)
        candidate = candidates[0] if isinstance(candidates, list) and candidates else None
        if isinstance(candidate, dict):
            self._candidate(candidate, out)
        elif isinstance(data.get("promptFeedback"), dict) and data["promptFeedback"].get("blockReason"):
            self._finish = BLOCKED
        if isinstance(data.get("usageMetadata"), dict):
            self._usage = data["usageMetadata"]
        return out

    def flush(self) -> list[StreamEvent]:
        if self._ended:
            return []
        if self._finish is not None:
            return self._end([])
        return self._fail([], "api_error", TRUNCATED)

    # -- message level ---------------------------------------------------------------------------

    def _start(self, data: Mapping[str, Any], out: list[StreamEvent]) -> None:
        self._started = True
        upstream_id = data.get("responseId")
        out.append(message_start(upstream_id, up=self._up, stats=self.stats, make_id=self._make_id))

    def _end(self, out: list[StreamEvent]) -> list[StreamEvent]:
        self._close(out)
        reason = stop_reason(self._finish, self._has_tool)
        usage = usage_tokens(self._usage, self._up.input_estimate, self._chars)
        message_end(out, stats=self.stats, reason=reason, sequence=None, usage=usage)
        self._ended = True
        return out

    def _fail(self, out: list[StreamEvent], error_type: str, message: str) -> list[StreamEvent]:
        self._ended = True
        self.stats.error = message
        out.append(anthropic_error_event(error_type, message))
        return out

    # -- parts -----------------------------------------------------------------------------------

    def _candidate(self, candidate: Mapping[str, Any], out: list[StreamEvent]) -> None:
        content = candidate.get("content")
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else ():
            if isinstance(part, dict):
                self._part(part, out)
        finish = candidate.get("finishReason")
        if isinstance(finish, str) and finish:
            self._finish = finish
            self._close(out)

    def _part(self, part: Mapping[str, Any], out: list[StreamEvent]) -> None:
        raw_sig = part.get("thoughtSignature")
        sig = raw_sig if isinstance(raw_sig, str) and raw_sig else None
        text = part.get("text")
        if part.get("thought"):
            self._thought(text if isinstance(text, str) else "", sig, out)
        elif isinstance(part.get("functionCall"), dict):
            self._sign(NEXT, sig, out)
            self._tool_use(part["functionCall"], out)
        elif isinstance(text, str):
            self._text(text, sig, out)

    def _thought(self, text: str, sig: str | None, out: list[StreamEvent]) -> None:
        if self._open is None or self._open.kind != "thinking":
            self._begin("thinking", out)
        if text:
            self._chars += len(text)
            out.append(self._delta("thinking_delta", "thinking", text))
        if sig:
            out.append(self._delta("signature_delta", "signature", sig_encode(OWN, sig)))
            self._close(out)

    def _text(self, text: str, sig: str | None, out: list[StreamEvent]) -> None:
        continuing = self._open is not None and self._open.kind == "text"
        if text and not continuing:
            self._sign(NEXT, sig, out)
            sig = None
            self._begin("text", out)
        if text:
            self._chars += len(text)
            out.append(self._delta("text_delta", "text", text))
        if sig:  # it belongs to the text already streamed: a thinking block right after it
            self._close(out)
            self._sign(PREV, sig, out)

    def _tool_use(self, call: Mapping[str, Any], out: list[StreamEvent]) -> None:
        self._close(out)
        name = str(call.get("name") or "")
        call_id = call.get("id")
        args = call.get("args")
        fragment = dumps(args).decode() if isinstance(args, dict) else "{}"
        self._chars += len(fragment)
        self._has_tool = True
        index = self._next_index
        self._next_index += 1
        out.append(block_start(index, {
            "type": "tool_use", "id": call_id if isinstance(call_id, str) and call_id else self._make_id("toolu_"),
            "name": self._up.tool_names.get(name, name), "input": {},
        }))
        out.append(block_delta(index, "input_json_delta", "partial_json", fragment))
        out.append(block_stop(index))
        self.stats.first_content = True

    # -- blocks ----------------------------------------------------------------------------------

    def _sign(self, where: str, sig: str | None, out: list[StreamEvent]) -> None:
        """Put a part's signature on the open unsigned thinking block, else on a new empty one."""
        if not sig:
            return
        if self._open is None or self._open.kind != "thinking" or where == PREV:
            self._begin("thinking", out)
        out.append(self._delta("signature_delta", "signature", sig_encode(where, sig)))
        self._close(out)

    def _begin(self, kind: str, out: list[StreamEvent]) -> None:
        self._close(out)
        self._open = _Open(kind, self._next_index)
        self._next_index += 1
        out.append(block_start(self._open.index, empty_block(kind)))
        self.stats.first_content = True

    def _close(self, out: list[StreamEvent]) -> None:
        if self._open is not None:
            out.append(block_stop(self._open.index))
            self._open = None

    def _delta(self, delta_type: str, key: str, value: str) -> StreamEvent:
        assert self._open is not None
        return block_delta(self._open.index, delta_type, key, value)
