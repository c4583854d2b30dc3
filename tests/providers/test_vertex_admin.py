"""The admin's Vertex fields: project and region into options, the service-account key write-only."""

from __future__ import annotations

import json

import pytest

from providers.models import Provider
from runtime import crypto
from tests.fakes.vertex_server import service_account_info


@pytest.fixture
def admin_client(client, transactional_db):
    from django.contrib.auth.models import User

    User.objects.create_superuser("root", "root@example.com", "pw-admin-tests")
    client.login(username="root", password="pw-admin-tests")
    return client


def form(**fields):
    data = {"name": "vertex", "kind": "", "base_url": "", "auth_type": "api_key", "auth_header": "", "priority": "100",
            "max_retries": "0", "headers": "{}", "options": "{}", "preset": "vertex", "api_key": "", "enabled": "on",
            "vertex_project": "", "vertex_region": "", "service_account_json": ""}
    data.update(fields)
    return data


def test_vertex_preset_with_service_account_key(admin_client):
    key = json.dumps(service_account_info("http://127.0.0.1:9/token", project="team-proj"), indent=2)
    response = admin_client.post("/admin/providers/provider/add/", form(vertex_region="europe-west1",
                                                                        service_account_json=key))
    assert response.status_code == 302, response.content[:3000]
    provider = Provider.objects.get(name="vertex")
    assert provider.kind == "vertex" and provider.base_url == "https://aiplatform.googleapis.com"
    assert provider.options == {"project": "team-proj", "region": "europe-west1"}
    assert json.loads(crypto.decrypt(provider.api_key_encrypted))["client_email"].endswith(".iam.gserviceaccount.com")
    page = admin_client.get(f"/admin/providers/provider/{provider.pk}/change/").content.decode()
    assert "PRIVATE KEY" not in page and 'value="team-proj"' in page and 'value="europe-west1"' in page
    # Saving again without pasting keeps the stored key; an explicit project wins over the key's.
    response = admin_client.post(f"/admin/providers/provider/{provider.pk}/change/",
                                 form(preset="vertex", kind="vertex", base_url=provider.base_url,
                                      options=json.dumps(provider.options), vertex_project="other-proj"))
    assert response.status_code == 302, response.content[:3000]
    provider.refresh_from_db()
    assert provider.options["project"] == "other-proj"
    assert "private_key" in crypto.decrypt(provider.api_key_encrypted)


@pytest.mark.parametrize("text", ["not json", json.dumps({"type": "authorized_user", "client_id": "x"})])
def test_vertex_refuses_what_is_not_a_service_account_key(admin_client, text):
    response = admin_client.post("/admin/providers/provider/add/", form(vertex_project="p", service_account_json=text))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["service_account_json"]
    assert not Provider.objects.filter(name="vertex").exists()
