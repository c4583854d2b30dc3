"""What the gateway shows to whom: ${VAR} rules, the websocket's Origin check, staff-only API docs
(rendered offline in Chromium), the minimal public /health, security headers, hosts and TLS settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from clients.services import client_key_create, staff_token_create
from providers.envvars import env_refs_refused, expand_env
from providers.models import Provider
from tests.conftest import amake_tiers
from tests.dashboard.conftest import session_cookie
from tests.dashboard.test_browser import CHROMIUM, CHROMIUM_ARGS, _unavailable
from tests.fakes import FakeOpenAI
from tests.support.gateway import start_gateway

REPO = Path(__file__).resolve().parents[1]
BODY = {"model": "claude-sonnet-5", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
FAKE_SERVER_SECRET = "fake-server-secret-never-leaves-0451"


@pytest.fixture
def staff(transactional_db):
    return User.objects.create_user("ops", password="pw-ops-surfaces", is_staff=True)


@pytest.fixture(autouse=False)
def fresh_layer():
    channel_layers.backends.clear()  # the in-memory layer's queues belong to one event loop
    yield
    channel_layers.backends.clear()


# --- ${VAR} ---------------------------------------------------------------------------------------

def test_expand_env_reads_only_allowed_names(monkeypatch, settings):
    settings.PROVIDER_ENV_ALLOWLIST = ["OPENAI_API_KEY"]
    monkeypatch.setenv("SECRET_KEY", FAKE_SERVER_SECRET)
    monkeypatch.setenv("GATEWAY_SECRET_TEAM", "team-a")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-allowed")
    assert expand_env("${SECRET_KEY}") == ""
    assert expand_env("x-${SECRET_KEY:-fallback}") == "x-fallback"  # as if unset
    assert expand_env("${GATEWAY_SECRET_TEAM}/${OPENAI_API_KEY}") == "team-a/sk-test-allowed"
    assert env_refs_refused(["${SECRET_KEY}", "${OPENAI_API_KEY}", "${DATABASE_URL:-x}", "plain"]) == [
        "DATABASE_URL", "SECRET_KEY"]
    settings.PROVIDER_ENV_ALLOWLIST = []
    assert expand_env("${OPENAI_API_KEY}") == ""


def test_default_allowlist_covers_the_seed_key_variables(settings):
    assert {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL"} <= set(settings.PROVIDER_ENV_ALLOWLIST)
    assert not {"SECRET_KEY", "DATABASE_URL", "FIELD_ENCRYPTION_KEY", "REDIS_URL"} & set(settings.PROVIDER_ENV_ALLOWLIST)


async def test_a_disallowed_variable_never_reaches_the_upstream(gateway_client, monkeypatch):
    """A row saved before the rule (no validation on a plain save) still sends nothing."""
    monkeypatch.setenv("SECRET_KEY", FAKE_SERVER_SECRET)
    monkeypatch.setenv("DATABASE_URL", f"postgresql://u:{FAKE_SERVER_SECRET}@127.0.0.1/db")
    with FakeOpenAI() as up:

        def create():
            provider = Provider(name="old-row", kind="openai_compat", base_url=up.base_url,
                                headers={"X-Leak": "${SECRET_KEY}", "X-Db": "db=${DATABASE_URL}"})
            provider.set_api_key("sk-test-upstream-key")
            provider.save()
            return provider

        provider = await sync_to_async(create)()
        await amake_tiers(default=(provider, "gpt-test"))
        response = await gateway_client.post("/v1/messages", json=BODY)
        assert response.status_code == 200, response.text
        sent = up.requests[-1]
    assert FAKE_SERVER_SECRET not in json.dumps(dict(sent.headers)) + str(sent.json)
    assert sent.headers.get("x-leak", "") == "" and sent.headers["x-db"] == "db="


async def test_a_key_made_of_a_disallowed_variable_is_no_key(gateway_client, monkeypatch):
    """Such a key expands to nothing: the client is told why (401, not retried) and nothing is sent."""
    monkeypatch.setenv("DATABASE_URL", f"postgresql://u:{FAKE_SERVER_SECRET}@127.0.0.1/db")
    with FakeOpenAI() as up:

        def create():
            provider = Provider(name="old-key", kind="openai_compat", base_url=up.base_url)
            provider.set_api_key("${DATABASE_URL}")
            provider.save()
            return provider

        provider = await sync_to_async(create)()
        await amake_tiers(default=(provider, "gpt-test"))
        response = await gateway_client.post("/v1/messages", json=BODY)
        assert up.requests == []
    assert response.status_code == 401 and response.headers["x-should-retry"] == "false"
    message = response.json()["error"]["message"]
    assert "${DATABASE_URL}" in message and "PROVIDER_ENV_ALLOWLIST" in message
    assert FAKE_SERVER_SECRET not in response.text


# --- the dashboard websocket ---------------------------------------------------------------------

async def _handshake(origin: bytes | None, user=None) -> bool:
    from proxy_project.asgi import application

    headers = [(b"origin", origin)] if origin is not None else []
    if user is not None:
        headers.append((b"cookie", f"sessionid={await sync_to_async(session_cookie)(user)}".encode()))
    communicator = WebsocketCommunicator(application, "/ws/dashboard/", headers=headers)
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return connected


@pytest.mark.parametrize("allowed_hosts", [["localhost", "127.0.0.1", "[::1]"], ["*"]])
async def test_websocket_refuses_a_foreign_origin_even_with_allowed_hosts_star(staff, fresh_layer, settings,
                                                                               allowed_hosts):
    settings.ALLOWED_HOSTS = allowed_hosts
    assert not await _handshake(b"https://evil.example", staff)
    assert not await _handshake(None, staff)
    if allowed_hosts != ["*"]:
        assert await _handshake(b"http://localhost:8082", staff)
        assert await _handshake(b"http://[::1]:8082", staff)


async def test_websocket_accepts_the_operators_origins(staff, fresh_layer, settings):
    settings.ALLOWED_HOSTS = ["*"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.example.com", "https://gw.team.test"]
    assert await _handshake(b"https://gw.example.com", staff)
    assert await _handshake(b"https://gw.team.test", staff)
    assert not await _handshake(b"http://gw.team.test", staff)  # scheme is part of the origin
    assert not await _handshake(b"https://gw.team.test.evil.example", staff)


# --- staff POSTs, hosts and headers --------------------------------------------------------------

def test_staff_post_from_a_foreign_origin_is_refused(staff):
    staff.is_superuser = True
    staff.save()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)
    assert browser.get("/admin/clients/clientkey/add/").status_code == 200  # sets the CSRF cookie
    token = browser.cookies["csrftoken"].value
    form = {"name": "ci", "enabled": "on", "csrfmiddlewaretoken": token}
    foreign = browser.post("/admin/clients/clientkey/add/", form, headers={"origin": "https://evil.example"})
    assert foreign.status_code == 403
    own = browser.post("/admin/clients/clientkey/add/", form, headers={"origin": "http://testserver"})
    assert own.status_code == 302


async def test_api_answers_on_any_host_while_the_admin_needs_an_allowed_one(gateway_client, openai_up):
    """The lean API handler does not check Host, so API clients keep working on any name."""
    for host in ("gateway.test", "gw.internal.example:8082", "10.1.2.3"):
        models = await gateway_client.get("/v1/models", headers={"host": host})
        assert models.status_code == 200, (host, models.text)
    assert (await gateway_client.post("/v1/messages", json=BODY, headers={"host": "gw.internal.example"})
            ).status_code == 200
    assert (await gateway_client.get("/health", headers={"host": "gw.internal.example"})).status_code == 200
    assert (await gateway_client.get("/admin/login/", headers={"host": "gw.internal.example"})).status_code == 400
    assert (await gateway_client.get("/admin/login/", headers={"host": "localhost:8082"})).status_code == 200


def test_admin_pages_carry_security_headers(db):
    response = Client().get("/admin/login/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "connect-src 'self'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def _settings_in_subprocess(env: dict[str, str]) -> dict[str, object]:
    code = ("import json, proxy_project.settings as s; print(json.dumps({k: getattr(s, k, None) for k in ("
            "'ALLOWED_HOSTS', 'SECURE_PROXY_SSL_HEADER', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', "
            "'SECURE_HSTS_SECONDS')}))")
    clean = {k: v for k, v in os.environ.items() if k not in ("ALLOWED_HOSTS", "GATEWAY_BEHIND_TLS")}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**clean, **env}, capture_output=True,
                          text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def test_hosts_default_to_loopback_and_tls_settings_follow_one_switch():
    plain = _settings_in_subprocess({})
    assert plain["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1", "[::1]"]
    assert plain["SECURE_PROXY_SSL_HEADER"] is None and not plain["SESSION_COOKIE_SECURE"]
    tls = _settings_in_subprocess({"GATEWAY_BEHIND_TLS": "true", "ALLOWED_HOSTS": "gw.example.com"})
    assert tls["ALLOWED_HOSTS"] == ["localhost", "127.0.0.1", "[::1]", "gw.example.com"]
    assert tls["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert tls["SESSION_COOKIE_SECURE"] and tls["CSRF_COOKIE_SECURE"] and tls["SECURE_HSTS_SECONDS"] == 31_536_000


# --- /api/docs and /api/openapi.json -------------------------------------------------------------

def test_api_docs_and_schema_are_staff_only(staff):
    for path in ("/api/docs", "/api/openapi.json"):
        anonymous = Client().get(path)
        assert anonymous.status_code == 302 and anonymous["Location"].startswith("/admin/login/"), path
    _, client_key = client_key_create(name="not-staff")
    assert Client(headers={"authorization": f"Bearer {client_key}"}).get("/api/openapi.json").status_code == 302
    _, token = staff_token_create(user=staff, name="docs")
    assert "/api/admin/providers" in Client(headers={"authorization": f"Bearer {token}"}).get(
        "/api/openapi.json").json()["paths"]
    browser = Client()
    browser.force_login(staff)
    page = browser.get("/api/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    assert browser.get("/static/ninja/swagger-ui-bundle.js").status_code == 200


@pytest.fixture
def chromium():
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


@pytest.mark.timeout(180)
def test_api_docs_render_swagger_ui_offline_for_staff(chromium, tmp_path):
    """Every request the page makes outside the gateway is aborted (no network) and recorded."""
    from playwright.sync_api import expect

    with start_gateway({"DJANGO_SUPERUSER_PASSWORD": "pw-docs-browser"}, tmp_path) as gw:
        gw.manage("createsuperuser", "--noinput", "--username", "ops", "--email", "ops@example.com")
        page = chromium.new_context().new_page()
        page.set_default_timeout(15_000)
        outside: list[str] = []

        def only_the_gateway(route):
            if route.request.url.startswith(gw.url):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_the_gateway)
        refused: list[str] = []  # Content-Security-Policy violations show as "Refused to …" console errors
        page.on("console", lambda message: refused.append(message.text) if "Refused to" in message.text else None)
        page.goto(f"{gw.url}/api/docs")
        assert page.url.startswith(f"{gw.url}/admin/login/")  # staff only
        page.fill("#id_username", "ops")
        page.fill("#id_password", "pw-docs-browser")
        page.click("input[type=submit]")
        page.wait_for_url(f"{gw.url}/api/docs")
        expect(page.locator(".opblock-summary-path", has_text="/api/admin/providers").first).to_be_visible()
        assert page.locator(".opblock").count() > 20
        assert outside == [], outside
        assert refused == [], refused
        page.screenshot(path=str(tmp_path / "docs.png"), full_page=False)


# --- /health ---------------------------------------------------------------------------------------

async def test_public_health_is_minimal_and_detail_needs_staff(gateway_client, openai_up, staff):
    public = await gateway_client.get("/health", headers={"x-api-key": ""})
    assert public.status_code == 200 and public.json() == {"status": "ok"}
    for headers in ({"x-api-key": ""}, {}):  # anonymous, then a client key (not staff)
        refused = await gateway_client.get("/health?detail=1", headers=headers)
        assert refused.status_code == 401 and "openai" not in refused.text
    _, token = await sync_to_async(staff_token_create)(user=staff, name="health")
    by_token = await gateway_client.get("/health?detail=1", headers={"authorization": f"Bearer {token}"})
    assert by_token.json()["providers"]["openai"]["status"] == "healthy"
    cookie = await sync_to_async(session_cookie)(staff)
    by_session = await gateway_client.get("/health?detail=1", headers={"x-api-key": "", "cookie": f"sessionid={cookie}"})
    assert by_session.json()["providers"]["openai"]["status"] == "healthy"
    staff.is_staff = False
    await staff.asave()
    demoted = await gateway_client.get("/health?detail=1", headers={"authorization": f"Bearer {token}"})
    assert demoted.status_code == 401


def test_compose_healthcheck_reads_only_the_public_status():
    compose = (REPO / "docker-compose.yml").read_text()
    assert "/health'" in compose and "detail" not in compose
    assert "ALLOWED_HOSTS" in compose and "CSRF_TRUSTED_ORIGINS" in compose


def test_health_detail_under_real_daphne(tmp_path):
    with FakeOpenAI() as up, start_gateway({"PREFERRED_PROVIDER": "openai", "OPENAI_BASE_URL": up.base_url,
                                            "OPENAI_API_KEY": "sk-test-fake"}, tmp_path) as gw:
        assert httpx.get(f"{gw.url}/health", timeout=10).json() == {"status": "ok"}
        assert httpx.get(f"{gw.url}/health?detail=1", timeout=10).status_code == 401
        detail = httpx.get(f"{gw.url}/health?detail=1", headers=gw.staff_headers(), timeout=10).json()
        assert detail["providers"]["openai"]["status"] == "healthy"


@pytest.mark.parametrize(("provider", "where"), [
    ({"headers": {"X-Leak": "${SECRET_KEY}"}}, r"providers\[0\]\.headers"),
    ({"api_key": "${DATABASE_URL}"}, r"providers\[0\]\.api_key"),
])
def test_import_config_reports_a_disallowed_variable_and_writes_nothing(db, tmp_path, provider, where):
    from django.core.management import CommandError, call_command

    source = tmp_path / "gateway.json"
    source.write_text(json.dumps({"version": 1, "providers": [
        {"name": "team", "kind": "openai_compat", "base_url": "https://api.example.com/v1", **provider}]}))
    with pytest.raises(CommandError, match=where + r".*GATEWAY_SECRET_"):
        call_command("import_config", str(source))
    assert not Provider.objects.exists()
