"""Stored secrets as a whole: find every encrypted column, report what the current keys cannot
open, and re-encrypt everything with the newest key (rotation, and the move off the
pre-upgrade fallback key).

A stored secret is any model field named ``*_encrypted`` (today: Provider.api_key_encrypted,
which also holds Bedrock's AWS keys as JSON, and OAuthToken's access and refresh tokens), found
through the app registry so a new one is covered without being listed here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.apps import apps
from django.db import models, transaction

from runtime import crypto

SUFFIX = "_encrypted"


@dataclass(frozen=True)
class StoredSecret:
    model: type[models.Model]
    field: str

    @property
    def label(self) -> str:
        """ "api key", "OAuth token (refresh token)": what a person calls a value of this column."""
        what = self.field.removesuffix(SUFFIX).replace("_", " ")
        return what if self.model._meta.model_name == "provider" else f"{self.model._meta.verbose_name} ({what})"


@dataclass
class Unreadable:
    description: str  # "provider 'openai' api key"
    legacy: bool  # the pre-upgrade fallback key opens it: re-encryption can still save it


@dataclass
class ReencryptReport:
    counts: dict[str, int] = field(default_factory=dict)  # label -> values re-encrypted
    unreadable: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class SecretsUnreadable(RuntimeError):
    """Stored secrets that no configured key opens; the message names each one."""

    def __init__(self, descriptions: list[str]) -> None:
        self.descriptions = descriptions
        super().__init__("\n".join(f"{d}: {crypto.UNDECRYPTABLE}" for d in descriptions))


def stored_secrets() -> list[StoredSecret]:
    return [
        StoredSecret(model, f.name)
        for model in apps.get_models()
        for f in model._meta.concrete_fields
        if f.name.endswith(SUFFIX)
    ]


def _owner(row: models.Model) -> str:
    """Who a secret belongs to, for messages: the provider's name where there is one."""
    if row._meta.model_name == "provider":
        return f"provider {getattr(row, 'name', row.pk)!r}"
    provider = getattr(row, "provider", None)
    if provider is not None:
        return f"provider {provider.name!r}"
    return f"{row._meta.verbose_name} #{row.pk}"


def _rows(secret: StoredSecret, *, for_update: bool = False) -> Iterator[models.Model]:
    """Rows holding a value in this column. Query: one SELECT (joined to the provider)."""
    qs = secret.model._default_manager.exclude(**{secret.field: ""})
    if any(f.name == "provider" for f in secret.model._meta.concrete_fields):
        qs = qs.select_related("provider")
    if for_update:
        qs = qs.select_for_update()
    return qs.order_by("pk").iterator()


def secrets_unreadable() -> list[Unreadable]:
    """Every stored secret the current keys cannot open. Queries: one per encrypted column."""
    found = []
    for secret in stored_secrets():
        for row in _rows(secret):
            value = getattr(row, secret.field)
            if crypto.readable(value):
                continue
            try:
                crypto.reencrypt(value, legacy=True)
                legacy = True
            except crypto.UndecryptableSecret:
                legacy = False
            found.append(Unreadable(f"{_owner(row)} {secret.label}", legacy))
    return found


def secrets_reencrypt(*, only_legacy: bool = False) -> ReencryptReport:
    """Re-encrypt every stored secret with the newest key, in one transaction.

    With ``only_legacy``, only values that just the pre-upgrade fallback key opens (the one-time
    move ``manage.py serve`` makes), and values nothing opens are left as they are. Otherwise a
    value nothing opens rolls the whole rotation back (SecretsUnreadable names them all).
    Queries: one SELECT … FOR UPDATE per encrypted column, one UPDATE per changed value.
    """
    report = ReencryptReport()
    with transaction.atomic():
        for secret in stored_secrets():
            report.counts[secret.label] = 0
            for row in _rows(secret, for_update=True):
                value = getattr(row, secret.field)
                if only_legacy and crypto.readable(value):
                    continue
                try:
                    new = crypto.reencrypt(value, legacy=True)
                except crypto.UndecryptableSecret:
                    report.unreadable.append(f"{_owner(row)} {secret.label}")
                    continue
                # update(), not save(): no auto_now bump, no signals, only this column.
                secret.model._default_manager.filter(pk=row.pk).update(**{secret.field: new})
                report.counts[secret.label] += 1
        if report.unreadable and not only_legacy:
            raise SecretsUnreadable(report.unreadable)
    return report


def secrets_readable_ensure() -> list[str]:
    """Move values written with the pre-upgrade fallback key onto the newest key, then raise
    SecretsUnreadable when some stored secret still cannot be opened. Returns notes."""
    report = secrets_reencrypt(only_legacy=True)
    if report.unreadable:
        raise SecretsUnreadable(report.unreadable)
    if report.total:
        return [f"re-encrypted {report.total} secrets written with the pre-upgrade fallback key"]
    return []


def secrets_forget_unreadable() -> list[str]:
    """Clear every stored value no key (current or pre-upgrade) opens, so the gateway can start
    and the secret be entered again. Returns what was cleared. Queries: one SELECT … FOR UPDATE
    per encrypted column, one UPDATE per cleared value."""
    cleared = []
    with transaction.atomic():
        for secret in stored_secrets():
            for row in _rows(secret, for_update=True):
                try:
                    crypto.reencrypt(getattr(row, secret.field), legacy=True)
                except crypto.UndecryptableSecret:
                    secret.model._default_manager.filter(pk=row.pk).update(**{secret.field: ""})
                    cleared.append(f"{_owner(row)} {secret.label}")
    return cleared
