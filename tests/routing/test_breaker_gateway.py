"""The breaker through the real ASGI app, with fake upstreams that are real HTTP servers.

Every fault is real: 429/500 answers, a listener whose accept queue is full (connect timeout),
a one-connection pool that is busy (PoolTimeout), a stalled event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
import socket
import time

import httpx
import pytest

from providers import client as upstream_client
from routing.models import CircuitState
from tests.conftest import amake_provider, amake_tiers
from tests.fakes import FakeOpenAI, Reply, openai_completion, openai_text_chunks

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

BODY = {"model": "claude-sonnet-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def two():
    with FakeOpenAI() as a, FakeOpenAI() as b:
        a.p = await amake_provider("alpha", a.base_url, priority=1)
        b.p = await amake_provider("beta", b.base_url, priority=2)
        await amake_tiers({"middle": [(a.p, "ma"), (b.p, "mb")]})
        yield a, b


def limited(headers: dict[str, str] | None = None) -> Reply:
    return Reply.error(429, {"error": {"message": "slow down", "type": "rate_limit_error"}}, headers=headers)


async def circuit(provider) -> CircuitState | None:
    return await CircuitState.objects.filter(provider=provider).afirst()


async def test_tier_lockout_after_429_and_500s_still_reaches_upstreams(two, gateway_client):
    a, b = two
    for up in (a, b):
        up.enqueue(limited({"retry-after": "0"}), Reply.error(500), Reply.error(500))
    assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 429
    for _ in range(2):
        assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 502
    # healthy again: served at once, by the first provider (two failures are below the threshold)
    resp = await gateway_client.post("/v1/messages", json=BODY)
    assert resp.status_code == 200 and len(a.main_requests) == 4
    assert (await circuit(a.p)).failure_count == 0


async def test_every_circuit_open_tries_the_soonest_upstream(two, gateway_client, settings):
    settings.CIRCUIT_FAILURE_THRESHOLD = 1
    a, b = two
    a.enqueue(Reply.error(500))
    b.enqueue(Reply.error(503))
    assert (await gateway_client.post("/v1/messages", json=BODY)).status_code >= 500
    states = [await circuit(a.p), await circuit(b.p)]
    assert [s.state for s in states] == ["open", "open"]
    resp = await gateway_client.post("/v1/messages", json=BODY)  # both open for 30 s: panic
    assert resp.status_code == 200 and len(a.main_requests) == 2 and len(b.main_requests) == 1
    assert (await circuit(a.p)).state == "closed"  # the real answer closed it


async def test_random_429s_and_500s_never_answered_from_gateway_state(two, gateway_client, settings):
    settings.CIRCUIT_FAILURE_THRESHOLD = 2
    a, b = two
    rng = random.Random(7)
    faults = [None, lambda: limited({"retry-after": "0"}), lambda: Reply.error(500)]
    for _ in range(12):
        for up in (a, b):
            fault = rng.choice(faults)
            if fault is not None:
                up.enqueue(fault())
        before = len(a.main_requests) + len(b.main_requests)
        resp = await gateway_client.post("/v1/messages", json=BODY)
        assert len(a.main_requests) + len(b.main_requests) > before, "answered without any upstream"
        assert resp.status_code in (200, 429, 502)
        a.reset(), b.reset()  # drop unused faults: the next request meets healthy upstreams
        assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200


async def test_http_date_retry_after_pauses_the_scope(two, gateway_client):
    a, b = two
    a.enqueue(limited({"retry-after": email.utils.formatdate(time.time() + 30, usegmt=True)}))
    assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200  # beta answered
    state = await circuit(a.p)
    assert state.limit_explicit and 27 <= state.limited_until - time.time() <= 31
    assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200
    assert len(a.main_requests) == 1 and len(b.main_requests) == 2


async def test_429_cooldown_without_retry_after_grows_1_2_4(two, gateway_client):
    a, b = two
    lengths = []
    for _ in range(3):
        state = await circuit(a.p)
        if state is not None:  # the cooldown is a span of time: wait it out
            await asyncio.sleep(max(0.0, state.limited_until - time.time()))
        a.enqueue(limited())
        asked = time.time()
        assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200
        state = await circuit(a.p)
        lengths.append(round(state.limited_until - asked))
    assert lengths == [1, 2, 4] and state.failure_count == 0 and not state.limit_explicit
    await asyncio.sleep(max(0.0, state.limited_until - time.time()))
    assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200
    assert len(a.main_requests) == 4 and (await circuit(a.p)).limit_streak == 0  # alpha answered: streak over


async def test_429_then_one_5xx_does_not_open(two, gateway_client, settings):
    settings.CIRCUIT_FAILURE_THRESHOLD = 2
    a, b = two
    a.enqueue(limited({"retry-after": "0"}), Reply.error(500))
    for _ in range(2):
        assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200
    state = await circuit(a.p)
    assert (state.state, state.failure_count) == ("closed", 1)
    assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200
    assert len(a.main_requests) == 3 and len(b.main_requests) == 2


class ShortPoolWait(httpx.AsyncBaseTransport):
    """A real one-connection httpx pool whose wait for a free connection is short."""

    def __init__(self, seconds: float) -> None:
        self.inner = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=1))
        self.seconds = seconds

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.extensions["timeout"] = {**request.extensions.get("timeout", {}), "pool": self.seconds}
        return await self.inner.handle_async_request(request)


async def test_pool_timeout_is_the_gateway_overload_not_the_providers(two, gateway_client):
    a, b = two
    upstream_client.set_transport(ShortPoolWait(0.2))
    a.enqueue(Reply.json(openai_completion("slow"), latency=1.5))  # holds the only connection

    slow = asyncio.create_task(gateway_client.post("/v1/messages", json=BODY))
    for _ in range(200):  # bounded: the slow request reaches alpha within 2 s
        if a.main_requests:
            break
        await asyncio.sleep(0.01)
    resp = await gateway_client.post("/v1/messages", json=BODY)
    assert resp.status_code == 529 and resp.json()["error"]["type"] == "overloaded_error"
    assert resp.headers["retry-after"] == "1"
    assert b.requests == [] and len(a.main_requests) == 1  # no fallback: it would wait on the same pool
    assert (await slow).status_code == 200
    assert (await circuit(a.p)) is None and (await circuit(b.p)) is None  # nothing counted


@contextlib.contextmanager
def unaccepting_listener():
    """A loopback port whose accept queue is full: new connections hang in SYN (connect timeout)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fillers = []
    for _ in range(3):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect(("127.0.0.1", port))
        fillers.append(s)
    try:
        yield port
    finally:
        for s in fillers:
            s.close()
        srv.close()


@pytest.mark.parametrize("stall", [0.0, 0.6])
async def test_connect_timeout_counts_unless_the_gateway_loop_stalled(gateway_client, settings, stall):
    settings.CONNECT_TIMEOUT = 1.0
    with unaccepting_listener() as port:
        p = await amake_provider("dead", f"http://127.0.0.1:{port}/v1")
        await amake_tiers(default=(p, "m"))
        if stall:  # the loop blocked in the middle of the connect window (as a CPU-bound burst does)
            asyncio.get_running_loop().call_later(0.2, time.sleep, stall)
        resp = await gateway_client.post("/v1/messages", json=BODY)
    assert resp.status_code == 504 and resp.json()["error"]["type"] == "timeout_error"
    state = await circuit(p)
    assert (state.failure_count if state else 0) == (0 if stall else 1)


async def test_the_lag_heartbeat_runs_only_until_an_attempts_response_headers(two, gateway_client):
    from runtime import looplag

    a, _ = two
    a.enqueue(Reply.sse(openai_text_chunks("one two three four", pieces=["one ", "two ", "three ", "four"]),
                        delay=0.15))

    async def mid_stream() -> bool:  # the headers came at once; the chunks take ~0.6 s
        await asyncio.sleep(0.3)
        return looplag.lag_meter().running

    resp, running = await asyncio.gather(gateway_client.post("/v1/messages", json={**BODY, "stream": True}),
                                         mid_stream())
    assert resp.status_code == 200 and "message_stop" in resp.text
    assert not running  # a paced stream is not woken 20 times a second by it
    assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200
    await asyncio.sleep(2 * looplag.INTERVAL + 0.05)
    assert not looplag.lag_meter().running  # an idle process sleeps right after its last request


async def test_concurrent_failures_in_one_process_are_all_counted(gateway_client, settings):
    settings.CIRCUIT_FAILURE_THRESHOLD = 1000
    with FakeOpenAI() as up:
        up.default = Reply.error(500)
        p = await amake_provider("flaky", up.base_url)
        await amake_tiers(default=(p, "m"))
        answers = await asyncio.gather(*[gateway_client.post("/v1/messages", json=BODY) for _ in range(40)])
    assert {r.status_code for r in answers} == {502}
    assert (await circuit(p)).failure_count == 40 == len(up.main_requests)
