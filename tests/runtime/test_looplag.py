"""The loop-lag heartbeat: measures stalls while watched, stops by itself, and a restart does not
count the quiet time as lateness. Real loops and real (short, bounded) time."""

from __future__ import annotations

import asyncio
import time

from runtime import looplag


def test_heartbeat_stops_after_its_watch_and_a_new_watch_extends_it():
    async def scenario() -> tuple[bool, bool, bool]:
        meter = looplag.LagMeter(asyncio.get_running_loop())
        meter.watch(0.12)
        running_at_start = meter.running
        await asyncio.sleep(0.08)
        meter.watch(0.12)  # a second attempt: its window counts from now
        await asyncio.sleep(0.08)
        running_extended = meter.running
        await asyncio.sleep(0.12 + 2 * looplag.INTERVAL)
        return running_at_start, running_extended, meter.running

    running_at_start, running_extended, running_after = asyncio.run(scenario())
    assert running_at_start and running_extended
    assert not running_after  # nothing left to wake the loop


def test_a_stall_inside_the_watch_is_measured():
    async def scenario() -> float:
        meter = looplag.LagMeter(asyncio.get_running_loop())
        start = meter.watch(5.0)
        await asyncio.sleep(0)
        time.sleep(0.3)  # noqa: ASYNC251 - the stall under test: the loop cannot look at its sockets
        await asyncio.sleep(looplag.INTERVAL * 2)
        return meter.stalled_since(start)

    assert asyncio.run(scenario()) >= 0.25


def test_a_restart_after_quiet_counts_no_lateness():
    async def scenario() -> tuple[float, bool]:
        meter = looplag.LagMeter(asyncio.get_running_loop())
        meter.watch(0.05)
        await asyncio.sleep(0.4)  # the heartbeat has stopped; the loop was idle, not stalled
        stopped = not meter.running
        start = meter.watch(1.0)
        await asyncio.sleep(looplag.INTERVAL * 2)
        return meter.stalled_since(start), stopped

    stalled, stopped = asyncio.run(scenario())
    assert stopped
    assert stalled < 0.05
