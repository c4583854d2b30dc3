"""The request-log flusher runs while there is work and ends once the process is quiet (no timer
wakes an idle gateway); the next queued row starts it again and is written."""

from __future__ import annotations

import asyncio

import pytest

from dashboard import services
from dashboard.models import RequestLog

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def _until(predicate, seconds: float = 10.0) -> bool:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.01)
    return False


async def test_flusher_writes_then_ends_when_quiet_and_a_new_row_starts_it_again(settings):
    settings.REQUEST_LOG_FLUSH_INTERVAL = 0.02
    loop_id = id(asyncio.get_running_loop())

    async def written(n: int) -> bool:
        return await RequestLog.objects.acount() == n

    async def flusher_ended() -> bool:
        task = services._flusher.get(loop_id)
        return task is not None and task.done()

    services.request_log_record(requested_model="claude-sonnet-5", provider="p", upstream_model="m1", status=200)
    assert await _until(lambda: written(1))
    assert await _until(flusher_ended)  # about IDLE_FLUSHES_BEFORE_TRIM intervals of quiet, then it returns
    assert services._flusher[loop_id].exception() is None

    services.request_log_record(requested_model="claude-sonnet-5", provider="p", upstream_model="m2", status=200)
    assert not services._flusher[loop_id].done()  # a new flusher took the row
    assert await _until(lambda: written(2))


async def test_flusher_returns_memory_when_quiet_and_keeps_running_while_sightings_wait(settings, monkeypatch):
    """Throttled sightings wait up to a minute: the trim still comes after a quiet second."""
    settings.REQUEST_LOG_FLUSH_INTERVAL = 0.02
    waiting = [True]
    trims: list[int] = []
    monkeypatch.setattr(services, "fingerprint_sightings_waiting", lambda: waiting[0])
    monkeypatch.setattr(services.memory, "trim", lambda: trims.append(1))
    services.request_log_record(requested_model="claude-sonnet-5", provider="p", upstream_model="m", status=200)
    loop_id = id(asyncio.get_running_loop())
    await asyncio.sleep(0.02 * (services.IDLE_FLUSHES_BEFORE_TRIM + 4))
    assert not services._flusher[loop_id].done()
    assert trims == [1]  # once per quiet spell
    waiting[0] = False

    async def ended() -> bool:
        return services._flusher[loop_id].done()

    assert await _until(ended)
