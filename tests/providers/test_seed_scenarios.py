"""The seeds' scenarios end to end: OAuth first with a Bedrock fallback, env-configured quick start."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from configuration.seeding import seed_from_env
from dashboard.models import FallbackEvent
from dashboard.services import request_log_aflush
from providers.models import OAuthToken, Provider
from providers.oauth import oauth_token_store
from routing.models import ModelTier
from runtime import crypto
from tests.conftest import amake_tiers, make_provider
from tests.fakes import FakeAnthropic, FakeOpenAI, Reply
from tests.fakes.bedrock_server import FAKE_CREDENTIALS, FakeBedrock, bedrock_message

BODY = {"model": "claude-sonnet-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_oauth_429_falls_back_to_bedrock_and_cools_down(anthropic_sdk):
    with FakeAnthropic() as claude, FakeBedrock() as bedrock:
        def setup():
            oauth = make_provider("claude-max", claude.base_url, kind="anthropic", key="",
                                  auth_type=Provider.AuthType.OAUTH)
            oauth_token_store(provider_id=oauth.pk, access="sk-ant-oat01-fake-access", refresh="sk-ant-ort01-fake",
                              expires_at=timezone.now() + timedelta(hours=5))
            aws = make_provider("bedrock", bedrock.base_url, kind="bedrock", key=json.dumps(FAKE_CREDENTIALS),
                                options={"region": "us-east-1"}, priority=5)
            return oauth, aws

        oauth, aws = await sync_to_async(setup)()
        await amake_tiers({"middle": [(oauth, "claude-sonnet-5"), (aws, "claude-sonnet-4-5")]})
        claude.enqueue(Reply.error(429, {"type": "error", "error": {"type": "rate_limit_error", "message": "5-hour limit"}},
                                   headers={"retry-after": "120"}))
        bedrock.enqueue(Reply.json(bedrock_message("from bedrock")), Reply.json(bedrock_message("again bedrock")))
        first = await anthropic_sdk.messages.create(**BODY)
        second = await anthropic_sdk.messages.create(**BODY)
        assert first.content[0].text == "from bedrock" and second.content[0].text == "again bedrock"
        assert len(claude.main_requests) == 1  # cooling down: not tried again
        assert claude.requests[0].headers["authorization"] == "Bearer sk-ant-oat01-fake-access"
        assert "authorization" in bedrock.requests[0].headers  # SigV4-signed
    await request_log_aflush()
    event = await FallbackEvent.objects.aget()
    assert (event.from_provider, event.to_provider, event.status) == ("claude-max", "bedrock", 429)


@pytest.mark.django_db
def test_seed_from_env_creates_editable_rows_with_custom_headers_and_oauth():
    notes = seed_from_env(env={
        "PREFERRED_PROVIDER": "anthropic", "ANTHROPIC_API_KEY": "sk-ant-oat01-seeded", "ANTHROPIC_OAUTH_REFRESH_TOKEN":
        "sk-ant-ort01-seeded", "ANTHROPIC_OAUTH_EXPIRES_AT": "1893456000000", "OPENAI_API_KEY": "sk-openai-seeded",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "BIG_MODEL": "claude-opus-4-8", "SMALL_MODEL": "claude-haiku-4-5",
        "REQUEST_TIMEOUT": "90", "MAX_TOKENS_LIMIT": "16000", "CUSTOM_HEADER_X_TEAM_ID": "team-7",
    })
    assert "provider anthropic: created" in notes
    claude = Provider.objects.get(name="anthropic")
    assert (claude.auth_type, claude.priority, claude.timeout, claude.max_tokens_cap) == ("oauth", 0, 90.0, 16000)
    assert claude.headers == {"X-Team-Id": "team-7"}
    token = OAuthToken.objects.get(provider=claude)
    assert crypto.decrypt(token.refresh_token_encrypted) == "sk-ant-ort01-seeded" and token.expires_at.year == 2030
    big = ModelTier.objects.get(name="big")
    assert [(e.provider.name, e.model) for e in big.entries.order_by("position")] == [
        ("anthropic", "claude-opus-4-8"), ("openai", "gpt-4.1")]
    # a second run keeps what the admin may have edited
    Provider.objects.filter(name="openai").update(priority=3)
    seed_from_env(env={"OPENAI_API_KEY": "other"})
    assert Provider.objects.get(name="openai").priority == 3


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_provider_max_retries_retries_same_candidate_before_falling_back(gateway_client):
    with FakeOpenAI() as up:
        provider = await sync_to_async(make_provider)("flaky", up.base_url, max_retries=1)
        await amake_tiers(default=(provider, "m"))
        up.enqueue(Reply.error(502))
        resp = await gateway_client.post("/v1/messages", json=BODY)
        assert resp.status_code == 200 and len(up.main_requests) == 2
