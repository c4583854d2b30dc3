from __future__ import annotations

import pytest

from providers import client
from providers.transport import CachedSocketBackend, LeanConnectionPool
from tests.fakes import Reply, openai_completion

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

BODY = {"model": "claude-sonnet-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}


async def test_shared_client_keeps_no_upstream_cookies(openai_up, gateway_client):
    openai_up.enqueue(Reply.json(openai_completion("a"), headers={"set-cookie": "session=user-a-secret; Path=/"}))
    await gateway_client.post("/v1/messages", json=BODY)
    await gateway_client.post("/v1/messages", json=BODY)
    assert "cookie" not in openai_up.requests[-1].headers


async def test_shared_client_uses_cached_socket_backend_and_reuses_connections(openai_up, gateway_client):
    for _ in range(3):
        assert (await gateway_client.post("/v1/messages", json=BODY)).status_code == 200
    pool = client.get_client()._transport._pool
    assert isinstance(pool, LeanConnectionPool) and isinstance(pool._network_backend, CachedSocketBackend)
    assert openai_up.connections == 1  # keep-alive: one TCP connection for all three
