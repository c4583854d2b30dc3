"""Admin REST API for usage under /api/admin/: per client key, per model and per agent per UTC day,
counted from the request log (one row per client request, dashboard/reports.py).

Money is a decimal string in USD (``"0.012345"``). ``cost_usd`` sums the priced requests and is
null when none of a group's requests is priced (unknown, never $0); ``unpriced_requests`` counts
the requests whose provider and model have no price, so a group with both is "partly unknown"
(``cost`` says so in words)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from clients.models import ClientKey
from clients.quotas import spend_today, usage_today
from dashboard.reports import usage_by_agent, usage_by_key, usage_by_model
from runtime.rest import get_or_404

router = Router(tags=["admin"])


class DayTotals(Schema):
    day: str
    requests: int = Field(description="Client requests answered (one per request, however many upstream calls).")
    errors: int = Field(description="Answered requests whose status was 4xx/5xx (a client's hang-up, 499, excluded).")
    input_tokens: int
    output_tokens: int
    cached_tokens: int = Field(description="Prompt-cache reads.")
    cache_write_tokens: int = Field(0, description="Prompt-cache writes.")
    cost_usd: Decimal | None = Field(description="USD of the priced requests; null: none of them is priced (unknown).")
    unpriced_requests: int = Field(0, description="Answered requests whose price is unknown (not in cost_usd).")
    cost: str = Field("", description='In words: "$1.234567", "unknown", or "$1.234567, partly unknown (N unpriced requests)".')
    cache_saved_usd: Decimal = Field(Decimal(0), description="What prompt-cache reads saved, less the write premium.")


class UsageDay(DayTotals):
    key_id: int
    name: str
    throttled: int = Field(0, description="Requests refused with 429 by this key's own rate limits or budgets.")
    refused: int = Field(0, description="All requests the gateway refused itself (throttled, 408, 413, 529).")


class ModelDay(DayTotals):
    provider: str
    model: str = Field(description="The upstream model the provider was asked for.")


class AgentDay(DayTotals):
    agent: str = Field(description="The agent id header, else the fingerprinted agent's name; empty: neither.")


class Spent(Schema):
    day: Decimal = Field(description="USD counted against usd_per_day in the running UTC day.")
    month: Decimal = Field(description="USD counted against usd_per_month in the running UTC month.")
    usd_per_day: Decimal | None
    usd_per_month: Decimal | None


class KeyUsage(Schema):
    key_id: int
    name: str
    current: dict[str, int] = Field(description="Counters of the running limit windows: rpm, rpd, tpd, and "
                                                "upd/upm (micro-dollars of the day and month).")
    spent: Spent
    days: list[UsageDay]


class UsageFilter(Schema):
    days: int = Field(7, ge=1, le=366)


class BreakdownFilter(UsageFilter):
    key_id: int | None = Field(None, ge=1, le=2**63 - 1, description="Only this client key's requests.")


@router.get("/client-keys/{key_id}/usage", response=KeyUsage)
def client_key_usage(request: HttpRequest, key_id: int, filters: Query[UsageFilter]) -> Any:
    key = get_or_404(ClientKey, key_id)
    spent = {**spend_today(key.pk), "usd_per_day": key.usd_per_day, "usd_per_month": key.usd_per_month}
    return {"key_id": key.pk, "name": key.name, "current": usage_today(key.pk), "spent": spent,
            "days": usage_by_key(days=filters.days, key_id=key.pk)}


@router.get("/usage", response=list[UsageDay])
def usage(request: HttpRequest, filters: Query[UsageFilter]) -> Any:
    return usage_by_key(days=filters.days)


@router.get("/usage/models", response=list[ModelDay])
def usage_models(request: HttpRequest, filters: Query[BreakdownFilter]) -> Any:
    return usage_by_model(days=filters.days, key_id=filters.key_id)


@router.get("/usage/agents", response=list[AgentDay])
def usage_agents(request: HttpRequest, filters: Query[BreakdownFilter]) -> Any:
    return usage_by_agent(days=filters.days, key_id=filters.key_id)
