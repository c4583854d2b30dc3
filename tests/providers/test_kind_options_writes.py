"""Unknown or mistyped provider options are refused where rows are written: admin form, REST API, import."""

from __future__ import annotations

import pytest
from django.test import Client

from providers.models import Provider

pytestmark = pytest.mark.django_db(transaction=True)

PROVIDER = {"name": "team-anthropic", "kind": "anthropic", "base_url": "https://api.anthropic.com",
            "api_key": "sk-ant-api03-fake-test-key"}


@pytest.fixture
def api():
    from django.contrib.auth import get_user_model

    from clients.services import staff_token_create

    user = get_user_model().objects.create_user("ops", password="pw-ops-123", is_staff=True)
    return Client(headers={"authorization": f"Bearer {staff_token_create(user=user, name='tests')[1]}"})


@pytest.fixture
def admin_client(client):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def test_admin_api_refuses_an_unknown_option_naming_the_allowed_ones(api):
    response = api.post("/api/admin/providers", {**PROVIDER, "options": {"region": "us-east-1"}},
                        content_type="application/json")
    assert response.status_code == 400, response.content
    message = response.json()["error"]["message"]
    assert "region" in message and "anthropic_version, beta_allow, beta_deny" in message
    assert not Provider.objects.exists()
    ok = api.post("/api/admin/providers", {**PROVIDER, "options": {"beta_deny": ["context-1m"]}},
                  content_type="application/json")
    assert ok.status_code == 201 and ok.json()["options"] == {"beta_deny": ["context-1m"]}


def test_admin_api_patch_of_kind_checks_the_options_against_the_new_kind(api):
    created = api.post("/api/admin/providers", {**PROVIDER, "kind": "bedrock", "options": {"region": "eu-west-1"}},
                       content_type="application/json").json()
    response = api.patch(f"/api/admin/providers/{created['id']}", {"kind": "anthropic"},
                         content_type="application/json")
    assert response.status_code == 400 and "region" in response.json()["error"]["message"]


def test_admin_form_shows_the_option_error_and_each_kinds_keys(admin_client):
    page = admin_client.get("/admin/providers/provider/add/")
    assert "bedrock_converse: " in page.content.decode() and "probe_model" in page.content.decode()
    response = admin_client.post("/admin/providers/provider/add/", {
        "name": "gem", "kind": "gemini", "base_url": "https://generativelanguage.googleapis.com",
        "auth_type": "api_key", "priority": 100, "max_retries": 0, "headers": "{}",
        "options": '{"reasoning_effort": true}',
    })
    assert response.status_code == 200  # the form again, with the error
    assert "reasoning_effort: not an option of gemini providers" in response.content.decode()
    assert not Provider.objects.exists()


def test_config_import_refuses_an_unknown_option():
    from configuration.services import ConfigError, config_import

    data = {"version": 1, "providers": [{**PROVIDER, "options": {"tool_id_max": 9}}], "tiers": []}
    with pytest.raises(ConfigError) as err:
        config_import(data=data, source="test.json")
    assert "tool_id_max" in str(err.value) and "not an option of anthropic providers" in str(err.value)
