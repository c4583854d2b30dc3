"""Sync reports for the admin API and the status command: usage and cost per client key, model and
agent per UTC day, provider and key state."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from clients.models import ClientKey
from dashboard.models import RequestLog
from dashboard.selectors import ERRORS, REFUSED, SERVED, THROTTLED, rows_sum
from providers.models import Provider
from providers.pricing import format_usd
from routing.models import CircuitState

UNPRICED = SERVED & Q(cost_usd__isnull=True)  # answered, but the price of its provider and model is unknown


def cost_summary(known: Decimal | None, unpriced: int) -> dict[str, Any]:
    """A group's cost: ``cost_usd`` sums the priced rows (None when no row of it is priced: unknown,
    never $0), ``unpriced_requests`` counts the rest, ``cost`` says it in words."""
    if unpriced and known is None:
        return {"cost_usd": None, "unpriced_requests": unpriced, "cost": "unknown"}
    known = known if known is not None else Decimal(0)
    text = format_usd(known)
    if unpriced:
        text = f"{text}, partly unknown ({unpriced} unpriced request{'s' if unpriced != 1 else ''})"
    return {"cost_usd": known, "unpriced_requests": unpriced, "cost": text}


def _since(days: int, now: datetime | None) -> datetime:
    now = now or timezone.now()
    return (now - timedelta(days=max(1, days) - 1)).replace(hour=0, minute=0, second=0, microsecond=0)


def _money_and_tokens() -> dict[str, Any]:
    """The aggregates every usage report shares (one grouped SELECT)."""
    return {"requests": rows_sum(SERVED), "errors": rows_sum(ERRORS), "input_tokens": Sum("input_tokens"),
            "output_tokens": Sum("output_tokens"), "cached_tokens": Sum("cached_tokens"),
            "cache_write_tokens": Sum("cache_write_tokens"), "known_cost": Sum("cost_usd", filter=SERVED),
            "cache_saved": Sum("cache_saved_usd", filter=SERVED), "unpriced": rows_sum(UNPRICED)}


def _usage_row(r: Mapping[str, Any]) -> dict[str, Any]:
    return {"day": _day(r["day"]), "requests": r["requests"], "errors": r["errors"],
            "input_tokens": r["input_tokens"] or 0, "output_tokens": r["output_tokens"] or 0,
            "cached_tokens": r["cached_tokens"] or 0, "cache_write_tokens": r["cache_write_tokens"] or 0,
            **cost_summary(r["known_cost"], r["unpriced"]), "cache_saved_usd": r["cache_saved"] or Decimal(0)}


def usage_by_key(*, days: int = 7, key_id: int | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """Requests, errors, throttled (the key's own 429s), all refusals, tokens and cost per client
    key per UTC day, newest day first. One request is one RequestLog row (dashboard.selectors' counts).

    Query: one grouped SELECT over RequestLog (reqlog_key_created index) for the last ``days``.
    """
    qs: QuerySet[RequestLog] = RequestLog.objects.filter(created__gte=_since(days, now), client_key__isnull=False)
    if key_id is not None:
        qs = qs.filter(client_key_id=key_id)
    rows = (
        qs.annotate(day=TruncDate("created"))
        .values("client_key_id", "client_key__name", "day")
        .annotate(throttled=rows_sum(THROTTLED), refused=rows_sum(REFUSED), **_money_and_tokens())
        .order_by("-day", "client_key_id")
    )
    return [{"key_id": r["client_key_id"], "name": r["client_key__name"], **_usage_row(r),
             "throttled": r["throttled"], "refused": r["refused"]} for r in rows]


def usage_by_model(*, days: int = 7, key_id: int | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """Answered requests, tokens and cost per provider and upstream model per UTC day, newest day
    first, dearest first. Query: one grouped SELECT over RequestLog for the last ``days``."""
    qs: QuerySet[RequestLog] = RequestLog.objects.filter(SERVED, created__gte=_since(days, now))
    if key_id is not None:
        qs = qs.filter(client_key_id=key_id)
    rows = (qs.annotate(day=TruncDate("created")).values("provider", "upstream_model", "day")
            .annotate(**_money_and_tokens()).order_by("-day", F("known_cost").desc(nulls_last=True), "provider",
                                                      "upstream_model"))
    return [{"provider": r["provider"], "model": r["upstream_model"], **_usage_row(r)} for r in rows]


def usage_by_agent(*, days: int = 7, key_id: int | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """Answered requests, tokens and cost per agent (the agent id header, else the fingerprinted
    agent's name; "" for requests from neither) per UTC day, newest day first, dearest first.
    Query: one grouped SELECT over RequestLog for the last ``days``."""
    qs: QuerySet[RequestLog] = RequestLog.objects.filter(SERVED, created__gte=_since(days, now))
    if key_id is not None:
        qs = qs.filter(client_key_id=key_id)
    rows = (qs.annotate(day=TruncDate("created")).values("agent", "day")
            .annotate(**_money_and_tokens()).order_by("-day", F("known_cost").desc(nulls_last=True), "agent"))
    return [{"agent": r["agent"], **_usage_row(r)} for r in rows]


def top_keys_by_cost(*, days: int = 1, limit: int = 10, now: datetime | None = None) -> list[dict[str, Any]]:
    """The client keys that cost most over the last ``days`` UTC days (dearest first), each with its
    cost_summary (unpriced requests counted, never folded in as $0). Query: one grouped SELECT."""
    rows = (RequestLog.objects.filter(SERVED, created__gte=_since(days, now), client_key__isnull=False)
            .values("client_key_id", "client_key__name").annotate(**_money_and_tokens())
            .order_by(F("known_cost").desc(nulls_last=True), "client_key__name")[: max(0, limit)])
    return [_key_cost(r) for r in rows]


def _key_cost(r: Mapping[str, Any]) -> dict[str, Any]:
    return {"key_id": r["client_key_id"], "name": r["client_key__name"], "requests": r["requests"],
            **cost_summary(r["known_cost"], r["unpriced"]), "cache_saved_usd": r["cache_saved"] or Decimal(0)}


def cache_efficiency(*, days: int = 1, by: str = "client_key__name", now: datetime | None = None
                     ) -> list[dict[str, Any]]:
    """Prompt-cache use per client key (``by="client_key__name"``) or per provider (``by="provider"``)
    over the last ``days`` UTC days: ``hit_rate`` is cache reads over all prompt tokens (input +
    cache writes + cache reads; None without any), ``cache_saved_usd`` what the cache saved on
    the priced requests. Query: one grouped SELECT."""
    if by not in ("client_key__name", "provider"):
        raise ValueError(f"cache_efficiency by {by!r}: client_key__name or provider")
    rows = (RequestLog.objects.filter(SERVED, created__gte=_since(days, now)).values(by)
            .annotate(**_money_and_tokens()).order_by(F("cache_saved").desc(nulls_last=True), by))
    return [_cache_row(r, by) for r in rows]


def _cache_row(r: Mapping[str, Any], by: str) -> dict[str, Any]:
    read, written = r["cached_tokens"] or 0, r["cache_write_tokens"] or 0
    prompt = (r["input_tokens"] or 0) + written + read
    return {"name": r[by] or "", "requests": r["requests"], "prompt_tokens": prompt, "cache_read_tokens": read,
            "cache_write_tokens": written, "hit_rate": read / prompt if prompt else None,
            "cache_saved_usd": r["cache_saved"] or Decimal(0), "unpriced_requests": r["unpriced"]}


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
         "tokens_per_day": k.tokens_per_day, "usd_per_day": k.usd_per_day, "usd_per_month": k.usd_per_month}
        for k in ClientKey.objects.order_by("name")
    ]
