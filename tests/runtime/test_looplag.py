"""The loop-lag heartbeat: measures stalls while an attempt holds it, stops after the last release,
and a restart does not count the quiet time as lateness. Real loops and real (short, bounded) time."""

from __future__ import annotations

import asyncio
import time

from runtime import looplag


def test_heartbeat_runs_while_any_attempt_holds_it_and_stops_after_the_last_release():
    async def scenario() -> list[bool]:
        meter = looplag.LagMeter(asyncio.get_running_loop())
        seen = []
        meter.hold()
        seen.append(meter.running)
        meter.hold()  # a second attempt waiting for its headers
        meter.release()
        await asyncio.sleep(3 * looplag.INTERVAL)
        seen.append(meter.running)  # the other attempt still waits
        meter.release()
        await asyncio.sleep(2 * looplag.INTERVAL)
        seen.append(meter.running)  # nothing left to wake the loop
        meter.release()  # an extra release does not go negative (the next hold still holds)
        meter.hold()
        await asyncio.sleep(2 * looplag.INTERVAL)
        seen.append(meter.running)
        meter.release()
        return seen

    assert asyncio.run(scenario()) == [True, True, False, True]


def test_a_stall_while_held_is_measured():
    async def scenario() -> float:
        meter = looplag.LagMeter(asyncio.get_running_loop())
        start = meter.hold()
        await asyncio.sleep(0)
        time.sleep(0.3)  # noqa: ASYNC251 - the stall under test: the loop cannot look at its sockets
        await asyncio.sleep(looplag.INTERVAL * 2)
        return meter.stalled_since(start)

    assert asyncio.run(scenario()) >= 0.25


def test_a_restart_after_quiet_counts_no_lateness():
    async def scenario() -> tuple[float, bool]:
        meter = looplag.LagMeter(asyncio.get_running_loop())
        meter.hold()
        meter.release()
        await asyncio.sleep(0.4)  # the heartbeat has stopped; the loop was idle, not stalled
        stopped = not meter.running
        start = meter.hold()
        await asyncio.sleep(looplag.INTERVAL * 2)
        return meter.stalled_since(start), stopped

    stalled, stopped = asyncio.run(scenario())
    assert stopped
    assert stalled < 0.05
