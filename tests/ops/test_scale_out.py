"""Three gateway processes (separate daphne servers, as on three hosts behind a load balancer) on one
PostgreSQL database and one Redis of the test's own: what one process changes or counts, all see.

- a key's requests per minute hold exactly across the three (Redis INCR);
- a breaker opened by failures seen in one process is open in all three (CircuitState rows);
- a provider and a tier edited through the admin REST API on one process route the others within
  ROUTE_TABLE_TTL;
- the live dashboard on one process shows requests served by another (Redis channel layer).
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.fakes import FakeOpenAI, Reply
from tests.support.databases import shared_database
from tests.support.gateway import CLIENT_KEY, GatewayProcess, free_port, start_gateway

pytestmark = pytest.mark.timeout(240)

BODY = {"model": "claude-sonnet-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
LIMITED_KEY = "sk-gw-test-scaleout-limited-0000"
WATCHED_KEY = "sk-gw-test-scaleout-watched-0000"


def ask(gw: GatewayProcess, key: str = CLIENT_KEY) -> httpx.Response:
    return httpx.post(f"{gw.url}/v1/messages", json=BODY, timeout=30, trust_env=False,
                      headers={"x-api-key": key, "anthropic-version": "2023-06-01"})


def wait_until(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@contextlib.contextmanager
def own_redis() -> Iterator[str]:
    """A private redis-server on a free loopback port (the shared one is never flushed)."""
    redis = pytest.importorskip("redis")
    port = free_port()
    try:
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--daemonize", "no"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except FileNotFoundError:
        pytest.skip("no redis-server here")
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_until(lambda: _pings(redis, url), 10, "redis-server")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _pings(redis, url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def staff_session(gw: GatewayProcess) -> str:
    """Log the tests' staff user in through the admin login form; returns the session cookie."""
    gw.staff_headers()  # creates the user (password pw-tests-staff) in the shared database
    with httpx.Client(base_url=gw.url, timeout=10, trust_env=False) as browser:
        form = browser.get("/admin/login/").text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        assert token is not None
        done = browser.post("/admin/login/?next=/admin/", data={
            "csrfmiddlewaretoken": token.group(1), "username": "tests-staff", "password": "pw-tests-staff"})
        assert done.status_code in (200, 302) and "sessionid" in browser.cookies, done.text[:500]
        return str(browser.cookies["sessionid"])


class DashboardSocket:
    """The dashboard's websocket over a plain socket: the handshake, then unmasked server frames."""

    def __init__(self, gw: GatewayProcess, session: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", gw.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /ws/dashboard/ HTTP/1.1\r\nHost: 127.0.0.1:{gw.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {gw.url}\r\nCookie: sessionid={session}\r\n\r\n".encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        self.texts: list[str] = []

    def _recv(self) -> bytes:
        data = self.sock.recv(65536)
        assert data, "the gateway closed the websocket"
        return data

    def _frame(self) -> tuple[int, bytes] | None:
        if len(self.buffer) < 2:
            return None
        opcode, length, start = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F, 2
        if length >= 126:
            size = 2 if length == 126 else 8
            if len(self.buffer) < 2 + size:
                return None
            length, start = int.from_bytes(self.buffer[2:2 + size], "big"), 2 + size
        if len(self.buffer) < start + length:
            return None
        payload, self.buffer = self.buffer[start:start + length], self.buffer[start + length:]
        return opcode, payload

    def wait_for_text(self, needle: str, timeout: float) -> None:
        """Read frames until a text frame containing ``needle`` arrives (bounded by ``timeout``)."""
        deadline = time.monotonic() + timeout
        while not any(needle in text for text in self.texts):
            assert time.monotonic() < deadline, f"no dashboard event with {needle!r} in {timeout} s"
            frame = self._frame()
            if frame is None:
                self.sock.settimeout(max(0.1, deadline - time.monotonic()))
                with contextlib.suppress(TimeoutError):
                    self.buffer += self._recv()
            elif frame[0] == 0x1:
                self.texts.append(frame[1].decode())

    def close(self) -> None:
        self.sock.close()


def health_status(gw: GatewayProcess, staff: dict[str, str]) -> str:
    detail = httpx.get(f"{gw.url}/health?detail=1", headers=staff, timeout=10, trust_env=False).json()
    return str(detail["providers"]["openai"]["status"])


def minute_fresh_enough() -> None:
    """The per-minute window is the UTC minute: start the burst with 15 s of it left at least."""
    remaining = 60 - time.time() % 60
    if remaining < 15:
        time.sleep(remaining + 0.5)


def test_three_processes_share_limits_breakers_routes_and_the_live_dashboard(tmp_path):
    with FakeOpenAI() as up, FakeOpenAI() as backup, shared_database(tmp_path) as db_url, own_redis() as redis_url:
        env = {"DATABASE_URL": db_url, "REDIS_URL": redis_url, "PREFERRED_PROVIDER": "openai",
               "OPENAI_BASE_URL": up.base_url, "OPENAI_API_KEY": "sk-test-fake-openai",
               "CIRCUIT_FAILURE_THRESHOLD": "2", "CIRCUIT_REFRESH": "0.2", "CIRCUIT_RECOVERY_TIMEOUT": "120",
               "ROUTE_TABLE_TTL": "0.5"}
        with start_gateway(env, tmp_path / "a") as a, \
                start_gateway(env, tmp_path / "b", client_key="", seed=False) as b, \
                start_gateway(env, tmp_path / "c", client_key="", seed=False) as c:
            a.manage("create_client_key", "limited", "--key", LIMITED_KEY, "--requests-per-minute", "5")
            a.manage("create_client_key", "watched-on-b", "--key", WATCHED_KEY)
            staff = a.staff_headers()

            # The live dashboard on A and on C shows a request that B served.
            session = staff_session(a)
            sockets = [DashboardSocket(a, session), DashboardSocket(c, session)]
            try:
                for ws in sockets:
                    ws.wait_for_text('id="recent-requests"', 10)  # the snapshot: connected and joined
                assert ask(b, WATCHED_KEY).status_code == 200
                for ws in sockets:
                    ws.wait_for_text("watched-on-b", 15)
            finally:
                for ws in sockets:
                    ws.close()

            # Five requests per minute for the key, across all three: exactly five get through.
            minute_fresh_enough()
            before = len(up.main_requests)
            with ThreadPoolExecutor(12) as pool:
                statuses = [r.status_code for r in pool.map(lambda gw: ask(gw, LIMITED_KEY), [a, b, c] * 4)]
            assert sorted(statuses) == [200] * 5 + [429] * 7, statuses
            assert len(up.main_requests) - before == 5

            # A provider added and a tier edited through the admin REST API on A route B and C.
            admin = httpx.Client(base_url=f"{a.url}/api/admin", headers=staff, timeout=10, trust_env=False)
            [seeded] = admin.get("/providers").json()
            added = admin.post("/providers", json={"name": "backup", "kind": seeded["kind"], "base_url": backup.base_url,
                                                   "api_key": "sk-test-fake-backup"})
            assert added.status_code == 201, added.text
            [tier] = [t for t in admin.get("/tiers").json() if "sonnet" in t["patterns"]]
            edited = admin.patch(f"/tiers/{tier['id']}", json={"entries": [
                {"provider": "openai", "model": "gpt-edited-on-a"}, {"provider": "backup", "model": "gpt-backup"}]})
            assert edited.status_code == 200, edited.text
            admin.close()
            for gw in (b, c):
                wait_until(lambda gw=gw: ask(gw).status_code == 200 and up.main_requests[-1].json["model"]
                           == "gpt-edited-on-a", 10, f"{gw.url} to route to the edited tier")

            # Failures seen by A open the breaker in B and C too: they go straight to the backup.
            up.enqueue(Reply.error(500), Reply.error(500))
            assert [ask(a).status_code for _ in range(2)] == [200, 200]  # each failed over to the backup
            for gw in (a, b, c):
                wait_until(lambda gw=gw: health_status(gw, staff) == "circuit_open", 10, f"{gw.url} to see it open")
            before, backed = len(up.main_requests), len(backup.main_requests)
            assert ask(b).status_code == 200 and ask(c).status_code == 200
            assert len(up.main_requests) == before and len(backup.main_requests) == backed + 2
