"""Client keys: expiry, rotation with a grace period, unique names (service, command, migration)."""

from __future__ import annotations

import io
from datetime import timedelta

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from clients.auth import client_key_cache_clear
from clients.models import ClientKey
from clients.services import (
    DuplicateKeyName,
    client_key_create,
    client_key_name_free,
    client_key_rotate,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _api():
    from proxy_project.asgi import application

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://gateway.test")


async def _status(key: str) -> int:
    async with _api() as api:
        return (await api.get("/v1/models", headers={"x-api-key": key})).status_code


def test_enabled_excludes_expired_and_disabled_keys():
    now = timezone.now()
    live, _ = client_key_create(name="live", expires_at=now + timedelta(minutes=5))
    forever, _ = client_key_create(name="forever")
    client_key_create(name="expired", expires_at=now - timedelta(seconds=1))
    off, _ = client_key_create(name="off")
    ClientKey.objects.filter(pk=off.pk).update(enabled=False)
    assert set(ClientKey.objects.enabled().values_list("name", flat=True)) == {"live", "forever"}


async def test_expired_key_is_refused_on_the_api():
    _, key = await sync_to_async(client_key_create)(name="soon", expires_at=timezone.now() + timedelta(hours=1))
    assert await _status(key) == 200
    await ClientKey.objects.filter(name="soon").aupdate(expires_at=timezone.now() - timedelta(seconds=1))
    client_key_cache_clear()  # other workers: within CLIENT_KEY_CACHE_TTL
    assert await _status(key) == 401


async def test_rotation_keeps_the_old_key_for_the_grace_period_only():
    old, old_key = await sync_to_async(client_key_create)(name="ci", requests_per_day=50, tokens_per_day=9000)
    new, new_key = await sync_to_async(client_key_rotate)(key_id=old.pk, grace_seconds=3600)
    assert (new.name, new.requests_per_day, new.tokens_per_day, new.expires_at) == ("ci", 50, 9000, None)
    assert await _status(old_key) == 200 and await _status(new_key) == 200  # both during the grace period
    await old.arefresh_from_db()
    assert timedelta(minutes=59) < old.expires_at - timezone.now() <= timedelta(hours=1)
    assert old.name.startswith("ci (rotated ") and old.name.endswith(f"#{old.pk})")
    await ClientKey.objects.filter(pk=old.pk).aupdate(expires_at=timezone.now() - timedelta(seconds=1))  # grace over
    client_key_cache_clear()
    assert await _status(old_key) == 401 and await _status(new_key) == 200


async def test_rotation_with_no_grace_stops_the_old_key_at_once():
    old, old_key = await sync_to_async(client_key_create)(name="ci")
    _, new_key = await sync_to_async(client_key_rotate)(key_id=old.pk, grace_seconds=0)
    assert await _status(old_key) == 401 and await _status(new_key) == 200


def test_rotation_never_extends_an_expiry_and_keeps_a_disabled_key_disabled():
    soon = timezone.now() + timedelta(minutes=1)
    old, _ = client_key_create(name="ci", expires_at=soon)
    ClientKey.objects.filter(pk=old.pk).update(enabled=False)
    new, _ = client_key_rotate(key_id=old.pk, grace_seconds=3600)
    old.refresh_from_db()
    assert old.expires_at == soon and not ClientKey.objects.get(pk=new.pk).enabled
    again, _ = client_key_rotate(key_id=new.pk, grace_seconds=60)  # a second rotation: names stay distinct
    assert ClientKey.objects.filter(name__startswith="ci (rotated ").count() == 2 and again.name == "ci"
    with pytest.raises(ValueError, match="grace"):
        client_key_rotate(key_id=again.pk, grace_seconds=-5)


def test_duplicate_names_are_refused_and_a_free_name_is_found():
    client_key_create(name="ci")
    with pytest.raises(DuplicateKeyName, match="already exists"):
        client_key_create(name="ci")
    assert client_key_name_free(base="ci") == "ci (2)"
    client_key_create(name="ci (2)")
    assert client_key_name_free(base="ci") == "ci (3)"
    assert ClientKey.objects.filter(name="ci").count() == 1


def test_create_client_key_command_refuses_duplicates_and_rotates():
    out = io.StringIO()
    call_command("create_client_key", "ci", "--print", stdout=out)
    first = out.getvalue().strip()
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_client_key", "ci", stdout=io.StringIO())
    out, err = io.StringIO(), io.StringIO()
    call_command("create_client_key", "ci", "--rotate", "--grace", "120", "--print", stdout=out, stderr=err)
    second = out.getvalue().strip()
    assert second.startswith("sk-gw-") and second != first and "expires" in err.getvalue()
    old = ClientKey.objects.get(key_hash=ClientKey.hash_key(first))
    assert old.name.startswith("ci (rotated ") and old.expires_at - timezone.now() <= timedelta(seconds=120)
    assert ClientKey.objects.get(name="ci").key_hash == ClientKey.hash_key(second)
    with pytest.raises(CommandError, match="no client key named"):
        call_command("create_client_key", "nobody", "--rotate", stdout=io.StringIO())


def test_migration_renames_existing_duplicate_names():
    executor = MigrationExecutor(connection)
    before = [("providers", "0007_circuitstate_rate_limit_cooldown")]
    executor.migrate(before)
    try:
        old_model = executor.loader.project_state(before).apps.get_model("providers", "ClientKey")
        for i, name in enumerate(["ci", "ci", "ci (2)", "ci", "solo"]):
            old_model.objects.create(name=name, key_hash=f"{i:064x}", key_prefix="sk-gw-")
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())  # every app back at its latest (0009 included)
    names = list(ClientKey.objects.order_by("pk").values_list("name", flat=True))
    assert names == ["ci", "ci (3)", "ci (2)", "ci (4)", "solo"]


def test_rotating_a_retired_key_twice_in_a_minute_keeps_names_distinct():
    """A 100-character name: the retired name is truncated to the same text both times."""
    first, _ = client_key_create(name="k" * 100)
    client_key_rotate(key_id=first.pk, grace_seconds=60)
    first.refresh_from_db()
    retired = first.name
    assert len(retired) == 100 and retired.endswith(f"#{first.pk})")
    again, _ = client_key_rotate(key_id=first.pk, grace_seconds=60)  # the retired key itself, same minute
    first.refresh_from_db()
    assert again.name == retired and first.name != retired and first.name.endswith(" (2)")
    assert len(first.name) <= 100


def test_rotation_is_recorded_in_the_audit_trail():
    from audit.models import AuditEntry

    old, _ = client_key_create(name="ci")
    new, _ = client_key_rotate(key_id=old.pk, grace_seconds=60)
    entries = AuditEntry.objects.filter(model="clients.ClientKey")
    renamed = entries.get(object_id=str(old.pk), action=AuditEntry.Action.UPDATE)
    assert set(renamed.changes) == {"name", "expires_at"} and renamed.changes["name"]["old"] == "ci"
    assert entries.filter(object_id=str(new.pk), action=AuditEntry.Action.CREATE).exists()


def test_money_budgets_in_the_command_the_keys_list_the_admin_and_rotation(client, capsys):
    from decimal import Decimal

    from django.contrib.auth.models import User

    from proxy_project.cli.keys import key_list

    call_command("create_client_key", "spender", "--usd-per-day", "20", "--usd-per-month", "250.5",
                 "--key", "sk-gw-test-spender-000000", stdout=io.StringIO())
    row = ClientKey.objects.get(name="spender")
    assert (row.usd_per_day, row.usd_per_month) == (Decimal("20"), Decimal("250.5"))
    key_list()
    listed = capsys.readouterr().out
    assert "usd/day" in listed and "usd/month" in listed and "20.00" in listed and "250.50" in listed
    rotated, _ = client_key_rotate(key_id=row.pk, grace_seconds=0)
    assert (rotated.usd_per_day, rotated.usd_per_month) == (Decimal("20"), Decimal("250.5"))

    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    response = client.post("/admin/clients/clientkey/add/", {"name": "capped", "enabled": "on", "usd_per_day": "1.50"})
    assert response.status_code == 302, response.content.decode()[:1500]
    assert ClientKey.objects.get(name="capped").usd_per_day == Decimal("1.50")
    assert "usd_per_month" in client.get(f"/admin/clients/clientkey/{rotated.pk}/change/").content.decode()
