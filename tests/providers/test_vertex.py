"""Vertex AI backend through the real ASGI app, the official anthropic SDK and a strict fake Vertex
whose fake OAuth endpoint verifies the service-account JWT the gateway signs."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from asgiref.sync import sync_to_async

from providers import google_auth
from tests.conftest import amake_provider, amake_tiers, make_provider, make_tiers
from tests.fakes import Reply, anthropic_message, anthropic_stream_events
from tests.fakes.vertex_server import FakeVertex, google_error, service_account_info, vertex_token_headers

pytestmark = [pytest.mark.django_db(transaction=True)]  # asyncio_mode = "auto"

BODY = {"model": "claude-sonnet-5", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]}
PREDICT = "/v1/projects/fake-project/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929"


def vertex_provider(up: FakeVertex, name: str = "vertex", *, key: str | None = None, **fields):
    return make_provider(name, up.base_url, kind="vertex",
                         key=json.dumps(up.service_account()) if key is None else key,
                         options=fields.pop("options", {"project": up.project, "region": up.region}), **fields)


@pytest.fixture(autouse=True)
def _no_cached_tokens():
    google_auth.google_tokens_forget()
    yield
    google_auth.google_tokens_forget()


def _start(up: FakeVertex, **fields) -> FakeVertex:
    up.provider = vertex_provider(up, **fields)
    make_tiers(default=(up.provider, "claude-sonnet-4-5"))
    return up


_astart = sync_to_async(_start)


@pytest.fixture
def vertex_up(transactional_db):
    with FakeVertex() as up:
        yield _start(up)


async def test_non_stream_carries_minted_token_and_vertex_body(vertex_up, anthropic_sdk):
    vertex_up.enqueue(Reply.json(anthropic_message("Bonjour 👋", model="claude-sonnet-4-5-20250929", usage=(120, 7))))
    msg = await anthropic_sdk.messages.create(
        **BODY, system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
    )
    assert msg.content[0].text == "Bonjour 👋" and msg.model == "claude-sonnet-5"
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (120, 7)
    assert vertex_up.rejected == []
    (sent,) = vertex_up.main_requests
    assert sent.path == PREDICT + ":rawPredict"
    assert sent.json == {"max_tokens": 1000, "messages": BODY["messages"],
                         "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
                         "anthropic_version": "vertex-2023-10-16"}
    assert sent.headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert vertex_token_headers(sent) == "ya29.fake-1"
    assert "x-api-key" not in sent.headers
    assert len(vertex_up.token_requests) == 1
    assert "BEGIN PRIVATE KEY" not in json.dumps(sent.headers)


async def test_stream_tool_use_through_sdk(vertex_up, anthropic_sdk):
    tools = [("toolu_vrtx_1", "Write", {"file_path": "/tmp/ü.txt", "content": "x"})]
    vertex_up.enqueue(Reply.sse(anthropic_stream_events("Writing 🌍", model="claude-sonnet-4-5-20250929",
                                                        usage=(50, 9), tool_uses=tools), split=5))
    schema = {"type": "object", "properties": {}}
    async with anthropic_sdk.messages.stream(**BODY, tools=[{"name": "Write", "input_schema": schema}]) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "Writing 🌍"
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[1].input == {"file_path": "/tmp/ü.txt", "content": "x"}
    assert final.stop_reason == "tool_use" and final.model == "claude-sonnet-5"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (50, 9)
    (sent,) = vertex_up.main_requests
    assert sent.path == PREDICT + ":streamRawPredict" and sent.json["stream"] is True
    assert "model" not in sent.json and vertex_up.rejected == []


async def test_token_is_cached_across_requests(vertex_up, gateway_client):
    for _ in range(3):
        resp = await gateway_client.post("/v1/messages", json=BODY)
        assert resp.status_code == 200, resp.text
    assert len(vertex_up.token_requests) == 1
    assert {vertex_token_headers(r) for r in vertex_up.main_requests} == {"ya29.fake-1"}


async def test_token_refreshed_before_it_expires(transactional_db, gateway_client):
    """Tokens living less than REFRESH_MARGIN are replaced on each request while the old one is
    still valid at the fake: the gateway never waits for an expiry (or a 401) to refresh."""
    with FakeVertex(token_lifetime=int(google_auth.REFRESH_MARGIN) - 60) as up:
        await _astart(up)
        for _ in range(2):
            resp = await gateway_client.post("/v1/messages", json=BODY)
            assert resp.status_code == 200, resp.text
        assert [vertex_token_headers(r) for r in up.main_requests] == ["ya29.fake-1", "ya29.fake-2"]
        assert up.tokens["ya29.fake-1"] > time.time()  # the first one had not expired yet


async def test_token_refresh_follows_the_clock(transactional_db):
    with FakeVertex() as up:
        info, now = up.service_account(), time.time()
        first = await google_auth.agoogle_token_get(cache_key="k", info=info, now=now)
        assert await google_auth.agoogle_token_get(cache_key="k", info=info, now=now + 3000) == first
        # 3350 s in: 250 s left, inside the margin -> a new token before the old one expires
        second = await google_auth.agoogle_token_get(cache_key="k", info=info, now=now + 3350)
        assert (first, second) == ("ya29.fake-1", "ya29.fake-2")
        assert google_auth.google_token_mints("k") == 2


async def test_concurrent_requests_share_one_mint(transactional_db):
    with FakeVertex() as up:
        info = up.service_account()
        tokens = await asyncio.gather(*[google_auth.agoogle_token_get(cache_key="c", info=info) for _ in range(8)])
        assert set(tokens) == {"ya29.fake-1"} and len(up.token_requests) == 1


async def test_application_default_credentials_when_no_key_is_stored(transactional_db, gateway_client,
                                                                     monkeypatch, tmp_path):
    with FakeVertex() as up:
        path = tmp_path / "adc.json"
        path.write_text(json.dumps(up.service_account()))
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
        monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
        up.provider = await amake_provider("vertex-adc", up.base_url, kind="vertex", key="",
                                    options={"project": up.project, "region": up.region})
        await amake_tiers(default=(up.provider, "claude-opus-4-6"))
        resp = await gateway_client.post("/v1/messages", json=BODY)
        assert resp.status_code == 200, resp.text
        assert vertex_token_headers(up.main_requests[-1]) == "ya29.fake-1"
        assert up.main_requests[-1].path.endswith("/models/claude-opus-4-6:rawPredict")


async def test_forged_key_is_refused_at_token_endpoint_and_never_reaches_vertex(transactional_db, gateway_client):
    with FakeVertex() as up:
        forged = service_account_info(up.token_uri)
        forged["client_email"] = "someone-else@fake-project.iam.gserviceaccount.com"
        await _astart(up, key=json.dumps(forged))
        resp = await gateway_client.post("/v1/messages", json=BODY)
        assert resp.status_code == 502, resp.text
        assert resp.json()["error"]["type"] == "api_error"
        assert len(up.token_requests) == 1 and up.main_requests == []
        assert "PRIVATE KEY" not in resp.text


async def test_expired_token_is_rejected_by_fake(vertex_up, gateway_client):
    resp = await gateway_client.post("/v1/messages", json=BODY)
    assert resp.status_code == 200
    vertex_up.tokens["ya29.fake-1"] = time.time() - 1  # Google revoked/expired it early
    resp = await gateway_client.post("/v1/messages", json=BODY)
    assert resp.status_code == 502 and "credentials" in resp.json()["error"]["message"]
    assert len(vertex_up.rejected) == 1


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("reply,status,error_type", [
    (google_error(429, "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests",
                  "RESOURCE_EXHAUSTED"), 429, "rate_limit_error"),
    (google_error(404, "Publisher Model claude-sonnet-4-5@20250929 was not found", "NOT_FOUND"), 404,
     "not_found_error"),
    (Reply.json({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, status=529),
     529, "overloaded_error"),
], ids=["quota", "not-found", "overloaded"])
async def test_errors_are_mapped(vertex_up, gateway_client, stream, reply, status, error_type):
    vertex_up.enqueue(reply)
    resp = await gateway_client.post("/v1/messages", json={**BODY, "stream": stream})
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["type"] == error_type


async def test_stored_plain_access_token_is_sent_as_bearer(transactional_db, gateway_client):
    with FakeVertex() as up:
        up.tokens["ya29.static-token"] = time.time() + 3600
        await _astart(up, key="ya29.static-token")
        resp = await gateway_client.post("/v1/messages", json=BODY)
        assert resp.status_code == 200, resp.text
        assert vertex_token_headers(up.main_requests[-1]) == "ya29.static-token"
        assert up.token_requests == []
