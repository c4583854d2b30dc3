"""Provider health probes (sync: Celery tasks and the admin's "test connection").

Steps of health_check_run: claim the check (a conditional UPDATE of health_checked_at, so two
workers never check one provider at the same moment) -> send the kind's probe (its adapter
entry's ``probe``: a models list, a count-tokens or a one-token generation) through the network
seam with the provider's credential and a short timeout -> store ok/latency/error on the Provider -> announce the
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
from providers.adapters.base import AdapterError, UpstreamRequest, parse_retry_after
from providers.client import send_sync
from providers.config import ProviderConfig
from providers.models import Provider
from providers.selectors import provider_config
from providers.signals import provider_probed
from providers.targets import target_for

# Which statuses move circuits is routing's breaker_class, as on the request path.
TIMEOUT_STATUS = 504
CONNECT_STATUS = 502


@dataclass(frozen=True, slots=True)
class HealthResult:
    provider_id: int
    ok: bool | None  # None: not checked (claimed elsewhere, or no entry serves the kind)
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


def probe_request(cfg: ProviderConfig) -> UpstreamRequest | None:
    """The kind's probe (its adapter entry decides: a models list read, a count-tokens or a
    one-token generation, see each ``probe``); None: no entry serves this kind.

    Hosted kinds probe a model: ``options["probe_model"]``, else the entry's ``spec.probe_model``.
    Raises AdapterError when the provider's settings make the probe impossible (Vertex without
    a project), as the request path would.
    """
    adapter = REGISTRY.get(cfg.kind)
    if adapter is None:
        return None
    model = str(cfg.options.get("probe_model") or adapter.spec.probe_model)
    return adapter.probe(target_for(cfg, model))


def health_probe(cfg: ProviderConfig, *, timeout: float) -> HealthResult:
    """One probe through the network seam. Never raises for network errors: they are the result."""
    started = time.perf_counter()
    try:
        probe = probe_request(cfg)
        if probe is None:
            return HealthResult(cfg.id, None, error=f"no health check for {cfg.kind} providers", skipped=True)
        reply = send_sync(probe, cfg, timeout=timeout)
    except AdapterError as exc:
        return HealthResult(cfg.id, False, exc.status, _ms(started), exc.message[:300])
    except httpx.TimeoutException:
        return HealthResult(cfg.id, False, TIMEOUT_STATUS, _ms(started), f"timed out after {timeout:g} s")
    except httpx.HTTPError as exc:
        return HealthResult(cfg.id, False, CONNECT_STATUS, _ms(started), f"connection failed ({type(exc).__name__})")
    latency = _ms(started)
    if 200 <= reply.status < 300:
        return HealthResult(cfg.id, True, reply.status, latency)
    return HealthResult(cfg.id, False, reply.status, latency, f"HTTP {reply.status}",
                        retry_after=parse_retry_after(reply.headers, now=time.time()))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
