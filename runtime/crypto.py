"""Encryption of provider secrets at rest: Fernet keys derived from FIELD_ENCRYPTION_KEYS.

Values are ``fernet:<token>``. The first key encrypts; every key decrypts (MultiFernet), so a
new key can be put first and the rows re-encrypted (``manage.py rotate_encryption_key``) while
the older keys still open what has not been re-encrypted yet. Each key is text "material";
the Fernet key is sha256("claude-gateway:" + material), as it has been since the first release,
so rows written by earlier versions still decrypt.

Decrypted values are kept in one LRU of DECRYPTED_MAX entries, keyed by the ciphertext and the
key materials (a rotation or a re-encrypted row is a new entry; old ones age out), so the request
path decrypts each credential once and no decrypted secret is held without bound.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import time
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from runtime import resets, secrets_store

PREFIX = "fernet:"
DECRYPTED_MAX = 256  # decrypted secrets kept in memory (LRU), like runtime.redaction.SecretBook
# What earlier versions encrypted with when neither FIELD_ENCRYPTION_KEY nor SECRET_KEY was set
# (a constant in the repository, so those rows were never really protected). Only re-encryption
# reads it (proxy_project/encryption.py), to move such rows onto this install's own key;
# nothing is ever encrypted with it and requests never decrypt with it.
LEGACY_DEV_SECRET = "dev-only-insecure-secret-key-change-me"
UNDECRYPTABLE = "cannot be decrypted with FIELD_ENCRYPTION_KEY(S) — was the database copied without its data directory?"


class UndecryptableSecret(ValueError):
    pass


@functools.lru_cache(maxsize=32)
def _fernet(key_material: str) -> Fernet:
    digest = hashlib.sha256(("claude-gateway:" + key_material).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


@functools.lru_cache(maxsize=8)
def _multi(materials: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([_fernet(m) for m in materials])


KEYS_RECHECK_SECONDS = 1.0
_recent_keys: dict[str, tuple[float, tuple[str, ...]]] = {}  # keys file -> (monotonic time looked up, keys)
resets.register(_recent_keys.clear)


def keys(*, fresh: bool = True) -> tuple[str, ...]:
    """The key materials, newest first: the data directory's file when that is their source
    (re-read when it changes, so a rotation reaches running processes), else the setting.

    ``fresh=False`` (the request path) takes the list looked up within the last
    KEYS_RECHECK_SECONDS instead of a stat of the file for every secret (a request decrypts
    twice); a value those keys cannot open is retried with a fresh list (``decrypt``)."""
    path = settings.FIELD_ENCRYPTION_KEYS_FILE
    if not path:
        found = tuple(settings.FIELD_ENCRYPTION_KEYS)
    else:
        now = time.monotonic()
        recent = _recent_keys.get(path)
        if not fresh and recent is not None and now - recent[0] < KEYS_RECHECK_SECONDS:
            return recent[1]
        try:
            found = secrets_store.keys_read(Path(path))
        except secrets_store.SecretStoreError as exc:
            raise UndecryptableSecret(str(exc)) from None
        if found:
            _recent_keys[path] = (now, found)
    if not found:
        raise UndecryptableSecret("no field-encryption key is configured")
    return found


def legacy_keys() -> tuple[str, ...]:
    """What earlier versions fell back to: SECRET_KEY, then the repository's constant."""
    return tuple(dict.fromkeys((settings.SECRET_KEY, LEGACY_DEV_SECRET)))


def encrypt(plaintext: str) -> str:
    if not plaintext:
        return ""
    return PREFIX + _multi(keys()).encrypt(plaintext.encode()).decode()


def _token(ciphertext: str) -> bytes:
    if not ciphertext.startswith(PREFIX):
        raise UndecryptableSecret("secret is not encrypted with this gateway's scheme")
    return ciphertext[len(PREFIX):].encode()


def decrypt(ciphertext: str) -> str:
    if not ciphertext:
        return ""
    recent = keys(fresh=False)
    try:
        return _decrypted(ciphertext, recent)
    except UndecryptableSecret:
        current = keys()  # a rotation within the last second: its new key, if that opens it
        if current == recent:
            raise
        return _decrypted(ciphertext, current)


@functools.lru_cache(maxsize=DECRYPTED_MAX)
def _decrypted(ciphertext: str, materials: tuple[str, ...]) -> str:
    """The plaintext (an undecryptable value raises and is not cached: it is tried again)."""
    try:
        return _multi(materials).decrypt(_token(ciphertext)).decode()
    except InvalidToken:
        raise UndecryptableSecret(f"secret {UNDECRYPTABLE}") from None


resets.register(_decrypted.cache_clear)


def readable(ciphertext: str) -> bool:
    """Whether the current keys open ``ciphertext`` (empty counts as readable)."""
    try:
        decrypt(ciphertext)
    except UndecryptableSecret:
        return False
    return True


def reencrypt(ciphertext: str, *, legacy: bool = False) -> str:
    """``ciphertext`` encrypted with the newest key (any current key, or with ``legacy`` also
    the pre-upgrade fallbacks, may open it). Raises UndecryptableSecret when none does."""
    if not ciphertext:
        return ""
    materials = keys() + (legacy_keys() if legacy else ())
    try:
        return PREFIX + _multi(materials).rotate(_token(ciphertext)).decode()
    except InvalidToken:
        raise UndecryptableSecret(f"secret {UNDECRYPTABLE}") from None


def mask(plaintext: str) -> str:
    """What a person may see of a secret: its kind prefix and last four characters."""
    if not plaintext:
        return ""
    if len(plaintext) <= 12:
        return "…" + plaintext[-2:]
    return plaintext[:7] + "…" + plaintext[-4:]
