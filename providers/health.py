"""Provider health checks (sync: Celery tasks and the admin's "test connection").

Steps of health_check_run: claim the check (a conditional UPDATE of health_checked_at, so two
workers never check one provider at the same moment) -> GET the provider's models endpoint with
its credential and a short timeout -> store ok/latency/error on the Provider -> announce the
result (``providers.signals.provider_probed``): routing feeds its breakers from it (a success closes
the provider's failure-opened circuits; a provider failure is counted on the circuit of every model
the provider serves, see routing/circuits.py) and the dashboard redraws the provider.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from providers.adapters import REGISTRY
from providers.adapters.anthropic import OAUTH_BETA
from providers.adapters.base import parse_retry_after
from providers.client import auth_headers
from providers.config import ProviderConfig
from providers.models import Provider
from providers.selectors import provider_config
from providers.signals import provider_probed

# Which statuses move circuits is routing's breaker_class, as on the request path.
TIMEOUT_STATUS = 504
CONNECT_STATUS = 502


@dataclass(frozen=True, slots=True)
class HealthResult:
    provider_id: int
    ok: bool | None  # None: not checked (claimed elsewhere, or the kind has no check)
    status: int = 0  # HTTP status; 502/504 stand for connection errors and timeouts
    latency_ms: float | None = None
    error: str = ""
    retry_after: float | None = None
    skipped: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def provider_ids_to_check() -> list[int]:
    return list(Provider.objects.filter(enabled=True).values_list("pk", flat=True))


def health_check_run(*, provider_id: int, force: bool = False) -> HealthResult:
    """Check one provider now. ``force`` (the admin) skips the claim.

    Queries: claim UPDATE, provider SELECT (+oauth token), result UPDATE, then those of the
    ``provider_probed`` receivers (routing's circuits).
    """
    now = timezone.now()
    if not force and not _claim(provider_id, now):
        return HealthResult(provider_id, None, error="checked moments ago by another worker", skipped=True)
    provider = Provider.objects.select_related("oauth_token").filter(pk=provider_id).first()
    if provider is None:
        return HealthResult(provider_id, None, error="no such provider", skipped=True)
    cfg = provider_config(provider)
    result = health_probe(cfg, timeout=settings.HEALTH_CHECK_TIMEOUT)
    Provider.objects.filter(pk=provider_id).update(
        health_checked_at=now, health_ok=result.ok, health_latency_ms=result.latency_ms,
        health_error=result.error[:300],
    )
    provider_probed.send(sender=HealthResult, provider_id=provider_id, config=cfg, result=result)
    return result


def _claim(provider_id: int, now: datetime) -> bool:
    """Take this round's check; a check younger than the timeout is still in flight or fresh."""
    fresh = now - timedelta(seconds=settings.HEALTH_CHECK_TIMEOUT)
    return Provider.objects.filter(
        Q(health_checked_at__isnull=True) | Q(health_checked_at__lt=fresh), pk=provider_id
    ).update(health_checked_at=now) == 1


def models_url(cfg: ProviderConfig) -> str | None:
    """The cheap read-only endpoint that needs a valid credential; None: no check for this kind."""
    base = cfg.base_url.rstrip("/")
    if cfg.kind == "anthropic":
        return base + "/models" if base.endswith("/v1") else base + "/v1/models"
    if cfg.kind == "openai_compat":
        return base + "/models"
    models_url_for = getattr(REGISTRY.get(cfg.kind), "models_url", None)  # e.g. Gemini's /v1beta/models
    if callable(models_url_for):
        return str(models_url_for(cfg.base_url))
    return None  # bedrock: the runtime endpoint has no cheap unsigned read; not checked


def _headers(cfg: ProviderConfig) -> dict[str, str]:
    headers = {**dict(cfg.headers), **auth_headers(cfg)}
    if cfg.kind == "anthropic":
        headers.setdefault("anthropic-version", "2023-06-01")
        if cfg.auth_type == Provider.AuthType.OAUTH:
            headers["anthropic-beta"] = OAUTH_BETA
    return headers


def health_probe(cfg: ProviderConfig, *, timeout: float) -> HealthResult:
    """One GET of the models endpoint. Never raises for network errors: they are the result."""
    url = models_url(cfg)
    if url is None:
        return HealthResult(cfg.id, None, error=f"no health check for {cfg.kind} providers", skipped=True)
    limits = httpx.Timeout(timeout, connect=min(timeout, settings.CONNECT_TIMEOUT))
    started = time.perf_counter()
    try:
        with httpx.Client(timeout=limits, trust_env=False, follow_redirects=False) as http:
            response = http.get(url, headers=_headers(cfg))
    except httpx.TimeoutException:
        return HealthResult(cfg.id, False, TIMEOUT_STATUS, _ms(started), f"timed out after {timeout:g} s")
    except httpx.HTTPError as exc:
        return HealthResult(cfg.id, False, CONNECT_STATUS, _ms(started), f"connection failed ({type(exc).__name__})")
    latency = _ms(started)
    if response.is_success:
        return HealthResult(cfg.id, True, response.status_code, latency)
    return HealthResult(cfg.id, False, response.status_code, latency, f"HTTP {response.status_code}",
                        retry_after=parse_retry_after(response.headers, now=time.time()))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
