"""The admin as this product's: its header, the System section kept for superusers, the wide
fields and truncated cells, and (in a real Chromium) the preset picker filling the form at once.
"""

from __future__ import annotations

import html
import json
import re

import pytest

from tests.conftest import make_provider
from tests.dashboard.test_browser import CHROMIUM, CHROMIUM_ARGS, _unavailable
from tests.support.gateway import start_gateway

SYSTEM_MODELS = {"Groups", "Periodic tasks", "Intervals", "Crontabs", "Solar events", "Clocked"}


@pytest.fixture
def superuser_client(client, transactional_db):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


@pytest.fixture
def team_lead_client(client, transactional_db):
    """Staff, not superuser, yet holding every permission there is (the framework's too)."""
    from django.contrib.auth.models import Permission, User

    lead = User.objects.create_user("lead", "lead@example.com", "pw", is_staff=True)
    lead.user_permissions.set(Permission.objects.all())
    client.force_login(lead)
    return client


def sections(response) -> dict[str, set[str]]:
    return {str(app["name"]): {str(m["name"]) for m in app["models"]} for app in response.context["app_list"]}


def all_models(response) -> set[str]:
    return set().union(*sections(response).values())


def test_admin_site_header_names_the_product(client, transactional_db):
    page = client.get("/admin/login/").content.decode()
    assert '<div id="site-name"><a href="/admin/">Claude Code gateway</a></div>' in page
    assert "<title>Log in | Claude Code gateway admin</title>" in page
    assert "Django administration" not in page and "Django site admin" not in page


def test_admin_index_is_titled_for_the_gateway(superuser_client):
    page = superuser_client.get("/admin/").content.decode()
    assert "<title>Site administration | Claude Code gateway admin</title>" in page
    assert "Django administration" not in page


def test_team_lead_sees_only_the_gateways_models(team_lead_client):
    index = team_lead_client.get("/admin/")
    assert not all_models(index) & SYSTEM_MODELS
    assert "System" not in sections(index)
    assert {"Providers", "Client keys", "Model tiers", "Request logs"} <= all_models(index)
    assert list(sections(index))[:4] == ["Providers", "Routing", "Client keys", "Dashboard"]  # the gateway's apps first
    for url in ("/admin/auth/group/", "/admin/django_celery_beat/periodictask/",
                "/admin/django_celery_beat/crontabschedule/add/"):
        assert team_lead_client.get(url).status_code == 403, url
    assert team_lead_client.get("/admin/django_celery_beat/").status_code == 404
    assert team_lead_client.get("/admin/providers/provider/").status_code == 200


def test_superuser_finds_the_framework_models_under_system(superuser_client):
    index = superuser_client.get("/admin/")
    found = sections(index)
    assert list(found)[-1] == "System"
    assert found["System"] == SYSTEM_MODELS
    assert found["Authentication and Authorization"] == {"Users"}
    assert not found.get("Periodic Tasks")  # celery beat's own section is gone
    assert superuser_client.get("/admin/django_celery_beat/periodictask/").status_code == 200
    assert superuser_client.get("/admin/auth/group/").status_code == 200
    # The sidebar marks the section of the page shown, never System on every page.
    listing = superuser_client.get("/admin/providers/provider/").content.decode()
    assert 'app-system module current-app' not in listing and 'app-providers module current-app' in listing


def test_admin_pages_load_the_gateway_stylesheet(superuser_client):
    page = superuser_client.get("/admin/routing/modeltier/").content.decode()
    assert '<link rel="stylesheet" href="/static/admin-gateway.css">' in page
    css = superuser_client.get("/static/admin-gateway.css")
    assert css.status_code == 200
    body = b"".join(css.streaming_content).decode()
    assert 'input[name="base_url"]' in body and 'textarea[name="options"]' in body and ".gw-truncate" in body


def test_provider_list_truncates_long_urls_with_the_whole_value_as_title(superuser_client):
    url = "https://very-long-resource-name.openai.azure.com/openai/deployments/gpt-5-codex-deployment"
    make_provider("azure", url)
    page = superuser_client.get("/admin/providers/provider/").content.decode()
    assert f'<span class="gw-truncate" title="{url}">{url}</span>' in page
    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', page)
    assert "base_url_cell" in headers and "updated" not in headers and "health_latency_ms" not in headers


def test_provider_form_carries_the_preset_fields_and_no_secret(superuser_client):
    from providers.presets import PRESETS, preset_fields

    provider = make_provider("openai", "http://127.0.0.1:9/v1", key="sk-test-fake-never-in-the-page-1234")
    page = superuser_client.get(f"/admin/providers/provider/{provider.pk}/change/").content.decode()
    assert '<script src="/static/admin-preset.js"></script>' in page
    attribute = re.search(r'data-preset-fields="([^"]*)"', page)
    assert attribute
    data = json.loads(html.unescape(attribute.group(1)))
    assert set(data) == set(PRESETS) and data["openrouter"] == preset_fields("openrouter")
    assert "sk-test-fake-never-in-the-page-1234" not in page
    assert superuser_client.get("/static/admin-preset.js").status_code == 200


# --- in a real browser -----------------------------------------------------------------------------

PASSWORD = "admin-product-password"


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


def _log_in(page, gw) -> None:
    from playwright.sync_api import expect

    page.goto(f"{gw.url}/admin/")
    page.fill("#id_username", "ops")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_have_text("Claude Code gateway")


@pytest.mark.timeout(240)
def test_picking_a_preset_fills_the_provider_form_before_saving(chromium, tmp_path):
    """Picking fills kind, URL, auth and JSON fields with no request; a field typed by hand is
    kept; the secret is never touched, on the add form or on a later change."""
    from playwright.sync_api import expect

    with start_gateway({"DJANGO_SUPERUSER_PASSWORD": PASSWORD}, tmp_path) as gw:
        gw.manage("createsuperuser", "--noinput", "--username", "ops", "--email", "ops@example.com")
        page = chromium.new_context().new_page()
        page.set_default_timeout(10_000)
        refused: list[str] = []  # Content-Security-Policy violations show as "Refused to …" console errors
        page.on("console", lambda message: refused.append(message.text) if "Refused to" in message.text else None)
        _log_in(page, gw)

        page.goto(f"{gw.url}/admin/providers/provider/add/")
        sent: list[str] = []
        page.on("request", lambda request: sent.append(f"{request.method} {request.url}"))
        page.fill("#id_name", "router")
        page.fill("#id_api_key", "sk-test-fake-typed-key-5678")
        page.select_option("#id_preset", "openrouter")
        expect(page.locator("#id_base_url")).to_have_value("https://openrouter.ai/api/v1")
        expect(page.locator("#id_kind")).to_have_value("openai_compat")
        expect(page.locator("#id_auth_type")).to_have_value("api_key")
        assert json.loads(page.input_value("#id_headers"))["X-Title"] == "Claude Code gateway"
        assert json.loads(page.input_value("#id_options")) == {"reasoning_effort": True}
        expect(page.locator("#id_api_key")).to_have_value("sk-test-fake-typed-key-5678")
        assert sent == [] and page.url.endswith("/admin/providers/provider/add/")  # nothing saved, nothing asked

        page.fill("#id_base_url", "http://127.0.0.1:9/openai/deployments/gpt")  # typed by hand: kept
        page.select_option("#id_preset", "azure_openai")
        expect(page.locator("#id_auth_type")).to_have_value("header")
        expect(page.locator("#id_auth_header")).to_have_value("api-key")
        assert "api-version" in json.loads(page.input_value("#id_options"))["path"]
        expect(page.locator("#id_base_url")).to_have_value("http://127.0.0.1:9/openai/deployments/gpt")
        page.screenshot(path=str(tmp_path / "preset-filled.png"), full_page=True)
        page.click("input[name='_continue']")
        expect(page.locator(".messagelist")).to_contain_text("was added successfully")
        expect(page.locator(".field-api_key_masked")).to_contain_text("…5678")

        # On the change form the stored key stays: the preset fills the rest, the key field stays empty.
        page.select_option("#id_preset", "deepseek")
        expect(page.locator("#id_base_url")).to_have_value("https://api.deepseek.com/v1")
        expect(page.locator("#id_max_tokens_cap")).to_have_value("8192")
        expect(page.locator("#id_api_key")).to_have_value("")
        page.click("input[name='_continue']")
        expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
        expect(page.locator("#id_base_url")).to_have_value("https://api.deepseek.com/v1")
        expect(page.locator(".field-api_key_masked")).to_contain_text("…5678")

        page.goto(f"{gw.url}/admin/providers/provider/")
        cell = page.locator("#result_list .gw-truncate", has_text="api.deepseek.com")
        expect(cell).to_have_attribute("title", "https://api.deepseek.com/v1")
        assert cell.evaluate("el => getComputedStyle(el).textOverflow") == "ellipsis"  # the stylesheet applies
        assert refused == [], refused
