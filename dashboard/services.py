"""Request logging off the hot path: rows are queued in memory and bulk-written by one task.

The request path only appends a dict to a list; a background task flushes the list every
REQUEST_LOG_FLUSH_INTERVAL seconds with one bulk INSERT in a worker thread, then publishes the new
rows to the live dashboard (dashboard_event_send), still off the request path.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from dashboard import fragments
from dashboard.models import FallbackEvent, RequestLog
from dashboard.selectors import (
    aclient_names,
    aprovider_health_summary,
    arequest_totals,
    fallback_row,
    provider_health_summary,
    request_row,
)
from proxy_project import memory
from proxy_project.dbconn import connections_cleaned
from routing.services import fingerprint_sightings_aflush

logger = logging.getLogger("gateway.logs")

IDLE_FLUSHES_BEFORE_TRIM = 2  # with the 0.5 s flush interval: about a second of quiet
_pending: list[dict[str, Any]] = []
_fallbacks: list[dict[str, Any]] = []
_flusher: dict[int, asyncio.Task[None]] = {}
_totals = {"due": False, "sent": 0.0}  # the hour/day totals wait for rows and DASHBOARD_TOTALS_INTERVAL

REDACTED_KEYS = ("authorization", "x-api-key", "api-key", "token", "secret", "password")


def redact(text: str) -> str:
    """Strip anything that looks like a credential from an error message."""
    out = []
    for word in text.split(" "):
        low = word.lower()
        if low.startswith(("sk-", "bearer", "key-")) or any(k in low for k in ("sk-ant", "sk-gw-")):
            out.append("[redacted]")
        else:
            out.append(word)
    return " ".join(out)


def request_log_record(**fields: Any) -> None:
    """Queue one RequestLog row (non-blocking; call from the event loop)."""
    fields.setdefault("created", timezone.now())
    if fields.get("error"):
        fields["error"] = redact(str(fields["error"]))[:2000]
    _pending.append(fields)
    _ensure_flusher()


def fallback_event_record(**fields: Any) -> None:
    """Queue one FallbackEvent row (non-blocking)."""
    fields.setdefault("created", timezone.now())
    _fallbacks.append(fields)
    _ensure_flusher()


def _ensure_flusher() -> None:
    loop = asyncio.get_running_loop()
    task = _flusher.get(id(loop))
    if task is None or task.done():
        _flusher[id(loop)] = loop.create_task(_flush_forever())


async def _flush_forever() -> None:
    idle = 0
    while True:
        await asyncio.sleep(settings.REQUEST_LOG_FLUSH_INTERVAL)
        busy = bool(_pending or _fallbacks)
        await request_log_aflush()
        idle = 0 if busy else idle + 1
        if idle == IDLE_FLUSHES_BEFORE_TRIM:  # quiet for a few seconds after traffic: return memory
            memory.trim()


async def request_log_aflush() -> int:
    """Write every queued row (logs, fallback events, fingerprint sightings) now. Returns how many logs were written."""
    rows, events = _pending[:], _fallbacks[:]
    del _pending[: len(rows)]
    del _fallbacks[: len(events)]
    logs: list[RequestLog] = []
    fallbacks: list[FallbackEvent] = []
    if rows or events:
        try:
            logs, fallbacks = await sync_to_async(_bulk_write, thread_sensitive=False)(rows, events)
        except Exception:  # a logging failure must never take the gateway down
            logger.exception("could not write %d request log rows", len(rows))
    try:
        await dashboard_event_send(logs=logs, fallbacks=fallbacks)
    except Exception:  # nor may the dashboard
        logger.exception("could not publish %d request log rows to the dashboard", len(logs))
    try:
        await fingerprint_sightings_aflush()
    except Exception:
        logger.exception("could not record agent fingerprint sightings")
    return len(logs)


@connections_cleaned  # runs in a pool thread: a connection broken by a PostgreSQL restart is replaced
def _bulk_write(
    rows: list[dict[str, Any]], events: list[dict[str, Any]]
) -> tuple[list[RequestLog], list[FallbackEvent]]:
    """One INSERT per table; the created objects carry their ids (RETURNING) for the dashboard."""
    logs = RequestLog.objects.bulk_create([RequestLog(**row) for row in rows]) if rows else []
    fallbacks = FallbackEvent.objects.bulk_create([FallbackEvent(**event) for event in events]) if events else []
    return logs, fallbacks


# --- Live dashboard --------------------------------------------------------------------------------


VIEWERS_KEY = "dashboard:viewers"
VIEWER_TTL = 30.0  # seconds a dashboard connection counts as watching without a heartbeat


async def dashboard_viewer_present_mark() -> None:
    await cache.aset(VIEWERS_KEY, True, VIEWER_TTL)


async def dashboard_viewers_present() -> bool:
    """Whether a dashboard is open (shared through the cache: Redis when REDIS_URL is set)."""
    return bool(await cache.aget(VIEWERS_KEY, False))


async def dashboard_event_send(*, logs: Sequence[RequestLog], fallbacks: Sequence[FallbackEvent]) -> None:
    """Publish freshly written rows to the dashboard group as small out-of-band fragments.

    Steps: the new request rows (one message, newest first) -> the new fallback events -> the
    status rows of the providers involved -> the hour/day totals, at most every
    DASHBOARD_TOTALS_INTERVAL seconds per process. Queries (async ORM): client key names, the
    involved providers and their circuits, and (when due) the three totals aggregates.
    """
    layer = get_channel_layer()
    if layer is None or not (logs or fallbacks) or not await dashboard_viewers_present():
        return  # nobody is watching: no rendering, no totals queries on the gateway's loop
    if logs:
        names = await aclient_names({log.client_key_id for log in logs if log.client_key_id})
        rows = sorted((request_row(log, names.get(log.client_key_id or 0, "")) for log in logs),
                      key=lambda row: (row.created, row.id or 0), reverse=True)
        html = fragments.request_rows(rows)
        await layer.group_send(fragments.GROUP, fragments.event(html, kind="requests", ids=_ids(rows)))
    if fallbacks:
        frows = sorted((fallback_row(e) for e in fallbacks), key=lambda row: (row.created, row.id or 0), reverse=True)
        html = fragments.fallback_rows(frows)
        await layer.group_send(fragments.GROUP, fragments.event(html, kind="fallbacks", ids=_ids(frows)))
    involved = {log.provider for log in logs if log.provider}
    involved |= {name for e in fallbacks for name in (e.from_provider, e.to_provider) if name}
    if involved:
        status = fragments.provider_rows(await aprovider_health_summary(names=involved))
        await layer.group_send(fragments.GROUP, fragments.event(status))
    _totals["due"] = _totals["due"] or bool(logs)
    if _totals["due"] and time.monotonic() - _totals["sent"] >= settings.DASHBOARD_TOTALS_INTERVAL:
        _totals.update(due=False, sent=time.monotonic())
        html = fragments.totals_panel(await arequest_totals())
        await layer.group_send(fragments.GROUP, fragments.event(html))


def _ids(rows: Sequence[Any]) -> list[int]:
    return [row.id for row in rows if row.id]


def dashboard_status_send(*, provider_ids: Collection[int]) -> None:
    """Sync (admin actions, Celery): publish the status rows of these providers.

    Across processes this needs the Redis channel layer; the in-memory one reaches only
    browsers connected to this process. Queries: the providers and their circuits.
    """
    layer = get_channel_layer()
    if layer is None or not provider_ids:
        return
    try:
        html = fragments.provider_rows(provider_health_summary(ids=provider_ids))
        async_to_sync(layer.group_send)(fragments.GROUP, fragments.event(html))
    except Exception:  # the dashboard is a view: a health check or an admin action never fails for it
        logger.exception("could not publish the status of providers %s", sorted(provider_ids))


# --- Retention ------------------------------------------------------------------------------------


def request_log_prune_batch(*, before: datetime, batch_size: int) -> int:
    """Delete up to ``batch_size`` request logs and fallback events older than ``before``.

    Small batches keep each DELETE's locks short on a busy table. Two workers pruning at once
    pick overlapping ids and the second deletes fewer rows: harmless. Queries: an id SELECT and a
    DELETE per table (the index on created serves both SELECTs).
    """
    ids = list(RequestLog.objects.filter(created__lt=before).order_by("created").values_list("pk", flat=True)[:batch_size])
    deleted = RequestLog.objects.filter(pk__in=ids).delete()[0] if ids else 0
    event_ids = list(
        FallbackEvent.objects.filter(created__lt=before).order_by("created").values_list("pk", flat=True)[:batch_size]
    )
    if event_ids:
        deleted += FallbackEvent.objects.filter(pk__in=event_ids).delete()[0]
    return deleted
