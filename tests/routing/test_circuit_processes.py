"""Gateway processes (daphne) share circuit state through one database (PostgreSQL if present).

The seed scenario: an Anthropic OAuth provider first, an OpenAI-compatible one second. Failures
on the first move traffic to the second in both processes; when the open period ends exactly one
request, in one process, probes the first provider. Failures seen concurrently by two processes
are all counted (F() increments, no read-modify-write).
"""

from __future__ import annotations

import concurrent.futures
import sqlite3
import time

import httpx

from tests.fakes import FakeAnthropic, FakeOpenAI, Reply, anthropic_message
from tests.support.databases import shared_database
from tests.support.gateway import CLIENT_KEY, start_gateway

BODY = {"model": "claude-sonnet-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
HEADERS = {"x-api-key": CLIENT_KEY, "anthropic-version": "2023-06-01"}
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "fake overload"}}


def ask(url: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/messages", json=BODY, headers=HEADERS, timeout=30)


def wait_until(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def circuit_rows(db_url: str) -> list[tuple[str, int, str]]:
    query = "SELECT state, failure_count, reason FROM providers_circuitstate"
    if db_url.startswith("sqlite:///"):
        with sqlite3.connect(db_url.removeprefix("sqlite:///")) as conn:
            return list(conn.execute(query))
    import psycopg

    with psycopg.connect(db_url) as conn:
        return list(conn.execute(query))


def test_two_processes_share_open_circuit_and_take_one_probe(tmp_path):
    with FakeAnthropic() as oauth, FakeOpenAI() as backup, shared_database(tmp_path) as db_url:
        env = {
            "DATABASE_URL": db_url,
            "PREFERRED_PROVIDER": "anthropic",
            "ANTHROPIC_API_KEY": "sk-ant-oat01-fake-oauth-token-for-tests",
            "ANTHROPIC_UPSTREAM_URL": oauth.base_url,
            "OPENAI_API_KEY": "sk-test-fake-openai",
            "OPENAI_BASE_URL": backup.base_url,
            "CIRCUIT_FAILURE_THRESHOLD": "2",
            "CIRCUIT_REFRESH": "0.2",
            "CIRCUIT_RECOVERY_TIMEOUT": "2",
        }
        with start_gateway(env, tmp_path / "one") as one, \
                start_gateway(env, tmp_path / "two", client_key="", seed=False) as two:
            oauth.enqueue(Reply.error(529, OVERLOADED), Reply.error(529, OVERLOADED))
            assert ask(one.url).status_code == 200 and ask(two.url).status_code == 200
            assert len(oauth.main_requests) == 2 and len(backup.main_requests) == 2
            assert oauth.requests[-1].headers["authorization"].startswith("Bearer sk-ant-oat01")
            wait_until(lambda: httpx.get(f"{one.url}/health").json()["providers"]["anthropic"]["status"]
                       == "circuit_open")
            assert ask(one.url).status_code == 200 and len(oauth.main_requests) == 2  # skipped while open

            time.sleep(2.0)  # the open period ends: one probe, held open while the others arrive
            oauth.enqueue(Reply.json(anthropic_message("probe ok"), latency=1.5))
            urls = [one.url, two.url] * 4
            with concurrent.futures.ThreadPoolExecutor(len(urls)) as pool:
                results = list(pool.map(ask, urls))
            assert all(r.status_code == 200 for r in results)
            assert len(oauth.main_requests) == 3  # exactly one probe across both processes
            wait_until(lambda: httpx.get(f"{two.url}/health").json()["providers"]["anthropic"]["status"]
                       == "healthy")
            ask(two.url)
            assert len(oauth.main_requests) == 4  # closed again: traffic is back on the first provider


def test_two_processes_count_concurrent_failures_exactly(tmp_path):
    """Before: 178 concurrent failures left failure_count 5 (a read-modify-write lost the rest)."""
    with FakeOpenAI() as up, shared_database(tmp_path) as db_url:
        up.default = Reply.error(500, latency=0.05)
        env = {
            "DATABASE_URL": db_url,
            "PREFERRED_PROVIDER": "openai",
            "OPENAI_API_KEY": "sk-test-fake-openai",
            "OPENAI_BASE_URL": up.base_url,
            "CIRCUIT_FAILURE_THRESHOLD": "100000",  # never opens: every request reaches the upstream
        }
        with start_gateway(env, tmp_path / "one") as one, \
                start_gateway(env, tmp_path / "two", client_key="", seed=False) as two:
            urls = [one.url, two.url] * 40
            with concurrent.futures.ThreadPoolExecutor(32) as pool:
                statuses = [r.status_code for r in pool.map(ask, urls)]
        assert set(statuses) <= {500, 502} and len(statuses) == 80
        [(state, count, reason)] = circuit_rows(db_url)
        assert (state, count) == ("closed", len(up.main_requests)) and count == 80
        assert "fake upstream error 500" in reason
