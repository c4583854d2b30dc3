"""Client-key budgets and rate limits on /v1/messages: 429 rate_limit_error in Anthropic's shape."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.core.cache import cache

from clients.auth import ClientIdentity
from clients.models import ClientKey
from clients.quotas import counter_keys, limits_cache_clear, limits_check, usage_add
from tests.fakes import Reply, openai_completion

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

BODY = {"model": "claude-sonnet-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(autouse=True)
def _fresh_limits():
    cache.clear()
    limits_cache_clear()
    yield
    cache.clear()
    limits_cache_clear()


async def _set_limits(**limits):
    await ClientKey.objects.filter(name="tests").aupdate(**limits)
    limits_cache_clear()


async def test_requests_per_day_answers_429_after_the_budget(openai_up, gateway_client):
    await _set_limits(requests_per_day=2)
    statuses = [(await gateway_client.post("/v1/messages", json=BODY)).status_code for _ in range(2)]
    refused = await gateway_client.post("/v1/messages", json=BODY)
    assert statuses == [200, 200]
    assert refused.status_code == 429
    assert refused.json() == {"type": "error", "error": {
        "type": "rate_limit_error", "message": refused.json()["error"]["message"]}}
    assert "requests per day (2)" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 86_400
    assert len(openai_up.requests) == 2  # the refused request never went upstream


async def test_requests_per_minute_refusal_gives_the_slot_back(openai_up, gateway_client):
    await _set_limits(requests_per_minute=1, requests_per_day=5)
    assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200
    refused = await gateway_client.post("/v1/messages", json=BODY)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) <= 60
    key = await ClientKey.objects.aget(name="tests")
    keys = counter_keys(key.pk, time.time())
    assert cache.get(keys["rpd"]) == 1  # the refused request did not use the day's budget


async def test_tokens_per_day_refuses_once_reached(openai_up, gateway_client):
    await _set_limits(tokens_per_day=100)
    openai_up.enqueue(Reply.json(openai_completion("long answer", usage=(90, 30, 0))))
    assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200
    refused = await gateway_client.post("/v1/messages", json=BODY)
    assert refused.status_code == 429
    assert "tokens per day (100)" in refused.json()["error"]["message"]


async def test_count_tokens_is_not_counted(openai_up, gateway_client):
    await _set_limits(requests_per_day=1)
    for _ in range(3):
        assert (await gateway_client.post("/v1/messages/count_tokens", json=BODY)).status_code == 200
    assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200


async def test_keys_without_limits_are_not_counted(openai_up, gateway_client):
    for _ in range(3):
        assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200
    key = await ClientKey.objects.aget(name="tests")
    assert all(cache.get(k) is None for k in counter_keys(key.pk, time.time()).values())


async def test_limits_check_counts_concurrent_requests_exactly(client_key):
    key = await ClientKey.objects.aget(name="tests")
    await _set_limits(requests_per_day=5)
    identity = ClientIdentity(key.pk, key.name)
    results = await asyncio.gather(*[limits_check(identity) for _ in range(12)])
    assert sum(r is None for r in results) == 5
    assert {r.status for r in results if r is not None} == {429}


async def test_usage_add_counts_only_keys_with_a_token_budget(client_key):
    key = await ClientKey.objects.aget(name="tests")
    identity = ClientIdentity(key.pk, key.name)
    await limits_check(identity)  # loads the (empty) limits
    usage_add(identity, 50)
    assert cache.get(counter_keys(key.pk, time.time())["tpd"]) is None
    await _set_limits(tokens_per_day=1000)
    await limits_check(identity)
    usage_add(identity, 50)
    usage_add(identity, 25)
    assert cache.get(counter_keys(key.pk, time.time())["tpd"]) == 75


async def test_anonymous_open_access_has_no_limits():
    assert await limits_check(ClientIdentity(None, "open-access")) is None


async def test_limits_count_per_process_while_redis_is_unreachable(client_key, settings, caplog):
    """A Redis on a closed port: the key is still limited (here), one warning, no exception."""
    from clients.quotas import limits_fallback_clear
    from tests.support.gateway import free_port

    limits_fallback_clear()
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"redis://127.0.0.1:{free_port()}/12",
                                   "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    key = await ClientKey.objects.aget(name="tests")
    await _set_limits(requests_per_day=3)
    identity = ClientIdentity(key.pk, key.name)
    started = time.monotonic()
    results = [await limits_check(identity) for _ in range(5)]
    assert time.monotonic() - started < 2.0
    assert [r is None for r in results] == [True, True, True, False, False]
    assert [r.message for r in caplog.records].count(caplog.records[0].message) == 1
    assert "Redis is unreachable" in caplog.records[0].message
    limits_fallback_clear()


async def test_outage_backs_off_and_logs_once_per_outage(caplog):
    from runtime.outage import Outage

    now = [100.0]
    outage = Outage("Thing", "falling back", clock=lambda: now[0])
    assert outage.usable()
    outage.failed(ConnectionError("refused"))
    assert not outage.usable()
    now[0] += 0.5
    assert outage.usable() and not outage.usable()  # one probe per back-off
    outage.failed(ConnectionError("refused"))
    now[0] += 0.9
    assert not outage.usable()  # the back-off doubled to 1 s
    now[0] += 0.2
    assert outage.usable()
    outage.succeeded()
    assert outage.usable()
    assert [r.message.split(" (")[0] for r in caplog.records] == ["Thing is unreachable", "Thing is back after 1.6 s"]
