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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from clients.models import ClientKey
from dashboard import console, fragments, metrics
from dashboard.durable import DatabaseDown, rows_write
from dashboard.models import FallbackEvent, RequestAttempt, RequestLog
from dashboard.selectors import (
    aclient_names,
    aprovider_health_summary,
    arequest_totals,
    fallback_row,
    provider_health_summary,
    request_row,
)
from routing.services import fingerprint_sightings_aflush, fingerprint_sightings_waiting
from runtime import memory, resets
from runtime.dbconn import connections_cleaned
from runtime.outage import DATABASE, DATABASE_ERRORS, REDIS, redis_errors
from runtime.redaction import redact_known

logger = logging.getLogger("gateway.logs")

IDLE_FLUSHES_BEFORE_TRIM = 2  # with the 0.5 s flush interval: about a second of quiet
_pending: list[dict[str, Any]] = []
_fallbacks: list[dict[str, Any]] = []
_attempts_left: list[dict[str, Any]] = []  # attempts whose request row is written (they carry request_id)
_flusher: dict[int, asyncio.Task[None]] = {}
_backlog: dict[str, Any] = {"dropped": 0, "warned": False}  # rows dropped at the bound this outage
# The database as the log writer sees it: rows wait in the queues while it is down.
# The hour/day totals wait for rows and DASHBOARD_TOTALS_INTERVAL; "took" is their last queries' time.
_totals = {"due": False, "sent": 0.0, "took": 0.0}
TOTALS_DUTY = 4  # totals queries that take t seconds run at most every TOTALS_DUTY * t seconds

REDACTED_KEYS = ("authorization", "x-api-key", "api-key", "token", "secret", "password")


def redact(text: str) -> str:
    """Strip configured credentials and anything shaped like a key from an error message."""
    return redact_known(text)


def request_log_record(*, client_name: str = "", **fields: Any) -> None:
    """Queue one RequestLog row, its ``attempts`` (RequestAttempt dicts) nested in it, and count it
    in the metrics (non-blocking; call from the event loop). ``client_name`` labels the metrics."""
    _queue(fields, client_name)


def _queue(fields: dict[str, Any], client_name: str) -> None:
    fields.setdefault("created", timezone.now())
    if fields.get("error"):
        fields["error"] = redact(str(fields["error"]))[:2000]
    attempts = fields.get("attempts") or ()
    counting = settings.METRICS_ENABLED
    for attempt in attempts:
        attempt.setdefault("created", fields["created"])
        if attempt.get("error"):
            attempt["error"] = redact(str(attempt["error"]))[:300]
        if counting:
            metrics.attempt_count(attempt.get("provider", ""), int(attempt.get("status", 0)))
    fields["attempt_count"] = len(attempts)
    if counting and not fields.get("refusal"):
        metrics.request_count(fields, client_name)
    console.request_line(fields, client_name)
    _pending.append(fields)
    _ensure_flusher()


def refusal_record(*, key_id: int | None, client_name: str, status: int, reason: str, endpoint: str) -> None:
    """Queue a request the gateway refused itself (non-blocking).

    Up to REFUSAL_ROWS_PER_SECOND of them per key and reason each second are rows of their own;
    the rest of that second are counted into one row (``count``) until the next flush, so a
    refused flood costs a few rows a second and every count stays exact.
    """
    if settings.METRICS_ENABLED:
        metrics.refusal_count(reason, status, client_name)
    second = int(time.time())
    slot = _refusals.get((key_id, reason))
    if slot is None or slot.second != second:
        slot = _refusals[(key_id, reason)] = RefusalSlot(second)
    slot.seen += 1
    if slot.row is not None:
        slot.row["count"] += 1
        return
    row = {"client_key_id": key_id, "endpoint": endpoint[:32], "status": status, "refusal": reason, "count": 1}
    if slot.seen > settings.REFUSAL_ROWS_PER_SECOND:
        slot.row = row  # the aggregate row of this second: later refusals add to it
    _queue(row, client_name)


@dataclass(slots=True)
class RefusalSlot:
    second: int
    seen: int = 0
    row: dict[str, Any] | None = None


_refusals: dict[tuple[int | None, str], RefusalSlot] = {}


@resets.register
def log_queues_forget() -> None:
    """Drop the rows waiting to be written, the refusal slots and the totals' schedule (tests)."""
    for queue in (_pending, _fallbacks, _attempts_left):
        queue.clear()
    _refusals.clear()
    _totals.update(due=False, sent=0.0, took=0.0)
    _backlog.update(dropped=0, warned=False)


def _refusals_seal() -> None:
    """Before a flush takes the queue: an aggregate row about to be written takes no more counts,
    and the slots of past seconds are forgotten (memory bounded by keys seen in a second)."""
    now = int(time.time())
    for key, slot in list(_refusals.items()):
        slot.row = None
        if slot.second < now:
            del _refusals[key]


class LogSink:
    """gateway.records' sink (installed in dashboard/apps.py): the request path's records become
    queued rows, metrics and console lines."""

    def request(self, *, client_name: str, fields: dict[str, Any]) -> None:
        _queue(fields, client_name)

    def refusal(self, *, key_id: int | None, client_name: str, status: int, reason: str, endpoint: str) -> None:
        refusal_record(key_id=key_id, client_name=client_name, status=status, reason=reason, endpoint=endpoint)

    def fallback(self, *, fields: dict[str, Any]) -> None:
        fallback_event_record(**fields)


def status_changed_receive(*, provider_ids: Collection[int] = (), provider_id: int | None = None,
                           **_signal: Any) -> None:
    """Receiver of providers' provider_probed / provider_status_changed: redraw those providers."""
    dashboard_status_send(provider_ids=set(provider_ids) | ({provider_id} if provider_id is not None else set()))


def fallback_event_record(**fields: Any) -> None:
    """Queue one FallbackEvent row (non-blocking); its reason quotes the upstream, so it is redacted."""
    fields.setdefault("created", timezone.now())
    if fields.get("reason"):
        fields["reason"] = redact(str(fields["reason"]))[:300]
    if settings.METRICS_ENABLED:
        metrics.fallback_count(fields.get("from_provider", ""), fields.get("to_provider", ""))
    _fallbacks.append(fields)
    _ensure_flusher()


def _ensure_flusher() -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop in this thread (a sync caller): the next request's flusher takes the rows
        return
    task = _flusher.get(id(loop))
    if task is None or task.done():
        _flusher[id(loop)] = loop.create_task(_flush_forever())


async def _flush_forever() -> None:
    """Flush every REQUEST_LOG_FLUSH_INTERVAL; after IDLE_FLUSHES_BEFORE_TRIM quiet flushes return
    memory, and once nothing is left either (no rows, no due totals, no throttled sightings) end:
    an idle process is not woken twice a second, and the next queued row starts a flusher again."""
    idle = 0
    while True:
        await asyncio.sleep(settings.REQUEST_LOG_FLUSH_INTERVAL)
        busy = bool(_pending or _fallbacks or _attempts_left)
        await request_log_aflush()
        idle = 0 if busy else idle + 1
        if idle == IDLE_FLUSHES_BEFORE_TRIM:  # quiet for about a second after traffic: return memory
            memory.trim()
        if idle >= IDLE_FLUSHES_BEFORE_TRIM and not _flush_work_left():
            return


def _flush_work_left() -> bool:
    return bool(_pending or _fallbacks or _attempts_left or _totals["due"] or fingerprint_sightings_waiting())


class _FlushLock:
    """One flush at a time per process: a caller that finds the periodic flush writing waits for
    it, so every row queued before its call is committed when it returns (was: it returned at
    once with nothing left to take, while the other flush's rows were still being written)."""

    lock: asyncio.Lock | None = None

    @classmethod
    def get(cls) -> asyncio.Lock:
        if cls.lock is None:
            cls.lock = asyncio.Lock()
        return cls.lock

    @classmethod
    def reset(cls) -> None:
        cls.lock = None  # a test's event loop ends with it


resets.register(_FlushLock.reset)


async def request_log_aflush() -> int:
    """Write every queued row (logs, fallback events, fingerprint sightings) now. Returns how many logs were written.

    While the database is down the rows stay queued (at most REQUEST_LOG_BACKLOG_MAX of each,
    the oldest dropped beyond) and are written once it answers again; it is tried again after
    a back-off (DATABASE), not on every flush.
    """
    async with _FlushLock.get():
        return await _flush()


async def _flush() -> int:
    _refusals_seal()
    _backlog_bound(_pending, "request log")
    _backlog_bound(_fallbacks, "fallback event")
    _backlog_bound(_attempts_left, "request attempt")
    logs: list[RequestLog] = []
    fallbacks: list[FallbackEvent] = []
    if (_pending or _fallbacks or _attempts_left) and DATABASE.usable():
        rows, events = _pending[:], _fallbacks[:]
        del _pending[: len(rows)]
        del _fallbacks[: len(events)]
        try:
            logs, fallbacks = await sync_to_async(_durable_write, thread_sensitive=False)(rows, events)
        except Exception:  # a logging failure must never take the gateway down
            logger.exception("could not write %d request log rows", len(rows))
    metrics.backlog_set(len(_pending) + len(_fallbacks) + len(_attempts_left))
    try:
        await dashboard_event_send(logs=logs, fallbacks=fallbacks)
    except Exception:  # nor may the dashboard
        logger.exception("could not publish %d request log rows to the dashboard", len(logs))
    try:
        if not DATABASE.down:  # while it is down the sightings wait in memory too (routing/services.py)
            await fingerprint_sightings_aflush()
    except Exception:
        logger.exception("could not record agent fingerprint sightings")
    return len(logs)


@connections_cleaned  # runs in a pool thread: a connection broken by a PostgreSQL restart is replaced
def _durable_write(
    rows: list[dict[str, Any]], events: list[dict[str, Any]]
) -> tuple[list[RequestLog], list[FallbackEvent]]:
    """Write the queues (dashboard/durable.py): requests, then their attempts with the requests'
    new ids, then fallback events, then each key's last_used. Rows left by an outage go back to
    their queue's front, ahead of what the request path appended meanwhile (a request not written
    keeps its attempts nested in it; attempts whose request is written wait in _attempts_left)."""
    logs = rows_write(RequestLog, rows, nested="attempts")
    children = _attempts_left[:] + [{**a, "request_id": log.pk} for log, kids in logs.nested for a in kids]
    del _attempts_left[:]
    attempts = rows_write(RequestAttempt, children if logs.down is None else [])
    if logs.down is not None:
        attempts.left, attempts.down = children, logs.down
    down = logs.down or attempts.down
    fallbacks = rows_write(FallbackEvent, events if down is None else [])
    if down is not None:
        fallbacks.left, fallbacks.down = events, down
    _pending[:0] = logs.left
    _attempts_left[:0] = attempts.left
    _fallbacks[:0] = fallbacks.left
    down = down or fallbacks.down
    if down is None:
        down = _last_used_write(logs.rows)
    if down is not None:
        DATABASE.failed(down.cause)
    elif DATABASE.down:
        DATABASE.succeeded()
        logger.warning("request log backlog written after the outage; %d rows were dropped at "
                       "REQUEST_LOG_BACKLOG_MAX", _backlog["dropped"])
        _backlog.update(dropped=0, warned=False)
    return logs.rows, fallbacks.rows


def _last_used_write(logs: Sequence[RequestLog]) -> DatabaseDown | None:
    """ClientKey.last_used from the rows just written: one UPDATE per key, only ever forward.
    Best effort: a failure other than an outage is logged, the next flush moves it on."""
    latest: dict[int, datetime] = {}
    for log in logs:
        seen = latest.get(log.client_key_id or 0)
        if log.client_key_id and (seen is None or log.created > seen):
            latest[log.client_key_id] = log.created
    for key_id, when in latest.items():
        try:
            ClientKey.objects.filter(Q(last_used__isnull=True) | Q(last_used__lt=when), pk=key_id).update(
                last_used=when)
        except DATABASE_ERRORS as exc:
            return DatabaseDown(exc)
        except Exception:
            logger.exception("could not record last_used of client key %s", key_id)
    return None


def _backlog_bound(queue: list[dict[str, Any]], what: str) -> None:
    """Keep a queue within REQUEST_LOG_BACKLOG_MAX rows by dropping the oldest (one warning per outage)."""
    excess = len(queue) - settings.REQUEST_LOG_BACKLOG_MAX
    if excess <= 0:
        return
    del queue[:excess]
    _backlog["dropped"] += excess
    metrics.backlog_set(len(queue), excess)
    if not _backlog["warned"]:
        _backlog["warned"] = True
        logger.warning("%s backlog is full (REQUEST_LOG_BACKLOG_MAX=%d): dropping the oldest rows until "
                       "the database is back", what, settings.REQUEST_LOG_BACKLOG_MAX)


# --- Live dashboard --------------------------------------------------------------------------------


VIEWERS_KEY = "dashboard:viewers"
VIEWER_TTL = 30.0  # seconds a dashboard connection counts as watching without a heartbeat


async def dashboard_viewer_present_mark() -> None:
    if not REDIS.usable():
        return
    try:
        await cache.aset(VIEWERS_KEY, True, VIEWER_TTL)
    except redis_errors() as exc:
        REDIS.failed(exc)
        return
    REDIS.succeeded()


async def dashboard_viewers_present() -> bool:
    """Whether a dashboard is open (shared through the cache: Redis when REDIS_URL is set).

    False while Redis is down (no live updates can be delivered then); a failed read starts
    the back-off, so an outage costs one refused connection per back-off, not one per flush."""
    if not REDIS.usable():
        return False
    try:
        present = bool(await cache.aget(VIEWERS_KEY, False))
    except redis_errors() as exc:
        REDIS.failed(exc)
        return False
    REDIS.succeeded()
    return present


async def _publish(layer: Any, event: dict[str, Any]) -> None:
    """group_send, or nothing while Redis (the channel layer's transport) is down."""
    if not REDIS.usable():
        return
    try:
        await layer.group_send(fragments.GROUP, event)
    except redis_errors() as exc:
        REDIS.failed(exc)


async def dashboard_event_send(*, logs: Sequence[RequestLog], fallbacks: Sequence[FallbackEvent]) -> None:
    """Publish freshly written rows to the dashboard group as small out-of-band fragments.

    Steps: the new request rows (one message, newest first) -> the new fallback events -> the
    status rows of the providers involved -> the hour/day totals (_totals_send). Queries (async
    ORM): client key names, the involved providers and their circuits, and (when due) the totals
    aggregates.
    """
    layer = get_channel_layer()
    _totals["due"] = _totals["due"] or bool(logs)
    if layer is None or not (logs or fallbacks or _totals["due"]):
        return
    if not await dashboard_viewers_present():
        _totals["due"] = False  # nobody is watching: no rendering, no totals queries on the gateway's loop
        return
    # Refusals count in the totals (throttled per key), they are not listed: a flood would push
    # every answer out of the recent-requests table (as dashboard.selectors.recent_requests).
    listed = [log for log in logs if not log.refusal]
    if listed:
        names = await aclient_names({log.client_key_id for log in listed if log.client_key_id})
        rows = sorted((request_row(log, names.get(log.client_key_id or 0, "")) for log in listed),
                      key=lambda row: (row.created, row.id or 0), reverse=True)
        html = fragments.request_rows(rows)
        await _publish(layer, fragments.event(html, kind="requests", ids=_ids(rows)))
    if fallbacks:
        frows = sorted((fallback_row(e) for e in fallbacks), key=lambda row: (row.created, row.id or 0), reverse=True)
        html = fragments.fallback_rows(frows)
        await _publish(layer, fragments.event(html, kind="fallbacks", ids=_ids(frows)))
    involved = {log.provider for log in logs if log.provider}
    involved |= {name for e in fallbacks for name in (e.from_provider, e.to_provider) if name}
    if involved:
        status = fragments.provider_rows(await aprovider_health_summary(names=involved))
        await _publish(layer, fragments.event(status))
    await _totals_send(layer)


async def _totals_send(layer: Any) -> None:
    """The hour/day totals, at most every DASHBOARD_TOTALS_INTERVAL seconds per process (longer
    when their queries are slow: a busy day's aggregates keep to a quarter of the time). Rows
    written inside the interval leave them due, and the first flush after it sends them, with
    rows or without (they used to wait for the next request's flush)."""
    interval = max(settings.DASHBOARD_TOTALS_INTERVAL, TOTALS_DUTY * _totals["took"])
    if _totals["due"] and time.monotonic() - _totals["sent"] >= interval:
        started = time.monotonic()
        _totals.update(due=False, sent=started)
        totals = await arequest_totals()
        _totals["took"] = time.monotonic() - started
        await _publish(layer, fragments.event(fragments.totals_panel(totals)))


def _ids(rows: Sequence[Any]) -> list[int]:
    return [row.id for row in rows if row.id]


def dashboard_status_send(*, provider_ids: Collection[int]) -> None:
    """Sync (admin actions, Celery): publish the status rows of these providers.

    Across processes this needs the Redis channel layer; the in-memory one reaches only
    browsers connected to this process. Queries: the providers and their circuits.
    """
    layer = get_channel_layer()
    if layer is None or not provider_ids or not REDIS.usable():
        return
    try:
        html = fragments.provider_rows(provider_health_summary(ids=provider_ids))
        async_to_sync(layer.group_send)(fragments.GROUP, fragments.event(html))
    except redis_errors() as exc:  # one warning per outage, not a traceback per health check
        REDIS.failed(exc)
    except Exception:  # the dashboard is a view: a health check or an admin action never fails for it
        logger.exception("could not publish the status of providers %s", sorted(provider_ids))


# --- Retention ------------------------------------------------------------------------------------


def request_log_prune_batch(*, before: datetime, batch_size: int) -> int:
    """Delete up to ``batch_size`` request logs (their attempts with them) and fallback events older
    than ``before``.

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
