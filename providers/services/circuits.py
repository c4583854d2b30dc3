"""Circuit breaker persistence: shared state in CircuitState, decisions in providers/circuit.py.

The request path reads an in-process view refreshed from the database at most every
CIRCUIT_REFRESH seconds; its own transitions update the view at once. Every transition is a
conditional update, so two workers never both take the half-open probe.
"""

from __future__ import annotations

import asyncio
import time

from django.conf import settings

from providers.circuit import CLOSED, HALF_OPEN, OPEN, Circuit, Policy, on_failure, on_probe
from providers.models import CircuitState
from routing.resolution import Candidate

_view: dict[str, Circuit] = {}
_loaded: list[float] = [0.0]
_lock: list[asyncio.Lock] = []


def policy() -> Policy:
    return Policy(
        failure_threshold=settings.CIRCUIT_FAILURE_THRESHOLD,
        recovery_timeout=settings.CIRCUIT_RECOVERY_TIMEOUT,
        rate_limit_cooldown=settings.RATE_LIMIT_COOLDOWN_DEFAULT,
    )


def _circuit(row: CircuitState) -> Circuit:
    return Circuit(row.state, row.failure_count, row.open_until, row.probe_since, row.reason)


async def circuits_view() -> dict[str, Circuit]:
    """Every non-pristine circuit. Query (at most every CIRCUIT_REFRESH s): CircuitState rows."""
    if time.monotonic() - _loaded[0] < settings.CIRCUIT_REFRESH:
        return _view
    if not _lock:
        _lock.append(asyncio.Lock())
    if _lock[0].locked():
        return _view
    async with _lock[0]:
        fresh = {row.key: _circuit(row) async for row in CircuitState.objects.all()}
        _view.clear()
        _view.update(fresh)
        _loaded[0] = time.monotonic()
    return _view


def circuits_forget() -> None:
    _view.clear()
    _loaded[0] = 0.0


async def circuit_claim_probe(cand: Candidate) -> bool:
    """Take the single half-open probe for ``cand``'s scope; False if another worker has it."""
    now = time.time()
    stale = now - settings.CIRCUIT_RECOVERY_TIMEOUT
    qs = CircuitState.objects.filter(key=cand.circuit)
    claimed = await qs.filter(state=OPEN, open_until__lte=now).aupdate(state=HALF_OPEN, probe_since=now)
    if not claimed:
        claimed = await qs.filter(state=HALF_OPEN, probe_since__lte=stale).aupdate(probe_since=now)
    current = _view.get(cand.circuit, Circuit())
    _view[cand.circuit] = on_probe(current, now) if claimed else current
    return bool(claimed)


async def circuit_record_success(cand: Candidate) -> None:
    current = _view.get(cand.circuit)
    if current is None or (current.state == CLOSED and current.failure_count == 0):
        return  # the common case costs nothing
    _view.pop(cand.circuit, None)
    await CircuitState.objects.filter(key=cand.circuit).aupdate(
        state=CLOSED, failure_count=0, open_until=0, probe_since=0, reason=""
    )


async def circuit_record_failure(cand: Candidate, *, status: int, retry_after: float | None) -> Circuit:
    """Count a provider failure; opens the circuit at the threshold (429: cooldown at once)."""
    now = time.time()
    key = cand.circuit
    row = await CircuitState.objects.filter(key=key).afirst()
    current = _circuit(row) if row is not None else Circuit()
    new = on_failure(current, now, policy(), status=status, retry_after=retry_after)
    fields = {"state": new.state, "failure_count": new.failure_count, "open_until": new.open_until,
              "probe_since": new.probe_since, "reason": new.reason[:200]}
    if row is None:
        await CircuitState.objects.aupdate_or_create(
            key=key, defaults={**fields, "provider_id": cand.provider.id, "model": cand.model[:200]}
        )
    else:
        # Conditional on what we read: a concurrent transition wins and ours is re-applied on top.
        updated = await CircuitState.objects.filter(
            key=key, state=row.state, failure_count=row.failure_count
        ).aupdate(**fields)
        if not updated:
            await CircuitState.objects.filter(key=key).aupdate(
                state=OPEN if new.state == OPEN else row.state, open_until=new.open_until,
                reason=new.reason[:200],
            )
    _view[key] = new
    return new


# --- Sync writers for the admin and Celery (health checks) ----------------------------------------

_CLOSED_FIELDS = {"state": CLOSED, "failure_count": 0, "open_until": 0, "probe_since": 0, "reason": ""}


def circuit_reset(*, circuit_id: int) -> bool:
    """Close one circuit whatever its state (an operator's override, so unconditional)."""
    reset = CircuitState.objects.filter(pk=circuit_id).update(**_CLOSED_FIELDS) == 1
    circuits_forget()  # this process reloads at once; the others within CIRCUIT_REFRESH
    return reset


def circuits_close_for_provider(*, provider_id: int, now: float) -> int:
    """A health check succeeded: close the provider's circuits that opened on failures.

    Rate-limit cooldowns run out on their own: a models endpoint answering says nothing about
    quota. Each close is conditional on the state read, so a concurrent transition wins.
    Queries: the provider's non-pristine circuits, one UPDATE per circuit to close.
    """
    closed = 0
    rows = CircuitState.objects.filter(provider_id=provider_id).exclude(state=CLOSED, failure_count=0)
    for row in rows:
        if row.reason == "rate_limited" and row.open_until > now:
            continue
        closed += CircuitState.objects.filter(
            pk=row.pk, state=row.state, failure_count=row.failure_count
        ).update(**_CLOSED_FIELDS)
    return closed


def circuit_count_failure(
    *, key: str, provider_id: int, model: str, status: int, retry_after: float | None, now: float
) -> bool:
    """Count one provider failure seen outside the request path (a failed health check).

    The same transition as the request path (providers.circuit.on_failure), written with a
    conditional UPDATE on the state read; False when a concurrent transition won.
    """
    row, _ = CircuitState.objects.get_or_create(
        key=key, defaults={"provider_id": provider_id, "model": model[:200]}
    )
    new = on_failure(_circuit(row), now, policy(), status=status, retry_after=retry_after)
    return CircuitState.objects.filter(
        pk=row.pk, state=row.state, failure_count=row.failure_count
    ).update(
        state=new.state, failure_count=new.failure_count, open_until=new.open_until,
        probe_since=new.probe_since, reason=new.reason[:200],
    ) == 1
