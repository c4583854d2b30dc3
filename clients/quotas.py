"""Per-client-key budgets and rate limits, checked on the request path.

A key may carry ``requests_per_minute``, ``requests_per_day`` and ``tokens_per_day`` (empty:
unlimited). Counters live in the Django cache under fixed windows (the UTC minute, the UTC day):

- with REDIS_URL set the cache is Redis, shared by every web worker, so a budget holds across
  workers and machines (``INCR`` is atomic: two workers never both take the last request);
- without it the cache is in-process (LocMemCache) and each worker counts on its own, which is
  exact for the one-process laptop gateway (``manage.py serve``) and per worker otherwise;
- while Redis is unreachable each process counts in its own LocMemCache (one warning line per
  outage, runtime/outage.py), so requests keep being served; Redis is tried again after a
  short back-off and its counters are used again once it answers.

Requests are counted when admitted (increment first, then compare, and give the slot back when
over), so concurrent requests cannot overshoot. Tokens are only known after the answer: a key is
refused once its day's tokens reach the budget, so the request that crosses it still completes.
A key's limits are cached in-process for CLIENT_KEY_CACHE_TTL seconds, like the key itself.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import BaseCache, caches
from django.core.cache.backends.locmem import LocMemCache

from clients.auth import ClientIdentity
from clients.models import ClientKey
from runtime import resets
from runtime.outage import DATABASE, DATABASE_ERRORS, REDIS, REDIS_ERRORS
from runtime.ttlcache import MISS, TTLCache

PREFIX = "gwlim"
DAY = 86_400


@dataclass(frozen=True, slots=True)
class Limits:
    requests_per_minute: int | None = None
    requests_per_day: int | None = None
    tokens_per_day: int | None = None

    def any(self) -> bool:
        return any(v is not None for v in (self.requests_per_minute, self.requests_per_day, self.tokens_per_day))


NO_LIMITS = Limits()
# key id -> its limits, like the key itself (clients/auth.py); stale entries serve during a database outage
_limits: TTLCache[int, Limits] = TTLCache(lambda: settings.CLIENT_KEY_CACHE_TTL, maxsize=10_000)
_background: set[asyncio.Task[int]] = set()
_fallback = LocMemCache("gateway-limits-fallback", {})  # per-process counters while Redis is down


@resets.register
def limits_cache_clear() -> None:
    _limits.clear()


@resets.register
def limits_fallback_clear() -> None:
    """Forget the per-process outage counters and any Redis outage (tests)."""
    _fallback.clear()
    REDIS.reset()


async def limits_for(key_id: int) -> Limits:
    """The key's limits. Query (on cache miss): one ClientKey row by id."""
    hit = _limits.get(key_id)
    if hit is not MISS:
        return hit
    try:
        row = await ClientKey.objects.filter(pk=key_id).values(
            "requests_per_minute", "requests_per_day", "tokens_per_day"
        ).afirst()
    except DATABASE_ERRORS as exc:
        stale = _limits.stale(key_id)
        if stale is MISS:
            raise
        DATABASE.failed(exc)  # stale-if-error: the last limits, asked again after the TTL
        limits = stale
    else:
        limits = Limits(**row) if row else NO_LIMITS
    _limits.set(key_id, limits)
    return limits


def day_stamp(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y%m%d")


def counter_keys(key_id: int, now: float) -> dict[str, str]:
    return {
        "rpm": f"{PREFIX}:{key_id}:rpm:{int(now // 60)}",
        "rpd": f"{PREFIX}:{key_id}:rpd:{day_stamp(now)}",
        "tpd": f"{PREFIX}:{key_id}:tpd:{day_stamp(now)}",
    }


def _until_midnight(now: float) -> float:
    return DAY - (now % DAY)


def _incr(cache: BaseCache, key: str, delta: int, ttl: int) -> int:
    cache.add(key, 0, ttl)
    try:
        return int(cache.incr(key, delta))
    except ValueError:  # the window expired between add and incr
        cache.add(key, 0, ttl)
        return int(cache.incr(key, delta))


def _check(cache: BaseCache, limits: Limits, key_id: int, now: float) -> OverLimit | None:
    """Count one request against the key's windows (sync: one thread hop for a remote cache)."""
    keys = counter_keys(key_id, now)
    if limits.tokens_per_day is not None:
        used = int(cache.get(keys["tpd"]) or 0)
        if used >= limits.tokens_per_day:
            return _refusal(f"tokens per day ({limits.tokens_per_day})", _until_midnight(now))
    windows = [
        ("rpm", limits.requests_per_minute, 120, "requests per minute", 60 - (now % 60)),
        ("rpd", limits.requests_per_day, DAY + 3600, "requests per day", _until_midnight(now)),
    ]
    taken: list[str] = []
    for name, limit, ttl, label, retry in windows:
        if limit is None:
            continue
        taken.append(keys[name])
        if _incr(cache, keys[name], 1, ttl) > limit:
            for key in taken:  # give back what this refused request took
                cache.decr(key)
            return _refusal(f"{label} ({limit})", retry)
    return None


@dataclass(frozen=True, slots=True)
class OverLimit:
    """A key past one of its limits: the request is refused with 429 ``rate_limit_error``."""

    message: str
    retry_after: float
    reason: str  # "rate_limit" (requests per minute/day) or "budget" (tokens)
    status: int = 429
    error_type: str = "rate_limit_error"


def _refusal(what: str, retry_after: float) -> OverLimit:
    return OverLimit(f"this client key has reached its limit of {what}; try again later",
                     retry_after=max(1.0, retry_after), reason="budget" if "token" in what else "rate_limit")


def _local(cache: BaseCache) -> bool:
    return isinstance(cache, LocMemCache)  # no I/O: called on the event loop without a thread hop


def _remote() -> BaseCache | None:
    """The shared cache when it is remote and not known to be down, else None (count locally)."""
    cache = caches["default"]
    if _local(cache) or not REDIS.usable():
        return None
    return cache


def _check_shared(cache: BaseCache, limits: Limits, key_id: int, now: float) -> OverLimit | None:
    """_check on Redis, or on the per-process fallback when Redis fails (sync; in a thread)."""
    try:
        result = _check(cache, limits, key_id, now)
    except REDIS_ERRORS as exc:
        REDIS.failed(exc)
        return _check(_fallback, limits, key_id, now)
    REDIS.succeeded()
    return result


def _incr_shared(cache: BaseCache, key: str, delta: int, ttl: int) -> int:
    try:
        value = _incr(cache, key, delta, ttl)
    except REDIS_ERRORS as exc:
        REDIS.failed(exc)
        return _incr(_fallback, key, delta, ttl)
    REDIS.succeeded()
    return value


async def limits_check(identity: ClientIdentity) -> OverLimit | None:
    """None when ``identity`` may send one more request now, else a 429 ``rate_limit_error``.

    Keys without limits (the common case) cost one in-process dict lookup.
    """
    if identity.key_id is None:
        return None
    limits = await limits_for(identity.key_id)
    if not limits.any():
        return None
    cache = caches["default"]
    if _local(cache):
        return _check(cache, limits, identity.key_id, time.time())
    remote = _remote()
    if remote is None:  # Redis is down and in its back-off: count here, without a thread hop
        return _check(_fallback, limits, identity.key_id, time.time())
    return await sync_to_async(_check_shared, thread_sensitive=False)(remote, limits, identity.key_id, time.time())


def usage_add(identity: ClientIdentity, tokens: int) -> None:
    """Count ``tokens`` against the key's daily token budget (non-blocking; no-op without one)."""
    if identity.key_id is None or tokens <= 0:
        return
    limits = _limits.stale(identity.key_id)  # as checked when the request was admitted
    if limits is MISS or limits.tokens_per_day is None:
        return
    cache = caches["default"]
    key = counter_keys(identity.key_id, time.time())["tpd"]
    if _local(cache):
        _incr(cache, key, tokens, DAY + 3600)
        return
    remote = _remote()
    if remote is None:
        _incr(_fallback, key, tokens, DAY + 3600)
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        _incr_shared(remote, key, tokens, DAY + 3600)
        return
    task = loop.create_task(sync_to_async(_incr_shared, thread_sensitive=False)(remote, key, tokens, DAY + 3600))
    _background.add(task)
    task.add_done_callback(_background.discard)


def usage_today(key_id: int) -> dict[str, int]:
    """The key's counters for the current windows (sync; for the status command and admin API).

    While Redis is down these are this process's own counts."""
    keys = counter_keys(key_id, time.time())
    cache = caches["default"]
    if not _local(cache):
        cache = _remote() or _fallback
    try:
        return {name: int(cache.get(key) or 0) for name, key in keys.items()}
    except REDIS_ERRORS as exc:
        REDIS.failed(exc)
        return {name: int(_fallback.get(key) or 0) for name, key in keys.items()}
