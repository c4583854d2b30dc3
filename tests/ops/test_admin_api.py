"""The admin REST API under /api/admin/: staff token or staff session, CRUD, circuits, usage."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from clients.models import ClientKey
from clients.services import client_key_create, staff_token_create
from dashboard.models import RequestLog
from providers.models import OAuthToken, Provider
from providers.oauth import RefreshResult
from routing.models import CircuitState

pytestmark = pytest.mark.django_db

PROVIDER = {"name": "team-openai", "kind": "openai_compat", "base_url": "https://api.openai.com/v1",
            "api_key": "sk-test-admin-api-key-1234", "priority": 5, "headers": {"X-Team": "core"}}


@pytest.fixture
def staff():
    return get_user_model().objects.create_user("ops", password="pw-ops-123", is_staff=True)


@pytest.fixture
def api(staff) -> Client:
    _, token = staff_token_create(user=staff, name="tests")
    return Client(headers={"authorization": f"Bearer {token}"})


def test_admin_api_refuses_anonymous_client_keys_and_non_staff(staff):
    assert Client().get("/api/admin/providers").status_code == 401
    body = Client().get("/api/admin/providers").json()
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
    _, client_key = client_key_create(name="not-admin")
    assert Client(headers={"authorization": f"Bearer {client_key}"}).get("/api/admin/providers").status_code == 401
    _, token = staff_token_create(user=staff, name="t")
    staff.is_staff = False
    staff.save()
    assert Client(headers={"authorization": f"Bearer {token}"}).get("/api/admin/providers").status_code == 401


def test_staff_session_reads_and_writes_with_csrf(staff):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)
    assert browser.get("/api/admin/providers").status_code == 200
    assert browser.post("/api/admin/providers", PROVIDER, content_type="application/json").status_code in (401, 403)
    token = "k" * 32  # a CSRF secret as the cookie holds it
    browser.cookies["csrftoken"] = token
    created = browser.post("/api/admin/providers", PROVIDER, content_type="application/json",
                           headers={"x-csrftoken": token})
    assert created.status_code == 201


def test_provider_crud_never_shows_the_key(api):
    created = api.post("/api/admin/providers", PROVIDER, content_type="application/json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert "api_key" not in body and body["api_key_masked"] == "sk-test…1234"
    pid = body["id"]
    assert api.get(f"/api/admin/providers/{pid}").json()["headers"] == {"X-Team": "core"}
    patched = api.patch(f"/api/admin/providers/{pid}", {"priority": 1, "enabled": False},
                        content_type="application/json").json()
    assert (patched["priority"], patched["enabled"], patched["api_key_masked"]) == (1, False, "sk-test…1234")
    assert [p["name"] for p in api.get("/api/admin/providers").json()] == ["team-openai"]
    assert api.delete(f"/api/admin/providers/{pid}").status_code == 204
    assert api.get(f"/api/admin/providers/{pid}").status_code == 404


@pytest.mark.parametrize(
    ("change", "status"),
    [({"kind": "soap"}, 400), ({"base_url": "not a url"}, 400), ({"priority": 2**40}, 400),
     ({"name": "has space"}, 400), ({"options": {"x": "a\x00b"}}, 400), ({"auth_type": "magic"}, 400)],
)
def test_provider_create_rejects_bad_values_with_400(api, change, status):
    response = api.post("/api/admin/providers", {**PROVIDER, **change}, content_type="application/json")
    assert response.status_code == status, response.content
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert not Provider.objects.exists()


def test_duplicate_provider_name_is_400(api):
    api.post("/api/admin/providers", PROVIDER, content_type="application/json")
    response = api.post("/api/admin/providers", PROVIDER, content_type="application/json")
    assert response.status_code == 400
    assert "name" in response.json()["error"]["message"]


def test_tiers_routes_and_fingerprints_crud(api):
    api.post("/api/admin/providers", PROVIDER, content_type="application/json")
    tier = api.post("/api/admin/tiers", {"name": "big", "patterns": "opus", "entries": [
        {"provider": "team-openai", "model": "gpt-4.1"}, {"provider": "team-openai", "model": "gpt-4o"}]},
        content_type="application/json")
    assert tier.status_code == 201, tier.content
    assert [e["model"] for e in tier.json()["entries"]] == ["gpt-4.1", "gpt-4o"]
    tid = tier.json()["id"]
    patched = api.patch(f"/api/admin/tiers/{tid}", {"strategy": "round_robin", "entries": [
        {"provider": "team-openai", "model": "gpt-4o"}]}, content_type="application/json").json()
    assert patched["strategy"] == "round_robin" and [e["model"] for e in patched["entries"]] == ["gpt-4o"]
    bad = api.patch(f"/api/admin/tiers/{tid}", {"entries": [{"provider": "nope", "model": "m"}]},
                    content_type="application/json")
    assert bad.status_code == 400
    assert [e["model"] for e in api.get(f"/api/admin/tiers/{tid}").json()["entries"]] == ["gpt-4o"]  # unchanged

    route = api.post("/api/admin/routes", {"name": "long", "scenario": "long_context", "threshold": 50_000,
                                           "provider": "team-openai", "model": "gpt-4.1"},
                     content_type="application/json")
    assert route.status_code == 201 and route.json()["provider"] == "team-openai"
    rid = route.json()["id"]
    assert api.patch(f"/api/admin/routes/{rid}", {"provider": "ghost"}, content_type="application/json").status_code == 400
    assert api.delete(f"/api/admin/routes/{rid}").status_code == 204

    fp = api.post("/api/admin/fingerprints", {"fingerprint": "c" * 64, "name": "planner", "model": "opus"},
                  content_type="application/json")
    assert fp.status_code == 201
    assert api.patch(f"/api/admin/fingerprints/{fp.json()['id']}", {"model": "haiku"},
                     content_type="application/json").json()["model"] == "haiku"
    assert api.delete(f"/api/admin/tiers/{tid}").status_code == 204


def test_client_keys_issue_once_limit_and_report_usage(api):
    issued = api.post("/api/admin/client-keys", {"name": "ci", "requests_per_day": 100},
                      content_type="application/json")
    assert issued.status_code == 201
    body = issued.json()
    assert body["key"].startswith("sk-gw-") and body["requests_per_day"] == 100
    kid = body["id"]
    assert "key" not in api.get(f"/api/admin/client-keys/{kid}").json()
    patched = api.patch(f"/api/admin/client-keys/{kid}", {"tokens_per_day": 5000, "requests_per_day": None},
                        content_type="application/json").json()
    assert (patched["tokens_per_day"], patched["requests_per_day"]) == (5000, None)
    now = timezone.now()
    RequestLog.objects.bulk_create([
        RequestLog(created=now, client_key_id=kid, status=200, input_tokens=10, output_tokens=5),
        RequestLog(created=now, client_key_id=kid, status=429),
        RequestLog(created=now - timedelta(days=1), client_key_id=kid, status=200, input_tokens=1, output_tokens=1),
    ])
    usage = api.get(f"/api/admin/client-keys/{kid}/usage?days=2").json()
    assert usage["name"] == "ci" and set(usage["current"]) == {"rpm", "rpd", "tpd", "upd", "upm"}
    today, yesterday = usage["days"]
    assert (today["requests"], today["errors"], today["input_tokens"], today["output_tokens"]) == (2, 1, 10, 5)
    assert yesterday["requests"] == 1
    assert len(api.get("/api/admin/usage?days=1").json()) == 1
    assert api.delete(f"/api/admin/client-keys/{kid}").status_code == 204
    assert not ClientKey.objects.filter(pk=kid).exists()


def test_client_key_money_budgets_and_cost_in_usage(api):
    issued = api.post("/api/admin/client-keys", {"name": "spender", "usd_per_day": "5.50"},
                      content_type="application/json").json()
    assert (issued["usd_per_day"], issued["usd_per_month"]) == ("5.50", None)
    kid = issued["id"]
    patched = api.patch(f"/api/admin/client-keys/{kid}", {"usd_per_month": 100},
                        content_type="application/json").json()
    assert (Decimal(patched["usd_per_day"]), Decimal(patched["usd_per_month"])) == (Decimal("5.5"), 100)
    assert api.patch(f"/api/admin/client-keys/{kid}", {"usd_per_day": "-1"},
                     content_type="application/json").status_code == 400  # the API answers validation errors with 400
    now = timezone.now()
    RequestLog.objects.bulk_create([
        RequestLog(created=now, client_key_id=kid, status=200, input_tokens=10, cost_usd="0.25"),
        RequestLog(created=now, client_key_id=kid, status=200, input_tokens=10, cost_usd=None),  # unpriced
        RequestLog(created=now, client_key_id=kid, status=429, refusal="budget"),  # a refusal is not unpriced
    ])
    usage = api.get(f"/api/admin/client-keys/{kid}/usage?days=1").json()
    assert usage["spent"] == {"day": "0.000000", "month": "0.000000", "usd_per_day": "5.50", "usd_per_month": "100.00"}
    (today,) = usage["days"]
    assert (Decimal(today["cost_usd"]), today["unpriced_requests"], today["throttled"]) == (Decimal("0.25"), 1, 1)
    assert "partly unknown" in today["cost"]


def test_circuit_reset_and_token_refresh(api, monkeypatch):
    provider = Provider.objects.create(name="p", kind="anthropic", base_url="https://api.anthropic.com")
    circuit = CircuitState.objects.create(key=f"{provider.pk}:m:x", provider=provider, model="m", state="open",
                                          failure_count=5, open_until=9e9, reason="500")
    listed = api.get("/api/admin/circuits").json()
    assert listed[0]["provider"] == "p" and listed[0]["state"] == "open"
    assert api.post(f"/api/admin/circuits/{circuit.pk}/reset").json() == {"reset": 1}
    circuit.refresh_from_db()
    assert (circuit.state, circuit.failure_count) == ("closed", 0)
    assert api.post(f"/api/admin/providers/{provider.pk}/circuits/reset").json() == {"reset": 1}
    assert api.post(f"/api/admin/providers/{provider.pk}/token/refresh").status_code == 404
    token = OAuthToken.objects.create(provider=provider)
    calls = []
    monkeypatch.setattr("providers.admin_api.oauth_token_refresh",
                        lambda *, token_id: calls.append(token_id) or RefreshResult(False, "no refresh token stored"))
    assert api.post(f"/api/admin/providers/{provider.pk}/token/refresh").json() == {
        "ok": False, "error": "no refresh token stored"}
    assert calls == [token.pk]


def test_openapi_schema_documents_the_admin_api(api):
    schema = api.get("/api/openapi.json").json()
    paths = [p for p in schema["paths"] if p.startswith("/api/admin/")]
    assert "/api/admin/providers/{provider_id}" in paths and "/api/admin/client-keys/{key_id}/usage" in paths
    assert "BearerAuth" in str(schema["components"]["securitySchemes"]) or schema["components"]["securitySchemes"]


@pytest.mark.parametrize("change", [{"headers": {"X-Leak": "${SECRET_KEY}"}},
                                    {"api_key": "${DATABASE_URL}"},
                                    {"headers": {"X-Team": "a-${FIELD_ENCRYPTION_KEY:-x}"}}])
def test_provider_with_a_disallowed_env_var_is_400_and_not_saved(api, change):
    response = api.post("/api/admin/providers", {**PROVIDER, **change}, content_type="application/json")
    assert response.status_code == 400, response.content
    message = response.json()["error"]["message"]
    assert "GATEWAY_SECRET_" in message and "PROVIDER_ENV_ALLOWLIST" in message
    assert not Provider.objects.exists()


def test_provider_patch_with_a_disallowed_env_var_is_400(api):
    pid = api.post("/api/admin/providers", PROVIDER, content_type="application/json").json()["id"]
    bad = api.patch(f"/api/admin/providers/{pid}", {"headers": {"X-Leak": "${SECRET_KEY}"}},
                    content_type="application/json")
    assert bad.status_code == 400 and "${SECRET_KEY}" in bad.json()["error"]["message"]
    assert Provider.objects.get(pk=pid).headers == {"X-Team": "core"}


def test_provider_with_allowed_env_vars_is_saved(api):
    allowed = {"headers": {"X-Team": "${GATEWAY_SECRET_TEAM}"}, "api_key": "${OPENAI_API_KEY}"}
    assert api.post("/api/admin/providers", {**PROVIDER, **allowed}, content_type="application/json").status_code == 201


def test_client_key_duplicate_name_is_400_on_create_and_rename(api):
    assert api.post("/api/admin/client-keys", {"name": "ci"}, content_type="application/json").status_code == 201
    again = api.post("/api/admin/client-keys", {"name": "ci"}, content_type="application/json")
    assert again.status_code == 400 and "already exists" in again.json()["error"]["message"]
    other = api.post("/api/admin/client-keys", {"name": "cd"}, content_type="application/json").json()
    renamed = api.patch(f"/api/admin/client-keys/{other['id']}", {"name": "ci"}, content_type="application/json")
    assert renamed.status_code == 400 and "name" in renamed.json()["error"]["message"]
    assert ClientKey.objects.filter(name="ci").count() == 1


def test_client_key_expiry_and_rotation_through_the_api(api):
    soon = (timezone.now() + timedelta(days=30)).isoformat()
    issued = api.post("/api/admin/client-keys", {"name": "ci", "expires_at": soon, "requests_per_day": 7},
                      content_type="application/json").json()
    assert issued["expires_at"] is not None
    rotated = api.post(f"/api/admin/client-keys/{issued['id']}/rotate", {"grace_seconds": 600},
                       content_type="application/json")
    assert rotated.status_code == 201, rotated.content
    body = rotated.json()
    assert body["name"] == "ci" and body["key"] != issued["key"] and body["requests_per_day"] == 7
    assert body["expires_at"] is None
    previous = body["previous"]
    assert previous["id"] == issued["id"] and previous["name"].startswith("ci (rotated ")
    left = ClientKey.objects.get(pk=issued["id"]).expires_at - timezone.now()
    assert timedelta(seconds=590) < left <= timedelta(seconds=600)
    assert api.post(f"/api/admin/client-keys/{body['id']}/rotate", {"grace_seconds": -1},
                    content_type="application/json").status_code == 400
    assert api.post("/api/admin/client-keys/999999/rotate", {}, content_type="application/json").status_code == 404
