"""The audit trail: admin REST API, Django admin and management commands, secrets never stored."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import AsyncClient, Client

from audit.models import AuditEntry
from audit.selectors import change_summary, recent_changes
from clients.models import ClientKey
from clients.services import staff_token_create
from providers.models import Provider
from routing.models import ModelTier, Route
from tests.conftest import make_provider

pytestmark = pytest.mark.django_db(transaction=True)

PROVIDER = {"name": "team-openai", "kind": "openai_compat", "base_url": "https://api.openai.com/v1",
            "api_key": "sk-test-audit-first-key-1111", "headers": {"api-key": "sk-test-header-secret-2222"}}


@pytest.fixture
def staff():
    return get_user_model().objects.create_user("ops", password="pw-ops-123", is_staff=True, is_superuser=True)


@pytest.fixture
def api(staff) -> Client:
    _, token = staff_token_create(user=staff, name="deploy-script")
    return Client(headers={"authorization": f"Bearer {token}"})


def audit_table_text() -> str:
    """Every stored column of every entry, as one string to search for leaked secrets."""
    return json.dumps(list(AuditEntry.objects.values()), default=str)


def test_admin_api_key_change_is_recorded_as_changed_without_any_value(api):
    created = api.post("/api/admin/providers", PROVIDER, content_type="application/json")
    assert created.status_code == 201, created.content
    pid = created.json()["id"]
    old_cipher = Provider.objects.get(pk=pid).api_key_encrypted
    patched = api.patch(f"/api/admin/providers/{pid}", {"api_key": "sk-test-audit-second-key-3333", "priority": 7},
                        content_type="application/json")
    assert patched.status_code == 200, patched.content
    new_cipher = Provider.objects.get(pk=pid).api_key_encrypted

    update = AuditEntry.objects.get(action="update", model="providers.Provider")
    assert update.actor == "token deploy-script (user ops)" and update.actor_kind == "token"
    assert update.object_id == str(pid) and update.object_repr == "team-openai"
    assert update.changes == {"api_key_encrypted": "changed", "priority": {"old": 100, "new": 7}}
    assert change_summary(update.changes) == ["api key: changed", "priority: 100 → 7"]
    create = AuditEntry.objects.get(action="create", model="providers.Provider")
    assert create.changes["api_key_encrypted"] == "changed" and create.changes["headers"] == "changed"
    assert create.changes["base_url"] == {"old": None, "new": "https://api.openai.com/v1"}

    text = audit_table_text()
    for secret in ("sk-test-audit-first-key-1111", "sk-test-audit-second-key-3333", "sk-test-header-secret-2222",
                   old_cipher, new_cipher):
        assert secret not in text
    assert "health" not in text and "updated" not in json.dumps([e.changes for e in AuditEntry.objects.all()])


def test_admin_api_delete_is_recorded_with_the_token(api):
    provider = make_provider("gone", "http://127.0.0.1:9/v1")
    assert api.delete(f"/api/admin/providers/{provider.pk}").status_code == 204
    entry = AuditEntry.objects.get(action="delete")
    assert entry.actor == "token deploy-script (user ops)" and entry.object_repr == "gone"
    assert entry.changes["name"] == {"old": "gone", "new": None}
    assert entry.changes["api_key_encrypted"] == "changed"


def test_django_admin_change_is_recorded_with_the_user(staff):
    provider = make_provider("openai", "http://127.0.0.1:9/v1")
    route = Route.objects.create(name="think", scenario="thinking", provider=provider, model="gpt-a")
    AuditEntry.objects.all().delete()
    browser = Client()
    browser.force_login(staff)
    form = {"name": "think", "scenario": "thinking", "pattern": "", "threshold": 60000,
            "provider": provider.pk, "model": "gpt-b", "position": 0, "enabled": "on"}
    response = browser.post(f"/admin/routing/route/{route.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.actor_kind, entry.action) == ("user ops", "user", "update")
    assert entry.changes == {"model": {"old": "gpt-a", "new": "gpt-b"}}


async def test_async_request_path_sees_the_session_user(staff):
    """Through the ASGI handler: the middleware runs async and the sync view in a thread."""
    browser = AsyncClient()
    await browser.aforce_login(staff)
    browser.cookies["csrftoken"] = "k" * 32
    response = await browser.post("/api/admin/tiers", {"name": "big", "patterns": "opus"},
                                  content_type="application/json", headers={"x-csrftoken": "k" * 32})
    assert response.status_code == 201, response.content
    entry = await AuditEntry.objects.aget(model="routing.ModelTier")
    assert (entry.actor, entry.action) == ("user ops", "create")


def test_command_change_is_recorded_as_the_command():
    call_command("create_client_key", "ci-runner", "--key", "sk-gw-test-audit-command-4444")
    entry = AuditEntry.objects.get(model="clients.ClientKey")
    assert (entry.actor, entry.actor_kind, entry.action) == ("command create_client_key", "command", "create")
    assert entry.changes["key_hash"] == "changed" and entry.changes["name"]["new"] == "ci-runner"
    text = audit_table_text()
    assert "sk-gw-test-audit-command-4444" not in text
    assert ClientKey.hash_key("sk-gw-test-audit-command-4444") not in text


def test_command_called_by_a_command_keeps_the_outer_name(tmp_path, monkeypatch):
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "PREFERRED_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-seed-key-5555")
    monkeypatch.setenv("PREFERRED_PROVIDER", "openai")
    call_command("seed")
    actors = set(AuditEntry.objects.values_list("actor", flat=True))
    assert actors == {"command seed"}
    assert "sk-test-seed-key-5555" not in audit_table_text()


def test_bookkeeping_saves_and_unchanged_saves_record_nothing():
    provider = make_provider("openai", "http://127.0.0.1:9/v1")
    AuditEntry.objects.all().delete()
    provider.health_ok = False
    provider.health_error = "connect timeout"
    provider.save()
    provider.save()
    assert not AuditEntry.objects.exists()


def test_cascade_delete_records_the_dependent_rows():
    provider = make_provider("openai", "http://127.0.0.1:9/v1")
    tier = ModelTier.objects.create(name="small", patterns="haiku")
    tier.entries.create(provider=provider, model="gpt-mini")
    provider.delete()
    deleted = set(AuditEntry.objects.filter(action="delete").values_list("model", flat=True))
    assert deleted == {"providers.Provider", "routing.TierEntry"}
    assert AuditEntry.objects.filter(action="delete").first().actor == "system"


def test_recent_changes_newest_first():
    make_provider("a", "http://127.0.0.1:9/v1")
    make_provider("b", "http://127.0.0.1:9/v1")
    rows = recent_changes(limit=1)
    assert [r.object_repr for r in rows] == ["b"] and rows[0].model == "Provider"


def test_audit_admin_is_read_only_with_filters(staff):
    make_provider("openai", "http://127.0.0.1:9/v1")
    browser = Client()
    browser.force_login(staff)
    page = browser.get("/admin/audit/auditentry/?action=create")
    assert page.status_code == 200
    html = page.content.decode()
    assert "openai" in html and "api key: changed" in html and "Add audit entry" not in html
    entry = AuditEntry.objects.get()
    assert browser.post(f"/admin/audit/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403


def test_admin_api_token_refresh_is_recorded_without_the_tokens(api, monkeypatch):
    """The refresh writes with queryset update(); the admin API records what it changed."""
    from providers.models import OAuthToken
    from providers.oauth import RefreshResult
    from runtime import crypto

    provider = make_provider("claude", "http://127.0.0.1:9", kind="anthropic", auth_type="oauth")
    token = OAuthToken(provider=provider)
    token.set_tokens("sk-ant-oat01-test-old-access", "sk-ant-ort01-test-old-refresh")
    token.save()

    def refresh(*, token_id):
        OAuthToken.objects.filter(pk=token_id).update(
            access_token_encrypted=crypto.encrypt("sk-ant-oat01-test-new-access"), last_error="")
        return RefreshResult(True, "")

    monkeypatch.setattr("providers.admin_api.oauth_token_refresh", refresh)
    AuditEntry.objects.all().delete()
    assert api.post(f"/api/admin/providers/{provider.pk}/token/refresh").json() == {"ok": True, "error": ""}
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.model) == ("token deploy-script (user ops)", "update", "providers.OAuthToken")
    assert entry.changes == {"access_token_encrypted": "changed"}
    text = audit_table_text()
    assert "test-new-access" not in text and "test-old-access" not in text
    assert OAuthToken.objects.get().access_token_encrypted not in text
