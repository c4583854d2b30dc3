"""Celery tasks: thin wrappers that take ids and call services, with explicit time limits.

Every task is safe to run twice at once: health checks claim the provider with a conditional
update and token refreshes claim the token. (Log retention: dashboard/tasks.py; fingerprint
sighting retention: routing/tasks.py.)
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from providers.oauth import oauth_token_refresh as token_refresh_service
from providers.oauth import oauth_tokens_due
from providers.probes import health_check_run, provider_ids_to_check

logger = logging.getLogger("gateway.tasks")

# Limits are literals: decorators run at import, where settings must not be read. A health
# check is bounded by HEALTH_CHECK_TIMEOUT (10 s by default) plus a few queries.
HEALTH_SOFT_LIMIT, HEALTH_HARD_LIMIT = 30, 45
FANOUT_SOFT_LIMIT, FANOUT_HARD_LIMIT = 20, 30
TOKEN_SOFT_LIMIT, TOKEN_HARD_LIMIT = 40, 60


@shared_task(soft_time_limit=HEALTH_SOFT_LIMIT, time_limit=HEALTH_HARD_LIMIT)
def provider_health_check(provider_id: int) -> dict[str, Any]:
    return health_check_run(provider_id=provider_id).as_dict()


@shared_task(soft_time_limit=FANOUT_SOFT_LIMIT, time_limit=FANOUT_HARD_LIMIT)
def provider_health_check_all() -> list[int]:
    """One task per enabled provider, so a slow provider never delays the others."""
    ids = provider_ids_to_check()
    for provider_id in ids:
        provider_health_check.delay(provider_id)
    return ids


@shared_task(soft_time_limit=TOKEN_SOFT_LIMIT, time_limit=TOKEN_HARD_LIMIT)
def oauth_token_refresh(token_id: int) -> dict[str, Any]:
    result = token_refresh_service(token_id=token_id)
    return {"token_id": token_id, "ok": result.ok, "error": result.error}  # never the token itself


@shared_task(soft_time_limit=FANOUT_SOFT_LIMIT, time_limit=FANOUT_HARD_LIMIT)
def oauth_token_refresh_due() -> list[int]:
    ids = oauth_tokens_due()
    for token_id in ids:
        oauth_token_refresh.delay(token_id)
    return ids
