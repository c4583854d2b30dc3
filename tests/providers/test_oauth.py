"""Claude OAuth tokens: Bearer upstream, refresh grant, single-flight refresh, 401 -> refresh -> retry."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from providers.models import OAuthToken, Provider
from providers.oauth import oauth_token_refresh, oauth_token_store, oauth_tokens_due
from runtime import crypto
from tests.conftest import amake_tiers, make_provider
from tests.fakes import FakeAnthropic, Reply, anthropic_message

BODY = {"model": "claude-sonnet-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
TOKEN_REPLY = {"access_token": "sk-ant-oat01-NEW-fake-access", "refresh_token": "sk-ant-ort01-NEW-fake-refresh",
               "expires_in": 28800, "token_type": "Bearer"}


@pytest.fixture
def oauth(transactional_db, settings):
    with FakeAnthropic() as up:
        settings.OAUTH_TOKEN_URL = up.origin + "/v1/oauth/token"
        provider = make_provider("claude", up.base_url, kind="anthropic", key="", auth_type=Provider.AuthType.OAUTH)
        token = oauth_token_store(provider_id=provider.pk, access="sk-ant-oat01-OLD-fake-access",
                                  refresh="sk-ant-ort01-OLD-fake-refresh",
                                  expires_at=timezone.now() + timedelta(minutes=2))
        up.provider, up.token = provider, token
        yield up


def token_requests(up):
    return [r for r in up.requests if r.path == "/v1/oauth/token"]


def test_refresh_stores_new_tokens_encrypted(oauth):
    oauth.enqueue(Reply.json(TOKEN_REPLY), path="/v1/oauth/token")
    result = oauth_token_refresh(token_id=oauth.token.pk)
    assert result.ok, result.error
    sent = token_requests(oauth)[0].json
    assert sent == {"grant_type": "refresh_token", "refresh_token": "sk-ant-ort01-OLD-fake-refresh",
                    "client_id": "9d1c250a-e61b-44d9-88ed-5944d1962f5e"}
    token = OAuthToken.objects.get()
    assert crypto.decrypt(token.access_token_encrypted) == "sk-ant-oat01-NEW-fake-access"
    assert "NEW" not in token.access_token_encrypted  # encrypted at rest
    assert token.expires_at > timezone.now() + timedelta(hours=7)
    assert token.refreshing_since is None and token.last_error == ""


def test_concurrent_refreshes_hit_the_token_endpoint_once(oauth):
    oauth.enqueue(Reply.json(TOKEN_REPLY, latency=0.5), path="/v1/oauth/token")
    results = []
    threads = [threading.Thread(target=lambda: results.append(oauth_token_refresh(token_id=oauth.token.pk)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(token_requests(oauth)) == 1
    assert sorted(r.ok for r in results) == [False, False, False, True]


def test_failed_refresh_is_recorded_and_releases_the_claim(oauth):
    oauth.enqueue(Reply.error(400, {"error": "invalid_grant"}), path="/v1/oauth/token")
    result = oauth_token_refresh(token_id=oauth.token.pk)
    assert not result.ok and "400" in result.error
    token = OAuthToken.objects.get()
    assert token.refresh_failures == 1 and "400" in token.last_error and token.refreshing_since is None
    assert "sk-ant" not in token.last_error


def test_tokens_due_lists_expiring_tokens(oauth):
    assert oauth_tokens_due(margin=600) == [oauth.token.pk]
    assert oauth_tokens_due(margin=10) == []


@pytest.mark.asyncio
async def test_upstream_401_refreshes_once_and_retries(oauth, anthropic_sdk):
    await amake_tiers(default=(oauth.provider, "claude-sonnet-5"))
    oauth.enqueue(Reply.error(401, {"type": "error", "error": {"type": "authentication_error", "message": "expired"}}),
                  path="/v1/messages")
    oauth.enqueue(Reply.json(TOKEN_REPLY), path="/v1/oauth/token")
    oauth.enqueue(Reply.json(anthropic_message("after refresh")), path="/v1/messages")
    msg = await anthropic_sdk.messages.create(**BODY)
    assert msg.content[0].text == "after refresh"
    calls = [r for r in oauth.requests if r.path == "/v1/messages"]
    assert [c.headers["authorization"] for c in calls] == [
        "Bearer sk-ant-oat01-OLD-fake-access", "Bearer sk-ant-oat01-NEW-fake-access"]
    assert all("oauth-2025-04-20" in c.headers["anthropic-beta"] for c in calls)
    token = await sync_to_async(OAuthToken.objects.get)()
    assert token.last_refresh_at is not None


def test_failed_refresh_is_logged_without_secrets(oauth, caplog):
    oauth.enqueue(Reply.error(401, {"error": "invalid_grant"}), path="/v1/oauth/token")
    with caplog.at_level("WARNING", logger="gateway.oauth"):
        oauth_token_refresh(token_id=oauth.token.pk)
    assert "refresh failed" in caplog.text and "sk-ant" not in caplog.text
