from __future__ import annotations

import time

import pytest

from providers.models import OAuthToken, Provider
from routing.breaker import CLOSED, OPEN
from routing.models import CircuitState
from tests.conftest import make_provider
from tests.fakes import FakeOpenAI, Reply

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client(client, transactional_db):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_provider_test_connection_action_shows_the_result(admin_client):
    with FakeOpenAI() as up:
        good = make_provider("good", up.base_url)
        response = admin_client.post("/admin/providers/provider/", {
            "action": "test_connection", "_selected_action": [good.pk],
        }, follow=True)
        assert any(m.startswith("good: OK, HTTP 200") for m in messages_of(response))
        up.enqueue(Reply.error(503), path="/v1/models")
        response = admin_client.post("/admin/providers/provider/", {
            "action": "test_connection", "_selected_action": [good.pk],
        }, follow=True)
    assert "good: failed: HTTP 503" in messages_of(response)
    good.refresh_from_db()
    assert good.health_ok is False


def test_provider_secret_is_write_only_and_masked(admin_client):
    provider = make_provider("openai", "http://127.0.0.1:9/v1", key="sk-secret-value-1234567890")
    page = admin_client.get(f"/admin/providers/provider/{provider.pk}/change/").content.decode()
    assert "sk-secret-value-1234567890" not in page
    assert "sk-secr…7890" in page
    listing = admin_client.get("/admin/providers/provider/").content.decode()
    assert "sk-secret-value-1234567890" not in listing


def test_circuit_reset_action_closes_the_circuit(admin_client):
    provider = make_provider("openai", "http://127.0.0.1:9/v1")
    circuit = CircuitState.objects.create(key="k", provider=provider, model="gpt", state=OPEN, failure_count=5,
                                          open_until=time.time() + 60, reason="failed 503")
    listing = admin_client.get("/admin/routing/circuitstate/").content.decode()
    assert "failed 503" in listing and "UTC" in listing
    response = admin_client.post("/admin/routing/circuitstate/", {
        "action": "reset_circuit", "_selected_action": [circuit.pk],
    }, follow=True)
    assert "1 circuit(s) closed." in messages_of(response)
    circuit.refresh_from_db()
    assert (circuit.state, circuit.failure_count, circuit.open_until) == (CLOSED, 0, 0)


def test_oauth_refresh_now_action_reports_the_outcome(admin_client):
    provider = make_provider("anthropic", "http://127.0.0.1:9", kind="anthropic", auth_type=Provider.AuthType.OAUTH)
    token = OAuthToken.objects.create(provider=provider)
    token.set_tokens("sk-ant-oat01-access-token-secret")
    token.save()
    page = admin_client.get(f"/admin/providers/oauthtoken/{token.pk}/change/").content.decode()
    assert "sk-ant-oat01-access-token-secret" not in page
    response = admin_client.post("/admin/providers/oauthtoken/", {
        "action": "refresh_now", "_selected_action": [token.pk],
    }, follow=True)
    assert "anthropic: no refresh token stored" in messages_of(response)


def provider_form(**fields) -> dict[str, str]:
    data = {"name": "p", "kind": "", "base_url": "", "auth_type": "api_key", "auth_header": "", "priority": "100",
            "max_retries": "0", "headers": "{}", "options": "{}", "preset": "", "api_key": "", "enabled": "on"}
    data.update(fields)
    return data


def test_provider_add_with_a_preset_fills_kind_and_url(admin_client):
    from providers.presets import PRESETS

    name, spec = next((n, s) for n, s in PRESETS.items() if s["kind"] == "openai_compat")
    response = admin_client.post("/admin/providers/provider/add/", provider_form(name="viapreset", preset=name,
                                                                                  api_key="sk-preset-key-123456"))
    assert response.status_code == 302, response.content[:3000]
    provider = Provider.objects.get(name="viapreset")
    assert (provider.kind, provider.base_url, provider.preset) == ("openai_compat", spec["base_url"], name)
    assert provider.api_key_masked.endswith("3456")


def test_provider_add_without_preset_needs_kind_and_url(admin_client):
    response = admin_client.post("/admin/providers/provider/add/", provider_form(name="bare"))
    assert response.status_code == 200
    assert "Required unless a preset is picked." in response.content.decode()
    assert not Provider.objects.filter(name="bare").exists()


def test_client_key_add_keeps_limits_and_shows_key_once(admin_client):
    from clients.models import ClientKey

    response = admin_client.post("/admin/clients/clientkey/add/", {
        "name": "team", "enabled": "on", "requests_per_minute": "30", "requests_per_day": "", "tokens_per_day": "1000",
    }, follow=True)
    [message] = [m for m in messages_of(response) if "shown once" in m]
    key = ClientKey.objects.get(name="team")
    assert (key.requests_per_minute, key.requests_per_day, key.tokens_per_day) == (30, None, 1000)
    assert ClientKey.hash_key(message.rsplit(" ", 1)[-1]) == key.key_hash


PROVIDER_FORM = {"name": "leaky", "kind": "openai_compat", "base_url": "https://api.example.com/v1",
                 "auth_type": "api_key", "enabled": "on", "priority": 10, "max_retries": 0, "options": "{}",
                 "preset": "", "auth_header": ""}


@pytest.mark.parametrize(("change", "field"), [({"headers": '{"X-Leak": "${SECRET_KEY}"}'}, "headers"),
                                               ({"headers": "{}", "api_key": "${DATABASE_URL}"}, "api_key")])
def test_provider_form_refuses_a_disallowed_env_var(admin_client, change, field):
    response = admin_client.post("/admin/providers/provider/add/", {**PROVIDER_FORM, **change})
    assert response.status_code == 200  # the form again, with the error
    errors = response.context["adminform"].form.errors
    assert "GATEWAY_SECRET_" in " ".join(errors[field]) and "PROVIDER_ENV_ALLOWLIST" in " ".join(errors[field])
    assert not Provider.objects.filter(name="leaky").exists()


def test_provider_form_accepts_allowed_env_vars(admin_client):
    response = admin_client.post("/admin/providers/provider/add/", {
        **PROVIDER_FORM, "headers": '{"X-Team": "${GATEWAY_SECRET_TEAM}"}', "api_key": "${OPENAI_API_KEY}"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Provider.objects.get(name="leaky").headers == {"X-Team": "${GATEWAY_SECRET_TEAM}"}


def test_client_key_admin_refuses_a_duplicate_name(admin_client):
    from clients.models import ClientKey
    from clients.services import client_key_create

    client_key_create(name="ci")
    response = admin_client.post("/admin/clients/clientkey/add/", {"name": "ci", "enabled": "on"})
    assert response.status_code == 200
    assert "already exists" in " ".join(response.context["adminform"].form.errors["name"])
    assert ClientKey.objects.filter(name="ci").count() == 1


def test_client_key_admin_rotates_with_a_grace_hour(admin_client):
    from datetime import timedelta

    from django.utils import timezone

    from clients.models import ClientKey
    from clients.services import client_key_create

    old, _ = client_key_create(name="ci", requests_per_minute=5)
    response = admin_client.post("/admin/clients/clientkey/", {
        "action": "rotate_with_grace", "_selected_action": [old.pk]}, follow=True)
    shown = [m for m in messages_of(response) if m.startswith("New key for ci")]
    assert len(shown) == 1 and "sk-gw-" in shown[0]
    new = ClientKey.objects.get(name="ci")
    assert new.pk != old.pk and new.requests_per_minute == 5 and new.expires_at is None
    old.refresh_from_db()
    assert old.name.startswith("ci (rotated ")
    assert timedelta(minutes=59) < old.expires_at - timezone.now() <= timedelta(hours=1)
