"""Celery task: retention of unassigned agent fingerprint sightings (deletes by id batches)."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from routing.services import fingerprint_sightings_prune_batch

logger = logging.getLogger("gateway.tasks")
PRUNE_SOFT_LIMIT, PRUNE_HARD_LIMIT = 240, 300


@shared_task(soft_time_limit=PRUNE_SOFT_LIMIT, time_limit=PRUNE_HARD_LIMIT)
def fingerprint_sightings_prune() -> int:
    """Delete unassigned agent fingerprints not seen for FINGERPRINT_SIGHTINGS_RETENTION_DAYS, in
    batches (as dashboard.tasks.request_log_prune). Returns the rows deleted."""
    days = settings.FINGERPRINT_SIGHTINGS_RETENTION_DAYS
    if days <= 0:
        return 0
    before = timezone.now() - timedelta(days=days)
    deleted = 0
    try:
        while batch := fingerprint_sightings_prune_batch(before=before, batch_size=settings.REQUEST_LOG_PRUNE_BATCH):
            deleted += batch
    except SoftTimeLimitExceeded:
        logger.warning("fingerprint sighting retention stopped at the time limit after %d rows", deleted)
    return deleted
