"""Client keys: issued once, stored hashed; names are unique; rotation with a grace period."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from clients.auth import client_key_cache_clear
from clients.models import ClientKey, StaffToken
from clients.quotas import limits_cache_clear
from runtime.rows import record_delete, record_save

if TYPE_CHECKING:
    from django.contrib.auth.models import User

NAME_MAX = ClientKey._meta.get_field("name").max_length or 100
MAX_GRACE_SECONDS = 366 * 86_400


class DuplicateKeyName(ValueError):
    """A client key with this name exists (names are unique)."""


def duplicate_name_message(name: str) -> str:
    return f"a client key named {name!r} already exists: pick another name, or rotate that key"


def client_key_name_free(*, base: str) -> str:
    """``base``, or ``base (2)``, ``base (3)``… the first name no key has. Queries: one per try."""
    name, n = base, 1
    while ClientKey.objects.filter(name=name).exists() and n < 10_000:
        n += 1
        suffix = f" ({n})"
        name = base[: NAME_MAX - len(suffix)] + suffix
    return name


def client_key_create(
    *,
    name: str,
    key: str | None = None,
    requests_per_minute: int | None = None,
    requests_per_day: int | None = None,
    tokens_per_day: int | None = None,
    expires_at: datetime | None = None,
    usd_per_day: Decimal | None = None,
    usd_per_month: Decimal | None = None,
) -> tuple[ClientKey, str]:
    """Create a key (random unless given) and return it with its plaintext, shown only now.

    Raises DuplicateKeyName when the name is taken, ValueError for a key under 16 characters."""
    plaintext = key or ClientKey.generate()
    if len(plaintext) < 16:
        raise ValueError("a client key must be at least 16 characters")
    if ClientKey.objects.filter(name=name).exists():
        raise DuplicateKeyName(duplicate_name_message(name))
    try:
        with transaction.atomic():  # a savepoint: a lost race must not break the caller's transaction
            row = ClientKey.objects.create(
                name=name, key_hash=ClientKey.hash_key(plaintext), key_prefix=plaintext[:10], expires_at=expires_at,
                requests_per_minute=requests_per_minute, requests_per_day=requests_per_day,
                tokens_per_day=tokens_per_day, usd_per_day=usd_per_day, usd_per_month=usd_per_month,
            )
    except IntegrityError:
        # The name check above races with a concurrent create; the constraint decides.
        if ClientKey.objects.filter(name=name).exists():
            raise DuplicateKeyName(duplicate_name_message(name)) from None
        raise
    return row, plaintext


def _retired_name(old: ClientKey, now: datetime) -> str:
    suffix = f" (rotated {now:%Y-%m-%d %H:%M} #{old.pk})"  # the pk keeps two rotations apart
    return old.name[: NAME_MAX - len(suffix)] + suffix


@transaction.atomic
def client_key_rotate(*, key_id: int, grace_seconds: int, now: datetime | None = None) -> tuple[ClientKey, str]:
    """Issue a new key with the old one's name, limits and state; the old key keeps working for
    ``grace_seconds`` (never longer than it would have) under a ``… (rotated …)`` name.

    Returns the new row and its plaintext, shown only now. Queries: the old row FOR UPDATE, one
    UPDATE, one INSERT (plus the name check)."""
    if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
        raise ValueError(f"the grace period must be between 0 and {MAX_GRACE_SECONDS} seconds")
    now = now or timezone.now()
    old = ClientKey.objects.select_for_update().get(pk=key_id)
    name = old.name
    until = now + timedelta(seconds=grace_seconds)
    if old.expires_at is not None and old.expires_at < until:
        until = old.expires_at
    # A key rotated twice within a minute would get the same retired name: number it then.
    retired = client_key_name_free(base=_retired_name(old, now))
    old.name, old.expires_at = retired, until
    old.save(update_fields=["name", "expires_at"])  # a save, not update(): the audit trail records it
    row, plaintext = client_key_create(
        name=name, requests_per_minute=old.requests_per_minute, requests_per_day=old.requests_per_day,
        tokens_per_day=old.tokens_per_day, usd_per_day=old.usd_per_day, usd_per_month=old.usd_per_month,
    )
    if not old.enabled:
        row.enabled = False
        row.save(update_fields=["enabled"])
    # The old key's new expiry applies in this process at once (elsewhere: CLIENT_KEY_CACHE_TTL).
    transaction.on_commit(client_key_cache_clear)
    return row, plaintext


def staff_token_create(*, user: User, name: str) -> tuple[StaffToken, str]:
    """Issue an admin API token for a staff user; the plaintext is returned only now."""
    if not getattr(user, "is_staff", False):
        raise ValueError(f"{user} is not a staff user")
    plaintext = StaffToken.generate()
    row = StaffToken.objects.create(
        user=user, name=name, key_hash=ClientKey.hash_key(plaintext), key_prefix=plaintext[:12]
    )
    return row, plaintext


def client_key_save(*, key: ClientKey, fields: Mapping[str, Any]) -> ClientKey:
    """Create or update a key's name, state, expiry and budgets (validated; never the hash)."""
    return record_save(row=key, fields=fields)


def client_key_delete(*, key: ClientKey) -> None:
    record_delete(row=key)


def client_key_caches_clear(**_signal: Any) -> None:
    """post_save/post_delete receiver for ClientKey (clients/apps.py): this process's cached keys
    and budgets are forgotten at once; other processes within CLIENT_KEY_CACHE_TTL."""
    client_key_cache_clear()
    limits_cache_clear()
