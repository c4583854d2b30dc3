"""Two gateway processes (daphne) share circuit state through one database (PostgreSQL if present).

The seed scenario: an Anthropic OAuth provider first, an OpenAI-compatible one second. A 429 on
the first moves traffic to the second in both processes; when the cooldown ends exactly one
request, in one process, probes the first provider.
"""

from __future__ import annotations

import concurrent.futures
import time

import httpx

from tests.fakes import FakeAnthropic, FakeOpenAI, Reply, anthropic_message
from tests.support.databases import shared_database
from tests.support.gateway import CLIENT_KEY, start_gateway

BODY = {"model": "claude-sonnet-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
HEADERS = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}


def ask(url: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/messages", json=BODY, headers=HEADERS, timeout=30)


def test_two_processes_share_cooldown_and_take_one_probe(tmp_path):
    with FakeAnthropic() as oauth, FakeOpenAI() as backup, shared_database(tmp_path) as db_url:
        env = {
            "DATABASE_URL": db_url,
            "PREFERRED_PROVIDER": "anthropic",
            "ANTHROPIC_API_KEY": "sk-ant-oat01-fake-oauth-token-for-tests",
            "ANTHROPIC_UPSTREAM_URL": oauth.base_url,
            "OPENAI_API_KEY": "sk-test-fake-openai",
            "OPENAI_BASE_URL": backup.base_url,
            "RATE_LIMIT_COOLDOWN_DEFAULT": "3",
            "CIRCUIT_REFRESH": "0.2",
            "CIRCUIT_RECOVERY_TIMEOUT": "30",
        }
        with start_gateway(env, tmp_path / "one") as one, \
                start_gateway(env, tmp_path / "two", client_key="", seed=False) as two:
            staff = one.staff_headers()  # before the timed part: provider detail needs a staff token
            oauth.enqueue(Reply.error(429, {"type": "error", "error": {"type": "rate_limit_error", "message": "q"}}))
            first = ask(one.url)
            assert first.status_code == 200 and len(backup.main_requests) == 1
            assert oauth.requests[-1].headers["authorization"].startswith("Bearer sk-ant-oat01")
            time.sleep(0.5)  # the second process refreshes its circuit view
            assert ask(two.url).status_code == 200
            assert len(oauth.main_requests) == 1 and len(backup.main_requests) == 2
            health = httpx.get(f"{two.url}/health?detail=1", headers=staff).json()
            assert health["providers"]["anthropic"]["status"] == "cooling_down"

            time.sleep(3.0)  # cooldown over: one probe, held open while the others arrive
            oauth.enqueue(Reply.json(anthropic_message("probe ok"), latency=1.5))
            urls = [one.url, two.url] * 4
            with concurrent.futures.ThreadPoolExecutor(len(urls)) as pool:
                results = list(pool.map(ask, urls))
            assert all(r.status_code == 200 for r in results)
            assert len(oauth.main_requests) == 2  # exactly one probe across both processes
            assert len(backup.main_requests) == 2 + len(urls) - 1
            time.sleep(0.5)
            assert httpx.get(f"{one.url}/health?detail=1", headers=staff).json()["providers"]["anthropic"]["status"] == "healthy"
            ask(two.url)
            assert len(oauth.main_requests) == 3  # closed again: traffic is back on the first provider
