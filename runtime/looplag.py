"""How late this process's event loop has been running, to tell gateway overload from a dead peer.

A connect timeout is ambiguous. The peer may not have completed the handshake in time (its
fault), or the handshake completed in the kernel while our loop was too busy to notice before the
timeout fired (asyncio runs the timer's cancellation and the socket's readiness in the same loop
iteration; the task then sees the cancellation). A heartbeat every ``INTERVAL`` seconds records how
late each tick ran; ``stalled_since`` sums that lateness over a window, i.e. how long the loop
could not look at sockets. gateway/errors.py uses it to leave such timeouts uncounted.
"""

from __future__ import annotations

import asyncio
import collections
import weakref

INTERVAL = 0.05
WINDOW = 120.0  # seconds of samples kept (longer than any connect timeout)


class LagMeter:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._samples: collections.deque[tuple[float, float]] = collections.deque(maxlen=int(WINDOW / INTERVAL))
        self._due = loop.time() + INTERVAL
        loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        now = self._loop.time()
        late = now - self._due
        if late > INTERVAL / 5:  # ordinary scheduling jitter is not a stall
            self._samples.append((now, late))
        self._due = now + INTERVAL
        self._loop.call_at(self._due, self._tick)

    def now(self) -> float:
        return self._loop.time()

    def stalled_since(self, start: float) -> float:
        """Seconds the loop ran late since ``start`` (loop.time()), counting a stall in progress."""
        now = self._loop.time()
        total = sum(late for at, late in self._samples if at - late >= start - INTERVAL)
        return total + max(0.0, now - self._due)


_meters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LagMeter] = weakref.WeakKeyDictionary()


def lag_meter() -> LagMeter:
    """The running loop's meter, started on first use (one heartbeat per loop)."""
    loop = asyncio.get_running_loop()
    meter = _meters.get(loop)
    if meter is None:
        meter = _meters[loop] = LagMeter(loop)
    return meter
