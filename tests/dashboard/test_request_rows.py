"""One row per client request, refusals as rows, and every count agreeing with /metrics.

The gateway runs in-process (the real ASGI application and lean API handler) in front of fake
upstreams that are real HTTP servers; counts are read where a team lead reads them: the
dashboard's totals, `manage.py status --json`, the admin API's usage and /metrics.
"""

from __future__ import annotations

import asyncio
import json
from io import StringIO

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from prometheus_client.parser import text_string_to_metric_families

from clients.models import ClientKey
from clients.quotas import limits_cache_clear
from dashboard.models import RequestAttempt, RequestLog
from dashboard.selectors import provider_health_summary, request_totals
from dashboard.services import request_log_aflush
from gateway import health
from providers.models import Provider
from tests.conftest import amake_provider, amake_tiers
from tests.fakes import FakeOpenAI, Reply, openai_completion

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.timeout(120)]

BODY = {"model": "claude-sonnet-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


async def _samples(client: httpx.AsyncClient, staff_headers: dict[str, str]) -> dict[tuple[str, tuple], float]:
    reply = await client.get("/metrics", headers=staff_headers)
    assert reply.status_code == 200, reply.text
    out = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _total(samples: dict, name: str, where=lambda labels: True) -> float:
    return sum(v for (n, labels), v in samples.items() if n == name and where(dict(labels)))


def _is_error(labels: dict) -> bool:
    return int(labels["status"]) >= 400 and labels["status"] != "499"


def _usage(staff_headers) -> dict:
    from django.test import Client

    rows = Client(headers=staff_headers).get("/api/admin/usage?days=1").json()
    return next(r for r in rows if r["name"] == "tests")


def _status_key() -> dict:
    out = StringIO()
    call_command("status", "--json", stdout=out)
    return next(k for k in json.loads(out.getvalue())["keys"] if k["name"] == "tests")


def _key_totals() -> object:
    return next(t for t in request_totals().keys if t.label == "tests")


async def test_a_fallback_is_one_request_and_no_error_everywhere(gateway_client, staff_headers):
    before = await _samples(gateway_client, staff_headers)
    with FakeOpenAI() as first, FakeOpenAI() as second:
        p1 = await amake_provider("first", first.base_url)
        p2 = await amake_provider("second", second.base_url, priority=5)
        await amake_tiers({"middle": [(p1, "m1"), (p2, "m2")]})
        for _ in range(2):  # both fall back and succeed
            first.enqueue(Reply.error(503))
            second.enqueue(Reply.json(openai_completion("from second")))
            assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200
        first.enqueue(Reply.error(503))  # both providers fail: the client gets one error
        second.enqueue(Reply.error(503))
        assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 529
    await request_log_aflush()

    rows = [r async for r in RequestLog.objects.order_by("id")]
    assert [(r.provider, r.status, r.attempt_count) for r in rows] == [
        ("second", 200, 2), ("second", 200, 2), ("second", 529, 2)]
    attempts = [(a.provider, a.status) async for a in RequestAttempt.objects.filter(request=rows[0])]
    assert attempts == [("first", 529), ("second", 200)]
    usage = await sync_to_async(_usage)(staff_headers)
    assert (usage["requests"], usage["errors"], usage["throttled"]) == (3, 1, 0)
    status = await sync_to_async(_status_key)()
    assert (status["requests_today"], status["errors_today"]) == (3, 1)
    totals = await sync_to_async(_key_totals)()
    assert (totals.day_requests, totals.day_errors, totals.hour_requests) == (3, 1, 3)

    after = await _samples(gateway_client, staff_headers)
    delta = {k: v - before.get(k, 0) for k, v in after.items()}
    mine = lambda labels: labels.get("key") == "tests"  # noqa: E731
    assert _total(delta, "gateway_requests_total", mine) == 3
    assert _total(delta, "gateway_requests_total", lambda labels: mine(labels) and _is_error(labels)) == 1
    assert _total(delta, "gateway_fallbacks_total") == 3  # FallbackEvent rows: every request moved on once
    assert _total(delta, "gateway_upstream_attempts_total") == 6
    from dashboard.models import FallbackEvent

    assert await FallbackEvent.objects.acount() == 3
    assert _total(delta, "gateway_tokens_total", lambda labels: labels["type"] == "output") > 0
    assert _total(delta, "gateway_request_duration_seconds_count", lambda labels: labels["provider"] == "second") == 3


async def test_a_rate_limited_request_is_throttled_for_its_key(openai_up, gateway_client, staff_headers):
    await ClientKey.objects.filter(name="tests").aupdate(requests_per_minute=1)
    limits_cache_clear()
    before = await _samples(gateway_client, staff_headers)
    statuses = [(await gateway_client.post("/v1/messages", json=BODY)).status_code for _ in range(3)]
    assert statuses == [200, 429, 429]
    await request_log_aflush()

    refused = [r async for r in RequestLog.objects.exclude(refusal="")]
    assert [(r.status, r.refusal, r.provider) for r in refused] == [(429, "rate_limit", "")] * 2
    usage = await sync_to_async(_usage)(staff_headers)
    assert (usage["requests"], usage["errors"], usage["throttled"], usage["refused"]) == (1, 0, 2, 2)
    assert (await sync_to_async(_status_key)())["throttled_today"] == 2
    totals = await sync_to_async(_key_totals)()
    assert (totals.day_requests, totals.day_errors, totals.day_throttled, totals.hour_throttled) == (1, 0, 2, 2)
    after = await _samples(gateway_client, staff_headers)
    delta = {k: v - before.get(k, 0) for k, v in after.items()}
    throttled = lambda labels: labels == {"reason": "rate_limit", "status": "429", "key": "tests"}  # noqa: E731
    assert _total(delta, "gateway_refusals_total", throttled) == 2
    assert _total(delta, "gateway_requests_total", lambda labels: labels["key"] == "tests") == 1


async def test_a_refused_flood_is_aggregated_and_counted_exactly(openai_up, gateway_client, settings):
    settings.REFUSAL_ROWS_PER_SECOND = 2
    bad = {"x-api-key": "sk-gw-not-a-key-000000000000"}
    replies = await asyncio.gather(*[gateway_client.post("/v1/messages", json=BODY, headers=bad) for _ in range(40)])
    assert {r.status_code for r in replies} == {401}
    await request_log_aflush()
    rows = [r async for r in RequestLog.objects.filter(refusal="bad_key")]
    assert sum(r.count for r in rows) == 40
    assert len(rows) <= 3 * 3  # at most 2 rows + 1 aggregate per second (the burst may straddle seconds)
    assert all(r.client_key_id is None and r.status == 401 for r in rows)


async def test_last_used_moves_with_each_flush(openai_up, gateway_client):
    assert (await ClientKey.objects.aget(name="tests")).last_used is None
    assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200
    await request_log_aflush()
    first = (await ClientKey.objects.aget(name="tests")).last_used
    assert first is not None
    assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200
    await request_log_aflush()
    second = (await ClientKey.objects.aget(name="tests")).last_used
    assert second > first
    assert second == (await RequestLog.objects.order_by("-created").afirst()).created


async def test_a_failing_health_check_makes_the_provider_unhealthy_and_health_degraded(
        openai_up, gateway_client, staff_headers):
    assert (await gateway_client.get("/health")).json() == {"status": "ok"}
    await Provider.objects.filter(name="openai").aupdate(health_ok=False,
                                                         health_error="connection failed (ConnectError)")
    health.probes_expire()  # /health re-reads the checks after PROBES_TTL (2 s)
    assert (await gateway_client.get("/health")).json() == {"status": "degraded"}
    detail = (await gateway_client.get("/health?detail=1", headers=staff_headers)).json()
    assert detail["providers"]["openai"]["status"] == "unhealthy"
    assert "connection failed" in detail["providers"]["openai"]["reasons"][0]
    [row] = await sync_to_async(provider_health_summary)()
    assert (row.status, row.label) == ("unhealthy", "unhealthy")


async def test_a_provider_without_a_credential_is_unhealthy(gateway_client, staff_headers):
    with FakeOpenAI() as up:
        keyless = await amake_provider("keyless", up.base_url, key="")
        await amake_tiers(default=(keyless, "m"))
        detail = (await gateway_client.get("/health?detail=1", headers=staff_headers)).json()
    assert detail["status"] == "degraded"
    assert detail["providers"]["keyless"]["status"] == "unhealthy"
    assert "has no API key" in detail["providers"]["keyless"]["reasons"][0]


async def test_failing_real_traffic_makes_a_provider_unhealthy(openai_up, gateway_client, staff_headers, settings):
    settings.HEALTH_ERROR_MIN_CALLS = 3
    for _ in range(3):
        openai_up.enqueue(Reply.error(500))
        assert (await gateway_client.post("/v1/messages", json=BODY)).status_code >= 500
    detail = (await gateway_client.get("/health?detail=1", headers=staff_headers)).json()
    assert detail["status"] == "degraded"
    assert detail["providers"]["openai"]["reasons"] == ["3 of its last 3 calls failed"]
    await request_log_aflush()
    [row] = await sync_to_async(provider_health_summary)()  # the dashboard counts the attempt rows
    assert row.status in ("unhealthy", "circuit_open") and "3 of its last 3 calls failed" in row.reasons


async def test_metrics_need_a_staff_credential(gateway_client):
    assert (await gateway_client.get("/metrics")).status_code == 401
