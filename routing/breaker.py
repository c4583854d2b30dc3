"""PURE circuit breaker state machine for one scope (provider + model + credential).

Two independent parts, because they answer different questions:

- the failure breaker (closed -> open -> half_open -> closed) counts CONSECUTIVE provider
  failures (5xx, 529, timeouts, refused connections, malformed replies, mid-stream aborts); at
  ``failure_threshold`` it opens for ``recovery_timeout`` s, then one request probes;
- the rate-limit cooldown (``limited_until``) follows 429s: the provider's Retry-After when it
  sent one (``limit_explicit``), else 1, 2, 4 ... s (doubling per consecutive cooldown, capped
  at ``rate_limit_cooldown``). A 429 never touches the failure count.

Time is passed in (epoch seconds), thresholds too; the database writes that apply these
transitions atomically live in routing/circuits.py and must stay equivalent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
MAX_DOUBLINGS = 16  # 2**16 s is past any sane cap; also keeps the SQL POWER() in range


@dataclass(frozen=True, slots=True)
class Circuit:
    state: str = CLOSED
    failure_count: int = 0       # consecutive provider failures
    open_until: float = 0.0      # epoch seconds; while open, requests skip this scope
    probe_since: float = 0.0     # when the half-open probe was claimed
    reason: str = ""             # the last failure or rate limit, for people
    limited_until: float = 0.0   # rate-limit cooldown end (epoch seconds)
    limit_streak: int = 0        # consecutive cooldowns (sets the next inferred one's length)
    limit_explicit: bool = False  # limited_until came from the provider's Retry-After


@dataclass(frozen=True, slots=True)
class Policy:
    failure_threshold: int = 5
    recovery_timeout: float = 30.0
    rate_limit_cooldown: float = 300.0  # cap of the inferred cooldown
    rate_limit_base: float = 1.0        # first inferred cooldown


def breaker_class(status: int) -> str | None:
    """What a provider's HTTP status does to its circuit: 'rate_limit' (429), 'failure' (408 and
    5xx, 529 included) or None (client errors and the rest say nothing about the provider's health)."""
    if status == 429:
        return "rate_limit"
    return "failure" if status == 408 or status >= 500 else None


def circuit_key(provider_id: int, model: str, credential: str) -> str:
    """Scope: provider, model and credential (a new key starts with a closed circuit)."""
    cred = hashlib.sha256(credential.encode()).hexdigest()[:12] if credential else "-"
    return f"{provider_id}:{model}:{cred}"


def admission(c: Circuit, now: float, policy: Policy) -> str:
    """'pass', 'probe' (may claim the single half-open probe) or 'blocked'."""
    if now < c.limited_until:
        return "blocked"
    if c.state == CLOSED:
        return "pass"
    if c.state == OPEN:
        return "probe" if now >= c.open_until else "blocked"
    # half-open: a probe is in flight; a probe that never reported back is given up on
    return "probe" if now - c.probe_since >= policy.recovery_timeout else "blocked"


def blocked_until(c: Circuit, policy: Policy) -> float:
    """When this scope admits a request again (epoch seconds)."""
    failure_end = {OPEN: c.open_until, HALF_OPEN: c.probe_since + policy.recovery_timeout}.get(c.state, 0.0)
    return max(failure_end, c.limited_until)


def explicit_wait(c: Circuit, now: float) -> float | None:
    """Seconds left of a Retry-After the provider itself asked for; None if none is running."""
    if c.limit_explicit and now < c.limited_until:
        return c.limited_until - now
    return None


def on_success(c: Circuit) -> Circuit:
    """A complete answer: everything resets."""
    return Circuit()


def on_answer(c: Circuit) -> Circuit:
    """The provider answered (a stream committed): closed and not limited, count kept.

    The count resets only when the stream completes (on_success), so a provider that always
    breaks after its first chunk still reaches the threshold.
    """
    return replace(c, state=CLOSED, open_until=0.0, probe_since=0.0, limited_until=0.0, limit_streak=0,
                   limit_explicit=False)


def on_failure(c: Circuit, now: float, policy: Policy, *, reason: str) -> Circuit:
    """A provider failure. Opens at the threshold, or at once when not closed (a failed probe)."""
    count = c.failure_count + 1
    if c.state != CLOSED or count >= policy.failure_threshold:
        return replace(c, state=OPEN, failure_count=count, open_until=now + policy.recovery_timeout,
                       probe_since=0.0, reason=reason)
    return replace(c, failure_count=count, reason=reason)


def rate_limit_cooldown(streak: int, policy: Policy) -> float:
    """The inferred cooldown after ``streak`` earlier consecutive ones: base * 2**streak, capped."""
    return min(policy.rate_limit_cooldown, policy.rate_limit_base * 2.0 ** min(streak, MAX_DOUBLINGS))


def on_rate_limit(c: Circuit, now: float, policy: Policy, *, retry_after: float | None) -> Circuit:
    """A 429. Grows the streak once per cooldown (429s of requests already in flight don't).

    A half-open probe that got a 429 gave no verdict on failures: it is released (open, due now).
    """
    fresh = now >= c.limited_until
    streak = c.limit_streak + 1 if fresh else c.limit_streak
    failure = replace(c, state=OPEN, open_until=now, probe_since=0.0) if c.state == HALF_OPEN else c
    if retry_after is not None:
        return replace(failure, limited_until=now + retry_after, limit_streak=streak, limit_explicit=True,
                       reason="rate_limited")
    if not fresh:
        return failure
    return replace(failure, limited_until=now + rate_limit_cooldown(c.limit_streak, policy), limit_streak=streak,
                   limit_explicit=False, reason="rate_limited")


def on_probe(c: Circuit, now: float) -> Circuit:
    return replace(c, state=HALF_OPEN, probe_since=now)


def status_label(c: Circuit, now: float) -> str:
    if now < c.limited_until:
        return "cooling_down"
    if c.state == CLOSED:
        return "healthy"
    if c.state == OPEN and now < c.open_until:
        return "circuit_open"
    return "half_open"
