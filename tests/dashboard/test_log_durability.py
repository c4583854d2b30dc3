"""No request log row is lost: not to a NUL in one request of a batch, not to a database outage.

A real daphne gateway writes to a throwaway PostgreSQL database (tests/support/databases.py);
the outage is made on that database only (connections refused, its backends terminated).
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from dashboard.durable import row_clean, value_clean
from dashboard.models import RequestLog
from tests.fakes import FakeOpenAI
from tests.support.databases import POSTGRES_ADMIN_URL, postgres_available, shared_database
from tests.support.gateway import start_gateway

pytestmark = pytest.mark.timeout(180)

BODY = {"model": "claude-sonnet-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


def _env(up: FakeOpenAI, db_url: str, **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": db_url, "PREFERRED_PROVIDER": "openai", "OPENAI_BASE_URL": up.base_url,
            "OPENAI_API_KEY": "sk-test-fake-openai", **extra}


def _count(db_url: str, where: str = "true", table: str = "dashboard_requestlog") -> int:
    import psycopg

    with psycopg.connect(db_url, connect_timeout=5) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0])


def _sightings(db_url: str) -> list[int]:
    import psycopg

    with psycopg.connect(db_url, connect_timeout=5) as conn:
        return [row[0] for row in conn.execute("SELECT seen_count FROM routing_agentfingerprint WHERE name = ''")]


def _wait_count(db_url: str, expected: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    count = -1
    while time.monotonic() < deadline:
        count = _count(db_url)
        if count >= expected:
            return count
        time.sleep(0.2)
    return count


async def _post_all(url: str, headers: dict[str, str], bodies: list[dict]) -> list[int]:
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        replies = await asyncio.gather(*[client.post(f"{url}/v1/messages", headers=headers, json=b) for b in bodies])
    return [r.status_code for r in replies]


def _needs_postgres() -> None:
    if not postgres_available():
        pytest.skip("no PostgreSQL on 127.0.0.1")


def test_value_clean_replaces_nul_in_text_and_json():
    assert value_clean("a\x00b") == "a\ufffdb"
    assert value_clean({"k\x00": ["x\x00", 1, None]}) == {"k\ufffd": ["x\ufffd", 1, None]}


def test_row_clean_fits_values_to_their_columns():
    row = row_clean(RequestLog, {"requested_model": "m" * 500, "input_tokens": -3, "status": 99_999,
                                 "client_key_id": 7, "ledger": [{"note": "\x00"}]})
    assert row == {"requested_model": "m" * 200, "input_tokens": 0, "status": 32_767, "client_key_id": 7,
                   "ledger": [{"note": "\ufffd"}]}


def test_nul_in_one_request_loses_no_row_of_a_concurrent_batch(tmp_path):
    _needs_postgres()
    bodies = [dict(BODY) for _ in range(20)]
    bodies[3] = {**BODY, "model": "claude-sonnet-5\x00evil"}
    bodies[11] = {**BODY, "metadata": {"user_id": "user_\x00_account__session_0d2f"}}
    with FakeOpenAI() as up, shared_database(tmp_path) as db_url, start_gateway(_env(up, db_url), tmp_path / "gw") as gw:
        statuses = asyncio.run(_post_all(gw.url, gw.headers(), bodies))
        assert statuses == [200] * 20
        assert _wait_count(db_url, 20) == 20
        time.sleep(1.0)  # two more flushes: nothing is written twice
        assert _count(db_url) == 20
        assert _count(db_url, "requested_model = 'claude-sonnet-5\ufffdevil'") == 1
        assert "could not write" not in gw.log()


def _outage(db_url: str, allow: bool) -> None:
    import psycopg

    name = db_url.rsplit("/", 1)[1]
    assert name.startswith("gw_test_")  # only ever the throwaway database
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allow else "false"}')
        if not allow:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])


def test_rows_answered_during_a_database_outage_are_written_afterwards(tmp_path):
    """The route table, key and circuits stay cached (long TTLs) so requests need no query in the outage;
    the log rows of those requests wait in memory and are all written once the database is back."""
    _needs_postgres()
    with FakeOpenAI() as up, shared_database(tmp_path) as db_url:
        env = _env(up, db_url, ROUTE_TABLE_TTL="3600", CLIENT_KEY_CACHE_TTL="3600", CIRCUIT_REFRESH="3600")
        with start_gateway(env, tmp_path / "gw") as gw:
            assert asyncio.run(_post_all(gw.url, gw.headers(), [BODY] * 5)) == [200] * 5
            assert _wait_count(db_url, 5) == 5
            _outage(db_url, allow=False)
            try:
                statuses = []
                agent = {**BODY, "system": "You are an agent first seen during the outage."}
                for _ in range(6):  # about 3 s of traffic while no connection is accepted
                    statuses += asyncio.run(_post_all(gw.url, gw.headers(), [agent] * 5))
                    time.sleep(0.5)
                assert statuses == [200] * 30
            finally:
                _outage(db_url, allow=True)
            assert _wait_count(db_url, 35) == 35
            time.sleep(1.0)
            assert _count(db_url) == 35
            assert _count(db_url, table="dashboard_requestattempt") == 35  # each request's attempt waited with it
            assert _count(db_url, "last_used IS NOT NULL", table="providers_clientkey") == 1
            assert _sightings(db_url) == [30]  # the fingerprint sightings waited too
            log = gw.log()
            assert log.count("The database is unreachable") == 1  # one warning per outage, not per row
            assert "The database is back" in log
            assert "could not write" not in log


def test_requests_keep_being_answered_when_cache_reloads_fail(tmp_path):
    """Short cache lifetimes: reloads fall due during the outage and fail; the last good route
    table, circuit view, client key and its limits keep serving, and every answered request is
    logged once the database is back."""
    _needs_postgres()
    with FakeOpenAI() as up, shared_database(tmp_path) as db_url:
        env = _env(up, db_url, ROUTE_TABLE_TTL="0.2", CIRCUIT_REFRESH="0.2", CLIENT_KEY_CACHE_TTL="0.2")
        with start_gateway(env, tmp_path / "gw") as gw:
            assert asyncio.run(_post_all(gw.url, gw.headers(), [BODY] * 3)) == [200] * 3
            _outage(db_url, allow=False)
            try:
                statuses = []
                for _ in range(5):  # past several reload periods while no connection is accepted
                    statuses += asyncio.run(_post_all(gw.url, gw.headers(), [BODY] * 4))
                    time.sleep(0.3)
                assert statuses == [200] * 20
            finally:
                _outage(db_url, allow=True)
            assert _wait_count(db_url, 23) == 23
            log = gw.log()
            assert log.count("The database is unreachable") == 1
            assert "Traceback" not in log
