"""The one time-limited cache of the process: TTLCache (a bounded map) and Refreshed (one value).

Both read the monotonic clock and take the TTL as a number or a callable (``lambda:
settings.X``), so a setting changed by a test or an operator applies. Expired entries stay
readable until they are evicted: that is how the request path serves its last answer while the
database is away (stale-if-error, runtime/outage.py).

- ``TTLCache``: ``get`` (fresh entries only), ``stale`` (any age), ``set``, ``clear``. At most
  ``maxsize`` entries; past it the entry set longest ago goes first. The TTL is read when an entry
  is set (its expiry is stored), so a hit is one dict lookup, one clock read and one comparison,
  as the hand-written dicts it replaces were; Django's cache API costs tens of times more (a
  LocMemCache hit pickles and takes a lock), so it is not used on the request path.
- ``Refreshed``: one value loaded by an async loader at most every TTL seconds (read at each
  ``get``), single-flight: while one caller reloads, the others keep the previous value; a reload
  that raises one of ``errors`` keeps the previous value until the next period (or raises when
  there is none).
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Final, Generic, TypeVar, overload

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")


class Miss(enum.Enum):
    """The type of MISS: what a lookup answers for an absent (or expired) entry. A one-member
    enum, so ``if hit is MISS`` narrows the type for mypy (PEP 484's sentinel pattern)."""

    MISS = "MISS"


MISS: Final = Miss.MISS
Seconds = float | Callable[[], float]


def _ttl_reader(ttl: Seconds) -> Callable[[], float]:
    if callable(ttl):
        return ttl
    return lambda: ttl


class TTLCache(Generic[K, V]):
    """A bounded map whose entries are fresh for ``ttl`` seconds (read when set) after they were set."""

    __slots__ = ("_data", "_ttl", "clock", "maxsize")

    def __init__(self, ttl: Seconds, *, maxsize: int, clock: Callable[[], float] = time.monotonic) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self._ttl = _ttl_reader(ttl)
        self._data: dict[K, tuple[float, V]] = {}  # key -> (expires at, value)
        self.maxsize = maxsize
        self.clock = clock

    @overload
    def get(self, key: K) -> V | Miss: ...
    @overload
    def get(self, key: K, default: D) -> V | D: ...

    def get(self, key: K, default: object = MISS) -> object:
        """The entry for ``key`` if it was set less than ``ttl`` seconds ago, else ``default``."""
        hit = self._data.get(key)
        if hit is not None and hit[0] > self.clock():
            return hit[1]
        return default

    @overload
    def stale(self, key: K) -> V | Miss: ...
    @overload
    def stale(self, key: K, default: D) -> V | D: ...

    def stale(self, key: K, default: object = MISS) -> object:
        """The entry for ``key`` whatever its age (stale-if-error), else ``default``."""
        hit = self._data.get(key)
        return default if hit is None else hit[1]

    def set(self, key: K, value: V) -> None:
        data = self._data
        data.pop(key, None)  # re-set entries move to the end: eviction takes the longest unset
        data[key] = (self.clock() + self._ttl(), value)
        if len(data) > self.maxsize:
            del data[next(iter(data))]

    def discard(self, key: K) -> None:
        self._data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data


class Refreshed(Generic[V]):
    """One value, reloaded by ``load`` at most every ``ttl`` seconds by one caller at a time.

    ``initial`` is served before the first load (MISS: the first callers wait for it, and a
    failing first load raises). ``on_error`` hears each tolerated failure (one of ``errors``),
    ``on_success`` each successful load."""

    __slots__ = ("_at", "_initial", "_load", "_lock", "_ttl", "_value", "clock", "errors", "on_error", "on_success")

    def __init__(self, load: Callable[[], Awaitable[V]], ttl: Seconds, *, initial: V | Miss = MISS,
                 errors: tuple[type[BaseException], ...] = (),
                 on_error: Callable[[BaseException], None] | None = None,
                 on_success: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self._ttl = _ttl_reader(ttl)
        self._initial = initial
        self._value: V | Miss = initial
        self._at = float("-inf")
        self._lock: asyncio.Lock | None = None
        self.errors = errors
        self.on_error = on_error
        self.on_success = on_success
        self.clock = clock

    def fresh(self) -> bool:
        return self.clock() - self._at < self._ttl()

    def peek(self) -> V | Miss:
        """The current value whatever its age (MISS before the first load)."""
        return self._value

    async def get(self) -> V:
        value = self._value
        if value is not MISS and self.clock() - self._at < self._ttl():  # the hot path: inlined
            return value
        if self._lock is None:
            self._lock = asyncio.Lock()
        if not isinstance(value, Miss) and self._lock.locked():
            return value  # someone else is reloading: serve the previous value meanwhile
        async with self._lock:
            if not isinstance(self._value, Miss) and self.fresh():
                return self._value  # reloaded while this caller waited for the lock
            return await self._reload()

    async def _reload(self) -> V:
        try:
            value = await self._load()
        except self.errors as exc:
            if isinstance(self._value, Miss):
                raise  # nothing loaded yet: there is no last good value to serve
            if self.on_error is not None:
                self.on_error(exc)
            value = self._value  # stale-if-error, tried again after the TTL
        else:
            if self.on_success is not None:
                self.on_success()
        self._value, self._at = value, self.clock()
        return value

    def expire(self) -> None:
        """The next ``get`` reloads (the current value still serves meanwhile and on errors)."""
        self._at = float("-inf")

    def clear(self) -> None:
        """Forget the value: the next ``get`` loads afresh."""
        self._value, self._at = self._initial, float("-inf")

    def reset(self) -> None:
        """``clear`` and drop the lock, which belongs to one event loop (tests start several)."""
        self.clear()
        self._lock = None


__all__ = ["MISS", "Miss", "Refreshed", "TTLCache"]
