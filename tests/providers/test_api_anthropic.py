"""Anthropic passthrough: bytes unchanged apart from model and auth; OAuth tokens as Bearer."""

from __future__ import annotations

import json

import anthropic
import pytest

from providers.models import Provider
from tests.conftest import amake_tiers
from tests.fakes import Reply, anthropic_error, anthropic_message, anthropic_stream_events

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

RAW = (
    b'{"model": "claude-sonnet-5", "max_tokens": 32000,  "stream": false,\n'
    b' "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.3", "cache_control": {"type": "ephemeral"}}],'
    b' "messages": [{"role": "user", "content": "caf\\u00e9 \xf0\x9f\x98\x80 \\"model\\": \\"claude-sonnet-5\\""}],'
    b' "metadata": {"user_id": "u1"}, "context_management": {"edits": []}}'
)


async def test_passthrough_keeps_body_bytes_except_model(anthropic_up, gateway_client):
    await amake_tiers(default=(anthropic_up.provider, "claude-sonnet-5-upstream"))
    anthropic_up.enqueue(Reply.json(anthropic_message("hi")))
    resp = await gateway_client.post(
        "/v1/messages?beta=true", content=RAW,
        headers={"content-type": "application/json", "anthropic-beta": "context-1m-2025-08-07,fine-grained-tool-streaming-2025-05-14"},
    )
    assert resp.status_code == 200, resp.text
    sent = anthropic_up.requests[-1]
    assert sent.raw == RAW.replace(b'"model": "claude-sonnet-5"', b'"model": "claude-sonnet-5-upstream"', 1)
    assert sent.headers["x-api-key"] == "sk-ant-api03-fake-test-key"
    assert "authorization" not in sent.headers
    assert sent.headers["anthropic-beta"] == "context-1m-2025-08-07,fine-grained-tool-streaming-2025-05-14"
    assert sent.headers["anthropic-version"] == "2023-06-01"


async def test_passthrough_stream_bytes_are_unchanged(anthropic_up, gateway_client):
    await amake_tiers(default=(anthropic_up.provider, "claude-sonnet-5"))
    events = anthropic_stream_events("Grüße 🌍 done", usage=(42, 7))
    anthropic_up.enqueue(Reply.sse(events, split=5))
    body = json.loads(RAW)
    body["stream"] = True
    resp = await gateway_client.post("/v1/messages", json=body)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/event-stream")
    expected = b"".join(anthropic_up.encode_event(e) for e in events)
    assert resp.content == expected


async def test_oauth_token_goes_as_bearer_with_oauth_beta(anthropic_up, anthropic_sdk):
    provider = anthropic_up.provider
    provider.auth_type = Provider.AuthType.OAUTH
    provider.set_api_key("sk-ant-oat01-fake-oauth-token")
    await provider.asave()
    await amake_tiers(default=(provider, "claude-opus-4-8"))
    anthropic_up.enqueue(Reply.json(anthropic_message("ok")))
    await anthropic_sdk.messages.create(model="claude-opus-4-8", max_tokens=10,
                                        messages=[{"role": "user", "content": "x"}],
                                        extra_headers={"anthropic-beta": "context-1m-2025-08-07"})
    sent = anthropic_up.requests[-1]
    assert sent.headers["authorization"] == "Bearer sk-ant-oat01-fake-oauth-token"
    assert "x-api-key" not in sent.headers
    assert sent.headers["anthropic-beta"].split(",") == ["context-1m-2025-08-07", "oauth-2025-04-20"]


async def test_passthrough_errors_keep_anthropic_shape(anthropic_up, anthropic_sdk):
    await amake_tiers(default=(anthropic_up.provider, "claude-opus-4-8"))
    anthropic_up.enqueue(Reply.error(529, anthropic_error(529, "Overloaded", "overloaded_error")))
    with pytest.raises(anthropic.APIStatusError) as info:
        await anthropic_sdk.messages.create(model="claude-opus-4-8", max_tokens=10,
                                            messages=[{"role": "user", "content": "x"}])
    assert info.value.status_code == 529
    assert info.value.body["error"]["type"] == "overloaded_error"


async def test_passthrough_stream_cut_short_ends_with_error_event(anthropic_up, gateway_client):
    await amake_tiers(default=(anthropic_up.provider, "claude-sonnet-5"))
    anthropic_up.enqueue(Reply.sse(anthropic_stream_events("one two three four"), drop_after=4))
    body = json.loads(RAW)
    body["stream"] = True
    resp = await gateway_client.post("/v1/messages", json=body)
    assert b"event: error" in resp.content
    assert b"message_stop" not in resp.content
