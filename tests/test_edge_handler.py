"""The lean API handler's edge checks in-process (the daphne-level twins are in test_edge_gateway.py)."""

from __future__ import annotations

import asyncio
import gc

import pytest

from proxy_project.handlers import INFLIGHT, BodyRefused, _read_body, edge_precheck
from runtime import dbconn, memory

BODY = {"model": "claude-sonnet-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def feeder(*messages, then_wait: bool = False):
    queue = list(messages)

    async def receive():
        if queue:
            return queue.pop(0)
        if then_wait:
            await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    return receive


async def test_read_body_cuts_off_past_the_limit():
    chunks = [{"type": "http.request", "body": b"x" * 600, "more_body": True}] * 3
    with pytest.raises(BodyRefused) as refused:
        await _read_body(feeder(*chunks), limit=1000, seconds=5)
    assert refused.value.status == 413


async def test_read_body_gives_up_on_a_stalled_body():
    stalled = feeder({"type": "http.request", "body": b"{", "more_body": True}, then_wait=True)
    with pytest.raises(BodyRefused) as refused:
        await _read_body(stalled, limit=1000, seconds=0.05)
    assert refused.value.status == 408


async def test_read_body_joins_chunks_within_the_limit():
    parts = feeder({"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.request", "body": b"c"})
    assert await _read_body(parts, limit=3, seconds=5) == b"abc"


@pytest.mark.django_db(transaction=True)
async def test_wrong_key_is_401_under_open_access_and_no_key_is_anonymous(gateway_client, settings):
    settings.GATEWAY_OPEN_ACCESS = True
    async with gateway_client as client:
        wrong = await client.post("/v1/messages/count_tokens", json=BODY, headers={"x-api-key": "sk-gw-wrong"})
        assert wrong.status_code == 401 and wrong.headers["x-should-retry"] == "false"
        anonymous = await client.post("/v1/messages/count_tokens", json=BODY, headers={"x-api-key": ""})
        assert anonymous.status_code == 200
        keyed = await client.post("/v1/messages/count_tokens", json=BODY)
        assert keyed.status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_content_length_over_the_limit_is_413_and_overload_is_529(gateway_client, settings):
    settings.MAX_REQUEST_BYTES = 100
    async with gateway_client as client:
        big = await client.post("/v1/messages", content=b" " * 200, headers={"content-type": "application/json"})
        assert big.status_code == 413 and big.json()["error"]["type"] == "request_too_large"
        settings.MAX_INFLIGHT_REQUESTS = 0
        busy = await client.post("/v1/messages/count_tokens", json=BODY)
        assert busy.status_code == 529 and busy.json()["error"]["type"] == "overloaded_error"
        assert busy.headers["retry-after"] == str(settings.OVERLOAD_RETRY_AFTER)
        assert (await client.get("/health")).status_code == 200  # never shed
    assert INFLIGHT.count == 0


@pytest.mark.django_db(transaction=True)
def test_edge_precheck_needs_no_database_for_public_paths_and_missing_keys(settings):
    settings.GATEWAY_OPEN_ACCESS = False
    assert edge_precheck(path="/health", headers=[], length=10**12) == 413  # limits hold everywhere
    assert edge_precheck(path="/health", headers=[], length=10) is None
    assert edge_precheck(path="/admin/login/", headers=[(b"x-api-key", b"staff")], length=10) is None
    assert edge_precheck(path="/v1/messages", headers=[], length=10) == 401
    lookup = edge_precheck(path="/v1/messages", headers=[(b"x-api-key", b"sk-gw-unknown")], length=10)
    assert asyncio.iscoroutine(lookup)
    assert asyncio.run(lookup) == 401  # now cached: the next one answers at once
    assert edge_precheck(path="/v1/messages", headers=[(b"authorization", b"Bearer sk-gw-unknown")], length=1) == 401
    assert edge_precheck(path="/favicon.ico", headers=[], length=0) is None  # a browser's own request: no refusal


@pytest.mark.django_db(transaction=True)
async def test_a_browsers_favicon_request_is_a_404_not_a_refused_key(gateway_client):
    from dashboard import services

    async with gateway_client as client:
        answer = await client.get("/favicon.ico", headers={"x-api-key": ""})
    assert answer.status_code == 404
    assert not [row for row in services._pending if row.get("refusal")]


async def test_connection_cleanup_runs_only_after_queries_and_bursts_share_one(monkeypatch):
    calls = []
    monkeypatch.setattr(dbconn, "_cleanup_in_orm_thread", lambda: asyncio.sleep(0.01, calls.append(1)))
    dbconn.CLEANUP.reset()
    dbconn.cleanup_schedule()
    assert calls == []  # no query ran: no hop to the ORM thread
    dbconn.CLEANUP.queried = True
    for _ in range(50):
        dbconn.cleanup_schedule()
        dbconn.CLEANUP.queried = True
    await dbconn.CLEANUP.queued
    assert len(calls) == 1


async def test_a_burst_ends_with_a_full_collection_once_idle():
    before = memory.BURST.collections
    for n in range(1, memory.BURST_MIN_INFLIGHT + 1):
        memory.inflight_changed(n)
    for n in range(memory.BURST_MIN_INFLIGHT - 1, 0, -1):
        memory.inflight_changed(n)
        assert memory.BURST.timer is None  # still busy
    memory.inflight_changed(0)
    timer = memory.BURST.timer
    assert timer is not None and timer.when() - asyncio.get_running_loop().time() <= memory.IDLE_SECONDS
    memory.inflight_changed(1)  # traffic again: the collection waits for the next quiet moment
    assert timer.cancelled() and memory.BURST.timer is None
    memory.inflight_changed(0)
    memory.BURST.timer.cancel()
    memory._after_burst()
    assert memory.BURST.collections == before + 1 and memory.BURST.peak == 0
    memory.inflight_changed(0)
    assert memory.BURST.timer is None  # a single request later is no burst
    assert gc.isenabled()
