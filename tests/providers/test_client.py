from __future__ import annotations

import httpx
import pytest

from providers import client
from providers.transport import LeanPool, UpstreamTransport, upstream_transport
from tests.fakes import Reply, openai_completion

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

BODY = {"model": "claude-sonnet-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


async def test_shared_client_keeps_no_upstream_cookies(openai_up, gateway_client):
    openai_up.enqueue(Reply.json(openai_completion("a"), headers={"set-cookie": "session=user-a-secret; Path=/"}))
    await gateway_client.post("/v1/messages", json=BODY)
    await gateway_client.post("/v1/messages", json=BODY)
    assert "cookie" not in openai_up.requests[-1].headers


async def test_shared_client_uses_the_lean_pool_and_reuses_connections(openai_up, gateway_client, monkeypatch):
    built: list[UpstreamTransport] = []

    def recording(limits: httpx.Limits, *, lean: bool = True) -> UpstreamTransport:
        built.append(upstream_transport(limits, lean=lean))
        return built[-1]

    monkeypatch.setattr(client, "upstream_transport", recording)
    client.set_transport(None)  # the next client is built anew, through the recording factory
    for _ in range(3):
        assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200
    assert len(built) == 1 and isinstance(built[0].pool, LeanPool)
    assert (built[0].pool.busy, built[0].pool.idle_count) == (0, 1)
    assert openai_up.connections == 1  # keep-alive: one TCP connection for all three
