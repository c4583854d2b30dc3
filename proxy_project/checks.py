"""System checks for secrets at rest: `manage.py check --database default` (and migrate, which
passes its database) reports every stored secret the configured keys cannot open, before a
request would fail on it; `manage.py serve` makes the same test before it listens."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.db import DatabaseError

from runtime import crypto, secrets_store


@register(Tags.database)
def stored_secrets_check(
    app_configs: Sequence[AppConfig] | None = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    if not databases or "default" not in databases:
        return []  # database checks run only when asked for (Django's convention)
    from proxy_project.encryption import secrets_unreadable

    try:
        unreadable = secrets_unreadable()
    except DatabaseError:
        return []  # not migrated yet: nothing stored
    return [
        Warning(f"{u.description}: encrypted with the pre-upgrade fallback key",
                hint="`manage.py serve` or `manage.py rotate_encryption_key` re-encrypts it with this install's key",
                id="gateway.W002")
        if u.legacy else
        Error(f"{u.description}: {crypto.UNDECRYPTABLE}",
              hint="restore GATEWAY_HOME (its field_encryption_keys file) or set FIELD_ENCRYPTION_KEYS to the "
                   "keys it was written with; or `manage.py rotate_encryption_key --forget-unreadable` "
                   "clears such values, to be entered again in the admin",
              id="gateway.E001")
        for u in unreadable
    ]


@register(Tags.security)
def secret_files_check(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    return [
        Warning(f"{path} can be read by other users", hint=f"chmod 600 {path}", id="gateway.W001")
        for path in secrets_store.loose_files(Path(settings.GATEWAY_HOME))
    ]
