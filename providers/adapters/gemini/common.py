"""Pieces shared by the request, response and stream halves of the native Gemini adapter.

Thought signatures travel through Anthropic ``thinking`` blocks. Gemini puts a signature on a thought
part or on the part that follows its thinking (a functionCall, sometimes a text part), and wants it
back on that same part; the block's signature says which, with a prefix this module owns:

- ``gemini.own.<sig>``: the signature of this thought part;
- ``gemini.next.<sig>``: the signature of the next non-thought part (functionCall or text);
- ``gemini.prev.<sig>``: the signature of the previous non-thought part (it arrived after its text).

Signatures without the prefix (another backend's) are never sent to Gemini.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.adapters.openai_compat.common import as_int, usage_body

SIG_PREFIX = "gemini."
OWN, NEXT, PREV = "own", "next", "prev"
# Google's documented stand-in for a signature the history lost (or never had: another model's turn)
DUMMY_SIGNATURE = "skip_thought_signature_validator"

FINISH_REASONS: dict[str, str] = {
    "STOP": "end_turn",
    "MAX_TOKENS": "max_tokens",
    "SAFETY": "refusal",
    "RECITATION": "refusal",
    "BLOCKLIST": "refusal",
    "PROHIBITED_CONTENT": "refusal",
    "SPII": "refusal",
    "IMAGE_SAFETY": "refusal",
    "LANGUAGE": "end_turn",
    "OTHER": "end_turn",
    "MALFORMED_FUNCTION_CALL": "end_turn",
    "UNEXPECTED_TOOL_CALL": "end_turn",
}


def sig_encode(where: str, signature: str) -> str:
    return f"{SIG_PREFIX}{where}.{signature}"


def sig_decode(value: Any) -> tuple[str, str] | None:
    """(where, signature) for a signature this adapter wrote, else None."""
    if not isinstance(value, str) or not value.startswith(SIG_PREFIX):
        return None
    where, _, signature = value[len(SIG_PREFIX):].partition(".")
    if where not in (OWN, NEXT, PREV) or not signature:
        return None
    return where, signature


def stop_reason(finish: str | None, has_tool_use: bool) -> str:
    """Anthropic stop_reason: refusals and truncation win, then tool calls (Gemini says STOP)."""
    mapped = FINISH_REASONS.get(finish or "", "end_turn")
    if mapped in ("refusal", "max_tokens"):
        return mapped
    return "tool_use" if has_tool_use else mapped


def usage_tokens(meta: Any, input_estimate: int, output_chars: int) -> dict[str, int]:
    """Anthropic usage from ``usageMetadata``: thinking tokens count as output (as Anthropic bills
    them); cached content is reported apart from the uncached prompt; estimates where it is missing."""
    meta = meta if isinstance(meta, Mapping) else {}
    prompt = as_int(meta.get("promptTokenCount"))
    cached = min(as_int(meta.get("cachedContentTokenCount")), prompt) if prompt else 0
    output = as_int(meta.get("candidatesTokenCount")) + as_int(meta.get("thoughtsTokenCount"))
    uncached = prompt - cached
    if not prompt:
        uncached = input_estimate
    if not output and output_chars:
        output = max(1, output_chars // 4)
    return usage_body(uncached, output, cached)
