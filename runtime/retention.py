"""Retention for Celery tasks: delete rows older than N days in batches, until none are left or
the task's soft time limit hits (the next run goes on from there)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

logger = logging.getLogger("gateway.tasks")
PRUNE_SOFT_LIMIT, PRUNE_HARD_LIMIT = 240, 300  # seconds, for the tasks' decorators


def prune_older_than(*, days: int, batch: Callable[[datetime], int], what: str) -> int:
    """Call ``batch(before)`` (deletes one batch, returns how many) until it deletes nothing.
    ``days`` <= 0 keeps everything. Returns the rows deleted."""
    if days <= 0:
        return 0
    before = timezone.now() - timedelta(days=days)
    deleted = 0
    try:
        while done := batch(before):
            deleted += done
    except SoftTimeLimitExceeded:
        logger.warning("%s retention stopped at the time limit after %d rows", what, deleted)
    return deleted
