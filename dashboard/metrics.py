"""Prometheus metrics (prometheus_client) and the in-process view of recent upstream outcomes.

Counted where the log rows are queued (dashboard/services.py), from the same values, so every
counter equals a count over RequestLog / RequestAttempt / FallbackEvent rows. Label values come
from the route table and the admin (provider, upstream model, key name, status), never from what
a client typed, so a client cannot grow the series count. With PROMETHEUS_MULTIPROC_DIR set
(several daphne processes) prometheus_client keeps each process's values in files there and
/metrics sums them (MultiProcessCollector); without it the values live in this process.

The breaker state per scope is read from the circuit rows at scrape time, not counted.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from clients.staff_auth import astaff_user
from routing.models import CircuitState
from runtime.outage import DATABASE, DATABASE_ERRORS

# Latency of a whole request, and time to its first token: seconds, Claude-sized (up to minutes).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320)
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32)

REQUESTS = Counter("gateway_requests", "Client requests answered (RequestLog rows, refusals excluded)",
                   ["status", "provider", "model", "key"])
REFUSALS = Counter("gateway_refusals", "Requests the gateway refused itself (RequestLog rows with a refusal)",
                   ["reason", "status", "key"])
ATTEMPTS = Counter("gateway_upstream_attempts", "Upstream calls (RequestAttempt rows)", ["provider", "status"])
FALLBACKS = Counter("gateway_fallbacks", "Moves to the next provider before the first byte (FallbackEvent rows)",
                    ["from_provider", "to_provider"])
TOKENS = Counter("gateway_tokens", "Tokens of answered requests", ["provider", "model", "key", "type"])
COST = Counter("gateway_cost_usd", "USD of answered requests, priced from the price table (RequestLog.cost_usd)",
               ["provider", "model", "key"])
UNPRICED = Counter("gateway_unpriced_requests", "Answered requests whose price is unknown (cost_usd NULL): "
                   "gateway_cost_usd leaves them out", ["provider", "model", "key"])
LATENCY = Histogram("gateway_request_duration_seconds", "Client request latency, to the last byte",
                    ["provider"], buckets=LATENCY_BUCKETS)
TTFT = Histogram("gateway_time_to_first_token_seconds", "Streamed requests: time to the first content",
                 ["provider"], buckets=TTFT_BUCKETS)
BACKLOG = Gauge("gateway_log_backlog_rows", "Log rows queued in memory, not yet written",
                multiprocess_mode="livesum")
DROPPED = Counter("gateway_log_rows_dropped", "Log rows dropped at REQUEST_LOG_BACKLOG_MAX during an outage")
BREAKER_STATES = ("closed", "half_open", "open")


def request_count(row: Mapping[str, Any], key: str) -> None:
    """Count one answered request (the RequestLog row about to be queued)."""
    provider, model = row.get("provider") or "", row.get("upstream_model") or ""
    REQUESTS.labels(str(row.get("status", 0)), provider, model, key).inc()
    LATENCY.labels(provider).observe((row.get("latency_ms") or 0) / 1000)
    if row.get("ttft_ms") is not None:
        TTFT.labels(provider).observe(row["ttft_ms"] / 1000)
    for kind, field in (("input", "input_tokens"), ("output", "output_tokens"), ("cached", "cached_tokens"),
                        ("cache_write", "cache_write_tokens")):
        if row.get(field):
            TOKENS.labels(provider, model, key, kind).inc(row[field])
    if "cost_usd" in row and row["cost_usd"] is None:
        UNPRICED.labels(provider, model, key).inc()
    elif row.get("cost_usd"):
        COST.labels(provider, model, key).inc(float(row["cost_usd"]))


def attempt_count(provider: str, status: int) -> None:
    ATTEMPTS.labels(provider, str(status)).inc()


def refusal_count(reason: str, status: int, key: str) -> None:
    REFUSALS.labels(reason, str(status), key).inc()


def fallback_count(from_provider: str, to_provider: str) -> None:
    FALLBACKS.labels(from_provider, to_provider).inc()


def backlog_set(rows: int, dropped: int = 0) -> None:
    BACKLOG.set(rows)
    if dropped:
        DROPPED.inc(dropped)


# --- The scrape ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BreakerScope:
    provider: str
    model: str
    state: str  # closed | half_open | open


class BreakerCollector:
    """The breaker state per scope, as read just before the scrape (one gauge per state, 0/1)."""

    def __init__(self, scopes: Iterable[BreakerScope]) -> None:
        # One series per provider and model: their credential scopes fold into the worst state
        # (a label per credential would name credentials; duplicate series are invalid).
        worst: dict[tuple[str, str], BreakerScope] = {}
        for scope in scopes:
            seen = worst.get((scope.provider, scope.model))
            if seen is None or _rank(scope.state) > _rank(seen.state):
                worst[(scope.provider, scope.model)] = scope
        self.scopes = list(worst.values())

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("gateway_breaker_state", "Circuit breaker state per provider scope (1: in it)",
                                   labels=["provider", "model", "state"])
        for scope in self.scopes:
            for state in BREAKER_STATES:
                family.add_metric([scope.provider, scope.model, state], 1.0 if scope.state == state else 0.0)
        yield family


def _rank(state: str) -> int:
    return BREAKER_STATES.index(state) if state in BREAKER_STATES else 0


def metrics_render(scopes: Iterable[BreakerScope]) -> bytes:
    """The text exposition: this process's metrics (or every process's, multiprocess) and the breakers."""
    registry: CollectorRegistry
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:  # a fresh registry per scrape: the breaker collector holds this scrape's rows only
        registry = CollectorRegistry()
        for collector in (REQUESTS, REFUSALS, ATTEMPTS, FALLBACKS, TOKENS, COST, UNPRICED, LATENCY, TTFT, BACKLOG,
                          DROPPED):
            registry.register(collector)
    registry.register(BreakerCollector(scopes))  # type: ignore[arg-type]
    return generate_latest(registry)





# --- The /metrics view (served by the lean API handler: async, no session middleware) -------------


async def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for a staff bearer token (``sk-gwadm-…``, Prometheus'
    ``authorization: {credentials: …}``) or a staff session. Query: the circuit rows (and the
    token's user). During a database outage the breaker gauges are left out, the rest is served."""
    if not settings.METRICS_ENABLED:
        return HttpResponse(status=404)
    if await astaff_user(request) is None:
        return HttpResponse(b"metrics need a staff bearer token or a staff session\n", status=401,
                            content_type="text/plain", headers={"www-authenticate": "Bearer"})
    scopes: list[BreakerScope] = []
    try:
        scopes = [BreakerScope(c.provider.name, c.model, c.state) async for c in
                  CircuitState.objects.select_related("provider").only("provider__name", "model", "state")]
    except DATABASE_ERRORS as exc:
        DATABASE.failed(exc)
    return HttpResponse(metrics_render(scopes), content_type=CONTENT_TYPE_LATEST)
