"""First-run preparation for ``manage.py serve``: migrate, check that the stored secrets can be
decrypted, seed, a staff user and a client key.

Each step only acts when needed, so a second start costs a migration-plan check, one SELECT per
encrypted column and three EXISTS queries. Secrets created here (the staff password when
generated, the client key) are returned so the command shows them once (credentials_show);
only hashes are stored.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from clients.models import ClientKey
from clients.services import client_key_create
from configuration.seeding import seed_from_env
from providers.client import credential_missing
from providers.models import Provider
from providers.selectors import provider_config
from proxy_project.encryption import secrets_readable_ensure


@dataclass
class Prepared:
    notes: list[str] = field(default_factory=list)
    staff_user: str = ""
    staff_password: str = ""  # set only when generated here: shown once
    client_key: str = ""  # set only when issued here: shown once


def migrations_pending() -> bool:
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def gateway_prepare(*, env: Mapping[str, str]) -> Prepared:
    """Migrate if needed, make sure every stored secret decrypts (SecretsUnreadable names those
    that do not), seed providers when there are none, ensure a staff user and a client key."""
    out = Prepared()
    if migrations_pending():
        call_command("migrate", interactive=False, verbosity=0, skip_checks=True)
        out.notes.append("database migrated")
    out.notes.extend(secrets_readable_ensure())
    if not Provider.objects.exists():
        out.notes.extend(f"seed: {note}" for note in seed_from_env(env=env))
    out.notes.extend(providers_without_credentials())
    out.staff_user, out.staff_password = staff_user_ensure(env=env)
    if not ClientKey.objects.exists():
        _, out.client_key = client_key_create(name="first key")
    broker_folders_ensure()
    return out


def providers_without_credentials() -> list[str]:
    """One line per enabled provider that cannot authenticate, so a missing key shows at start
    rather than as silent retries in Claude Code."""
    rows = Provider.objects.filter(enabled=True).select_related("oauth_token").order_by("name")
    return [f"warning: {line}" for p in rows if (line := credential_missing(provider_config(p)))]


def staff_user_ensure(*, env: Mapping[str, str]) -> tuple[str, str]:
    """A staff superuser when there is no staff user: ADMIN_USER (default "admin") with
    ADMIN_PASSWORD, or a generated password. Returns (username, generated password or "")."""
    users = get_user_model()
    if users.objects.filter(is_staff=True, is_active=True).exists():
        return "", ""
    username = env.get("ADMIN_USER") or "admin"
    password = env.get("ADMIN_PASSWORD") or ""
    generated = "" if password else secrets.token_urlsafe(12)
    user = users.objects.filter(**{users.USERNAME_FIELD: username}).first() or users(**{users.USERNAME_FIELD: username})
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_password(password or generated)
    user.save()
    return username, generated


def broker_folders_ensure() -> None:
    """kombu's filesystem transport (the broker without Redis) expects its folders to exist."""
    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        return
    for folder in settings.CELERY_BROKER_TRANSPORT_OPTIONS.values():
        if isinstance(folder, str):
            Path(folder).mkdir(parents=True, exist_ok=True)
