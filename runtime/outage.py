"""Per-process outage state for a shared service the gateway can run without (Redis).

When a call to the service fails, callers skip it (using their fallback) for a back-off that
doubles from OUTAGE_BACKOFF_MIN to OUTAGE_BACKOFF_MAX seconds; after it one caller probes again.
So an outage costs one failed call per back-off period, not a connect timeout per request, and it
is logged once when it starts and once when it ends (not per request). Thread-safe enough for
the GIL: the worst a race does is let two callers probe at once.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

from runtime import resets

OUTAGE_BACKOFF_MIN = 0.5
OUTAGE_BACKOFF_MAX = 5.0


class Outage:
    def __init__(self, name: str, fallback: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.fallback = fallback  # what callers do meanwhile, for the warning line
        self.clock = clock
        self.down = False
        self.since = 0.0
        self.retry_at = 0.0
        self.backoff = OUTAGE_BACKOFF_MIN
        self.logger = logging.getLogger("gateway.outage")

    def usable(self) -> bool:
        """Whether to try the service now: it is up, or the back-off has passed (one probe)."""
        if not self.down:
            return True
        now = self.clock()
        if now < self.retry_at:
            return False
        self.retry_at = now + self.backoff  # others keep the fallback while this caller probes
        return True

    def failed(self, exc: BaseException) -> None:
        now = self.clock()
        if not self.down:
            self.down, self.since, self.backoff = True, now, OUTAGE_BACKOFF_MIN
            self.logger.warning("%s is unreachable (%s: %s); %s until it is back",
                                self.name, type(exc).__name__, exc, self.fallback)
        else:
            self.backoff = min(self.backoff * 2, OUTAGE_BACKOFF_MAX)
        self.retry_at = now + self.backoff

    def succeeded(self) -> None:
        if self.down:
            self.down = False
            self.logger.warning("%s is back after %.1f s", self.name, self.clock() - self.since)

    def reset(self) -> None:
        """Forget any outage (tests)."""
        self.down, self.retry_at, self.backoff = False, 0.0, OUTAGE_BACKOFF_MIN


# Redis backs the cache (limits, dashboard viewers) and the channel layer (live dashboard).
REDIS = Outage("Redis", "limits count per process and live dashboard updates are paused")


# The database holds the routes, keys and circuits the request path caches: during an outage the
# last loaded copies keep serving and breaker writes are skipped (the answers still go out).
DATABASE = Outage("The database", "request log rows wait in memory (REQUEST_LOG_BACKLOG_MAX) and the "
                   "gateway serves its last loaded routes, keys and circuits")


@resets.register
def outages_reset() -> None:
    """Forget any Redis or database outage (tests)."""
    REDIS.reset()
    DATABASE.reset()


@functools.cache
def redis_errors() -> tuple[type[BaseException], ...]:
    """What a Redis call raises when the server is down, restarting or unreachable.

    Called in ``except redis_errors():`` clauses, which Python evaluates only while an exception
    is matched: redis's package (7 MiB with the OpenTelemetry modules it loads) is then already
    imported by whatever raised, and a gateway without Redis never imports it."""
    try:
        from redis.exceptions import RedisError
    except ImportError:  # no redis client installed: only the socket errors
        return (OSError,)
    return (RedisError, OSError)


def _database_errors() -> tuple[type[BaseException], ...]:
    from django.db import InterfaceError, OperationalError

    return (OperationalError, InterfaceError)


# What a query raises when the database is down, restarting or unreachable (not a bad query).
DATABASE_ERRORS = _database_errors()
