"""Admin REST API for usage under /api/admin/: per client key per UTC day, counted from the
request log (one row per client request, dashboard/reports.py)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from clients.models import ClientKey
from clients.quotas import usage_today
from dashboard.reports import usage_by_key
from runtime.rest import get_or_404

router = Router(tags=["admin"])


class UsageDay(Schema):
    key_id: int
    name: str
    day: str
    requests: int = Field(description="Client requests answered (one per request, however many upstream calls).")
    errors: int = Field(description="Answered requests whose status was 4xx/5xx (a client's hang-up, 499, excluded).")
    throttled: int = Field(0, description="Requests refused with 429 by this key's own rate limits or token budget.")
    refused: int = Field(0, description="All requests the gateway refused itself (throttled, 408, 413, 529).")
    input_tokens: int
    output_tokens: int
    cached_tokens: int


class KeyUsage(Schema):
    key_id: int
    name: str
    current: dict[str, int] = Field(description="Counters of the running limit windows: rpm, rpd, tpd.")
    days: list[UsageDay]


class UsageFilter(Schema):
    days: int = Field(7, ge=1, le=366)


@router.get("/client-keys/{key_id}/usage", response=KeyUsage)
def client_key_usage(request: HttpRequest, key_id: int, filters: Query[UsageFilter]) -> Any:
    key = get_or_404(ClientKey, key_id)
    return {"key_id": key.pk, "name": key.name, "current": usage_today(key.pk),
            "days": usage_by_key(days=filters.days, key_id=key.pk)}


@router.get("/usage", response=list[UsageDay])
def usage(request: HttpRequest, filters: Query[UsageFilter]) -> Any:
    return usage_by_key(days=filters.days)
