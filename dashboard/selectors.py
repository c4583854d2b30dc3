"""Reads for the dashboard: the htmx views, the consumer's snapshot and the live events.

Sync functions serve views and the consumer (through database_sync_to_async); the ``a``-prefixed
twins serve dashboard_event_send on the event loop. Each pair shares its querysets and a pure
builder, and returns frozen dataclasses, so rendering a template never runs a query.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.db.models import Count, F, Max, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone

from clients.models import ClientKey
from dashboard import chart
from dashboard.models import FallbackEvent, RequestAttempt, RequestLog
from gateway.catalog import SEVERITY, HealthInputs, health_reasons, provider_state
from providers.client import credential_missing
from providers.models import Provider
from providers.selectors import provider_config
from routing.breaker import Circuit, status_label
from routing.models import CircuitState
from runtime.outage import REDIS, redis_errors

RECENT_REQUESTS = 50
RECENT_FALLBACKS = 20
STATUS_LABELS = {
    "healthy": "healthy",
    "unhealthy": "unhealthy",
    "half_open": "probing",
    "cooling_down": "cooling down",
    "circuit_open": "circuit open",
    "disabled": "disabled",
}
# The one vocabulary of counts (dashboard, `status`, the admin API's usage; /metrics counts the
# same rows as they are queued). A row is one client request; refusals are rows the gateway
# refused itself, and an aggregated refusal row stands for ``count`` requests.
SERVED = Q(refusal="")
# A client that hung up (499) is not the gateway's or the provider's error; nor is a refusal.
ERRORS = SERVED & Q(status__gte=400) & ~Q(status=499)
THROTTLED = Q(refusal__in=["rate_limit", "budget"])  # the key's own limits (429)
REFUSED = ~SERVED
TOKENS = F("input_tokens") + F("output_tokens")


def rows_sum(condition: Q) -> Coalesce:
    """How many requests the rows matching ``condition`` stand for (SUM of count, 0 for none)."""
    return Coalesce(Sum("count", filter=condition), 0)


# --- Recent requests and fallback events ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestRow:
    id: int
    created: datetime
    client: str
    requested_model: str
    provider: str
    upstream_model: str
    status: int
    latency_ms: float
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    route_reason: str
    error: str

    @property
    def failed(self) -> bool:
        return self.status >= 400


def request_row(log: RequestLog, client: str) -> RequestRow:
    return RequestRow(
        id=log.pk, created=log.created, client=client, requested_model=log.requested_model,
        provider=log.provider, upstream_model=log.upstream_model, status=log.status,
        latency_ms=log.latency_ms, input_tokens=log.input_tokens, output_tokens=log.output_tokens,
        cached_tokens=log.cached_tokens, route_reason=log.route_reason, error=log.error[:300],
    )


def _recent_requests_qs(limit: int) -> QuerySet[RequestLog]:
    # Served by the index on created (ORDER BY created DESC LIMIT n). Refusals are counted in the
    # totals (throttled per key), not listed: a refused flood would push every answer out.
    return RequestLog.objects.filter(SERVED).select_related("client_key").order_by("-created", "-id")[:limit]


def _with_client(log: RequestLog) -> RequestRow:
    return request_row(log, log.client_key.name if log.client_key is not None else "")


def recent_requests(limit: int = RECENT_REQUESTS) -> list[RequestRow]:
    """Newest first. Query: one SELECT joined to the client key."""
    return [_with_client(log) for log in _recent_requests_qs(limit)]


async def aclient_names(ids: Collection[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {k.pk: k.name async for k in ClientKey.objects.filter(pk__in=ids).only("pk", "name")}


@dataclass(frozen=True, slots=True)
class FallbackRow:
    id: int
    created: datetime
    from_provider: str
    from_model: str
    to_provider: str
    to_model: str
    reason: str
    status: int
    requested_model: str


def fallback_row(event: FallbackEvent) -> FallbackRow:
    return FallbackRow(
        id=event.pk, created=event.created, from_provider=event.from_provider, from_model=event.from_model,
        to_provider=event.to_provider, to_model=event.to_model, reason=event.reason, status=event.status,
        requested_model=event.requested_model,
    )


def recent_fallbacks(limit: int = RECENT_FALLBACKS) -> list[FallbackRow]:
    """Newest first. Query: one SELECT served by the index on created."""
    return [fallback_row(e) for e in FallbackEvent.objects.order_by("-created", "-id")[:limit]]


# --- Provider status -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    id: int
    name: str
    kind: str
    enabled: bool
    status: str  # healthy, half_open, cooling_down, circuit_open or disabled
    failure_count: int
    until: datetime | None  # when the worst blocked circuit lets a probe through
    checked_at: datetime | None
    check_ok: bool | None
    latency_ms: float | None
    check_error: str
    reasons: tuple[str, ...] = ()  # why it is unhealthy (no credential, failed check, failing calls)

    @property
    def label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)


def provider_health(providers: Iterable[Provider], circuits: Iterable[CircuitState], now: float,
                    inputs: HealthInputs | None = None) -> list[ProviderHealth]:
    """PURE: each provider's worst circuit state, summed failures and its last health check,
    raised to unhealthy by catalog.health_reasons (the same rule as /health)."""
    inputs = inputs or HealthInputs()
    by_provider: dict[int, list[Circuit]] = {}
    for row in circuits:
        circuit = Circuit(row.state, row.failure_count, row.open_until, row.probe_since, row.reason,
                          row.limited_until, row.limit_streak, row.limit_explicit)
        by_provider.setdefault(row.provider_id, []).append(circuit)
    out = []
    for p in providers:
        states = by_provider.get(p.pk, [])
        labelled = [(status_label(c, now), c) for c in states] or [("healthy", Circuit())]
        worst, circuit = max(labelled, key=lambda pair: SEVERITY.get(pair[0], 0))
        reasons = health_reasons(p.name, inputs) if p.enabled else []
        status = provider_state(worst, enabled=p.enabled, reasons=reasons)
        until = {"cooling_down": circuit.limited_until, "circuit_open": circuit.open_until}.get(status, 0)
        out.append(ProviderHealth(
            id=p.pk, name=p.name, kind=p.kind, enabled=p.enabled, status=status,
            failure_count=sum(c.failure_count for c in states),
            until=datetime.fromtimestamp(until, tz=UTC) if until else None,
            checked_at=p.health_checked_at, check_ok=p.health_ok, latency_ms=p.health_latency_ms,
            check_error=p.health_error, reasons=tuple(reasons),
        ))
    return out


def _providers_qs(ids: Collection[int] | None, names: Collection[str] | None) -> QuerySet[Provider]:
    # Whole rows (and the OAuth token): the credential check needs what routing's snapshot needs.
    qs = Provider.objects.select_related("oauth_token").order_by("priority", "name")
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    if names is not None:
        qs = qs.filter(name__in=names)
    return qs


def _circuits_qs(providers: Collection[int]) -> QuerySet[CircuitState]:
    return CircuitState.objects.filter(provider_id__in=providers).only(
        "provider_id", "state", "failure_count", "open_until", "probe_since", "reason", "limited_until",
        "limit_streak", "limit_explicit",
    )


def provider_health_summary(
    *, ids: Collection[int] | None = None, names: Collection[str] | None = None
) -> list[ProviderHealth]:
    """Every provider (or those named), by priority. Queries: providers, their circuits."""
    providers = list(_providers_qs(ids, names))
    traffic = {r["provider"]: (r["calls"], r["failed"]) for r in _traffic_qs(providers)}
    inputs = _health_inputs(providers, traffic)
    return provider_health(providers, _circuits_qs([p.pk for p in providers]), time.time(), inputs)


async def aprovider_health_summary(
    *, ids: Collection[int] | None = None, names: Collection[str] | None = None
) -> list[ProviderHealth]:
    providers = [p async for p in _providers_qs(ids, names)]
    circuits = [c async for c in _circuits_qs([p.pk for p in providers])]
    traffic = {r["provider"]: (r["calls"], r["failed"]) async for r in _traffic_qs(providers)}
    return provider_health(providers, circuits, time.time(), _health_inputs(providers, traffic))


ATTEMPT_FAILED = Q(status=0) | Q(status__gte=500) | Q(status__in=[401, 403])  # as metrics.attempt_failed


def _traffic_qs(providers: Collection[Provider]) -> QuerySet[Any, Any]:
    """Calls and failed calls per provider over HEALTH_ERROR_WINDOW (index attempt_created_provider)."""
    since = timezone.now() - timedelta(seconds=settings.HEALTH_ERROR_WINDOW)
    return (RequestAttempt.objects.filter(created__gte=since, provider__in=[p.name for p in providers])
            .values("provider").annotate(calls=Count("id"), failed=Count("id", filter=ATTEMPT_FAILED))
            .order_by())


def _health_inputs(providers: Iterable[Provider], traffic: Mapping[str, tuple[int, int]]) -> HealthInputs:
    return HealthInputs(
        probes={p.name: (p.health_ok, p.health_error) for p in providers},
        traffic=traffic, missing={p.name: credential_missing(provider_config(p)) for p in providers},
        min_calls=settings.HEALTH_ERROR_MIN_CALLS, max_error_rate=settings.HEALTH_ERROR_RATE,
    )


# --- Totals for the last hour and day ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TotalRow:
    label: str
    hour_requests: int
    hour_errors: int
    hour_tokens: int
    day_requests: int
    day_errors: int
    day_tokens: int
    bar: int  # 0-100: the day's requests relative to the busiest row
    hour_throttled: int = 0  # refused by the key's own limits (429)
    day_throttled: int = 0
    day_input_tokens: int = 0  # uncached input (the backends report cache reads apart)
    day_cached_tokens: int = 0  # input read from the prompt cache
    # Money (RequestLog.cost_usd, priced by providers/pricing): None when no request of the day had a
    # price (the page shows "unknown", never $0); day_unpriced counts the requests left out of day_cost.
    day_cost: Decimal | None = None
    day_saved: Decimal | None = None  # what the cache reads saved against uncached input
    day_unpriced: int = 0

    @property
    def hit_percent(self) -> int:
        """The cache-read share of the day's input tokens."""
        total = self.day_input_tokens + self.day_cached_tokens
        return round(100 * self.day_cached_tokens / total) if total else 0


@dataclass(frozen=True, slots=True)
class RefusalRow:
    """Requests of one key the gateway refused for one reason over the last day."""

    client: str
    refusal: str
    status: int
    requests: int
    last: datetime

    @property
    def reason(self) -> str:
        return str(RequestLog.Refusal(self.refusal).label) if self.refusal in RequestLog.Refusal.values else self.refusal


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A Claude Code session's prompt-cache use: how much of its input the backend had cached."""

    session: str
    provider: str
    requests: int
    input_tokens: int
    cached_tokens: int

    @property
    def hit_percent(self) -> int:
        total = self.input_tokens + self.cached_tokens
        return round(100 * self.cached_tokens / total) if total else 0


@dataclass(frozen=True, slots=True)
class HourBar:
    start: datetime
    requests: int
    errors: int
    x: int
    y: int  # top of the bar
    height: int
    error_y: int
    error_height: int


CHART_HEIGHT = chart.PLOT_HEIGHT
BAR_WIDTH, BAR_GAP = chart.BAR_WIDTH, chart.BAR_GAP
CHART_WIDTH = chart.PLOT_WIDTH
TOP_KEYS = 10


@dataclass(frozen=True, slots=True)
class Totals:
    providers: list[TotalRow]
    keys: list[TotalRow]
    hours: list[HourBar]
    peak: int  # the busiest hour's requests (chart scale)
    sessions: list[SessionRow] = field(default_factory=list)
    refusals: list[RefusalRow] = field(default_factory=list)
    y_ticks: list[chart.Tick] = field(default_factory=list)
    x_ticks: list[chart.Tick] = field(default_factory=list)
    chart_width: ClassVar[int] = chart.WIDTH
    chart_height: ClassVar[int] = chart.HEIGHT
    plot_left: ClassVar[int] = chart.LEFT
    plot_top: ClassVar[int] = chart.TOP
    plot_right: ClassVar[int] = chart.LEFT + chart.PLOT_WIDTH
    plot_bottom: ClassVar[int] = chart.TOP + chart.PLOT_HEIGHT
    plot_mid_x: ClassVar[int] = chart.LEFT + chart.PLOT_WIDTH // 2
    plot_mid_y: ClassVar[int] = chart.TOP + chart.PLOT_HEIGHT // 2
    y_title_x: ClassVar[int] = -(chart.TOP + chart.PLOT_HEIGHT // 2)  # the y title is rotated -90°
    bar_width: ClassVar[int] = BAR_WIDTH

    @property
    def top_keys(self) -> list[TotalRow]:
        """The keys that cost most over the last day (keys whose cost is unknown after them, by
        tokens); a key only refused is in the throttled panel, not here."""
        served = [row for row in self.keys if row.day_requests]
        return sorted(served, key=lambda row: (row.day_cost is not None, row.day_cost or 0, row.day_tokens),
                      reverse=True)[:TOP_KEYS]

    @property
    def cache_rows(self) -> list[tuple[str, TotalRow]]:
        """Providers, then keys, that read or wrote input over the last day."""
        rows = [("provider", r) for r in self.providers] + [("key", r) for r in self.keys]
        return [(kind, r) for kind, r in rows if r.day_input_tokens or r.day_cached_tokens]


def _grouped(field: str, day_ago: datetime, hour_ago: datetime) -> QuerySet[Any, dict[str, Any]]:
    """Conditional aggregation over the last day. Served by the index on created (range scan)."""
    in_hour = Q(created__gte=hour_ago)
    # Refusals have no provider; one without a key (an invalid key) is no key's either: the
    # throttled panel shows it.
    keyless_refusal = REFUSED & Q(client_key__isnull=True)
    qs = RequestLog.objects.filter(created__gte=day_ago)
    qs = qs.filter(SERVED) if field == "provider" else qs.exclude(keyless_refusal)
    return (
        qs.values(field)
        .annotate(
            day_requests=rows_sum(SERVED), day_errors=rows_sum(ERRORS),
            day_tokens=Coalesce(Sum(TOKENS), 0), day_throttled=rows_sum(THROTTLED),
            hour_requests=rows_sum(SERVED & in_hour), hour_errors=rows_sum(ERRORS & in_hour),
            hour_tokens=Coalesce(Sum(TOKENS, filter=in_hour), 0), hour_throttled=rows_sum(THROTTLED & in_hour),
            day_input_tokens=Coalesce(Sum("input_tokens", filter=SERVED), 0),
            day_cached_tokens=Coalesce(Sum("cached_tokens", filter=SERVED), 0),
            day_cost=Sum("cost_usd", filter=SERVED), day_saved=Sum("cache_saved_usd", filter=SERVED),
            day_unpriced=rows_sum(SERVED & Q(cost_usd__isnull=True)),
        )
        .order_by("-day_requests")
    )


def _hourly(day_ago: datetime) -> QuerySet[Any, Any]:
    return (
        RequestLog.objects.filter(SERVED, created__gte=day_ago)
        .annotate(hour=TruncHour("created"))
        .values("hour")
        .annotate(requests=rows_sum(SERVED), errors=rows_sum(ERRORS))
        .order_by("hour")
    )


SESSIONS_SHOWN = 10


def _sessions(day_ago: datetime) -> QuerySet[Any, Any]:
    """The most recently active sessions of the last day with their cached share of input."""
    return (
        RequestLog.objects.filter(SERVED, created__gte=day_ago).exclude(session_id="")
        .values("session_id")
        .annotate(requests=Count("id"), input=Coalesce(Sum("input_tokens"), 0),
                  cached=Coalesce(Sum("cached_tokens"), 0), last=Max("created"), provider=Max("provider"))
        .order_by("-last")[:SESSIONS_SHOWN]
    )


REFUSALS_SHOWN = 20


def _refusals(day_ago: datetime) -> QuerySet[Any, Any]:
    """Refused requests of the last day per key and reason, most recent first (a range scan of
    the created index; refusal rows are few: a flood is aggregated into counted rows)."""
    return (
        RequestLog.objects.filter(REFUSED, created__gte=day_ago)
        .values("client_key__name", "refusal")
        .annotate(requests=rows_sum(REFUSED), status=Max("status"), last=Max("created"))
        .order_by("-last")[:REFUSALS_SHOWN]
    )


TotalsQueries = tuple[QuerySet[Any, Any], ...]


def _totals_queries(now: datetime) -> TotalsQueries:
    # The chart's 24 bars end with the current hour, so the day window starts on an hour.
    day_ago = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    hour_ago = now - timedelta(hours=1)
    return (_grouped("provider", day_ago, hour_ago), _grouped("client_key__name", day_ago, hour_ago),
            _hourly(day_ago), _sessions(day_ago), _refusals(day_ago))


def _total_rows(rows: list[dict[str, Any]], field: str, empty: str) -> list[TotalRow]:
    busiest = max((r["day_requests"] for r in rows), default=0) or 1
    return [
        TotalRow(
            label=r[field] or empty, hour_requests=r["hour_requests"], hour_errors=r["hour_errors"],
            hour_tokens=r["hour_tokens"], day_requests=r["day_requests"], day_errors=r["day_errors"],
            day_tokens=r["day_tokens"], bar=round(100 * r["day_requests"] / busiest),
            hour_throttled=r.get("hour_throttled", 0), day_throttled=r.get("day_throttled", 0),
            day_input_tokens=r.get("day_input_tokens", 0), day_cached_tokens=r.get("day_cached_tokens", 0),
            day_cost=r.get("day_cost"), day_saved=r.get("day_saved"), day_unpriced=r.get("day_unpriced", 0),
        )
        for r in rows
    ]


def hour_bars(now: datetime, counts: Mapping[datetime, tuple[int, int]]) -> tuple[list[HourBar], int]:
    """PURE: 24 hourly bars ending with ``now``'s hour, scaled to the y axis over the busiest hour."""
    last = now.replace(minute=0, second=0, microsecond=0)
    starts = [last - timedelta(hours=23 - i) for i in range(24)]
    peak = max((counts.get(s, (0, 0))[0] for s in starts), default=0)
    top, _ = chart.y_scale(peak)
    bars = []
    for i, start in enumerate(starts):
        requests, errors = counts.get(start, (0, 0))
        height = round(CHART_HEIGHT * requests / top)
        error_height = round(CHART_HEIGHT * errors / top)
        bars.append(HourBar(start, requests, errors, i * (BAR_WIDTH + BAR_GAP), CHART_HEIGHT - height, height,
                            CHART_HEIGHT - error_height, error_height))
    return bars, peak


def totals_build(now: datetime, by_provider: list[dict[str, Any]], by_key: list[dict[str, Any]],
                 hourly: list[dict[str, Any]], sessions: list[dict[str, Any]] | None = None,
                 refusals: list[dict[str, Any]] | None = None) -> Totals:
    counts = {timezone.localtime(r["hour"], UTC): (r["requests"], r["errors"]) for r in hourly}
    bars, peak = hour_bars(timezone.localtime(now, UTC), counts)
    session_rows = [SessionRow(r["session_id"], r["provider"] or "", r["requests"], r["input"], r["cached"])
                    for r in sessions or ()]
    refusal_rows = [RefusalRow(r["client_key__name"] or "(no key)", r["refusal"], r["status"], r["requests"],
                               r["last"]) for r in refusals or ()]
    return Totals(_total_rows(by_provider, "provider", "(no provider)"),
                  _total_rows(by_key, "client_key__name", "(open access)"), bars, peak, session_rows,
                  refusal_rows, chart.y_ticks(*chart.y_scale(peak)),
                  chart.x_ticks([timezone.localtime(bar.start) for bar in bars]))


def request_totals(now: datetime | None = None) -> Totals:
    """Per provider and per client key (last hour and day), and requests per hour.

    Queries: five aggregates over the last day (providers, keys, hours, sessions, refusals), each
    a range scan of the created index.
    """
    now = now or timezone.now()
    return totals_build(now, *(list(qs) for qs in _totals_queries(now)))


async def arequest_totals(now: datetime | None = None) -> Totals:
    now = now or timezone.now()
    return totals_build(now, *[[r async for r in qs] for qs in _totals_queries(now)])


# --- Redis -----------------------------------------------------------------------------------------


def redis_unreachable() -> bool:
    """True when the gateway uses Redis and Redis does not answer (sync; views and snapshots).

    While it is down and in its back-off (runtime/outage.py) no call is made; otherwise one
    cheap GET tells. Without REDIS_URL there is nothing to be unreachable."""
    cache = caches["default"]
    if isinstance(cache, LocMemCache):
        return False
    if not REDIS.usable():
        return True
    try:
        cache.get("dashboard:ping")
    except redis_errors() as exc:
        REDIS.failed(exc)
        return True
    REDIS.succeeded()
    return False
