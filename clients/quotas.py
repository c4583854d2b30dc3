"""Per-client-key budgets and rate limits, checked on the request path.

A key may carry ``requests_per_minute``, ``requests_per_day``, ``tokens_per_day`` and the money
budgets ``usd_per_day`` and ``usd_per_month`` (empty: unlimited). Counters live in the Django
cache under fixed windows (the UTC minute, day and calendar month); money is counted in whole
micro-dollars, so the same atomic ``INCR`` adds it:

- with REDIS_URL set the cache is Redis, shared by every web worker, so a budget holds across
  workers and machines (``INCR`` is atomic: two workers never both take the last request);
- without it the cache is in-process (LocMemCache) and each worker counts on its own, which is
  exact for the one-process laptop gateway (``manage.py serve``) and per worker otherwise;
- while Redis is unreachable each process counts in its own LocMemCache (one warning line per
  outage, runtime/outage.py), so requests keep being served; Redis is tried again after a
  short back-off and its counters are used again once it answers.

Requests are counted when admitted (increment first, then compare, and give the slot back when
over), so concurrent requests cannot overshoot. Tokens and cost are only known after the answer
(``usage_add``, ``spend_add``): a key is refused once its day's tokens or its day's or month's
spend reach the budget, so the request that crosses it still completes (and requests already
running when it is crossed), by at most what those requests cost.
A key's limits are cached in-process for CLIENT_KEY_CACHE_TTL seconds, like the key itself.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import BaseCache, caches
from django.core.cache.backends.locmem import LocMemCache

from clients.auth import ClientIdentity
from clients.models import ClientKey
from runtime import resets
from runtime.outage import DATABASE, DATABASE_ERRORS, REDIS, redis_errors
from runtime.ttlcache import MISS, TTLCache

PREFIX = "gwlim"
DAY = 86_400
MONTH_TTL = 32 * DAY  # a month window's counter outlives its month
MICRO = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class Limits:
    requests_per_minute: int | None = None
    requests_per_day: int | None = None
    tokens_per_day: int | None = None
    usd_per_day: Decimal | None = None
    usd_per_month: Decimal | None = None

    def any(self) -> bool:
        return any(v is not None for v in (self.requests_per_minute, self.requests_per_day, self.tokens_per_day,
                                           self.usd_per_day, self.usd_per_month))

    def money(self) -> bool:
        return self.usd_per_day is not None or self.usd_per_month is not None


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
            "requests_per_minute", "requests_per_day", "tokens_per_day", "usd_per_day", "usd_per_month"
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
    """Cache keys of the running windows; ``upd``/``upm``: micro-dollars spent this UTC day/month."""
    return {
        "rpm": f"{PREFIX}:{key_id}:rpm:{int(now // 60)}",
        "rpd": f"{PREFIX}:{key_id}:rpd:{day_stamp(now)}",
        "tpd": f"{PREFIX}:{key_id}:tpd:{day_stamp(now)}",
        "upd": f"{PREFIX}:{key_id}:upd:{day_stamp(now)}",
        "upm": f"{PREFIX}:{key_id}:upm:{day_stamp(now)[:6]}",
    }


def _until_midnight(now: float) -> float:
    return DAY - (now % DAY)


def _until_next_month(now: float) -> float:
    day = datetime.fromtimestamp(now, UTC)
    first = datetime(day.year + (day.month == 12), day.month % 12 + 1, 1, tzinfo=UTC)
    return first.timestamp() - now


def micro_usd(amount: Decimal) -> int:
    """Whole micro-dollars (rounded up: a budget never under-counts)."""
    return int((amount / MICRO).to_integral_value(rounding=ROUND_CEILING))


def _in_words(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours < 48 else f"{round(hours / 24)} days"


@dataclass(frozen=True, slots=True)
class MoneyLeft:
    """What is left of a key's tightest money budget window."""

    usd: Decimal
    budget: Decimal
    label: str  # "per day" / "per month"
    reset: str  # when the window starts again, in words
    retry_after: float  # seconds until then

    def resets(self) -> str:
        return f"it resets at {self.reset} (in {_in_words(self.retry_after)})"


def _money_windows(cache: BaseCache, limits: Limits, keys: dict[str, str], now: float) -> list[MoneyLeft]:
    windows = [("upd", limits.usd_per_day, "per day", "midnight UTC", _until_midnight(now)),
               ("upm", limits.usd_per_month, "per month", "the 1st of next month, 00:00 UTC",
                _until_next_month(now))]
    return [MoneyLeft(budget - Decimal(int(cache.get(keys[name]) or 0)) * MICRO, budget, label, reset, retry)
            for name, budget, label, reset, retry in windows if budget is not None]


def _money_check(cache: BaseCache, limits: Limits, keys: dict[str, str], now: float) -> OverLimit | None:
    """A refusal once the day's or the month's spend has reached its budget (read only)."""
    for left in _money_windows(cache, limits, keys, now):
        if left.usd <= 0:
            return OverLimit(
                f"this client key has reached its budget of ${left.budget:.2f} {left.label} "
                f"(${left.budget - left.usd:.2f} spent); {left.resets()}",
                retry_after=max(1.0, left.retry_after), reason="budget")
    return None


def _money_left(cache: BaseCache, limits: Limits, key_id: int, now: float) -> MoneyLeft | None:
    windows = _money_windows(cache, limits, counter_keys(key_id, now), now)
    return min(windows, key=lambda w: w.usd) if windows else None


def _money_left_shared(cache: BaseCache, limits: Limits, key_id: int, now: float) -> MoneyLeft | None:
    try:
        return _money_left(cache, limits, key_id, now)
    except redis_errors() as exc:
        REDIS.failed(exc)
        return _money_left(_fallback, limits, key_id, now)


async def money_left(identity: ClientIdentity) -> MoneyLeft | None:
    """The tightest of the key's money budget windows (None: it has none; the common case costs
    one in-process dict lookup). Read after limits_check, which loaded the key's limits."""
    limits = await limits_for(identity.key_id) if identity.key_id is not None else NO_LIMITS
    if not limits.money() or identity.key_id is None:
        return None
    cache = caches["default"]
    if _local(cache):
        return _money_left(cache, limits, identity.key_id, time.time())
    remote = _remote()
    if remote is None:
        return _money_left(_fallback, limits, identity.key_id, time.time())
    return await sync_to_async(_money_left_shared, thread_sensitive=False)(remote, limits, identity.key_id,
                                                                            time.time())


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
    if limits.money():
        over = _money_check(cache, limits, keys, now)
        if over is not None:
            return over
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
    reason: str  # "rate_limit" (requests per minute/day) or "budget" (tokens or money)
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
    except redis_errors() as exc:
        REDIS.failed(exc)
        return _check(_fallback, limits, key_id, now)
    REDIS.succeeded()
    return result


def _incr_shared(cache: BaseCache, key: str, delta: int, ttl: int) -> int:
    try:
        value = _incr(cache, key, delta, ttl)
    except redis_errors() as exc:
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
    _counters_add([(counter_keys(identity.key_id, time.time())["tpd"], tokens, DAY + 3600)])


def spend_add(identity: ClientIdentity, usd: Decimal | None) -> None:
    """Count a request's cost against the key's money budgets (non-blocking; no-op without one).
    An unknown cost (None) adds nothing: the request is on the log as unpriced."""
    if identity.key_id is None or usd is None or usd <= 0:
        return
    limits = _limits.stale(identity.key_id)  # as checked when the request was admitted
    if limits is MISS or not limits.money():
        return
    keys, micro = counter_keys(identity.key_id, time.time()), micro_usd(usd)
    _counters_add([(keys["upd"], micro, DAY + 3600), (keys["upm"], micro, MONTH_TTL)])


def _counters_add(adds: list[tuple[str, int, int]]) -> None:
    """Add to counters (key, delta, ttl): at once in-process, else in a thread (off the event loop)."""
    cache = caches["default"]
    if _local(cache):
        for key, delta, ttl in adds:
            _incr(cache, key, delta, ttl)
        return
    remote = _remote()
    if remote is None:
        for key, delta, ttl in adds:
            _incr(_fallback, key, delta, ttl)
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        for key, delta, ttl in adds:
            _incr_shared(remote, key, delta, ttl)
        return
    for key, delta, ttl in adds:
        task = loop.create_task(sync_to_async(_incr_shared, thread_sensitive=False)(remote, key, delta, ttl))
        _background.add(task)
        task.add_done_callback(_background.discard)


def usage_today(key_id: int) -> dict[str, int]:
    """The key's counters for the current windows (sync; for the status command and admin API):
    rpm, rpd, tpd, and upd/upm in micro-dollars (spend_today gives them in USD).

    While Redis is down these are this process's own counts."""
    keys = counter_keys(key_id, time.time())
    cache = caches["default"]
    if not _local(cache):
        cache = _remote() or _fallback
    try:
        return {name: int(cache.get(key) or 0) for name, key in keys.items()}
    except redis_errors() as exc:
        REDIS.failed(exc)
        return {name: int(_fallback.get(key) or 0) for name, key in keys.items()}


def spend_today(key_id: int) -> dict[str, Decimal]:
    """USD the key has spent in the running UTC day and month, as its money budgets count it."""
    counts = usage_today(key_id)
    return {"day": (Decimal(counts["upd"]) * MICRO).quantize(MICRO),
            "month": (Decimal(counts["upm"]) * MICRO).quantize(MICRO)}
