"""The price table the request path prices with: the shipped defaults with the admin's rows over them.

``price_table_get()`` is async and cached per process like routing's route table: reloaded at
most every TTL seconds (one reload at a time, the others keep the last snapshot), at once in
this process after a ModelPrice is saved or deleted (providers/apps.py), and the last
good table keeps serving while the database is unreachable (before the first load: the shipped
defaults alone). ``price_table_load_sync()`` is the same table for sync callers (reports, admin).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from django.db import transaction

from providers.models import ModelPrice
from providers.pricing import Price, PriceTable, default_table
from runtime.outage import DATABASE, DATABASE_ERRORS

logger = logging.getLogger("gateway.prices")

TTL = 30.0  # seconds: how soon another process sees an admin's price edit
_cache: dict[str, tuple[float, PriceTable]] = {}
_lock: asyncio.Lock | None = None


def _row(row: ModelPrice) -> tuple[str | None, str, Price] | None:
    try:
        price = Price.from_dict(row.price_dict(), where=f"ModelPrice {row.pk} ({row.model})")
    except ValueError as exc:  # a row the admin's clean() would refuse (written some other way)
        logger.warning("price row ignored: %s", exc)
        return None
    return row.provider.name if row.provider else None, row.model, price


async def price_table_load() -> PriceTable:
    """Query: the ModelPrice rows with their provider names."""
    rows = [_row(r) async for r in ModelPrice.objects.select_related("provider")]
    return default_table().with_overrides(r for r in rows if r is not None)


def price_table_load_sync() -> PriceTable:
    """price_table_load for sync code (never on the event loop). Query: the ModelPrice rows."""
    rows = [_row(r) for r in ModelPrice.objects.select_related("provider")]
    return default_table().with_overrides(r for r in rows if r is not None)


async def price_table_get() -> PriceTable:
    """The current table (see the module docstring). Query (on reload only): the ModelPrice rows."""
    global _lock
    cached = _cache.get("table")
    if cached is not None and time.monotonic() - cached[0] < TTL:
        return cached[1]
    if _lock is None:
        _lock = asyncio.Lock()
    if cached is not None and _lock.locked():
        return cached[1]  # someone else is reloading; serve the previous snapshot
    async with _lock:
        cached = _cache.get("table")
        if cached is not None and time.monotonic() - cached[0] < TTL:
            return cached[1]
        try:
            table = await price_table_load()
        except DATABASE_ERRORS as exc:
            DATABASE.failed(exc)
            table = cached[1] if cached is not None else default_table()  # stale-if-error
        _cache["table"] = (time.monotonic(), table)
        return table


def price_table_invalidate() -> None:
    """Forget the cached table: the next request reloads it (tests; the receiver below)."""
    _cache.clear()


def model_price_changed(**_signal: Any) -> None:
    """Receiver of ModelPrice post_save/post_delete: reload once the write is committed."""
    transaction.on_commit(price_table_invalidate)
