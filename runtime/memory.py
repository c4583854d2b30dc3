"""Give memory back to the OS when the gateway goes idle (glibc only; a no-op elsewhere).

A burst of large requests (Claude Code bodies are 100 KB to MBs) leaves freed memory in glibc's
heaps, and every worker thread gets a heap ("arena") of its own. Capping arenas at start-up and
calling malloc_trim once the gateway has been idle keeps an idle process near its start-up size.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import dataclasses
import functools
import gc

M_ARENA_MAX = -8


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018 - glibc only
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def arenas_limit(count: int = 2) -> None:
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_ARENA_MAX, count)


def trim() -> None:
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


# --- Start-up --------------------------------------------------------------------------------------
# A served process holds ~500k gc-tracked objects from its imports (modules, classes, functions,
# Django's and pydantic's schemas) that live as long as it does. Every full collection walked them
# all: 109 ms, which a run of 1 MB requests (whose bodies survive into the oldest generation while
# they are handled) triggered about once per 100 requests, +1.1 ms a request on average, and each
# after-burst pass below paid it again. Frozen once at start-up (gc.freeze: the permanent
# generation, never scanned), a full collection walks only what the process made since: ~10 ms.
# Import-time objects that later become cyclic garbage stay (a one-off, bounded amount).


def startup_freeze() -> int:
    """Collect, then freeze every object alive now (call once the application is loaded, before
    serving); returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


# --- After a burst -------------------------------------------------------------------------------
# A burst leaves its requests' reference cycles (daphne's and Twisted's request objects, tasks)
# in the oldest gc generation, which a busy process rarely collects in full: measured after 1,000
# simultaneous streams, ~79k garbage objects held ~80 MiB until a full pass. So once the process
# has had many requests in flight and then none for IDLE_SECONDS, collect in full and trim.
BURST_MIN_INFLIGHT = 32
IDLE_SECONDS = 1.0


@dataclasses.dataclass
class _Burst:
    peak: int = 0
    timer: asyncio.TimerHandle | None = None
    collections: int = 0


BURST = _Burst()


def inflight_changed(count: int) -> None:
    """Call with the number of requests in flight each time it changes (from the event loop)."""
    if count > BURST.peak:
        BURST.peak = count
    if BURST.timer is not None:
        BURST.timer.cancel()
        BURST.timer = None
    if count == 0 and BURST.peak >= BURST_MIN_INFLIGHT:
        BURST.timer = asyncio.get_running_loop().call_later(IDLE_SECONDS, _after_burst)


def _after_burst() -> None:
    BURST.timer = None
    BURST.peak = 0
    BURST.collections += 1
    gc.collect()
    trim()
