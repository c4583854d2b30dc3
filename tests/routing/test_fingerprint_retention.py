"""The agent-fingerprint table stays bounded: unassigned sightings are capped and aged out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from dashboard.services import request_log_aflush
from routing import tasks
from routing.models import AgentFingerprint
from routing.services import fingerprint_sightings_write

pytestmark = [pytest.mark.django_db(transaction=True)]

BODY = {"model": "claude-sonnet-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


def _named(name: str, model: str = "") -> AgentFingerprint:
    now = timezone.now() - timedelta(days=400)
    return AgentFingerprint.objects.create(fingerprint=f"named-{name}", name=name, model=model, first_seen=now,
                                           last_seen=now)


@pytest.mark.asyncio
async def test_unique_system_prompts_stay_within_the_cap(openai_up, gateway_client, settings):
    settings.FINGERPRINT_SIGHTINGS_MAX = 25
    for i in range(60):
        body = {**BODY, "system": f"You are throwaway agent number {i}. Be brief."}
        assert (await gateway_client.post("/v1/messages", json=body)).status_code == 200
        if i % 20 == 19:
            await request_log_aflush()
    await request_log_aflush()
    assert await AgentFingerprint.objects.sightings().acount() == 25
    samples = [row.sample async for row in AgentFingerprint.objects.sightings()]
    kept = sorted(int(sample.split("number ")[1].split(".")[0]) for sample in samples)
    assert kept == list(range(35, 60))  # the least recently seen made room


def test_cap_never_touches_named_or_assigned_rows(settings):
    settings.FINGERPRINT_SIGHTINGS_MAX = 3
    _named("reviewer"), _named("tester", model="haiku")
    AgentFingerprint.objects.create(fingerprint="assigned-only", model="big")
    left = fingerprint_sightings_write({f"print-{i}": (1, f"prompt {i}") for i in range(10)})
    assert left == {}
    assert AgentFingerprint.objects.sightings().count() == 3
    assert set(AgentFingerprint.objects.exclude(name="", model="").values_list("fingerprint", flat=True)) == {
        "named-reviewer", "named-tester", "assigned-only"}


def test_sighting_with_a_nul_does_not_lose_the_others():
    fingerprint_sightings_write({"a": (2, "one"), "b": (1, "two\x00three"), "c": (1, "four")})
    assert dict(AgentFingerprint.objects.values_list("fingerprint", "seen_count")) == {"a": 2, "b": 1, "c": 1}
    assert AgentFingerprint.objects.get(fingerprint="b").sample == "two\ufffdthree"


def test_prune_task_deletes_old_sightings_only(settings):
    settings.FINGERPRINT_SIGHTINGS_RETENTION_DAYS = 14
    settings.REQUEST_LOG_PRUNE_BATCH = 2  # several batches
    old, fresh = timezone.now() - timedelta(days=15), timezone.now() - timedelta(days=13)
    for i in range(5):
        AgentFingerprint.objects.create(fingerprint=f"old-{i}", last_seen=old, seen_count=1)
    AgentFingerprint.objects.create(fingerprint="fresh", last_seen=fresh, seen_count=1)
    _named("reviewer")  # 400 days old, but from an agent file: kept
    assert tasks.fingerprint_sightings_prune() == 5
    assert set(AgentFingerprint.objects.values_list("fingerprint", flat=True)) == {"fresh", "named-reviewer"}
    settings.FINGERPRINT_SIGHTINGS_RETENTION_DAYS = 0
    AgentFingerprint.objects.filter(fingerprint="fresh").update(last_seen=old)
    assert tasks.fingerprint_sightings_prune() == 0


def test_admin_changelists_show_both_retention_periods(settings):
    from django.contrib.auth.models import User

    settings.REQUEST_LOG_RETENTION_DAYS, settings.FINGERPRINT_SIGHTINGS_RETENTION_DAYS = 30, 14
    client = Client()
    client.force_login(User.objects.create_superuser("root", password="pw"))
    logs = client.get("/admin/dashboard/requestlog/").content.decode()
    prints = client.get("/admin/routing/agentfingerprint/").content.decode()
    assert "rows older than 30 days are deleted daily" in logs
    assert "deleted after 14 days unseen" in prints and "at most 1000" in prints
