"""The operations flow in a real browser (Debian's Chromium driven by Playwright): log into the
admin, edit a tier, send a request through the real gateway (daphne), and watch the new row and
the provider's status arrive on the dashboard over the websocket without a reload. The connection
indicator goes reconnecting, then offline, when the server stops, and live again when it returns,
with what happened meanwhile on the page. An anonymous browser is sent to the login page and its
websocket is refused.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fakes import FakeOpenAI, Reply
from tests.support.gateway import REPO_ROOT, GatewayProcess, _die_with_parent, _wait_healthy, start_gateway

CHROMIUM = Path(os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
PASSWORD = "browser-test-password"
EDITED_MODEL = "gpt-edited-in-admin"
BODY = {"model": "claude-sonnet-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}

pytestmark = pytest.mark.timeout(240)


def _unavailable(reason: str) -> None:
    if os.environ.get("REQUIRE_E2E") == "1":
        pytest.fail(f"REQUIRE_E2E=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install playwright)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def gateway(tmp_path):
    with FakeOpenAI() as up:
        env = {
            "PREFERRED_PROVIDER": "openai",
            "OPENAI_BASE_URL": up.base_url,
            "OPENAI_API_KEY": "sk-test-fake-openai",
            "CIRCUIT_FAILURE_THRESHOLD": "1",  # one upstream failure opens the circuit
            "CIRCUIT_RECOVERY_TIMEOUT": "120",
            "DJANGO_SUPERUSER_PASSWORD": PASSWORD,
        }
        with start_gateway(env, tmp_path) as gw:
            gw.manage("createsuperuser", "--noinput", "--username", "ops", "--email", "ops@example.com")
            gw.extra["upstream"] = up
            yield gw


def test_admin_edit_then_live_dashboard_without_reload(browser, gateway, tmp_path):
    from playwright.sync_api import expect

    up = gateway.extra["upstream"]
    page = browser.new_context().new_page()
    page.set_default_timeout(10_000)

    page.goto(f"{gateway.url}/admin/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()

    page.goto(f"{gateway.url}/admin/routing/modeltier/")
    page.get_by_role("link", name="middle (sonnet)", exact=True).click()
    page.fill("input[name='entries-0-model']", EDITED_MODEL)
    page.click("input[name='_save']")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")

    page.goto(f"{gateway.url}/dashboard/")
    expect(page.locator("#live")).to_have_class(re.compile(r"\blive\b"))  # the websocket's snapshot arrived
    provider_row = page.locator("tr.provider", has_text="openai")
    expect(provider_row.locator(".badge")).to_have_text("healthy")
    page.evaluate("window.__sameDocument = true")

    ok = httpx.post(f"{gateway.url}/v1/messages", json=BODY, headers=gateway.headers(), timeout=30, trust_env=False)
    assert ok.status_code == 200, ok.text
    assert up.main_requests[-1].json["model"] == EDITED_MODEL  # the admin edit routed the very next request
    row = page.locator("#recent-requests tr", has_text=EDITED_MODEL)
    expect(row).to_have_count(1, timeout=5_000)
    expect(row).to_contain_text("claude-sonnet-5 → openai/" + EDITED_MODEL)
    expect(row).to_contain_text("200")

    up.enqueue(Reply.error(503))
    failed = httpx.post(f"{gateway.url}/v1/messages", json=BODY, headers=gateway.headers(), timeout=30, trust_env=False)
    assert failed.status_code >= 500
    expect(provider_row.locator(".badge")).to_have_text("circuit open", timeout=5_000)
    expect(page.locator("#recent-requests tr.error")).to_have_count(1)
    assert page.evaluate("window.__sameDocument === true")  # no reload happened
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)


def test_anonymous_browser_is_refused(browser, gateway):
    page = browser.new_context().new_page()
    page.goto(f"{gateway.url}/dashboard/")
    assert page.url == f"{gateway.url}/admin/login/?next=/dashboard/"
    outcome = page.evaluate(
        """url => new Promise(resolve => {
            const ws = new WebSocket(url);
            ws.onopen = () => resolve("open");
            ws.onclose = event => resolve("closed " + event.code);
            setTimeout(() => resolve("timeout"), 5000);
        })""",
        gateway.url.replace("http://", "ws://") + "/ws/dashboard/",
    )
    assert outcome.startswith("closed"), outcome  # the handshake is refused: never "open"


def login(page, gateway) -> None:
    from playwright.sync_api import expect

    page.goto(f"{gateway.url}/admin/login/?next=/dashboard/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#live")).to_have_class(re.compile(r"\blive\b"))


def restart(gw: GatewayProcess) -> None:
    """daphne again on the same port and database (the page reconnects to the same URL)."""
    cmd = [sys.executable, "-m", "proxy_project.edge_daphne", "-b", "127.0.0.1", "-p", str(gw.port),
           "proxy_project.asgi:application"]
    with gw.log_path.open("ab") as log:
        gw.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=gw.env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
    _wait_healthy(gw, 20)


WHILE_AWAY = """
from django.utils import timezone
from dashboard.models import RequestLog
from clients.models import ClientKey
RequestLog.objects.create(created=timezone.now(), client_key=ClientKey.objects.get(name="e2e"),
                          requested_model="claude-sonnet-5", provider="openai", upstream_model="gpt-while-away",
                          status=200, input_tokens=1, output_tokens=1)
"""
STATES = """() => { window.__states = [];
    new MutationObserver(() => window.__states.push(document.getElementById("live").dataset.state))
        .observe(document.querySelector("header"), {subtree: true, attributes: true, childList: true}); }"""


def test_dashboard_totals_move_and_indicator_follows_the_server(browser, gateway):
    from playwright.sync_api import expect

    page = browser.new_context().new_page()
    page.set_default_timeout(10_000)
    login(page, gateway)
    expect(page.locator("#top-keys tr.empty")).to_have_count(1)  # "No keys used in the last day"
    key_totals = page.locator("#totals table.totals").nth(1).locator("tr", has_text="e2e")
    page.evaluate("window.__sameDocument = true")

    sent = time.monotonic()
    ok = httpx.post(f"{gateway.url}/v1/messages", json=BODY, headers=gateway.headers(), timeout=30, trust_env=False)
    assert ok.status_code == 200, ok.text
    expect(key_totals).to_contain_text("1 / 0 /", timeout=2_000)  # the bound: within 2 s
    print(f"key total on the page {time.monotonic() - sent:.2f} s after the request was sent")
    expect(page.locator("#top-keys tr", has_text="e2e")).to_have_count(1)

    live = page.locator("#live")
    page.context.set_offline(True)  # the browser loses its network: offline at once
    expect(live).to_have_text("offline · no network", timeout=2_000)
    page.context.set_offline(False)
    expect(live).to_have_class(re.compile(r"\blive\b"), timeout=15_000)

    page.evaluate(STATES)
    stopped = time.monotonic()
    gateway.proc.send_signal(signal.SIGTERM)
    expect(live).to_have_class(re.compile(r"\boffline\b"), timeout=5_000)  # the bound: within 5 s
    print(f"offline {time.monotonic() - stopped:.2f} s after SIGTERM")
    assert "reconnecting" in page.evaluate("window.__states")
    expect(live).to_contain_text("offline since")
    gateway.proc.wait(timeout=15)

    gateway.manage("shell", "-c", WHILE_AWAY)  # a request the page missed
    restart(gateway)
    back = time.monotonic()
    expect(live).to_have_class(re.compile(r"\blive\b"), timeout=10_000)
    print(f"live {time.monotonic() - back:.2f} s after the server answered again")
    expect(page.locator("#recent-requests tr", has_text="gpt-while-away")).to_have_count(1)  # caught up
    expect(key_totals).to_contain_text("2 / 0 /")
    assert page.evaluate("window.__sameDocument === true")  # no reload happened
