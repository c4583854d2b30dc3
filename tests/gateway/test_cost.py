"""Cost on every request row, money budgets, and cost totals where a team lead reads them.

The gateway runs in-process in front of a fake Anthropic upstream (a real HTTP server) whose
usage carries prompt-cache reads and writes; costs are checked against a hand computation from
the shipped price of claude-sonnet-4-5 (USD per million: input 3, output 15, cache write 3.75,
cache read 0.30).
"""

from __future__ import annotations

import json
from decimal import Decimal
from io import StringIO

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from clients.models import ClientKey
from clients.quotas import limits_cache_clear
from dashboard.models import RequestLog
from dashboard.reports import cost_summary
from dashboard.services import request_log_aflush
from providers.models import ModelPrice, Provider
from providers.prices import price_table_get, price_table_invalidate
from tests.conftest import amake_tiers
from tests.fakes import Reply
from tests.fakes.anthropic_server import anthropic_message, anthropic_stream_events

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.timeout(120)]

USAGE = {"input_tokens": 1000, "output_tokens": 500, "cache_creation_input_tokens": 2000,
         "cache_read_input_tokens": 10_000}
# 1000 x 3 + 500 x 15 + 2000 x 3.75 + 10000 x 0.30 = 3000 + 7500 + 7500 + 3000 micro-dollars
SONNET_COST = Decimal("0.021")
# reads at input price less their price (10000 x 2.70) less the write premium (2000 x 0.75)
SONNET_SAVED = Decimal("0.0255")


def body(model: str = "claude-sonnet-4-5", stream: bool = False) -> dict:
    return {"model": model, "max_tokens": 600, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(autouse=True)
def _fresh():
    cache.clear()
    limits_cache_clear()
    price_table_invalidate()
    yield
    cache.clear()
    limits_cache_clear()
    price_table_invalidate()


@pytest.fixture
async def sonnet(anthropic_up):
    """Every tier on the fake Anthropic provider; the model asked upstream is the one requested."""
    await amake_tiers({name: [(anthropic_up.provider, model)] for name, model in
                       (("small", "claude-haiku-4-5"), ("middle", "claude-sonnet-4-5"), ("big", "claude-opus-4-5"))})
    return anthropic_up


async def _rows() -> list[RequestLog]:
    await request_log_aflush()
    return [r async for r in RequestLog.objects.order_by("created", "id")]


def _status_json() -> dict:
    out = StringIO()
    call_command("status", "--json", stdout=out)
    return json.loads(out.getvalue())


async def test_a_request_with_cache_reads_and_writes_costs_what_the_price_table_says(sonnet, gateway_client,
                                                                                   staff_headers):
    cost_before = await _scraped_cost(gateway_client, staff_headers)
    sonnet.enqueue(Reply.json(anthropic_message("hi", model="claude-sonnet-4-5", usage=USAGE)))
    assert (await gateway_client.post("/v1/messages", json=body())).status_code == 200
    sonnet.enqueue(Reply.sse(anthropic_stream_events("hi", model="claude-sonnet-4-5", usage=USAGE)))
    streamed = await gateway_client.post("/v1/messages", json=body(stream=True))
    assert streamed.status_code == 200 and "message_stop" in streamed.text
    rows = await _rows()
    assert [(r.cost_usd, r.cache_saved_usd, r.cache_write_tokens, r.cached_tokens) for r in rows] == [
        (SONNET_COST, SONNET_SAVED, 2000, 10_000)] * 2

    usage = (await sync_to_async(Client(headers=staff_headers).get)("/api/admin/usage?days=1")).json()
    day = next(r for r in usage if r["name"] == "tests")
    assert (Decimal(day["cost_usd"]), day["unpriced_requests"], day["cost"]) == (2 * SONNET_COST, 0, "$0.042000")
    models = (await sync_to_async(Client(headers=staff_headers).get)("/api/admin/usage/models?days=1")).json()
    assert [(m["provider"], m["model"], Decimal(m["cost_usd"])) for m in models] == [
        ("anthropic", "claude-sonnet-4-5", 2 * SONNET_COST)]
    key = next(k for k in (await sync_to_async(_status_json)())["keys"] if k["name"] == "tests")
    assert key["cost_today"] == "$0.042000"

    assert await _scraped_cost(gateway_client, staff_headers) - cost_before == pytest.approx(float(2 * SONNET_COST))


async def _scraped_cost(gateway_client, staff_headers) -> float:
    """gateway_cost_usd_total of key "tests" in this process's /metrics (a process-wide counter:
    other tests in the same worker process add to it, so tests compare before and after)."""
    scrape = (await gateway_client.get("/metrics", headers=staff_headers)).text
    return sum(s.value for f in text_string_to_metric_families(scrape) for s in f.samples
               if s.name == "gateway_cost_usd_total" and s.labels.get("key") == "tests")


async def test_an_unknown_model_is_unknown_never_zero(sonnet, gateway_client, staff_headers):
    sonnet.enqueue(Reply.json(anthropic_message("hi", model="claude-sonnet-4-5", usage=USAGE)))
    sonnet.enqueue(Reply.json(anthropic_message("hi", model="claude-sonnet-4-5", usage=USAGE)))
    assert (await gateway_client.post("/v1/messages", json=body())).status_code == 200
    # an explicit provider:model prefix asks the fake for a model no price table knows
    assert (await gateway_client.post("/anthropic:acme-mystery-9/v1/messages", json=body())).status_code == 200
    rows = await _rows()
    assert [(r.upstream_model, r.cost_usd) for r in rows] == [("claude-sonnet-4-5", SONNET_COST),
                                                             ("acme-mystery-9", None)]

    admin = Client(headers=staff_headers)
    day = next(r for r in (await sync_to_async(admin.get)("/api/admin/usage?days=1")).json() if r["name"] == "tests")
    assert (Decimal(day["cost_usd"]), day["unpriced_requests"]) == (SONNET_COST, 1)
    assert day["cost"] == "$0.021000, partly unknown (1 unpriced request)"
    models = {m["model"]: m for m in (await sync_to_async(admin.get)("/api/admin/usage/models?days=1")).json()}
    assert (models["acme-mystery-9"]["cost_usd"], models["acme-mystery-9"]["cost"]) == (None, "unknown")

    status = await sync_to_async(_status_json)()
    assert [r["cost"] for r in status["requests"]] == ["unknown", "$0.021000"]  # newest first
    assert next(m for m in status["models"] if m["model"] == "acme-mystery-9")["cost"] == "unknown"
    assert "partly unknown" in next(k for k in status["keys"] if k["name"] == "tests")["cost_today"]
    out = StringIO()
    await sync_to_async(call_command)("status", stdout=out)
    text = out.getvalue()
    assert "Cost today by model" in text and "Cost today by agent" in text
    assert next(line for line in text.splitlines() if "acme-mystery-9" in line and "anthropic" in line).rstrip() \
        .endswith("unknown")


async def test_a_model_price_row_beats_the_shipped_default_at_once(sonnet, gateway_client):
    sonnet.enqueue(Reply.json(anthropic_message("hi", model="claude-sonnet-4-5", usage=USAGE)))
    assert (await gateway_client.post("/v1/messages", json=body())).status_code == 200
    provider = await Provider.objects.aget(name="anthropic")
    # blank cache prices: the provider bills cache tokens as plain input
    await ModelPrice.objects.acreate(provider=provider, model="claude-sonnet-4-5", input=Decimal("1"),
                                     output=Decimal("2"))
    sonnet.enqueue(Reply.json(anthropic_message("hi", model="claude-sonnet-4-5", usage=USAGE)))
    assert (await gateway_client.post("/v1/messages", json=body())).status_code == 200
    rows = await _rows()
    # (1000 + 2000 + 10000) x 1 + 500 x 2 micro-dollars
    assert [r.cost_usd for r in rows] == [SONNET_COST, Decimal("0.014")]
    assert (await price_table_get()).match("anthropic", "claude-sonnet-4-5-20250929").provider == "anthropic"


async def test_a_money_budget_refuses_once_spent_and_says_when_it_resets(sonnet, gateway_client):
    await ClientKey.objects.filter(name="tests").aupdate(usd_per_day=Decimal("0.03"))
    limits_cache_clear()
    small = {**body(), "max_tokens": 1}  # its most expensive outcome fits in what is left
    for _ in range(2):  # 0.021 each: the second starts under the budget and crosses it
        sonnet.enqueue(Reply.json(anthropic_message("hi", model="claude-sonnet-4-5", usage=USAGE)))
        assert (await gateway_client.post("/v1/messages", json=small)).status_code == 200
    refused = await gateway_client.post("/v1/messages", json=small)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["type"] == "rate_limit_error"
    assert "budget of $0.03 per day ($0.04 spent)" in error["message"]
    assert "resets at midnight UTC" in error["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 86_400
    assert len(sonnet.requests) == 2  # the refused request never went upstream
    rows = await _rows()
    assert [(r.status, r.refusal) for r in rows] == [(200, ""), (200, ""), (429, "budget")]


async def test_a_money_budget_refuses_the_request_that_would_cross_it(sonnet, gateway_client):
    await ClientKey.objects.filter(name="tests").aupdate(usd_per_day=Decimal("0.03"))
    limits_cache_clear()
    sonnet.enqueue(Reply.json(anthropic_message("hi", model="claude-sonnet-4-5", usage=USAGE)))
    assert (await gateway_client.post("/v1/messages", json=body())).status_code == 200  # 0.021 spent
    # 600 output tokens at $15 per million alone are $0.009: more than the $0.009 left
    refused = await gateway_client.post("/v1/messages", json=body())
    assert refused.status_code == 429
    message = refused.json()["error"]["message"]
    assert "could cost up to $0.009" in message and "max_tokens 600" in message
    assert "$0.01 left of this client key's budget of $0.03 per day" in message
    sonnet.enqueue(Reply.json(anthropic_message("hi", model="claude-sonnet-4-5", usage=(10, 5))))
    assert (await gateway_client.post("/v1/messages", json={**body(), "max_tokens": 100})).status_code == 200
    assert len(sonnet.requests) == 2
    rows = await _rows()
    assert [(r.status, r.refusal) for r in rows] == [(200, ""), (429, "budget"), (200, "")]


async def test_a_monthly_budget_counts_with_the_daily_one(sonnet, gateway_client):
    await ClientKey.objects.filter(name="tests").aupdate(usd_per_day=Decimal("100"), usd_per_month=Decimal("0.02"))
    limits_cache_clear()
    sonnet.enqueue(Reply.json(anthropic_message("hi", model="claude-sonnet-4-5", usage=USAGE)))
    assert (await gateway_client.post("/v1/messages", json=body())).status_code == 200
    refused = await gateway_client.post("/v1/messages", json=body())
    assert refused.status_code == 429
    assert "budget of $0.02 per month" in refused.json()["error"]["message"]
    assert "1st of next month" in refused.json()["error"]["message"]


async def test_an_unpriced_request_adds_nothing_to_a_money_budget(sonnet, gateway_client):
    await ClientKey.objects.filter(name="tests").aupdate(usd_per_day=Decimal("0.01"))
    limits_cache_clear()
    for _ in range(2):
        sonnet.enqueue(Reply.json(anthropic_message("hi", model="acme-mystery-9", usage=USAGE)))
        assert (await gateway_client.post("/anthropic:acme-mystery-9/v1/messages", json=body())).status_code == 200


async def test_costs_per_agent(sonnet, gateway_client, staff_headers):
    for agent in ("reviewer", "reviewer", ""):
        sonnet.enqueue(Reply.json(anthropic_message("hi", model="claude-sonnet-4-5", usage=USAGE)))
        headers = {"x-claude-code-agent-id": agent} if agent else {}
        assert (await gateway_client.post("/v1/messages", json=body(), headers=headers)).status_code == 200
    await request_log_aflush()
    agents = (await sync_to_async(Client(headers=staff_headers).get)("/api/admin/usage/agents?days=1")).json()
    assert [(a["agent"], a["requests"], Decimal(a["cost_usd"])) for a in agents] == [
        ("reviewer", 2, 2 * SONNET_COST), ("", 1, SONNET_COST)]


async def test_cost_summary_words():
    assert cost_summary(None, 0) == {"cost_usd": Decimal(0), "unpriced_requests": 0, "cost": "$0.000000"}
    assert cost_summary(None, 3)["cost"] == "unknown"
    assert cost_summary(Decimal("1.5"), 2)["cost"] == "$1.500000, partly unknown (2 unpriced requests)"


async def test_top_keys_by_cost_and_cache_efficiency(sonnet, gateway_client):
    from dashboard.reports import cache_efficiency, top_keys_by_cost

    for _ in range(2):
        sonnet.enqueue(Reply.json(anthropic_message("hi", model="claude-sonnet-4-5", usage=USAGE)))
        assert (await gateway_client.post("/v1/messages", json=body())).status_code == 200
    await request_log_aflush()
    (top,) = await sync_to_async(top_keys_by_cost)()
    assert (top["name"], top["requests"], top["cost_usd"], top["cache_saved_usd"]) == (
        "tests", 2, 2 * SONNET_COST, 2 * SONNET_SAVED)
    (per_key,) = await sync_to_async(cache_efficiency)()
    (per_provider,) = await sync_to_async(cache_efficiency)(by="provider")
    assert per_key["hit_rate"] == per_provider["hit_rate"] == pytest.approx(10_000 / 13_000)
    assert per_provider["name"] == "anthropic" and per_provider["cache_saved_usd"] == 2 * SONNET_SAVED
