"""Cost of one request from its token usage and a :class:`~providers.pricing.table.Price`.

Usage is in Anthropic's shape, where the four counts are disjoint: ``input_tokens`` excludes
both cache reads and cache writes. Every adapter already translates its backend's usage to
that shape before the gateway records it, so nothing here knows about OpenAI's counting:

- OpenAI chat completions (and vLLM, DeepSeek, other compatible backends): ``prompt_tokens``
  *includes* ``prompt_tokens_details.cached_tokens`` (DeepSeek: ``prompt_cache_hit_tokens``);
  ``providers/adapters/openai_compat/common.py:usage_tokens`` subtracts them, so input is
  ``prompt - cached`` and ``cache_read_input_tokens`` is ``cached``.
- OpenAI Responses: ``input_tokens`` includes ``input_tokens_details.cached_tokens``; the same
  subtraction in ``providers/adapters/openai_responses/common.py:usage_tokens``.
- Gemini: ``promptTokenCount`` includes ``cachedContentTokenCount``; subtracted in
  ``providers/adapters/gemini/common.py:usage_tokens`` (thinking tokens count as output).
- Bedrock Converse: ``inputTokens`` already excludes ``cacheReadInputTokens`` and
  ``cacheWriteInputTokens`` (``providers/adapters/bedrock_converse/common.py:usage_tokens``).
- Anthropic, Bedrock and Vertex Claude: the upstream usage is already in this shape.

OpenAI-style backends never report cache writes (their caching has no write premium), so their
``cache_creation_input_tokens`` is 0. Where a backend reports no usage at all, the adapters
estimate input from the request size (``usage_or_estimate``): such a cost is an estimate too.

Arithmetic is exact in Decimal; only the total (and the cache saving) is rounded, once, to
micro-dollars (6 places, half up).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any, Protocol

from providers.pricing.table import Price

MICRO = Decimal("0.000001")
PER_TOKENS = Decimal(1_000_000)


class Usage(Protocol):
    """Anthropic-shaped token counts (``StreamStats`` and :class:`TokenUsage` both fit).

    An object may also carry ``cache_creation_1h_input_tokens``: the part of the cache writes
    made with the 1-hour TTL, priced at ``Price.cache_write_1h``.
    """

    @property
    def input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def cache_creation_input_tokens(self) -> int: ...
    @property
    def cache_read_input_tokens(self) -> int: ...


@dataclass(frozen=True, slots=True)
class TokenUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_1h_input_tokens: int = 0  # included in cache_creation_input_tokens

    @classmethod
    def from_anthropic(cls, usage: Mapping[str, Any]) -> TokenUsage:
        """From an Anthropic ``usage`` object, with the 1-hour share of the cache writes from
        ``cache_creation.ephemeral_1h_input_tokens`` when the API reports the split."""
        split = usage.get("cache_creation")
        one_hour = split.get("ephemeral_1h_input_tokens") if isinstance(split, Mapping) else 0
        return cls(
            input_tokens=_count(usage.get("input_tokens")),
            output_tokens=_count(usage.get("output_tokens")),
            cache_creation_input_tokens=_count(usage.get("cache_creation_input_tokens")),
            cache_read_input_tokens=_count(usage.get("cache_read_input_tokens")),
            cache_creation_1h_input_tokens=_count(one_hour),
        )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """USD per token class (exact), the rounded total, and what the prompt cache saved: cache
    reads at the input price minus their price, less the write premium over plain input
    (negative for a request that only wrote the cache)."""

    input: Decimal
    output: Decimal
    cache_write: Decimal
    cache_read: Decimal
    total: Decimal
    cache_saved: Decimal
    long_context: bool


def _tokens(usage: Usage) -> tuple[int, int, int, int, int]:
    counts = (
        usage.input_tokens, usage.output_tokens, usage.cache_creation_input_tokens, usage.cache_read_input_tokens,
        getattr(usage, "cache_creation_1h_input_tokens", 0) or 0,
    )
    for value in counts:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"token counts must be integers >= 0, got {counts!r}")
    return counts


def cost_breakdown(usage: Usage, price: Price | None) -> CostBreakdown | None:
    """The cost of one request, or None when its price is unknown (never a silent $0)."""
    if price is None:
        return None
    inp, out, written, read, written_1h = _tokens(usage)
    written_1h = min(written_1h, written)
    tier = price.for_prompt(inp + written + read)
    rate_1h = tier.cache_write if tier.cache_write_1h is None else tier.cache_write_1h
    with localcontext() as ctx:
        ctx.prec = 40  # exact for any realistic count times a price with a few decimals
        parts = (
            inp * tier.input / PER_TOKENS,
            out * tier.output / PER_TOKENS,
            ((written - written_1h) * tier.cache_write + written_1h * rate_1h) / PER_TOKENS,
            read * tier.cache_read / PER_TOKENS,
        )
        premium = (written - written_1h) * (tier.cache_write - tier.input) + written_1h * (rate_1h - tier.input)
        saved = (read * (tier.input - tier.cache_read) - premium) / PER_TOKENS
        return CostBreakdown(
            *parts,
            total=sum(parts, Decimal(0)).quantize(MICRO, rounding=ROUND_HALF_UP),
            cache_saved=saved.quantize(MICRO, rounding=ROUND_HALF_UP),
            long_context=tier is not price,
        )


def cost(usage: Usage, price: Price | None) -> Decimal | None:
    """USD for one request, rounded to micro-dollars; None when the price is unknown."""
    found = cost_breakdown(usage, price)
    return None if found is None else found.total


def cost_ceiling(price: Price | None, *, prompt_tokens: int, max_output_tokens: int) -> Decimal | None:
    """The most a request can cost before it is sent (for money budgets): every prompt token at
    the dearest input-side rate (a cache write can cost more than plain input), ``max_tokens``
    of output, in the tier the prompt size selects. None when the price is unknown."""
    if price is None:
        return None
    if prompt_tokens < 0 or max_output_tokens < 0:
        raise ValueError("token counts must be >= 0")
    tier = price.for_prompt(prompt_tokens)
    dearest = max(tier.input, tier.cache_write, tier.cache_write_1h or tier.cache_write)
    with localcontext() as ctx:
        ctx.prec = 40
        total = (prompt_tokens * dearest + max_output_tokens * tier.output) / PER_TOKENS
        return total.quantize(MICRO, rounding=ROUND_HALF_UP)


def format_usd(amount: Decimal | None) -> str:
    """``$0.012345`` style for logs and tables; ``unknown`` for an unpriced request."""
    return "unknown" if amount is None else f"${amount.quantize(MICRO, rounding=ROUND_HALF_UP)}"
