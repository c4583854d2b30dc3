"""Claude OAuth token refresh, single-flight across workers (sync for Celery/admin, async twin
for the request path's 401 retry).

Steps: claim the token with a conditional update on ``refreshing_since`` -> POST the
refresh-token grant to the token endpoint (through providers.client) -> store the new tokens
encrypted and release the claim; on failure record the error and release the claim.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from providers import client
from providers.models import OAuthToken
from providers.signals import provider_credential_changed
from runtime import crypto

CLAIM_STALE = timedelta(seconds=60)
logger = logging.getLogger("gateway.oauth")


@dataclass(frozen=True)
class RefreshResult:
    ok: bool
    error: str = ""
    access_token_encrypted: str = ""


def _claim_filter(now: datetime) -> Q:
    return Q(refreshing_since__isnull=True) | Q(refreshing_since__lt=now - CLAIM_STALE)


def _grant(token: OAuthToken) -> tuple[str, dict[str, str]]:
    url = token.token_url or settings.OAUTH_TOKEN_URL
    payload = {
        "grant_type": "refresh_token",
        "refresh_token": crypto.decrypt(token.refresh_token_encrypted),
        "client_id": token.client_id or settings.OAUTH_CLIENT_ID,
    }
    return url, payload


def _success_fields(data: dict[str, Any], now: datetime) -> dict[str, Any]:
    access = data.get("access_token")
    if not isinstance(access, str) or not access:
        raise ValueError("token endpoint answered without an access_token")
    fields: dict[str, Any] = {
        "access_token_encrypted": crypto.encrypt(access),
        "refreshing_since": None,
        "last_refresh_at": now,
        "last_error": "",
        "refresh_failures": 0,
    }
    if isinstance(data.get("refresh_token"), str) and data["refresh_token"]:
        fields["refresh_token_encrypted"] = crypto.encrypt(data["refresh_token"])
    expires_in = data.get("expires_in")
    if isinstance(expires_in, int | float):
        fields["expires_at"] = now + timedelta(seconds=float(expires_in))
    return fields


def _failure_message(status: int | None, exc: Exception | None) -> str:
    if exc is not None:
        return f"refresh failed: {type(exc).__name__}"
    return f"refresh failed: token endpoint answered {status}"


def oauth_token_refresh(*, token_id: int) -> RefreshResult:
    """Refresh one token now (sync). Queries: claim UPDATE, SELECT, result UPDATE."""
    now = timezone.now()
    if not OAuthToken.objects.filter(_claim_filter(now), pk=token_id).update(refreshing_since=now):
        return RefreshResult(False, "another worker is refreshing this token")
    token = OAuthToken.objects.get(pk=token_id)
    if not token.refresh_token_encrypted:
        return _fail_sync(token_id, "no refresh token stored")
    try:
        url, payload = _grant(token)
        status, data = client.token_post_sync(url, payload, settings.OAUTH_REFRESH_TIMEOUT)
        if status != 200:
            return _fail_sync(token_id, _failure_message(status, None))
        fields = _success_fields(data, timezone.now())
    except Exception as exc:  # network, JSON, decryption: recorded, never raised into Celery retries blindly
        return _fail_sync(token_id, _failure_message(None, exc))
    OAuthToken.objects.filter(pk=token_id).update(**fields)
    provider_credential_changed.send(sender=OAuthToken, provider_id=token.provider_id)  # update(): no post_save
    return RefreshResult(True, access_token_encrypted=fields["access_token_encrypted"])


def _fail_sync(token_id: int, message: str) -> RefreshResult:
    logger.warning("OAuth token %s: %s", token_id, message)  # messages never hold a token
    OAuthToken.objects.filter(pk=token_id).update(
        refreshing_since=None, last_error=message[:1000], refresh_failures=_plus_one()
    )
    return RefreshResult(False, message)


def _plus_one() -> Any:
    return F("refresh_failures") + 1


async def aoauth_token_refresh(*, token_id: int, wait: float = 10.0) -> RefreshResult:
    """Async twin for the request path. When another worker holds the claim, waits for its
    result (polling the row) instead of refreshing twice."""
    now = timezone.now()
    claimed = await OAuthToken.objects.filter(_claim_filter(now), pk=token_id).aupdate(refreshing_since=now)
    if not claimed:
        return await _await_other_refresh(token_id, now, wait)
    token = await OAuthToken.objects.aget(pk=token_id)
    if not token.refresh_token_encrypted:
        return await _afail(token_id, "no refresh token stored")
    try:
        url, payload = _grant(token)
        status, data = await client.token_post(url, payload, settings.OAUTH_REFRESH_TIMEOUT)
        if status != 200:
            return await _afail(token_id, _failure_message(status, None))
        fields = _success_fields(data, timezone.now())
    except Exception as exc:
        return await _afail(token_id, _failure_message(None, exc))
    await OAuthToken.objects.filter(pk=token_id).aupdate(**fields)
    return RefreshResult(True, access_token_encrypted=fields["access_token_encrypted"])


async def _afail(token_id: int, message: str) -> RefreshResult:
    logger.warning("OAuth token %s: %s", token_id, message)
    await OAuthToken.objects.filter(pk=token_id).aupdate(
        refreshing_since=None, last_error=message[:1000], refresh_failures=_plus_one()
    )
    return RefreshResult(False, message)


async def _await_other_refresh(token_id: int, since: datetime, wait: float) -> RefreshResult:
    deadline = asyncio.get_running_loop().time() + wait
    while asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
        token = await OAuthToken.objects.aget(pk=token_id)
        if token.refreshing_since is None:
            if token.last_refresh_at and token.last_refresh_at >= since - CLAIM_STALE:
                return RefreshResult(True, access_token_encrypted=token.access_token_encrypted)
            return RefreshResult(False, token.last_error or "refresh by another worker failed")
    return RefreshResult(False, "timed out waiting for another worker's refresh")


def oauth_tokens_due(*, margin: float | None = None) -> list[int]:
    """Ids of tokens that expire within ``margin`` seconds (and can be refreshed)."""
    margin = settings.OAUTH_REFRESH_MARGIN if margin is None else margin
    soon = timezone.now() + timedelta(seconds=margin)
    return list(
        OAuthToken.objects.filter(expires_at__lte=soon)
        .exclude(refresh_token_encrypted="")
        .values_list("pk", flat=True)
    )


def oauth_token_store(*, provider_id: int, access: str, refresh: str = "", expires_at: datetime | None = None) -> OAuthToken:
    """Create or replace a provider's OAuth token (seeds, credential import, admin)."""
    token, _ = OAuthToken.objects.get_or_create(provider_id=provider_id)
    token.set_tokens(access, refresh or None)
    token.expires_at = expires_at
    token.last_error = ""
    token.save()
    return token
