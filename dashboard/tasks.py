"""Celery task: request log retention (deletes by id batches, safe to run twice at once)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from dashboard.services import request_log_prune_batch
from runtime.retention import PRUNE_HARD_LIMIT, PRUNE_SOFT_LIMIT, prune_older_than


@shared_task(soft_time_limit=PRUNE_SOFT_LIMIT, time_limit=PRUNE_HARD_LIMIT)
def request_log_prune() -> int:
    """Delete logs older than REQUEST_LOG_RETENTION_DAYS in batches. Returns the rows deleted."""
    return prune_older_than(
        days=settings.REQUEST_LOG_RETENTION_DAYS, what="request log",
        batch=lambda before: request_log_prune_batch(before=before, batch_size=settings.REQUEST_LOG_PRUNE_BATCH))
