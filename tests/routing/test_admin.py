from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from routing.models import AgentFingerprint, ModelTier, Route, TierEntry
from routing.selectors import route_table_get
from tests.conftest import make_provider, make_tiers

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def admin_client(client, transactional_db):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    return client


def tier_form(tier: ModelTier, entries: list[TierEntry], **changes) -> dict[str, str]:
    data = {
        "name": tier.name, "patterns": tier.patterns, "strategy": tier.strategy,
        "entries-TOTAL_FORMS": str(len(entries)), "entries-INITIAL_FORMS": str(len(entries)),
        "entries-MIN_NUM_FORMS": "0", "entries-MAX_NUM_FORMS": "1000",
    }
    for i, entry in enumerate(entries):
        data.update({
            f"entries-{i}-id": str(entry.pk), f"entries-{i}-tier": str(tier.pk),
            f"entries-{i}-position": str(entry.position), f"entries-{i}-provider": str(entry.provider_id),
            f"entries-{i}-model": entry.model, f"entries-{i}-enabled": "on",
        })
    data.update(changes)
    return data


def table_models(tier_name: str) -> tuple[tuple[str, str], ...]:
    table = async_to_sync(route_table_get)()
    return next(t.entries for t in table.tiers if t.name == tier_name)


def test_tier_edit_in_admin_takes_effect_on_next_request(admin_client, settings):
    settings.ROUTE_TABLE_TTL = 3600  # only the admin's invalidation can make the edit visible
    provider = make_provider("openai", "http://127.0.0.1:9/v1")
    make_tiers(default=(provider, "gpt-old"))
    assert table_models("middle") == (("openai", "gpt-old"),)
    tier = ModelTier.objects.get(name="middle")
    entries = list(tier.entries.all())
    response = admin_client.post(f"/admin/routing/modeltier/{tier.pk}/change/",
                                 tier_form(tier, entries, **{"entries-0-model": "gpt-new"}))
    assert response.status_code == 302, response.content[:2000]
    assert table_models("middle") == (("openai", "gpt-new"),)


def test_tier_entries_are_reordered_by_position(admin_client, settings):
    settings.ROUTE_TABLE_TTL = 3600
    one = make_provider("one", "http://127.0.0.1:9/v1")
    two = make_provider("two", "http://127.0.0.1:9/v1", priority=5)
    make_tiers({"big": [(one, "a"), (two, "b")]})
    assert table_models("big") == (("one", "a"), ("two", "b"))
    tier = ModelTier.objects.get(name="big")
    entries = list(tier.entries.order_by("position"))
    response = admin_client.post(f"/admin/routing/modeltier/{tier.pk}/change/",
                                 tier_form(tier, entries, **{"entries-0-position": "9"}))
    assert response.status_code == 302
    assert table_models("big") == (("two", "b"), ("one", "a"))


def test_provider_and_route_admin_saves_invalidate_the_route_table(admin_client, settings):
    settings.ROUTE_TABLE_TTL = 3600
    provider = make_provider("openai", "http://127.0.0.1:9/v1")
    assert async_to_sync(route_table_get)().routes == ()
    response = admin_client.post("/admin/routing/route/add/", {
        "name": "long", "scenario": "long_context", "pattern": "", "threshold": "1000",
        "provider": str(provider.pk), "model": "gpt-long", "position": "0", "enabled": "on",
    })
    assert response.status_code == 302
    assert [r.model for r in async_to_sync(route_table_get)().routes] == ["gpt-long"]
    route = Route.objects.get()
    admin_client.post(f"/admin/routing/route/{route.pk}/delete/", {"post": "yes"})
    assert async_to_sync(route_table_get)().routes == ()
    admin_client.post(f"/admin/providers/provider/{provider.pk}/delete/", {"post": "yes"})
    assert async_to_sync(route_table_get)().providers == {}


def test_agent_fingerprint_admin_filters_unassigned(admin_client):
    now = timezone.now()
    AgentFingerprint.objects.create(fingerprint="a" * 16, name="reviewer", model="big")
    AgentFingerprint.objects.create(fingerprint="b" * 16, seen_count=3, first_seen=now, last_seen=now)
    response = admin_client.get("/admin/routing/agentfingerprint/?assigned=no")
    assert [a.fingerprint for a in response.context["cl"].result_list] == ["b" * 16]
    response = admin_client.get("/admin/routing/agentfingerprint/?assigned=yes")
    assert [a.name for a in response.context["cl"].result_list] == ["reviewer"]
