"""PURE circuit breaker state machine (closed -> open -> half_open -> closed).

Time is passed in (epoch seconds), thresholds too; persistence with conditional updates lives
in providers/services/circuits.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True, slots=True)
class Circuit:
    state: str = CLOSED
    failure_count: int = 0
    open_until: float = 0.0   # epoch seconds; while open, requests skip this scope
    probe_since: float = 0.0  # when the half-open probe was claimed
    reason: str = ""          # "rate_limited" (cooldown) or the last failure


@dataclass(frozen=True, slots=True)
class Policy:
    failure_threshold: int = 5
    recovery_timeout: float = 30.0
    rate_limit_cooldown: float = 300.0


def circuit_key(provider_id: int, model: str, credential: str) -> str:
    """Scope: provider, model and credential (a new key starts with a closed circuit)."""
    cred = hashlib.sha256(credential.encode()).hexdigest()[:12] if credential else "-"
    return f"{provider_id}:{model}:{cred}"


def admission(c: Circuit, now: float, policy: Policy) -> str:
    """'pass' (closed), 'probe' (may claim the single half-open probe) or 'blocked'."""
    if c.state == CLOSED:
        return "pass"
    if c.state == OPEN:
        return "probe" if now >= c.open_until else "blocked"
    # half-open: a probe is in flight; a probe that never reported back is given up on
    return "probe" if now - c.probe_since >= policy.recovery_timeout else "blocked"


def on_success(c: Circuit) -> Circuit:
    return Circuit()


def on_failure(c: Circuit, now: float, policy: Policy, *, status: int, retry_after: float | None) -> Circuit:
    """A provider failure (429, 5xx, timeout, connection error) in this scope."""
    if status == 429:
        cooldown = retry_after if retry_after is not None else policy.rate_limit_cooldown
        return Circuit(OPEN, c.failure_count + 1, now + cooldown, 0.0, "rate_limited")
    count = c.failure_count + 1
    if c.state == HALF_OPEN or count >= policy.failure_threshold:
        return Circuit(OPEN, count, now + policy.recovery_timeout, 0.0, f"failed {status}")
    return replace(c, failure_count=count, reason=f"failed {status}")


def on_probe(c: Circuit, now: float) -> Circuit:
    return replace(c, state=HALF_OPEN, probe_since=now)


def status_label(c: Circuit, now: float) -> str:
    if c.state == CLOSED:
        return "healthy"
    if c.state == OPEN and c.reason == "rate_limited" and now < c.open_until:
        return "cooling_down"
    if c.state == OPEN and now < c.open_until:
        return "circuit_open"
    return "half_open"
