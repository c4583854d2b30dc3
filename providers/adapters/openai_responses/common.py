"""Pieces shared by the request, response and stream halves of the OpenAI Responses adapter.

Reasoning round trip: with ``store: false`` the service keeps nothing between turns, so every
reasoning item must come back in the next request with its ``encrypted_content``. The item rides
in the Anthropic thinking block's ``signature`` (Claude Code returns signatures unchanged), behind
a prefix only this adapter reads: a signature from Anthropic or another backend is never sent here
as a reasoning item, and ours is useless anywhere else.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from providers.adapters.base import JSON, dumps, loads
from providers.adapters.openai_compat.common import as_int

SIGNATURE_PREFIX = "oai-responses-v1:"
# Responses ``incomplete_details.reason`` -> Anthropic stop_reason
INCOMPLETE_REASONS: dict[str, str] = {"max_output_tokens": "max_tokens", "content_filter": "refusal"}
SUMMARY_JOIN = "\n\n"  # between the summary parts of one reasoning item


def signature_encode(item: Mapping[str, Any]) -> str:
    """The thinking-block signature carrying a reasoning item's id and encrypted content."""
    carried = {"id": item.get("id") or "", "encrypted_content": item.get("encrypted_content") or ""}
    return SIGNATURE_PREFIX + base64.urlsafe_b64encode(dumps(carried)).decode()


def signature_decode(signature: Any) -> JSON | None:
    """The reasoning item a signature of ours carries, or None (foreign or damaged signatures)."""
    if not isinstance(signature, str) or not signature.startswith(SIGNATURE_PREFIX):
        return None
    try:
        carried = loads(base64.urlsafe_b64decode(signature[len(SIGNATURE_PREFIX):]))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(carried, dict) or not isinstance(carried.get("encrypted_content"), str):
        return None
    if not carried["encrypted_content"]:
        return None
    return carried


def usage_tokens(usage: Any) -> tuple[int, int, int]:
    """(uncached input, output, cached input): Responses counts cached tokens inside input_tokens."""
    if not isinstance(usage, Mapping):
        return 0, 0, 0
    prompt = as_int(usage.get("input_tokens"))
    details = usage.get("input_tokens_details")
    cached = as_int(details.get("cached_tokens")) if isinstance(details, Mapping) else 0
    cached = min(cached, prompt) if prompt else cached
    return max(prompt - cached, 0), as_int(usage.get("output_tokens")), cached


def usage_or_estimate(usage: Any, input_estimate: int, output_chars: int) -> tuple[int, int, int]:
    """Reported usage, estimated where it is missing (zero usage blinds Claude Code's compaction)."""
    inp, outp, cached = usage_tokens(usage)
    if not inp and not cached:
        inp = input_estimate
    if not outp and output_chars:
        outp = max(1, output_chars // 4)
    return inp, outp, cached


def stop_reason(response: Mapping[str, Any], has_tool_use: bool, refused: bool) -> str:
    """Anthropic stop_reason for a finished response (truncation and refusal win over tool calls)."""
    if response.get("status") == "incomplete":
        details = response.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, Mapping) else None
        return INCOMPLETE_REASONS.get(str(reason), "max_tokens")
    if refused:
        return "refusal"
    return "tool_use" if has_tool_use else "end_turn"


def summary_text(item: Mapping[str, Any]) -> str:
    parts = item.get("summary")
    if not isinstance(parts, list):
        return ""
    texts = [p.get("text") for p in parts if isinstance(p, Mapping) and isinstance(p.get("text"), str)]
    return SUMMARY_JOIN.join(t for t in texts if t)
