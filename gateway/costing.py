"""What a request cost, for its RequestLog row and the key's money budgets.

The request path loads the price table once per request (``providers.prices.price_table_get``,
cached) and, where it records the request's row (gateway/calls.py ``_log``), asks
``cost_fields`` for the columns to add: the cache-write tokens, the cost in USD priced from the
final provider, its upstream model and the usage (input, output, cache writes, cache reads,
Anthropic-shaped: disjoint counts), and what the prompt cache saved. The cost is None (NULL,
"unknown") when that provider and model have no price: never a silent $0. A request that used no
tokens at all (refused upstream, no route) cost nothing, whatever its price.

Money budgets: ``clients.quotas.limits_check`` refuses a key whose day's or month's spend has
reached its budget; ``budget_refusal`` also refuses, before it is sent, a request that would
cross it: one whose most expensive outcome on the first candidate (``cost_ceiling``: the
estimated prompt at the dearest input rate plus ``max_tokens`` of output) is more than what is
left. A model without a price cannot be bounded and is let through (its row says "unknown").
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from clients.auth import ClientIdentity
from clients.quotas import money_left, spend_add, usage_add
from gateway.records import refusal_record
from gateway.token_count import estimate_input_tokens
from providers.adapters.base import AdapterError
from providers.pricing import Price, PriceTable, TokenUsage, cost_breakdown, cost_ceiling, format_usd
from routing.resolution import Candidate, RouteTable

ZERO = Decimal("0.000000")
MEMO_MAX = 4096
# Lookups of the current table by (provider, model): a dated id scans the table's keys (about
# 50 us); the answer is the same until the table is replaced, which clears the memo.
_memo: dict[tuple[str, str], Price | None] = {}
_memo_table: list[PriceTable] = []


def price_of(prices: PriceTable, provider: str, model: str) -> Price | None:
    """``prices.lookup(provider, model)``, remembered for this table."""
    if not _memo_table or _memo_table[0] is not prices:
        _memo.clear()
        _memo_table[:] = [prices]
    key = (provider, model)
    if key not in _memo:
        if len(_memo) >= MEMO_MAX:
            _memo.clear()
        _memo[key] = prices.lookup(provider, model)
    return _memo[key]


def cost_fields(prices: PriceTable | None, cand: Candidate | None, usage: Mapping[str, Any], *,
                agent: str = "") -> dict[str, Any]:
    """``agent``, ``cache_write_tokens``, ``cost_usd`` and ``cache_saved_usd`` of one request row,
    priced as ``cand`` (the final provider and its upstream model) bills ``usage``."""
    tokens = TokenUsage.from_anthropic(usage)
    fields: dict[str, Any] = {"agent": agent, "cache_write_tokens": tokens.cache_creation_input_tokens}
    if not (tokens.input_tokens or tokens.output_tokens or tokens.cache_creation_input_tokens
            or tokens.cache_read_input_tokens):
        return {**fields, "cost_usd": ZERO, "cache_saved_usd": ZERO}
    price = price_of(prices, cand.provider.name, cand.model) if prices is not None and cand is not None else None
    found = cost_breakdown(tokens, price)
    if found is None:
        return {**fields, "cost_usd": None, "cache_saved_usd": None}
    return {**fields, "cost_usd": found.total, "cache_saved_usd": found.cache_saved}


def agent_label(header: str, prints: tuple[str, ...], table: RouteTable) -> str:
    """Who sent the request, for per-agent totals: the agent id header, else the name the admin
    gave the first known fingerprint of its system prompt (empty: neither)."""
    if header:
        return header[:100]
    for print_ in prints:
        agent = table.agents_by_print.get(print_)
        if agent is not None and agent.name:
            return agent.name[:100]
    return ""


def charge(identity: ClientIdentity, usage: Mapping[str, Any], fields: Mapping[str, Any]) -> None:
    """Count the request's tokens and cost against the key's budgets (non-blocking; no-op without
    budgets; an unknown cost adds nothing)."""
    if usage:
        usage_add(identity, int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0))
        spend_add(identity, fields.get("cost_usd"))


async def budget_refusal(identity: ClientIdentity, prices: PriceTable | None, body: Mapping[str, Any],
                         cand: Candidate, *, endpoint: str) -> AdapterError | None:
    """A 429 ``rate_limit_error`` (recorded as the key's ``budget`` refusal) when this request could
    cost more than is left of the key's money budget; None otherwise or without one."""
    left = await money_left(identity)
    if left is None or prices is None:
        return None
    max_tokens = body.get("max_tokens")
    ceiling = cost_ceiling(price_of(prices, cand.provider.name, cand.model),
                           prompt_tokens=estimate_input_tokens(dict(body)),
                           max_output_tokens=max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else 0)
    if ceiling is None or ceiling <= left.usd:
        return None
    message = (f"this request could cost up to {format_usd(ceiling)} on {cand.model} (max_tokens {max_tokens}), "
               f"more than the ${max(left.usd, Decimal(0)):.2f} left of this client key's budget of "
               f"${left.budget:.2f} {left.label}; {left.resets()}")
    refusal_record(key_id=identity.key_id, client_name=identity.name, status=429, reason="budget",
                   endpoint=endpoint)
    return AdapterError(message, status=429, error_type="rate_limit_error", retry_after=max(1.0, left.retry_after))
