"""A client key's budget holds across gateway processes: two daphne workers share the counters in
Redis (and the database), so the key gets exactly its requests per day between them."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes import FakeOpenAI
from tests.support import start_gateway
from tests.support.databases import shared_database

pytestmark = pytest.mark.timeout(180)

REDIS_TEST_URL = "redis://127.0.0.1:6379/15"
KEY = "sk-gw-test-limited-0000000000"
BODY = {"model": "claude-sonnet-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


def test_requests_per_day_is_shared_by_two_gateway_processes(tmp_path):
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1")
    with FakeOpenAI() as up, shared_database(tmp_path) as database_url:
        env = {"DATABASE_URL": database_url, "REDIS_URL": REDIS_TEST_URL, "PREFERRED_PROVIDER": "openai",
               "OPENAI_BASE_URL": up.base_url, "OPENAI_API_KEY": "sk-upstream-fake"}
        with start_gateway(env, tmp_path / "a", client_key="") as gw_a, \
                start_gateway(env, tmp_path / "b", client_key="") as gw_b:
            gw_a.manage("create_client_key", "limited", "--key", KEY, "--requests-per-day", "3")
            statuses = []
            for gw in (gw_a, gw_b, gw_a, gw_b):
                reply = httpx.post(f"{gw.url}/v1/messages", headers={"x-api-key": KEY}, json=BODY, timeout=30)
                statuses.append(reply.status_code)
            assert statuses == [200, 200, 200, 429]
            assert reply.json()["error"]["type"] == "rate_limit_error"
            assert len(up.requests) == 3
    redis.Redis.from_url(REDIS_TEST_URL).flushdb()
