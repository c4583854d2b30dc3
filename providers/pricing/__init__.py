"""Prices per million tokens and the cost of a request (pure: no Django, no settings).

``default_table()`` holds the shipped prices (``defaults.json``); the admin's rows go over it
with ``PriceTable.with_overrides``; ``cost(usage, table.lookup(provider, model))`` is the USD
for one request, or None when the price is unknown.
"""

from providers.pricing.cost import (
    CostBreakdown,
    TokenUsage,
    Usage,
    cost,
    cost_breakdown,
    cost_ceiling,
    format_usd,
)
from providers.pricing.table import LongContext, Price, PriceMatch, PriceTable, default_table, normalise_model

__all__ = [
    "CostBreakdown",
    "LongContext",
    "Price",
    "PriceMatch",
    "PriceTable",
    "TokenUsage",
    "Usage",
    "cost",
    "cost_breakdown",
    "cost_ceiling",
    "default_table",
    "format_usd",
    "normalise_model",
]
