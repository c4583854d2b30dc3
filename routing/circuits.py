"""Circuit breaker persistence: shared state in CircuitState, decisions in routing/breaker.py.

The request path reads an in-process view refreshed from the database at most every
CIRCUIT_REFRESH seconds; its own transitions update the view at once. Every write is atomic
across workers: counts are F() increments, the half-open probe and each cooldown episode are
claimed with conditional UPDATEs, so two workers never both take a probe and no failure is lost.
The request path and the health checks share one implementation (``_apply`` and friends).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import F, FloatField, Q, QuerySet, Value
from django.db.models.functions import Least, Power

from routing.breaker import (
    CLOSED,
    HALF_OPEN,
    MAX_DOUBLINGS,
    OPEN,
    Circuit,
    Policy,
    breaker_class,
    on_answer,
    on_probe,
)
from routing.models import CircuitState, Route, TierEntry
from routing.resolution import Candidate
from runtime import resets
from runtime.outage import DATABASE, DATABASE_ERRORS
from runtime.ttlcache import Refreshed

if TYPE_CHECKING:
    from providers.config import ProviderConfig
    from providers.probes import HealthResult

F_ = TypeVar("F_", bound=Callable[..., Awaitable[Any]])
_view: dict[str, Circuit] = {}  # this process's view of every non-pristine circuit (see _VIEW below)


def _tolerant(default: Callable[[Candidate], Any]) -> Callable[[F_], F_]:
    """A breaker write that the database cannot take is skipped: the breaker is shared state,
    never a reason to fail an answer. ``default`` gives what the caller gets meanwhile."""
    def wrap(fn: F_) -> F_:
        @functools.wraps(fn)
        async def guarded(cand: Candidate, *args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(cand, *args, **kwargs)
            except DATABASE_ERRORS as exc:
                DATABASE.failed(exc)
                return default(cand)
        return cast(F_, guarded)
    return wrap


def _view_of(cand: Candidate) -> Circuit:
    return _view.get(cand.circuit, Circuit())


def policy() -> Policy:
    return Policy(
        failure_threshold=settings.CIRCUIT_FAILURE_THRESHOLD,
        recovery_timeout=settings.CIRCUIT_RECOVERY_TIMEOUT,
        rate_limit_cooldown=settings.RATE_LIMIT_COOLDOWN_DEFAULT,
    )


def circuit_from_row(row: CircuitState) -> Circuit:
    return Circuit(row.state, row.failure_count, row.open_until, row.probe_since, row.reason, row.limited_until,
                   row.limit_streak, row.limit_explicit)


async def _view_load() -> dict[str, Circuit]:
    fresh = {row.key: circuit_from_row(row) async for row in CircuitState.objects.all()}
    _view.clear()  # in place: the request path's own transitions write into the same dict
    _view.update(fresh)
    return _view


# Reloaded at most every CIRCUIT_REFRESH s by one caller; during a database outage the last view serves.
_VIEW: Refreshed[dict[str, Circuit]] = Refreshed(_view_load, lambda: settings.CIRCUIT_REFRESH, initial=_view,
                                                 errors=DATABASE_ERRORS, on_error=DATABASE.failed)


async def circuits_view() -> dict[str, Circuit]:
    """Every non-pristine circuit. Query (at most every CIRCUIT_REFRESH s): CircuitState rows."""
    return await _VIEW.get()


def circuits_forget() -> None:
    """Forget the view: the next request reloads it from the database."""
    _view.clear()
    _VIEW.clear()


@resets.register
def _view_reset() -> None:
    _view.clear()
    _VIEW.reset()


@_tolerant(lambda cand: True)
async def circuit_claim_probe(cand: Candidate) -> bool:
    """Take the single half-open probe for ``cand``'s scope; False if another worker has it."""
    now = time.time()
    stale = now - settings.CIRCUIT_RECOVERY_TIMEOUT
    qs = CircuitState.objects.filter(key=cand.circuit, limited_until__lte=now)
    claimed = await qs.filter(state=OPEN, open_until__lte=now).aupdate(state=HALF_OPEN, probe_since=now)
    if not claimed:
        claimed = await qs.filter(state=HALF_OPEN, probe_since__lte=stale).aupdate(probe_since=now)
    current = _view.get(cand.circuit, Circuit())
    _view[cand.circuit] = on_probe(current, now) if claimed else current
    return bool(claimed)


def _pristine(c: Circuit | None) -> bool:
    return c is None or c == Circuit() or (c.state == CLOSED and not c.failure_count and not c.limit_streak
                                           and not c.limited_until)


@_tolerant(lambda cand: None)
async def circuit_record_success(cand: Candidate) -> None:
    """A complete answer: the scope resets (one UPDATE, only when it was not pristine)."""
    if _pristine(_view.get(cand.circuit)):
        return  # the common case costs nothing
    _view.pop(cand.circuit, None)
    await CircuitState.objects.filter(key=cand.circuit).aupdate(**_CLOSED_FIELDS)


@_tolerant(lambda cand: None)
async def circuit_record_answer(cand: Candidate) -> None:
    """A stream committed: close and lift the cooldown, keep the failure count (see on_answer)."""
    current = _view.get(cand.circuit)
    if current is None or (current.state == CLOSED and not current.limited_until and not current.limit_streak):
        return
    _view[cand.circuit] = on_answer(current)
    await CircuitState.objects.filter(key=cand.circuit).aupdate(**_ANSWERED_FIELDS)


@_tolerant(_view_of)
async def circuit_record_failure(cand: Candidate, *, reason: str) -> Circuit:
    """Count one provider failure (atomic across workers); opens at the threshold."""
    return await _record(cand.circuit, cand.provider.id, cand.model, lambda qs: _fail(qs, reason, time.time()))


@_tolerant(_view_of)
async def circuit_record_rate_limit(cand: Candidate, *, retry_after: float | None) -> Circuit:
    """A 429: start (or follow) the cooldown; the failure count is not touched."""
    return await _record(cand.circuit, cand.provider.id, cand.model,
                         lambda qs: _limit(qs, retry_after, time.time()))


async def _record(key: str, provider_id: int, model: str, apply: Callable[[QuerySet[CircuitState]], None]
                  ) -> Circuit:
    new = await _apply_bridge(key, provider_id, model, apply)
    _view[key] = new
    return new


def _apply(key: str, provider_id: int, model: str, apply: Callable[[QuerySet[CircuitState]], None]) -> Circuit:
    """Run one transition's UPDATEs on the scope's row (created first if missing); read it back.

    Queries: (get_or_create when new) + the transition's UPDATEs + one SELECT.
    """
    if not CircuitState.objects.filter(key=key).exists():
        CircuitState.objects.get_or_create(key=key, defaults={"provider_id": provider_id, "model": model[:200]})
    qs = CircuitState.objects.filter(key=key)
    apply(qs)
    row = qs.get()
    return circuit_from_row(row)


_apply_bridge = sync_to_async(_apply)


def _fail(qs: QuerySet[CircuitState], reason: str, now: float) -> None:
    """routing.breaker.on_failure as two UPDATEs: an F() increment (no lost updates), then open
    when the count reached the threshold or the scope was not closed (a failed probe)."""
    p = policy()
    qs.update(failure_count=F("failure_count") + 1, reason=reason[:200])
    qs.filter(~Q(state=CLOSED) | Q(failure_count__gte=p.failure_threshold)).update(
        state=OPEN, open_until=now + p.recovery_timeout, probe_since=0
    )


def _limit(qs: QuerySet[CircuitState], retry_after: float | None, now: float) -> None:
    """routing.breaker.on_rate_limit as conditional UPDATEs: the streak grows once per cooldown."""
    p = policy()
    qs.filter(state=HALF_OPEN).update(state=OPEN, open_until=now, probe_since=0)
    fresh = qs.filter(limited_until__lte=now)
    if retry_after is not None:
        fresh.update(limit_streak=F("limit_streak") + 1)
        qs.update(limited_until=now + retry_after, limit_explicit=True, reason="rate_limited")
        return
    # base * 2**streak (the streak before this 429: SQL reads the old row in SET), capped
    doublings = Least(F("limit_streak"), Value(MAX_DOUBLINGS), output_field=FloatField())
    cooldown = Least(Value(p.rate_limit_cooldown), Value(p.rate_limit_base) * Power(Value(2.0), doublings),
                     output_field=FloatField())
    fresh.update(limited_until=Value(now) + cooldown, limit_streak=F("limit_streak") + 1, limit_explicit=False,
                 reason="rate_limited")


# --- Sync writers for the admin and Celery (health checks) ----------------------------------------

_ANSWERED_FIELDS = {"state": CLOSED, "open_until": 0, "probe_since": 0, "limited_until": 0, "limit_streak": 0,
                    "limit_explicit": False}
_CLOSED_FIELDS = {**_ANSWERED_FIELDS, "failure_count": 0, "reason": ""}


def circuit_reset(*, circuit_id: int) -> bool:
    """Close one circuit whatever its state (an operator's override, so unconditional)."""
    reset = CircuitState.objects.filter(pk=circuit_id).update(**_CLOSED_FIELDS) == 1
    circuits_forget()  # this process reloads at once; the others within CIRCUIT_REFRESH
    return reset


def circuits_close_for_provider(*, provider_id: int, now: float) -> int:
    """A health check succeeded: close the provider's circuits that opened on failures.

    Rate-limit cooldowns run out on their own: a models endpoint answering says nothing about
    quota, so the limit fields are left alone. Query: one UPDATE.
    """
    return CircuitState.objects.filter(provider_id=provider_id).exclude(state=CLOSED, failure_count=0).update(
        state=CLOSED, failure_count=0, open_until=0, probe_since=0
    )


def circuit_count_failure(
    *, key: str, provider_id: int, model: str, status: int, retry_after: float | None, now: float
) -> bool:
    """Count one provider failure seen outside the request path (a failed health check).

    The same atomic UPDATEs as the request path: a 429 starts the cooldown, anything else counts.
    """
    if status == 429:
        _apply(key, provider_id, model, lambda qs: _limit(qs, retry_after, now))
    else:
        _apply(key, provider_id, model, lambda qs: _fail(qs, f"health check {status}", now))
    return True


# --- Health checks feed the breakers (receiver of providers.signals.provider_probed) -------------


def served_models(provider_id: int) -> set[str]:
    """Models requests may use on this provider. Queries: tier entries, routes, circuits."""
    models = set(TierEntry.objects.filter(provider_id=provider_id, enabled=True).values_list("model", flat=True))
    models |= set(Route.objects.filter(provider_id=provider_id, enabled=True).values_list("model", flat=True))
    models |= set(CircuitState.objects.filter(provider_id=provider_id).values_list("model", flat=True))
    return models


def circuits_feed_probe(*, config: ProviderConfig, result: HealthResult, **_signal: Any) -> None:
    """A success closes the provider's failure-opened circuits; a provider failure (429, 5xx,
    timeout, connection error: breaker_class, as on the request path) counts on the circuit of
    every model the provider serves; 401/403/404 are configuration errors, reported only."""
    if result.skipped:
        return
    now = time.time()
    if result.ok:
        changed = circuits_close_for_provider(provider_id=config.id, now=now)
    elif breaker_class(result.status) is not None:
        changed = 0
        for model in sorted(served_models(config.id)):
            # The scope key exactly as the request path builds it (provider, model, credential).
            key = Candidate(config, model, "health").circuit
            changed += circuit_count_failure(key=key, provider_id=config.id, model=model, status=result.status,
                                             retry_after=result.retry_after, now=now)
    else:
        return
    if changed:
        circuits_forget()
