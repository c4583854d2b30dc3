"""Sync reports for the admin API and the status command: usage per client key, provider and key state."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from clients.models import ClientKey
from dashboard.models import RequestLog
from dashboard.selectors import ERRORS, REFUSED, SERVED, THROTTLED, rows_sum
from providers.models import Provider
from routing.models import CircuitState


def usage_by_key(*, days: int = 7, key_id: int | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """Requests, errors, throttled (the key's own 429s), all refusals and tokens per client key per
    UTC day, newest day first. One request is one RequestLog row (dashboard.selectors' counts).

    Query: one grouped SELECT over RequestLog (reqlog_key_created index) for the last ``days``.
    """
    now = now or timezone.now()
    since = (now - timedelta(days=max(1, days) - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    qs: QuerySet[RequestLog] = RequestLog.objects.filter(created__gte=since, client_key__isnull=False)
    if key_id is not None:
        qs = qs.filter(client_key_id=key_id)
    rows = (
        qs.annotate(day=TruncDate("created"))
        .values("client_key_id", "client_key__name", "day")
        .annotate(requests=rows_sum(SERVED), errors=rows_sum(ERRORS), throttled=rows_sum(THROTTLED),
                  refused=rows_sum(REFUSED), input_tokens=Sum("input_tokens"), output_tokens=Sum("output_tokens"),
                  cached_tokens=Sum("cached_tokens"))
        .order_by("-day", "client_key_id")
    )
    return [
        {"key_id": r["client_key_id"], "name": r["client_key__name"], "day": _day(r["day"]),
         "requests": r["requests"], "errors": r["errors"], "throttled": r["throttled"], "refused": r["refused"],
         "input_tokens": r["input_tokens"] or 0,
         "output_tokens": r["output_tokens"] or 0, "cached_tokens": r["cached_tokens"] or 0}
        for r in rows
    ]


def _day(value: date | datetime | str) -> str:
    return value.isoformat()[:10] if isinstance(value, date | datetime) else str(value)[:10]


def provider_rows() -> list[dict[str, Any]]:
    """Providers with the worst state of their circuits. Queries: providers, circuits."""
    circuits: dict[int, list[CircuitState]] = {}
    for c in CircuitState.objects.all():
        circuits.setdefault(c.provider_id, []).append(c)
    order = {"closed": 0, "half_open": 1, "open": 2}
    out = []
    for p in Provider.objects.order_by("priority", "name"):
        states = circuits.get(p.pk, [])
        worst = max((c.state for c in states), key=lambda s: order.get(s, 0), default="closed")
        out.append({"id": p.pk, "name": p.name, "kind": p.kind, "base_url": p.base_url, "priority": p.priority,
                    "enabled": p.enabled, "circuit": worst, "failures": sum(c.failure_count for c in states)})
    return out


def client_key_rows() -> list[dict[str, Any]]:
    return [
        {"id": k.pk, "name": k.name, "prefix": k.key_prefix, "enabled": k.enabled, "last_used": k.last_used,
         "requests_per_minute": k.requests_per_minute, "requests_per_day": k.requests_per_day,
         "tokens_per_day": k.tokens_per_day}
        for k in ClientKey.objects.order_by("name")
    ]
