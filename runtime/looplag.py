"""How late this process's event loop has been running, to tell gateway overload from a dead peer.

A connect timeout is ambiguous. The peer may not have completed the handshake in time (its
fault), or the handshake completed in the kernel while our loop was too busy to notice before the
timeout fired (asyncio runs the timer's cancellation and the socket's readiness in the same loop
iteration; the task then sees the cancellation). A heartbeat every ``INTERVAL`` seconds records how
late each tick ran; ``stalled_since`` sums that lateness over a window, i.e. how long the loop
could not look at sockets. gateway/errors.py uses it to leave such timeouts uncounted.

The heartbeat runs only while it can matter: each upstream attempt ``hold()``s the meter until
its response headers arrive (or it fails), the only time a connect can time out, then
``release()``s it; with no attempt waiting the heartbeat stops at its next tick. (It used to run for
the longest window an attempt could wait, pool plus connect timeout, 41 s after every attempt:
an idle gateway woke 20 times a second for 41 s after each request, ~3 ms of CPU a second on a
host where a wake-up costs ~100 µs, and a paced stream paid ~4 extra wake-ups.) A restart begins a
fresh schedule: the quiet time is not lateness.
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
        self._due = 0.0
        self._holders = 0  # attempts waiting for their response headers; the heartbeat stops at 0
        self.running = False

    def hold(self) -> float:
        """Keep the heartbeat going until the matching ``release()`` (starting it if it stopped); returns now."""
        now = self._loop.time()
        self._holders += 1
        if not self.running:
            self.running = True
            self._due = now + INTERVAL
            self._loop.call_at(self._due, self._tick)
        return now

    def release(self) -> None:
        self._holders = max(0, self._holders - 1)

    def _tick(self) -> None:
        now = self._loop.time()
        late = now - self._due
        if late > INTERVAL / 5:  # ordinary scheduling jitter is not a stall
            self._samples.append((now, late))
        if self._holders == 0:
            self.running = False
            return
        self._due = now + INTERVAL
        self._loop.call_at(self._due, self._tick)

    def stalled_since(self, start: float) -> float:
        """Seconds the loop ran late since ``start`` (loop.time()), counting a stall in progress."""
        now = self._loop.time()
        total = sum(late for at, late in self._samples if at - late >= start - INTERVAL)
        return total + (max(0.0, now - self._due) if self.running else 0.0)


_meters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LagMeter] = weakref.WeakKeyDictionary()


def lag_meter() -> LagMeter:
    """The running loop's meter, made on first use (one per loop; its heartbeat runs while held)."""
    loop = asyncio.get_running_loop()
    meter = _meters.get(loop)
    if meter is None:
        meter = _meters[loop] = LagMeter(loop)
    return meter
