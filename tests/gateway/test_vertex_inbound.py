"""…/publishers/anthropic/models/{model}:rawPredict|:streamRawPredict (Claude Code's Vertex mode)
through the real ASGI app, the official SDK's ``AsyncAnthropicVertex`` and a fake Anthropic upstream."""

from __future__ import annotations

import anthropic
import pytest

from tests.conftest import amake_tiers
from tests.fakes import Reply, anthropic_error, anthropic_message, anthropic_stream_events

pytestmark = [pytest.mark.django_db(transaction=True)]  # asyncio_mode = "auto"

HI = [{"role": "user", "content": "hi"}]
MODELS = "/v1/projects/proj-x/locations/global/publishers/anthropic/models"


def make_vertex_sdk(key: str, base_url: str = "http://gateway.test/v1"):
    """The SDK with an access token: ``Authorization: Bearer <gateway key>``; Claude Code instead
    skips Google auth and sends ``x-api-key`` through ANTHROPIC_CUSTOM_HEADERS."""
    import httpx2  # the anthropic SDK's own httpx fork

    from proxy_project.asgi import application

    http_client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=application), base_url="http://gateway.test")
    return anthropic.AsyncAnthropicVertex(base_url=base_url, region="global", project_id="proj-x",
                                          access_token=key, http_client=http_client, max_retries=0)


@pytest.fixture
def vertex_sdk(client_key):
    return make_vertex_sdk(client_key)


@pytest.fixture
async def routed(anthropic_up):
    provider = anthropic_up.provider
    await amake_tiers({"small": [(provider, "claude-haiku-upstream")], "middle": [(provider, "claude-sonnet-upstream")],
                       "big": [(provider, "claude-opus-upstream")]})
    return anthropic_up


async def test_raw_predict_routes_by_normalised_model(routed, vertex_sdk):
    routed.enqueue(Reply.json(anthropic_message("Bonjour 👋", model="claude-sonnet-upstream", usage=(12, 3))))
    msg = await vertex_sdk.messages.create(model="claude-sonnet-4-5@20250929", max_tokens=100, messages=HI,
                                           extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"})
    assert msg.content[0].text == "Bonjour 👋" and (msg.usage.input_tokens, msg.usage.output_tokens) == (12, 3)
    sent = routed.main_requests[-1]
    assert sent.json["model"] == "claude-sonnet-upstream"
    assert "anthropic_version" not in sent.json and not sent.json.get("stream")
    assert sent.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert sent.headers["x-api-key"] == "sk-ant-api03-fake-test-key"
    assert "authorization" not in sent.headers  # the client's gateway key never goes upstream


async def test_stream_raw_predict_streams_anthropic_sse(routed, vertex_sdk):
    tools = [("toolu_v_1", "Write", {"file_path": "/tmp/a.txt", "content": "ü"})]
    routed.enqueue(Reply.sse(anthropic_stream_events("Writing…", model="claude-haiku-upstream", usage=(40, 6),
                                                     tool_uses=tools), split=4))
    schema = {"type": "object", "properties": {}}
    async with vertex_sdk.messages.stream(model="claude-haiku-4-5@20251001", max_tokens=100, messages=HI,
                                          tools=[{"name": "Write", "input_schema": schema}]) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "Writing…" and final.stop_reason == "tool_use"
    assert final.content[1].input == {"file_path": "/tmp/a.txt", "content": "ü"}
    assert (final.usage.input_tokens, final.usage.output_tokens) == (40, 6)
    sent = routed.main_requests[-1]
    assert sent.json["model"] == "claude-haiku-upstream" and sent.json["stream"] is True


async def test_undated_vertex_id_and_any_base_prefix(routed, client_key):
    sdk = make_vertex_sdk(client_key, base_url="http://gateway.test/vertex/v1")
    routed.enqueue(Reply.json(anthropic_message("ok", model="claude-opus-upstream")))
    msg = await sdk.messages.create(model="claude-opus-4-6", max_tokens=10, messages=HI)
    assert msg.content[0].text == "ok"
    assert routed.main_requests[-1].json["model"] == "claude-opus-upstream"


async def test_count_tokens_answered_locally(routed, gateway_client):
    resp = await gateway_client.post(f"{MODELS}/count-tokens:rawPredict", json={
        "model": "claude-sonnet-4-5@20250929", "anthropic_version": "vertex-2023-10-16",
        "messages": [{"role": "user", "content": "hello " * 200}]})
    assert resp.status_code == 200, resp.text
    assert 150 < resp.json()["input_tokens"] < 400
    assert routed.main_requests == []


async def test_upstream_error_keeps_anthropic_shape(routed, vertex_sdk):
    routed.enqueue(Reply.json(anthropic_error(429, "slow down"), status=429, headers={"retry-after": "7"}))
    with pytest.raises(anthropic.RateLimitError) as info:
        await vertex_sdk.messages.create(model="claude-sonnet-4-5@20250929", max_tokens=10, messages=HI)
    assert info.value.response.headers.get("retry-after") == "7"
    assert info.value.body["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize("path,body,fragment", [
    (f"{MODELS}/claude-sonnet-4-5@20250929:rawPredict", {"anthropic_version": "vertex-2023-10-16",
                                                         "messages": HI}, "max_tokens"),
    (f"{MODELS}/claude-sonnet-4-5@20250929:rawPredict", {"max_tokens": 5, "messages": "nope"}, "messages"),
    (f"{MODELS}/claude-sonnet-4-5@20250929:generateContent", {"max_tokens": 5, "messages": HI}, "rawPredict"),
], ids=["no-max-tokens", "messages-not-a-list", "unsupported-method"])
async def test_bad_requests_are_400_and_never_forwarded(routed, gateway_client, path, body, fragment):
    resp = await gateway_client.post(path, json=body)
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["type"] == "invalid_request_error" and fragment in resp.json()["error"]["message"]
    assert routed.main_requests == []


async def test_wrong_key_is_401_without_retry(routed, client_key):
    sdk = make_vertex_sdk("sk-gw-wrong-key-0000")
    with pytest.raises(anthropic.AuthenticationError) as info:
        await sdk.messages.create(model="claude-sonnet-4-5@20250929", max_tokens=10, messages=HI)
    assert info.value.response.headers.get("x-should-retry") == "false"
    assert routed.main_requests == []
