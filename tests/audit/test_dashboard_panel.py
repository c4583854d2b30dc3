"""The dashboard's "Recent changes" panel: server-rendered from the audit trail, staff only."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from audit.context import Actor, actor_scope
from tests.conftest import make_provider

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff():
    return get_user_model().objects.create_user("ops", password="pw-ops-123", is_staff=True)


def test_dashboard_shows_recent_changes(staff):
    with actor_scope(Actor("command", "command import_config")):
        provider = make_provider("openai", "http://127.0.0.1:9/v1", key="sk-test-panel-key-6666")
    provider.priority = 3
    provider.save()
    browser = Client()
    browser.force_login(staff)
    html = browser.get("/dashboard/").content.decode()
    assert "Recent changes" in html and 'id="recent-changes"' in html
    assert "command import_config" in html and "api key: changed" in html
    assert "priority: 0 → 3" in html and "system" in html
    assert "sk-test-panel-key-6666" not in html and provider.api_key_encrypted not in html


def test_changes_panel_alone_for_htmx_polling(staff):
    make_provider("openai", "http://127.0.0.1:9/v1")
    browser = Client()
    browser.force_login(staff)
    response = browser.get("/dashboard/?panel=changes", headers={"hx-request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.strip().startswith('<section id="changes"') and "<body" not in html
    assert "Provider openai" in html


def test_changes_panel_refuses_anonymous_and_non_staff():
    assert Client().get("/dashboard/?panel=changes", headers={"hx-request": "true"}).status_code == 302
    user = get_user_model().objects.create_user("someone", password="pw")
    browser = Client()
    browser.force_login(user)
    assert browser.get("/dashboard/?panel=changes", headers={"hx-request": "true"}).status_code == 302
