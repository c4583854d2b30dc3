"""Celery task: request log retention (deletes by id batches, safe to run twice at once)."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from dashboard.services import request_log_prune_batch

logger = logging.getLogger("gateway.tasks")
PRUNE_SOFT_LIMIT, PRUNE_HARD_LIMIT = 240, 300


@shared_task(soft_time_limit=PRUNE_SOFT_LIMIT, time_limit=PRUNE_HARD_LIMIT)
def request_log_prune() -> int:
    """Delete logs older than REQUEST_LOG_RETENTION_DAYS in batches until none are left or the
    soft limit hits (the next run goes on from there). Returns the rows deleted."""
    days = settings.REQUEST_LOG_RETENTION_DAYS
    if days <= 0:
        return 0
    before = timezone.now() - timedelta(days=days)
    deleted = 0
    try:
        while batch := request_log_prune_batch(before=before, batch_size=settings.REQUEST_LOG_PRUNE_BATCH):
            deleted += batch
    except SoftTimeLimitExceeded:
        logger.warning("request log retention stopped at the time limit after %d rows", deleted)
    return deleted
