"""Management commands: init, status, create_client_key, create_admin_token, serve's first run."""

from __future__ import annotations

import io
import json
import sys

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from clients.models import ClientKey, StaffToken
from dashboard.models import RequestLog
from providers.models import Provider
from proxy_project.bootstrap import gateway_prepare, staff_user_ensure
from routing.models import CircuitState, ModelTier
from tests.support.gateway import credential, credentials_file

pytestmark = pytest.mark.django_db


def run(*args, stdin: str | None = None, **options) -> str:
    out = io.StringIO()
    if stdin is not None:
        old = sys.stdin
        sys.stdin = io.StringIO(stdin)
        try:
            call_command(*args, stdout=out, stderr=io.StringIO(), **options)
        finally:
            sys.stdin = old
    else:
        call_command(*args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


def test_init_from_flags_writes_a_config_that_imports(tmp_path):
    target = tmp_path / "gateway.json"
    out = run("init", "--no-input", "--kind", "anthropic", "--api-key", "sk-ant-api03-init",
              "--big-model", "claude-opus-4-1", "--output", str(target), "--import")
    data = json.loads(target.read_text())
    assert data["providers"][0] == {**data["providers"][0], "name": "anthropic", "kind": "anthropic",
                                    "base_url": "https://api.anthropic.com", "api_key": "sk-ant-api03-init"}
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert "imported 1 provider and 3 tiers" in out
    big = ModelTier.objects.get(name="big").entries.get()
    assert (big.provider.name, big.model) == ("anthropic", "claude-opus-4-1")


def test_init_interactive_asks_for_each_value(tmp_path):
    target = tmp_path / "g.json"
    answers = "openai_compat\nlocal\nhttp://127.0.0.1:11434/v1\n\nbig-m\n\nsmall-m\n"
    out = run("init", "--interactive", "--output", str(target), stdin=answers)
    assert "Backend kind" in out and "Model for haiku requests" in out
    data = json.loads(target.read_text())
    assert data["providers"][0]["auth_type"] == "none"
    assert {t["name"]: t["entries"][0]["model"] for t in data["tiers"]} == {
        "small": "small-m", "middle": "big-m", "big": "big-m"}  # middle follows big


def test_init_refuses_to_overwrite_and_bad_values(tmp_path):
    target = tmp_path / "g.json"
    target.write_text("{}")
    with pytest.raises(CommandError, match="exists"):
        run("init", "--no-input", "--output", str(target))
    with pytest.raises(CommandError, match=r"providers\[0\]\.base_url: expected an http\(s\) URL"):
        run("init", "--no-input", "--base-url", "nope", "--output", str(tmp_path / "x.json"))


def test_create_client_key_with_limits_shows_the_key_once(settings, tmp_path):
    settings.GATEWAY_HOME = tmp_path  # stdout is not a terminal here: the key goes to a file
    out = run("create_client_key", "ci", "--requests-per-day", "10", "--tokens-per-day", "1000")
    key = credential(out, "sk-gw-")
    assert key not in out and credentials_file(out).parent == tmp_path / "credentials"
    assert oct(credentials_file(out).stat().st_mode & 0o777) == "0o600"
    row = ClientKey.objects.get(name="ci")
    assert key.startswith("sk-gw-") and row.key_hash == ClientKey.hash_key(key)
    assert (row.requests_per_day, row.tokens_per_day, row.requests_per_minute) == (10, 1000, None)
    with pytest.raises(CommandError):
        run("create_client_key", "x", "--requests-per-day", "-1")


def test_create_client_key_prints_with_print_flag_and_not_a_given_key():
    key = run("create_client_key", "script", "--print").strip()
    assert ClientKey.objects.get(name="script").key_hash == ClientKey.hash_key(key)
    out = run("create_client_key", "given", "--key", "sk-gw-test-given-0000")
    assert out.strip() == "client key 'given' created (sk-gw-test…)"


def test_create_admin_token_needs_a_staff_user(settings, tmp_path):
    settings.GATEWAY_HOME = tmp_path
    with pytest.raises(CommandError, match="no user named"):
        run("create_admin_token", "--user", "ghost")
    get_user_model().objects.create_user("plain", password="x")
    with pytest.raises(CommandError, match="not a staff user"):
        run("create_admin_token", "--user", "plain")
    get_user_model().objects.create_user("boss", password="x", is_staff=True)
    out = run("create_admin_token", "--user", "boss")
    token = credential(out, "sk-gwadm-")
    assert token not in out and oct(credentials_file(out).stat().st_mode & 0o777) == "0o600"
    assert token.startswith("sk-gwadm-") and StaffToken.objects.get().key_hash == ClientKey.hash_key(token)


def test_status_shows_providers_circuits_keys_and_requests():
    provider = Provider.objects.create(name="up", kind="openai_compat", base_url="https://x.example.com/v1")
    CircuitState.objects.create(key=f"{provider.pk}:m:c", provider=provider, model="m", state="open",
                                failure_count=5, reason="503")
    key = ClientKey.objects.create(name="alice", key_hash="h" * 64, key_prefix="sk-gw-abcd", requests_per_day=50)
    RequestLog.objects.create(created=timezone.now(), client_key=key, requested_model="claude-sonnet-5",
                              provider="up", status=200, latency_ms=123.4, input_tokens=7, output_tokens=3)
    out = run("status", "--last", "5")
    assert "Providers" in out and "up" in out and "open" in out
    assert "alice" in out and "50/day" in out
    assert "claude-sonnet-5" in out
    data = json.loads(run("status", "--json"))
    assert data["providers"][0]["circuit"] == "open"
    assert data["providers"][0]["health"] == "unhealthy"  # created without a key
    assert "has no API key" in data["providers"][0]["health_reasons"][0]
    assert data["keys"][0]["requests_today"] == 1 and data["keys"][0]["tokens_today"] == 10


def test_status_counts_requests_errors_and_throttled_from_the_rows():
    key = ClientKey.objects.create(name="bob", key_hash="b" * 64, key_prefix="sk-gw-bbbb")
    now = timezone.now()
    RequestLog.objects.bulk_create([
        RequestLog(created=now, client_key=key, provider="up", status=200, attempt_count=2),  # fell back: 1 request
        RequestLog(created=now, client_key=key, provider="up", status=502),
        RequestLog(created=now, client_key=key, provider="up", status=499),  # hung up: not an error
        RequestLog(created=now, client_key=key, status=429, refusal="rate_limit"),
        RequestLog(created=now, client_key=key, status=429, refusal="rate_limit", count=30),  # an aggregated flood
    ])
    [row] = json.loads(run("status", "--json", "--last", "10"))["keys"]
    assert (row["requests_today"], row["errors_today"], row["throttled_today"]) == (3, 1, 31)
    listed = json.loads(run("status", "--json", "--last", "10"))["requests"]
    assert [r["status"] for r in listed].count(429) == 0 and len(listed) == 3  # refusals are counted, not listed


def test_gateway_prepare_creates_staff_user_and_key_once(monkeypatch):
    prepared = gateway_prepare(env={"PREFERRED_PROVIDER": "openai"})
    assert prepared.staff_user == "admin" and len(prepared.staff_password) >= 12
    assert prepared.client_key.startswith("sk-gw-")
    user = get_user_model().objects.get(username="admin")
    assert user.is_staff and user.is_superuser and user.check_password(prepared.staff_password)
    again = gateway_prepare(env={})
    assert (again.staff_password, again.client_key) == ("", "")
    assert [n.split(":")[0] for n in again.notes] == ["warning"]  # every start names the keyless provider


def test_staff_user_from_environment_is_not_printed():
    assert staff_user_ensure(env={"ADMIN_USER": "root", "ADMIN_PASSWORD": "s3cret-pw"}) == ("root", "")
    assert get_user_model().objects.get(username="root").check_password("s3cret-pw")


def test_prune_logs_deletes_old_rows_in_batches_with_progress():
    from datetime import timedelta

    old = timezone.now() - timedelta(days=40)
    RequestLog.objects.bulk_create([RequestLog(created=old) for _ in range(5)] + [RequestLog(created=timezone.now())])
    err = io.StringIO()
    out = io.StringIO()
    call_command("prune_logs", "--days", "30", "--batch", "2", stdout=out, stderr=err)
    assert err.getvalue().splitlines() == ["deleted 2 rows so far…", "deleted 4 rows so far…", "deleted 5 rows so far…"]
    assert "deleted 5 rows older than" in out.getvalue()
    assert RequestLog.objects.count() == 1
