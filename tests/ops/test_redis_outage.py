"""Redis killed and restarted under a real daphne gateway: a rate-limited key keeps being served.

The Redis server is this test's own (a free loopback port, no persistence), never the machine's.
While it is down the key's limits count per process (one warning line for the whole outage), the
dashboard says Redis is unreachable, and everything uses Redis again once it is back.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.dashboard.test_browser import browser  # noqa: F401  (the Chromium fixture)
from tests.fakes import FakeOpenAI
from tests.support.gateway import free_port, start_gateway

pytestmark = pytest.mark.timeout(240)

KEY = "sk-gw-test-limited-redis-0000"
BODY = {"model": "claude-sonnet-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
BANNER = "Redis unreachable — limits are per process, live updates paused"


@contextlib.contextmanager
def redis_server(port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_redis(port, up=True)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _wait_redis(port: int, *, up: bool, timeout: float = 10.0) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.ping()
            if up:
                return
        except redis.ConnectionError:
            if not up:
                return
        time.sleep(0.05)
    raise AssertionError(f"redis on {port} did not come {'up' if up else 'down'}")


def _rpd_counter(port: int) -> int:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, db=12)
    keys = client.keys("*gwlim:*:rpd:*")
    return sum(int(client.get(k) or 0) for k in keys)


def _staff_client(url: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=10, trust_env=False)
    client.get("/admin/login/")
    token = client.cookies["csrftoken"]
    reply = client.post("/admin/login/?next=/dashboard/", data={
        "username": "ops", "password": "pw-not-real", "csrfmiddlewaretoken": token, "next": "/dashboard/"})
    assert reply.status_code == 302, reply.text[:500]
    return client


def test_rate_limited_key_is_served_through_a_redis_outage(tmp_path):
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server binary")
    port = free_port()
    with FakeOpenAI() as up, redis_server(port) as first:
        env = {"REDIS_URL": f"redis://127.0.0.1:{port}/12", "PREFERRED_PROVIDER": "openai",
               "OPENAI_BASE_URL": up.base_url, "OPENAI_API_KEY": "sk-test-fake-openai",
               "DJANGO_SUPERUSER_PASSWORD": "pw-not-real"}
        with start_gateway(env, tmp_path / "gw", client_key="") as gw:
            gw.manage("create_client_key", "limited", "--key", KEY, "--requests-per-day", "8")
            gw.manage("createsuperuser", "--noinput", "--username", "ops", "--email", "ops@example.invalid")
            staff = _staff_client(gw.url)
            post = httpx.Client(base_url=gw.url, headers={"x-api-key": KEY}, timeout=30, trust_env=False)
            assert [post.post("/v1/messages", json=BODY).status_code for _ in range(3)] == [200] * 3
            assert _rpd_counter(port) == 3
            assert BANNER not in staff.get("/dashboard/").text

            first.kill()
            first.wait(timeout=10)
            _wait_redis(port, up=False)
            statuses, slowest = [], 0.0
            for _ in range(10):  # counted per process from zero: 8 admitted, then the limit holds
                started = time.monotonic()
                statuses.append(post.post("/v1/messages", json=BODY).status_code)
                slowest = max(slowest, time.monotonic() - started)
            assert statuses == [200] * 8 + [429] * 2
            assert slowest < 1.0  # a refused connection, then the back-off: no timeout per request
            assert BANNER in staff.get("/dashboard/").text

            with redis_server(port):
                deadline, served = time.monotonic() + 20, 0
                while _rpd_counter(port) == 0 and time.monotonic() < deadline:  # the back-off ends
                    served += post.post("/v1/messages", json=BODY).status_code == 200
                    time.sleep(0.2)
                assert _rpd_counter(port) >= 1  # counted in Redis again (the restarted, empty one)
                panel = staff.get("/dashboard/?panel=redis", headers={"HX-Request": "true"}).text
                assert panel.startswith('<div id="redis-state"') and BANNER not in panel
            log = gw.log()
            assert len(re.findall("Redis is unreachable", log)) == 1, log[-3000:]
            assert "Redis is back" in log
            assert "internal gateway error" not in log and "Traceback" not in log


def test_dashboard_in_a_browser_shows_the_redis_outage_and_recovers(tmp_path, request):
    """The page's socket closes when Redis goes (reconnecting, then offline); the banner appears on its next
    poll; when Redis is back the banner goes and the socket reconnects (htmx's ws back-off)."""
    from playwright.sync_api import expect

    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server binary")
    chromium = request.getfixturevalue("browser")
    port = free_port()
    with FakeOpenAI() as up, redis_server(port) as first:
        env = {"REDIS_URL": f"redis://127.0.0.1:{port}/12", "PREFERRED_PROVIDER": "openai",
               "OPENAI_BASE_URL": up.base_url, "OPENAI_API_KEY": "sk-test-fake-openai",
               "DJANGO_SUPERUSER_PASSWORD": "pw-not-real"}
        with start_gateway(env, tmp_path / "gw") as gw:
            gw.manage("createsuperuser", "--noinput", "--username", "ops", "--email", "ops@example.invalid")
            page = chromium.new_page()
            page.goto(f"{gw.url}/admin/login/?next=/dashboard/")
            page.fill("#id_username", "ops")
            page.fill("#id_password", "pw-not-real")
            page.click("input[type=submit]")
            live = page.locator("#live")
            expect(live).to_have_class(re.compile(r"\blive\b"), timeout=15_000)
            expect(page.locator("#redis-state .banner")).to_have_count(0)

            first.kill()
            first.wait(timeout=10)
            expect(live).to_have_class(re.compile(r"\b(reconnecting|offline)\b"), timeout=15_000)
            expect(page.locator("#redis-state .banner")).to_have_text(BANNER, timeout=15_000)
            assert httpx.post(f"{gw.url}/v1/messages", headers=gw.headers(), json=BODY, timeout=30).status_code == 200

            with redis_server(port):
                expect(page.locator("#redis-state .banner")).to_have_count(0, timeout=30_000)
                expect(live).to_have_class(re.compile(r"\blive\b"), timeout=90_000)
