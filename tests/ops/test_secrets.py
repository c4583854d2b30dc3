"""Secrets at rest: generated keys in GATEWAY_HOME, rotation, lost keys, shown-once credentials."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import select
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command
from django.core.management.base import SystemCheckError

from providers.models import OAuthToken, Provider
from proxy_project.checks import secret_files_check, stored_secrets_check
from proxy_project.encryption import secrets_readable_ensure, stored_secrets
from runtime import crypto, secrets_store
from tests.support.gateway import REPO_ROOT, free_port, gateway_env

# Written by the gateway before this change (runtime/crypto.py at 244ff2c), kept as literals so
# the test does not just repeat the derivation: the first with FIELD_ENCRYPTION_KEY
# "test-field-key-not-real", the second with the repository's old default key.
PRE_CHANGE = ("fernet:gAAAAABrDqURppPiAVSatnKqaUQSsqKdxZLT-wFk_9EN_1uoKdXCS69ymMyEqrNyGIbPOR6vXMW1WlJuFHqAJaijk8IC"
              "tBJuGwOLdi3cajrURhHSM-_y1MQupb4BKbWclaxpd6iRQXM1")
PRE_CHANGE_PLAIN = "sk-test-written-before-rotation-0000"
OLD_DEFAULT = ("fernet:gAAAAABrDqURV5ZoXti-uX3PliriLVkPmJYQcFP6zTqtkrctp3j4w0bX7xaybUKNHl7YMmXsYymqi0gWOCuQ82ru9d"
               "Uk-hXkOCq-BseUVoFyyqykZZfRHXMNbHZvF70GTwizY4Edrpk6")
OLD_DEFAULT_PLAIN = "sk-test-written-with-the-old-default"
UNREADABLE = ("provider 'openai' api key: cannot be decrypted with FIELD_ENCRYPTION_KEY(S) — was the database "
              "copied without its data directory?")


def fernet_of(material: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(("claude-gateway:" + material).encode()).digest()))


def fresh_env(home: Path, db: Path, **extra: str) -> dict[str, str]:
    """A gateway's environment with nothing secret given: every key must come from ``home``."""
    env = gateway_env({}, db)
    env.pop("SECRET_KEY")
    env.pop("FIELD_ENCRYPTION_KEY")
    return {**env, "GATEWAY_HOME": str(home), **extra}


def shown_keys(env: dict[str, str]) -> list[str]:
    done = manage(env, "shell", "--no-imports", "-c", SHOW_KEYS)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def manage(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


SHOW_KEYS = "from django.conf import settings; print(settings.SECRET_KEY); print(settings.FIELD_ENCRYPTION_KEY)"


def test_fresh_start_generates_random_private_keys_that_survive_a_restart(tmp_path):
    env = fresh_env(tmp_path / "home", tmp_path / "db.sqlite3")
    secret_key, field_key = shown_keys(env)
    assert shown_keys(env) == [secret_key, field_key]
    assert secret_key != field_key and len(secret_key) >= 40 and len(field_key) >= 40
    assert crypto.LEGACY_DEV_SECRET not in (secret_key, field_key)
    for name in ("secret_key", "field_encryption_keys"):
        assert oct((tmp_path / "home" / name).stat().st_mode & 0o777) == "0o600"
    other = shown_keys(fresh_env(tmp_path / "other", tmp_path / "db.sqlite3"))
    assert set(other).isdisjoint({secret_key, field_key})  # per install, not a constant


def test_keys_from_the_environment_write_nothing(tmp_path):
    env = fresh_env(tmp_path / "home", tmp_path / "db.sqlite3", SECRET_KEY="test-secret-not-real",
                    FIELD_ENCRYPTION_KEYS="test-new-not-real, test-old-not-real")
    done = manage(env, "shell", "--no-imports", "-c", SHOW_KEYS + "; print(settings.FIELD_ENCRYPTION_KEYS)")
    assert done.stdout.splitlines() == ["test-secret-not-real", "test-new-not-real",
                                        "['test-new-not-real', 'test-old-not-real']"], done.stderr
    assert not (tmp_path / "home").exists()


def test_concurrent_first_starts_agree_on_one_key(tmp_path):
    """Eight processes load the settings at the same moment against an empty GATEWAY_HOME."""
    go = tmp_path / "go"
    script = (
        "import os, sys, time\n"
        f"open(os.path.join({str(tmp_path)!r}, 'ready-' + sys.argv[1]), 'w').close()\n"
        "deadline = time.monotonic() + 30\n"
        f"while not os.path.exists({str(go)!r}) and time.monotonic() < deadline: time.sleep(0.002)\n"
        "from proxy_project import settings\n"
        "print(settings.SECRET_KEY, settings.FIELD_ENCRYPTION_KEY)\n"
    )
    env = fresh_env(tmp_path / "home", tmp_path / "db.sqlite3", DATABASE_URL="sqlite:///:memory:")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(i)], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(8)]
    deadline = time.monotonic() + 30
    while len(list(tmp_path.glob("ready-*"))) < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # all eight are past Python's start-up: they load the settings at once
    outputs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    assert len({out for out, _ in outputs}) == 1, outputs
    leftovers = [p.name for p in (tmp_path / "home").iterdir() if p.name.startswith(".tmp-")]
    assert leftovers == []


def test_secret_file_ensure_keeps_the_value_of_a_process_that_won_the_race(tmp_path):
    path = tmp_path / "home" / "secret_key"

    def make_while_another_process_wins() -> str:
        path.write_text("value-of-the-winner\n")  # created between our check and our link
        return "value-of-the-loser"

    assert secrets_store.secret_file_ensure(path, make=make_while_another_process_wins) == "value-of-the-winner"
    assert secrets_store.secret_file_ensure(path, make=lambda: "never") == "value-of-the-winner"


def _seeded_home(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A first start that stores an OpenAI key; returns its environment and database file."""
    db = tmp_path / "a" / "db.sqlite3"
    env = fresh_env(tmp_path / "a" / "home", db, OPENAI_API_KEY="sk-test-fake-openai-key",
                    PREFERRED_PROVIDER="openai", ADMIN_PASSWORD="pw-not-real")
    done = manage(env, "serve", "--no-serve")
    assert done.returncode == 0, done.stderr
    return env, db


def test_database_copied_without_its_data_directory_cannot_be_read_and_serve_says_why(tmp_path):
    env, db = _seeded_home(tmp_path)
    stored = sqlite3.connect(db).execute("select api_key_encrypted from providers_provider").fetchone()[0]
    with pytest.raises(InvalidToken):  # the bug this fixes: the repository's constant opened it
        fernet_of(crypto.LEGACY_DEV_SECRET).decrypt(stored.removeprefix("fernet:").encode())
    copy = tmp_path / "b" / "db.sqlite3"
    copy.parent.mkdir()
    shutil.copy(db, copy)
    moved = fresh_env(tmp_path / "b" / "home", copy)
    port = free_port()
    served = manage(moved, "serve", "--port", str(port), "--no-worker", timeout=60)
    assert served.returncode != 0
    assert UNREADABLE in served.stderr and "Serving on" not in served.stdout
    checked = manage(moved, "check", "--database", "default")
    assert checked.returncode != 0 and UNREADABLE in checked.stderr and "gateway.E001" in checked.stderr
    assert manage(env, "check", "--database", "default").returncode == 0  # its own home still reads it
    cleared = manage(moved, "rotate_encryption_key", "--forget-unreadable")
    assert "cleared provider 'openai' api key" in cleared.stdout, cleared.stderr
    assert manage(moved, "serve", "--no-serve").returncode == 0


@pytest.fixture
def keys_file(settings, tmp_path):
    path = tmp_path / "field_encryption_keys"
    secrets_store.keys_write(path, ["test-key-one-not-real"])
    settings.FIELD_ENCRYPTION_KEYS_FILE = str(path)
    return path


def _rotate(*args: str) -> str:
    out = io.StringIO()
    call_command("rotate_encryption_key", *args, stdout=out)
    return out.getvalue()


def _stored(provider_name: str = "openai") -> tuple[str, str, str]:
    token = OAuthToken.objects.select_related("provider").get()
    return Provider.objects.get(name=provider_name).api_key_encrypted, token.access_token_encrypted, \
        token.refresh_token_encrypted


def _some_secrets() -> None:
    openai = Provider(name="openai", kind="openai_compat", base_url="https://api.openai.com/v1")
    openai.set_api_key("sk-test-openai-not-real")
    openai.save()
    aws = Provider(name="bedrock", kind="bedrock", base_url="https://bedrock-runtime.us-east-1.amazonaws.com")
    aws.set_api_key(json.dumps({"access_key_id": "AKIDEXAMPLE", "secret_access_key": "test-not-real"}))
    aws.save()
    claude = Provider.objects.create(name="claude", kind="anthropic", base_url="https://api.anthropic.com")
    token = OAuthToken(provider=claude)
    token.set_tokens("sk-ant-oat01-test-access", "sk-ant-ort01-test-refresh")
    token.save()


@pytest.mark.django_db
def test_rotation_reencrypts_every_row_and_old_keys_decrypt_until_rotated(keys_file):
    _some_secrets()
    before = _stored()
    secrets_store.keys_write(keys_file, ["test-key-two-not-real", "test-key-one-not-real"])  # a new key, first
    assert crypto.decrypt(before[0]) == "sk-test-openai-not-real"  # the old key still opens old rows
    assert crypto.decrypt(crypto.encrypt("x")) == "x"
    fernet_of("test-key-two-not-real").decrypt(crypto._token(crypto.encrypt("new")))  # the newest encrypts
    out = _rotate()
    assert "re-encrypted 4 secrets with the newest key (api key: 2, OAuth token (access token): 1, " \
           "OAuth token (refresh token): 1)" in out
    assert "1 older keys still decrypt" in out
    for value in _stored() + (Provider.objects.get(name="bedrock").api_key_encrypted,):
        fernet_of("test-key-two-not-real").decrypt(crypto._token(value))
        with pytest.raises(InvalidToken):
            fernet_of("test-key-one-not-real").decrypt(crypto._token(value))
    assert "retired 1 older keys" in _rotate("--retire-old")
    assert secrets_store.keys_read(keys_file) == ("test-key-two-not-real",)
    assert [crypto.decrypt(v) for v in _stored()] == ["sk-test-openai-not-real", "sk-ant-oat01-test-access",
                                                      "sk-ant-ort01-test-refresh"]


def test_requests_look_the_keys_file_up_once_a_second_and_a_new_key_opens_at_once(keys_file, monkeypatch):
    old = crypto.encrypt("sk-test-old-not-real")
    assert crypto.decrypt(old) == "sk-test-old-not-real"
    stats: list[Path] = []
    real_read = secrets_store.keys_read
    monkeypatch.setattr(secrets_store, "keys_read", lambda path: stats.append(path) or real_read(path))
    for _ in range(50):  # the request path: no stat of the file per secret
        assert crypto.decrypt(old) == "sk-test-old-not-real"
    assert stats == []
    # Another process rotates (writes the file; this one's recent list is the old one) ...
    os.replace(_write_keys_elsewhere(keys_file, ["test-key-new-not-real", "test-key-one-not-real"]), keys_file)
    new = "fernet:" + fernet_of("test-key-new-not-real").encrypt(b"sk-test-new-not-real").decode()
    # ... a row it re-encrypted opens at once: the recent keys fail, the fresh ones open it
    assert crypto.decrypt(new) == "sk-test-new-not-real"
    assert len(stats) == 1
    unreadable = "fernet:" + fernet_of("test-key-lost-not-real").encrypt(b"x").decode()
    with pytest.raises(crypto.UndecryptableSecret):
        crypto.decrypt(unreadable)
    assert crypto.keys(fresh=False) == ("test-key-new-not-real", "test-key-one-not-real")


def _write_keys_elsewhere(keys_file: Path, keys: list[str]) -> Path:
    tmp = keys_file.with_name("keys.next")
    tmp.write_text("\n".join(keys))
    return tmp


@pytest.mark.django_db
def test_rotate_generate_adds_a_random_key_first(keys_file):
    _some_secrets()
    out = _rotate("--generate")
    keys = secrets_store.keys_read(keys_file)
    assert len(keys) == 2 and keys[1] == "test-key-one-not-real" and len(keys[0]) >= 40
    assert "added a new key" in out and "re-encrypted 4 secrets" in out
    assert oct(keys_file.stat().st_mode & 0o777) == "0o600"


@pytest.mark.django_db
def test_rotation_with_an_unreadable_row_changes_nothing_and_names_it(keys_file):
    _some_secrets()
    Provider.objects.filter(name="bedrock").update(
        api_key_encrypted="fernet:" + fernet_of("test-lost-key").encrypt(b"lost").decode())
    before = _stored()
    secrets_store.keys_write(keys_file, ["test-key-two-not-real", "test-key-one-not-real"])
    with pytest.raises(CommandError, match=r"(?s)provider 'bedrock' api key: cannot be decrypted .*nothing was changed in the database"):
        _rotate()
    assert _stored() == before


@pytest.mark.django_db
def test_keys_from_the_environment_rotate_but_are_not_rewritten(settings):
    settings.FIELD_ENCRYPTION_KEYS_FILE = ""
    settings.FIELD_ENCRYPTION_KEYS = ["test-env-old-not-real"]
    _some_secrets()
    settings.FIELD_ENCRYPTION_KEYS = ["test-env-new-not-real", "test-env-old-not-real"]
    assert "re-encrypted 4 secrets" in _rotate()
    fernet_of("test-env-new-not-real").decrypt(crypto._token(_stored()[0]))
    with pytest.raises(CommandError, match="put a new key first in FIELD_ENCRYPTION_KEYS"):
        _rotate("--generate")


def test_stored_secrets_are_found_by_their_field_names():
    assert {(s.model.__name__, s.field) for s in stored_secrets()} == {
        ("Provider", "api_key_encrypted"), ("OAuthToken", "access_token_encrypted"),
        ("OAuthToken", "refresh_token_encrypted")}


def test_pre_change_ciphertext_still_decrypts(settings):
    settings.FIELD_ENCRYPTION_KEYS_FILE = ""
    settings.FIELD_ENCRYPTION_KEYS = ["test-field-key-not-real"]
    assert crypto.decrypt(PRE_CHANGE) == PRE_CHANGE_PLAIN
    settings.FIELD_ENCRYPTION_KEYS = ["test-newer-not-real", "test-field-key-not-real"]  # after a new key
    assert crypto.decrypt(PRE_CHANGE) == PRE_CHANGE_PLAIN


@pytest.mark.django_db
def test_rows_written_with_the_old_default_key_move_to_the_install_key_on_start(keys_file):
    Provider.objects.create(name="openai", kind="openai_compat", base_url="https://api.openai.com/v1",
                            api_key_encrypted=OLD_DEFAULT)
    [warning] = stored_secrets_check(databases=["default"])
    assert warning.id == "gateway.W002" and "provider 'openai' api key" in warning.msg
    with pytest.raises(crypto.UndecryptableSecret):
        crypto.decrypt(OLD_DEFAULT)  # requests never open it with the constant
    assert secrets_readable_ensure() == ["re-encrypted 1 secrets written with the pre-upgrade fallback key"]
    value = Provider.objects.get().api_key_encrypted
    assert crypto.decrypt(value) == OLD_DEFAULT_PLAIN
    fernet_of("test-key-one-not-real").decrypt(crypto._token(value))
    assert stored_secrets_check(databases=["default"]) == []


@pytest.mark.django_db
def test_check_reports_unreadable_secrets_as_errors(keys_file):
    Provider.objects.create(name="openai", kind="openai_compat", base_url="https://api.openai.com/v1",
                            api_key_encrypted="fernet:" + fernet_of("test-lost-key").encrypt(b"x").decode())
    with pytest.raises(SystemCheckError, match=r"provider 'openai' api key: cannot be decrypted"):
        call_command("check", databases=["default"], stdout=io.StringIO(), stderr=io.StringIO())
    assert stored_secrets_check(databases=None) == []  # database checks run only when asked for


def test_loose_key_files_are_reported(settings, tmp_path):
    settings.GATEWAY_HOME = tmp_path
    secrets_store.secret_file_ensure(tmp_path / "secret_key")
    assert secret_files_check() == []
    (tmp_path / "secret_key").chmod(0o644)
    [warning] = secret_files_check()
    assert warning.id == "gateway.W001" and "chmod 600" in warning.hint


def _run_on_a_terminal(env: dict[str, str], *args: str, timeout: float = 60) -> str:
    """Run manage.py with its stdout on a pseudo-terminal; returns what the terminal showed."""
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "manage.py", *args], cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    proc.wait(timeout=10)
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    return shown.decode()


def test_credentials_go_to_the_terminal_only_when_stdout_is_one(tmp_path):
    env = fresh_env(tmp_path / "home", tmp_path / "db.sqlite3")
    assert manage(env, "migrate", "--noinput").returncode == 0
    shown = _run_on_a_terminal(env, "create_client_key", "on-a-tty")
    assert shown.strip().startswith("sk-gw-") and not (tmp_path / "home" / "credentials").exists()
    piped = manage(env, "create_client_key", "in-a-log")
    assert "sk-gw-" not in piped.stdout and "Credentials (shown once) written to" in piped.stdout
    [written] = (tmp_path / "home" / "credentials").iterdir()
    assert str(written) in piped.stdout and oct(written.stat().st_mode & 0o777) == "0o600"
    assert "sk-gw-" in written.read_text()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_request_to_a_provider_with_an_unreadable_key_falls_back_instead_of_failing(gateway_client):
    from asgiref.sync import sync_to_async

    from routing.selectors import route_table_invalidate
    from tests.conftest import amake_provider, amake_tiers
    from tests.fakes import FakeOpenAI, Reply, openai_completion

    body = {"model": "claude-sonnet-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    lost = "fernet:" + fernet_of("test-lost-key").encrypt(b"sk-test-lost").decode()
    with FakeOpenAI() as up:
        broken = await amake_provider("broken", up.base_url, priority=0)
        await sync_to_async(Provider.objects.filter(pk=broken.pk).update)(api_key_encrypted=lost)
        good = await amake_provider("good", up.base_url, priority=1)
        await amake_tiers({"middle": [(broken, "gpt-test"), (good, "gpt-test")]})
        up.enqueue(Reply.json(openai_completion("from the fallback")))
        resp = await gateway_client.post("/v1/messages", json=body)
        assert resp.status_code == 200 and resp.json()["content"][0]["text"] == "from the fallback"
        assert len(up.requests) == 1  # nothing was sent with the unreadable key
        await sync_to_async(Provider.objects.filter(pk=good.pk).delete)()
        route_table_invalidate()
        alone = await gateway_client.post("/v1/messages", json=body)
    assert 500 < alone.status_code < 600 and alone.json()["type"] == "error", alone.text


def test_compose_shares_one_data_volume_between_web_worker_and_beat():
    import yaml

    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    assert "gateway-data" in compose["volumes"]
    for name in ("web", "worker", "beat"):
        service = compose["services"][name]
        assert service["environment"]["GATEWAY_HOME"] == "/data" and "gateway-data:/data" in service["volumes"], name
    assert "/data" in (REPO_ROOT / ".dockerignore").read_text().split()  # a local data/ never enters the image
