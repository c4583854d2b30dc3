"""Celery task: retention of unassigned agent fingerprint sightings (deletes by id batches)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from routing.services import fingerprint_sightings_prune_batch
from runtime.retention import PRUNE_HARD_LIMIT, PRUNE_SOFT_LIMIT, prune_older_than


@shared_task(soft_time_limit=PRUNE_SOFT_LIMIT, time_limit=PRUNE_HARD_LIMIT)
def fingerprint_sightings_prune() -> int:
    """Delete unassigned agent fingerprints not seen for FINGERPRINT_SIGHTINGS_RETENTION_DAYS, in
    batches. Returns the rows deleted."""
    return prune_older_than(
        days=settings.FINGERPRINT_SIGHTINGS_RETENTION_DAYS, what="fingerprint sighting",
        batch=lambda before: fingerprint_sightings_prune_batch(before=before,
                                                               batch_size=settings.REQUEST_LOG_PRUNE_BATCH))
