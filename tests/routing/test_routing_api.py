"""Routing end to end: real ASGI app, official SDK, two or more fake upstream servers."""

from __future__ import annotations

import asyncio
import time

import anthropic
import pytest
from asgiref.sync import sync_to_async

from dashboard.models import FallbackEvent, RequestLog
from dashboard.services import request_log_aflush
from routing.fingerprints import fingerprint
from routing.models import AgentFingerprint, CircuitState, ModelTier, Route
from routing.services import config_version_bump
from tests.conftest import amake_provider, amake_tiers
from tests.fakes import FakeOpenAI, Reply, openai_completion, openai_text_chunks

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

AGENT_PROMPT = "You are the code-reviewer agent. Review the diff carefully for bugs."
BODY = {"model": "claude-sonnet-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def two():
    with FakeOpenAI() as a, FakeOpenAI() as b:
        a.p = await amake_provider("alpha", a.base_url, priority=1)
        b.p = await amake_provider("beta", b.base_url, priority=2)
        yield a, b


async def models_seen(up):
    return [r.json["model"] for r in up.main_requests]


async def test_fingerprint_routes_agent_to_its_model_and_logs_reason(two, anthropic_sdk):
    a, b = two
    await amake_tiers(default=(a.p, "tier-model"))
    await AgentFingerprint.objects.acreate(fingerprint=fingerprint(AGENT_PROMPT), name="code-reviewer",
                                           model="review-model@beta")
    system = [{"type": "text", "text": "x-anthropic-billing-header: cc_version=9"},
              {"type": "text", "text": AGENT_PROMPT + "\n<env>\nWorking directory: /tmp/x\n</env>"}]
    await anthropic_sdk.messages.create(**BODY, system=system)
    assert await models_seen(b) == ["review-model"] and a.requests == []
    await request_log_aflush()
    log = await RequestLog.objects.aget()
    assert log.route_reason == "fingerprint:code-reviewer"


async def test_unknown_fingerprint_is_recorded_for_the_admin(two, anthropic_sdk):
    a, _ = two
    await amake_tiers(default=(a.p, "tier-model"))
    for _ in range(3):
        await anthropic_sdk.messages.create(**BODY, system="You are a brand new agent nobody registered.")
    await request_log_aflush()
    row = await AgentFingerprint.objects.aget()
    assert row.model == "" and row.fingerprint == fingerprint("You are a brand new agent nobody registered.")
    assert row.seen_count >= 1 and "brand new agent" in row.sample


async def test_agent_header_matches_agent_name(two, anthropic_sdk):
    a, b = two
    await amake_tiers(default=(a.p, "tier-model"))
    await AgentFingerprint.objects.acreate(fingerprint="0" * 16, name="Explore", model="explore-model@beta")
    await anthropic_sdk.messages.create(**BODY, extra_headers={"x-claude-code-agent-id": "Explore"})
    assert await models_seen(b) == ["explore-model"]


async def test_scenario_route_for_thinking_requests(two, anthropic_sdk):
    a, b = two
    await amake_tiers(default=(a.p, "tier-model"))
    await Route.objects.acreate(name="think", scenario="thinking", provider=b.p, model="thinker")
    await anthropic_sdk.messages.create(**{**BODY, "max_tokens": 3000}, thinking={"type": "enabled", "budget_tokens": 2000})
    await anthropic_sdk.messages.create(**BODY)
    assert await models_seen(b) == ["thinker"] and await models_seen(a) == ["tier-model"]


async def test_round_robin_alternates_and_random_uses_both(two, gateway_client):
    a, b = two
    await amake_tiers({"middle": [(a.p, "ma"), (b.p, "mb")]})
    await ModelTier.objects.filter(name="middle").aupdate(strategy="round_robin")
    for _ in range(4):
        assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200
    assert len(a.main_requests) == 2 and len(b.main_requests) == 2
    await ModelTier.objects.filter(name="middle").aupdate(strategy="random")
    from routing.selectors import route_table_invalidate

    route_table_invalidate()
    for _ in range(24):
        await gateway_client.post("/v1/messages", json=BODY)
    assert len(a.main_requests) > 2 and len(b.main_requests) > 2


@pytest.mark.parametrize("stream", [False, True])
async def test_429_falls_back_and_cools_down_until_retry_after(two, anthropic_sdk, stream):
    a, b = two
    await amake_tiers({"middle": [(a.p, "ma"), (b.p, "mb")]})
    a.enqueue(Reply.error(429, {"error": {"message": "quota"}}, headers={"retry-after": "1"}))

    async def ask():
        if stream:
            async with anthropic_sdk.messages.stream(**BODY) as s:
                return await s.get_final_message()
        return await anthropic_sdk.messages.create(**BODY)

    await ask()
    assert len(a.main_requests) == 1 and len(b.main_requests) == 1
    await ask()  # alpha cools down: straight to beta
    assert len(a.main_requests) == 1 and len(b.main_requests) == 2
    await asyncio.sleep(1.1)
    await ask()  # cooldown over: alpha takes the probe, succeeds, circuit closes
    assert len(a.main_requests) == 2
    state = await CircuitState.objects.aget()
    assert state.state == "closed"
    await request_log_aflush()
    event = await FallbackEvent.objects.aget()
    assert (event.from_provider, event.to_provider, event.status) == ("alpha", "beta", 429)


async def test_429_without_retry_after_starts_a_short_cooldown(two, anthropic_sdk, settings, gateway_client,
                                                               staff_headers):
    settings.RATE_LIMIT_COOLDOWN_DEFAULT = 120
    a, b = two
    await amake_tiers({"middle": [(a.p, "ma"), (b.p, "mb")]})
    a.enqueue(Reply.error(429))
    await anthropic_sdk.messages.create(**BODY)
    state = await CircuitState.objects.aget()
    assert state.state == "closed" and state.failure_count == 0 and state.reason == "rate_limited"
    assert 0 < state.limited_until - time.time() <= 1.0 and not state.limit_explicit
    health = (await gateway_client.get("/health?detail=1", headers=staff_headers)).json()
    assert health["providers"]["alpha"]["status"] == "cooling_down"
    assert health["providers"]["beta"]["status"] == "healthy"


async def test_circuit_opens_after_threshold_and_recovers(two, gateway_client, settings, staff_headers):
    settings.CIRCUIT_FAILURE_THRESHOLD = 2
    settings.CIRCUIT_RECOVERY_TIMEOUT = 1.0
    a, b = two
    await amake_tiers({"middle": [(a.p, "ma"), (b.p, "mb")]})
    a.enqueue(Reply.error(500), Reply.error(502))
    for _ in range(3):
        assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200
    assert len(a.main_requests) == 2  # third request skipped alpha: circuit open
    health = (await gateway_client.get("/health?detail=1", headers=staff_headers)).json()
    assert health["providers"]["alpha"] == {"status": "circuit_open", "priority": 1, "failure_count": 2}
    await asyncio.sleep(1.05)
    assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200
    assert len(a.main_requests) == 3  # half-open probe went to alpha and closed the circuit
    assert (await gateway_client.get("/health?detail=1", headers=staff_headers)).json()["providers"]["alpha"]["status"] == "healthy"


async def test_client_errors_never_open_the_circuit(two, gateway_client, settings):
    settings.CIRCUIT_FAILURE_THRESHOLD = 1
    a, b = two
    await amake_tiers({"middle": [(a.p, "ma"), (b.p, "mb")]})
    a.enqueue(Reply.error(400, {"error": {"message": "bad"}}), Reply.error(413))
    assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 400
    assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 413
    assert await CircuitState.objects.acount() == 0 and b.requests == []
    await gateway_client.post("/v1/messages/count_tokens", json=BODY)
    assert await CircuitState.objects.acount() == 0


async def test_no_fallback_after_first_byte(two, gateway_client):
    a, b = two
    await amake_tiers({"middle": [(a.p, "ma"), (b.p, "mb")]})
    a.enqueue(Reply.sse(openai_text_chunks("one two three four five", pieces=["one ", "two ", "three "]), drop_after=2))
    resp = await gateway_client.post("/v1/messages", json={**BODY, "stream": True})
    assert resp.status_code == 200 and "event: error" in resp.text and "message_stop" not in resp.text
    assert b.requests == []


async def test_all_candidates_paused_by_retry_after_answer_429_with_time_left(two, gateway_client):
    a, b = two
    await amake_tiers({"middle": [(a.p, "ma"), (b.p, "mb")]})
    a.enqueue(Reply.error(429, headers={"retry-after": "30"}))
    b.enqueue(Reply.error(429, headers={"retry-after": "60"}))
    first = await gateway_client.post("/v1/messages", json=BODY)
    assert first.status_code == 429 and first.json()["error"]["type"] == "rate_limit_error"
    resp = await gateway_client.post("/v1/messages", json=BODY)
    assert resp.status_code == 429 and resp.json()["error"]["type"] == "rate_limit_error"
    assert 25 <= int(resp.headers["retry-after"]) <= 30 and resp.headers["x-should-retry"] == "true"
    assert len(a.main_requests) == len(b.main_requests) == 1  # the providers' own word is kept


async def test_session_affinity_moves_once_and_stays(two, anthropic_sdk):
    a, b = two
    await amake_tiers({"middle": [(a.p, "ma"), (b.p, "mb")]})
    await ModelTier.objects.filter(name="middle").aupdate(strategy="round_robin")
    headers = {"x-claude-code-session-id": "sess-1"}
    for _ in range(3):
        await anthropic_sdk.messages.create(**BODY, extra_headers=headers)
    assert len(a.main_requests) == 3 and b.requests == []  # pinned despite round robin
    a.enqueue(Reply.error(503))
    await anthropic_sdk.messages.create(**BODY, extra_headers=headers)
    await anthropic_sdk.messages.create(**BODY, extra_headers=headers)
    assert len(b.main_requests) == 2 and len(a.main_requests) == 4  # moved once, stayed on beta


async def test_explicit_provider_failure_is_not_rerouted(two, anthropic_sdk):
    a, b = two
    await amake_tiers({"middle": [(a.p, "ma"), (b.p, "mb")]})
    a.enqueue(Reply.error(500))
    with pytest.raises(anthropic.InternalServerError):
        await anthropic_sdk.messages.create(**{**BODY, "model": "special@alpha"})
    assert b.requests == []


async def test_route_table_change_takes_effect_without_restart(two, gateway_client, settings):
    """Another process's edit: its rows, and the version token its commit changed
    (routing.services.config_version_bump); this process reloads within ROUTE_TABLE_TTL."""
    settings.ROUTE_TABLE_TTL = 0.2
    a, b = two
    await amake_tiers({"middle": [(a.p, "ma")]})
    await gateway_client.post("/v1/messages", json=BODY)
    await sync_to_async(lambda: ModelTier.objects.get(name="middle").entries.update(provider=b.p))()
    await sync_to_async(config_version_bump)()
    await asyncio.sleep(settings.ROUTE_TABLE_TTL + 0.1)
    await gateway_client.post("/v1/messages", json=BODY)
    assert len(b.main_requests) == 1 and len(a.main_requests) == 1


async def test_a_write_that_bypassed_the_signals_is_seen_after_route_table_max_age(two, gateway_client, settings):
    settings.ROUTE_TABLE_TTL = 0.1
    settings.ROUTE_TABLE_MAX_AGE = 1.0
    a, b = two
    await amake_tiers({"middle": [(a.p, "ma")]})
    await gateway_client.post("/v1/messages", json=BODY)
    await sync_to_async(lambda: ModelTier.objects.get(name="middle").entries.update(provider=b.p))()  # no signal
    await asyncio.sleep(0.3)
    await gateway_client.post("/v1/messages", json=BODY)
    assert len(a.main_requests) == 2 and b.main_requests == []  # the version did not change: table kept
    await asyncio.sleep(settings.ROUTE_TABLE_MAX_AGE)
    await gateway_client.post("/v1/messages", json=BODY)
    assert len(b.main_requests) == 1


async def test_an_unchanged_version_costs_one_query_not_a_reload(two, gateway_client, settings, monkeypatch):
    from routing import selectors

    settings.ROUTE_TABLE_TTL = 0.05
    a, _ = two
    await amake_tiers({"middle": [(a.p, "ma")]})
    loads = 0
    real = selectors.route_table_load

    async def counted():
        nonlocal loads
        loads += 1
        return await real()

    monkeypatch.setattr(selectors, "route_table_load", counted)
    await gateway_client.post("/v1/messages", json=BODY)
    first = loads
    for _ in range(4):
        await asyncio.sleep(0.08)  # past the TTL each time: the version is read, the table kept
        assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200
    assert first == 1 and loads == 1
    await sync_to_async(lambda: a.p.save())()  # an edit here: reloaded on the next request
    await gateway_client.post("/v1/messages", json=BODY)
    assert loads == 2


async def test_non_stream_completion_used_by_fallback_chain(two, anthropic_sdk):
    a, b = two
    await amake_tiers({"middle": [(a.p, "ma"), (b.p, "mb")]})
    a.enqueue(Reply.hang(0.2))
    b.enqueue(Reply.json(openai_completion("saved by beta")))
    msg = await anthropic_sdk.messages.create(**BODY)
    assert msg.content[0].text == "saved by beta"


async def test_stream_error_before_first_content_still_falls_back(two, anthropic_sdk):
    a, b = two
    await amake_tiers({"middle": [(a.p, "ma"), (b.p, "mb")]})
    a.enqueue(Reply.sse([{"error": {"message": "Rate limit reached", "type": "rate_limit_error", "code": 429}}]))
    b.enqueue(Reply.sse(openai_text_chunks("from beta")))
    async with anthropic_sdk.messages.stream(**BODY) as s:
        final = await s.get_final_message()
    assert final.content[0].text == "from beta"


async def test_long_context_and_background_routes(two, gateway_client):
    a, b = two
    await amake_tiers(default=(a.p, "tier-model"))
    await Route.objects.acreate(name="long", scenario="long_context", threshold=5000, provider=b.p, model="long-ctx")
    await Route.objects.acreate(name="bg", scenario="background", provider=b.p, model="cheap")
    long_body = {**BODY, "messages": [{"role": "user", "content": "word " * 10000}]}
    await gateway_client.post("/v1/messages", json=long_body)
    await gateway_client.post("/v1/messages", json={**BODY, "model": "claude-haiku-4-5"})
    await gateway_client.post("/v1/messages", json=BODY)
    assert await models_seen(b) == ["long-ctx", "cheap"] and await models_seen(a) == ["tier-model"]
