"""Encryption of provider secrets at rest (Fernet, key derived from FIELD_ENCRYPTION_KEY)."""

from __future__ import annotations

import base64
import functools
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings

PREFIX = "fernet:"


@functools.lru_cache(maxsize=4)
def _fernet(key_material: str) -> Fernet:
    digest = hashlib.sha256(("claude-gateway:" + key_material).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(plaintext: str) -> str:
    if not plaintext:
        return ""
    return PREFIX + _fernet(settings.FIELD_ENCRYPTION_KEY).encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    if not ciphertext:
        return ""
    if not ciphertext.startswith(PREFIX):
        raise ValueError("secret is not encrypted with this gateway's scheme")
    try:
        return _fernet(settings.FIELD_ENCRYPTION_KEY).decrypt(ciphertext[len(PREFIX):].encode()).decode()
    except InvalidToken:
        raise ValueError("secret cannot be decrypted: FIELD_ENCRYPTION_KEY/SECRET_KEY changed?") from None


def mask(plaintext: str) -> str:
    """What a person may see of a secret: its kind prefix and last four characters."""
    if not plaintext:
        return ""
    if len(plaintext) <= 12:
        return "…" + plaintext[-2:]
    return plaintext[:7] + "…" + plaintext[-4:]
