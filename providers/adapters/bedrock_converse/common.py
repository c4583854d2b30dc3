"""Pieces shared by the request, response and stream halves of the Bedrock Converse adapter.

Converse serves every Bedrock model family through one shape, but what a family takes beyond it
(extended thinking, ``top_k``, reasoning in history) is per family: ``FAMILIES`` holds that as data,
keyed by the model id's provider prefix (after an optional cross-region prefix).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from providers.adapters.bedrock import REGION_PREFIXES
from providers.adapters.openai_compat.common import as_int, usage_body

# Converse stopReason -> Anthropic stop_reason
STOP_REASONS: dict[str, str] = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "guardrail_intervened": "refusal",
    "content_filtered": "refusal",
    "model_context_window_exceeded": "max_tokens",
}


@dataclass(frozen=True, slots=True)
class Family:
    """What one model family takes beyond the Converse shape."""

    thinking: str = ""             # how `thinking` travels in additionalModelRequestFields ("" : dropped)
    reasoning_history: bool = False  # earlier reasoningContent blocks may go back in the history
    redacted_history: bool = False   # redactedContent (Anthropic's encrypted reasoning) may go back
    top_k: str = ""                # additionalModelRequestFields key for top_k ("" : dropped)
    cache_points: bool = False     # cache_control marks become cachePoint blocks (prompt caching)


ANTHROPIC = Family(thinking="anthropic", reasoning_history=True, redacted_history=True, top_k="top_k",
                   cache_points=True)
# model id provider prefix ("amazon.nova-2", "deepseek.") -> family; longest match wins
FAMILIES: dict[str, Family] = {
    "anthropic.": ANTHROPIC,
    "amazon.nova-2": Family(thinking="nova", reasoning_history=True, cache_points=True),
    "amazon.nova": Family(cache_points=True),
    "amazon.": Family(),
    "deepseek.": Family(reasoning_history=True),  # R1/V3.1 reason on their own; no request field
    "openai.": Family(thinking="effort", reasoning_history=True),  # gpt-oss: reasoning_effort
    "qwen.": Family(reasoning_history=True),
    "meta.": Family(),
    "mistral.": Family(),
}
EFFORTS = ("low", "medium", "high")

# Output-token limits Bedrock enforces per model (longest base-id prefix wins): Claude Code asks for
# 32000-64000 and Converse refuses a maxTokens above the model's limit, so the request is clamped
# when the provider sets no cap of its own. Models missing here are sent what the client asked.
OUTPUT_LIMITS: dict[str, int] = {
    "amazon.nova-micro": 10_000,
    "amazon.nova-lite-v1": 10_000,
    "amazon.nova-pro": 10_000,
    "amazon.nova-premier": 32_000,
    "meta.llama3": 2_048,
    "meta.llama4": 8_192,
    "mistral.mistral-large": 8_192,
    "mistral.mistral-small": 8_192,
    "deepseek.r1": 32_768,
}


def base_model(model_id: str) -> str:
    """``us.amazon.nova-pro-v1:0`` -> ``amazon.nova-pro-v1:0``; ARNs -> their last path part."""
    text = model_id.rpartition("/")[2] if model_id.startswith("arn:") else model_id
    head, dot, rest = text.partition(".")
    return rest if dot and head in REGION_PREFIXES else text


def output_limit(model_id: str) -> int | None:
    name = base_model(model_id)
    best = max((p for p in OUTPUT_LIMITS if name.startswith(p)), key=len, default=None)
    return OUTPUT_LIMITS[best] if best is not None else None


def family_of(model_id: str) -> Family:
    name = base_model(model_id)
    best = max((p for p in FAMILIES if name.startswith(p)), key=len, default=None)
    return FAMILIES[best] if best is not None else Family()


def thinking_fields(family: Family, thinking: Any, max_tokens: int) -> dict[str, Any]:
    """additionalModelRequestFields for the Anthropic ``thinking`` option, per family."""
    if not isinstance(thinking, Mapping) or thinking.get("type") not in ("enabled", "adaptive"):
        return {}
    budget = as_int(thinking.get("budget_tokens")) or max_tokens // 2
    budget = max(1024, min(budget, max_tokens - 1))
    if family.thinking == "anthropic":
        return {"thinking": {"type": "enabled", "budget_tokens": budget}}
    effort = EFFORTS[0] if budget < 4096 else EFFORTS[1] if budget < 16384 else EFFORTS[2]
    if family.thinking == "nova":
        return {"reasoningConfig": {"type": "enabled", "maxReasoningEffort": effort}}
    if family.thinking == "effort":
        return {"reasoning_effort": effort}
    return {}


def stop_reason(raw: Any, has_tool_use: bool) -> str:
    mapped = STOP_REASONS.get(str(raw or ""), "end_turn")
    if mapped == "end_turn" and has_tool_use:
        return "tool_use"
    return mapped


def usage_tokens(usage: Any, input_estimate: int, output_chars: int) -> dict[str, int]:
    """Anthropic usage from Converse's: ``inputTokens`` already excludes cache reads and writes
    (``totalTokens`` is their sum with the output), as Anthropic counts them; estimates where the
    backend reports none (zero usage blinds Claude Code's context accounting)."""
    usage = usage if isinstance(usage, Mapping) else {}
    uncached = as_int(usage.get("inputTokens"))
    cached = as_int(usage.get("cacheReadInputTokens"))
    written = as_int(usage.get("cacheWriteInputTokens"))
    output = as_int(usage.get("outputTokens"))
    if not uncached and not cached and not written:
        uncached = input_estimate
    if not output and output_chars:
        output = max(1, output_chars // 4)
    body = usage_body(uncached, output, cached)
    body["cache_creation_input_tokens"] = written
    return body
