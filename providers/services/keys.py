"""Client keys: issued once, stored hashed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from providers.models import ClientKey, StaffToken

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def client_key_create(
    *,
    name: str,
    key: str | None = None,
    requests_per_minute: int | None = None,
    requests_per_day: int | None = None,
    tokens_per_day: int | None = None,
) -> tuple[ClientKey, str]:
    """Create a key (random unless given) and return it with its plaintext, shown only now."""
    plaintext = key or ClientKey.generate()
    if len(plaintext) < 16:
        raise ValueError("a client key must be at least 16 characters")
    row = ClientKey.objects.create(
        name=name, key_hash=ClientKey.hash_key(plaintext), key_prefix=plaintext[:10],
        requests_per_minute=requests_per_minute, requests_per_day=requests_per_day, tokens_per_day=tokens_per_day,
    )
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
