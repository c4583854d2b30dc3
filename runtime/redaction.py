"""Credentials out of error text: the one redactor for client answers and log rows.

Two nets: the credential values this process has actually used (exact matches, so a provider
key of any shape is caught when an upstream echoes it back), and the well-known key shapes
(``sk-…``, ``sk-ant-…``, ``AIza…``, ``AKIA…``, ``Bearer …``, ``x-api-key: …``) for keys the
gateway never saw, such as a client's own key quoted in an upstream's message.

Pure: no Django, settings, clock or I/O. ``known_secrets`` is a plain bounded container filled
by ``providers.client`` (where credentials are decrypted); keys that rotate drop out after
``SecretBook.limit`` newer ones, so no decrypted secret is kept without bound.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable

MASK = "[redacted]"
MIN_SECRET_LEN = 8  # shorter configured values ("none", "1") would blank ordinary words

# (pattern, replacement); the first group, when present, is kept (the header name or prefix).
SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=:\-]{4,}"), r"\1 " + MASK),
    (re.compile(
        r"(?i)((?:x-api-key|x-goog-api-key|api[-_]?key|authorization|access[-_]?token|secret[-_]?access[-_]?key"
        r"|session[-_]?token|refresh[-_]?token|password)[\"']?\s*[:=]\s*[\"']?)(?!(?:bearer\s+|basic\s+)?\[redacted\])[^\s\"',;}&]+"),
        r"\1" + MASK),
    (re.compile(r"\b(sk-ant-)[A-Za-z0-9_\-]{4,}"), r"\1" + MASK),
    (re.compile(r"\b(sk-)(?!ant-\[)[A-Za-z0-9_\-]{6,}"), r"\1" + MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_\-]{20,}"), MASK),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), MASK),
    (re.compile(r"\bkey-[A-Za-z0-9]{8,}"), MASK),
)


class SecretBook:
    """The most recent ``limit`` credential values, longest first, as one compiled pattern.

    ``add`` runs on every upstream request, so a value already known costs one dict lookup; the
    pattern is rebuilt only when a new value arrives. Readers get an immutable snapshot, so a
    concurrent ``add`` (Celery threads, sync views) never breaks an iteration."""

    def __init__(self, limit: int = 256) -> None:
        self.limit = limit
        self._values: OrderedDict[str, None] = OrderedDict()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()  # Celery threads and sync views add too

    def add(self, value: str) -> None:
        value = value.strip()
        if len(value) < MIN_SECRET_LEN:
            return
        with self._lock:
            if value in self._values:
                self._values.move_to_end(value)
                return
            self._values[value] = None
            while len(self._values) > self.limit:
                self._values.popitem(last=False)
            self._pattern = secrets_pattern(self._values)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    @property
    def pattern(self) -> re.Pattern[str] | None:
        return self._pattern

    def __len__(self) -> int:
        return len(self._values)


def secrets_pattern(values: Iterable[str]) -> re.Pattern[str] | None:
    """One alternation of the values, longest first (a key that contains another is masked whole)."""
    ordered = sorted({v for v in values if len(v) >= MIN_SECRET_LEN}, key=len, reverse=True)
    return re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None


def redact(text: str, secrets: re.Pattern[str] | Iterable[str] | None = None) -> str:
    """``text`` with every value in ``secrets`` and every well-known key shape masked."""
    if not text:
        return text
    pattern = secrets if isinstance(secrets, re.Pattern) or secrets is None else secrets_pattern(secrets)
    if pattern is not None:
        text = pattern.sub(MASK, text)
    for shape, replacement in SHAPES:
        text = shape.sub(replacement, text)
    return text


known_secrets = SecretBook()


def redact_known(text: str) -> str:
    """``redact`` with the credentials this process has used (see ``providers.client``)."""
    return redact(text, known_secrets.pattern)


__all__ = ["MASK", "SecretBook", "known_secrets", "redact", "redact_known"]
