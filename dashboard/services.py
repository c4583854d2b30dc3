"""Request logging off the hot path: rows are queued in memory and bulk-written by one task.

The request path only appends a dict to a list; a background task flushes the list every
REQUEST_LOG_FLUSH_INTERVAL seconds with one bulk INSERT in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from dashboard.models import FallbackEvent, RequestLog
from routing.services import fingerprint_sightings_aflush

logger = logging.getLogger("gateway.logs")

_pending: list[dict[str, Any]] = []
_fallbacks: list[dict[str, Any]] = []
_flusher: dict[int, asyncio.Task[None]] = {}

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
    while True:
        await asyncio.sleep(settings.REQUEST_LOG_FLUSH_INTERVAL)
        await request_log_aflush()


async def request_log_aflush() -> int:
    """Write every queued row (logs, fallback events, fingerprint sightings) now. Returns how many logs were written."""
    rows, events = _pending[:], _fallbacks[:]
    del _pending[: len(rows)]
    del _fallbacks[: len(events)]
    if rows or events:
        try:
            await sync_to_async(_bulk_write, thread_sensitive=False)(rows, events)
        except Exception:  # a logging failure must never take the gateway down
            logger.exception("could not write %d request log rows", len(rows))
            rows = []
    try:
        await fingerprint_sightings_aflush()
    except Exception:
        logger.exception("could not record agent fingerprint sightings")
    return len(rows)


def _bulk_write(rows: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    if rows:
        RequestLog.objects.bulk_create([RequestLog(**row) for row in rows])
    if events:
        FallbackEvent.objects.bulk_create([FallbackEvent(**event) for event in events])
