"""Client keys: issued once, stored hashed."""

from __future__ import annotations

from providers.models import ClientKey


def client_key_create(*, name: str, key: str | None = None) -> tuple[ClientKey, str]:
    """Create a key (random unless given) and return it with its plaintext, shown only now."""
    plaintext = key or ClientKey.generate()
    if len(plaintext) < 16:
        raise ValueError("a client key must be at least 16 characters")
    row = ClientKey.objects.create(
        name=name, key_hash=ClientKey.hash_key(plaintext), key_prefix=plaintext[:10]
    )
    return row, plaintext
