"""Configuration writes for the admin REST API: validated with full_clean, never half-saved.

Validation errors surface as django ``ValidationError`` (the API answers 400). Changes reach the
request path through the route table's TTL reload (ROUTE_TABLE_TTL) and the client-key cache.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import models, transaction

from providers.auth import client_key_cache_clear
from providers.limits import limits_cache_clear
from providers.models import ClientKey, Provider
from routing.models import ModelTier, TierEntry
from routing.selectors import route_table_invalidate

M = TypeVar("M", bound=models.Model)


def record_save(*, row: M, fields: Mapping[str, Any]) -> M:
    """Apply ``fields`` to ``row``, validate (choices, URLs, uniqueness) and save."""
    for name, value in fields.items():
        setattr(row, name, value)
    row.full_clean()
    row.save()
    route_table_invalidate()  # this process at once; the others within ROUTE_TABLE_TTL
    return row


def record_delete(*, row: models.Model) -> None:
    row.delete()
    route_table_invalidate()


@transaction.atomic
def provider_save(*, provider: Provider, fields: Mapping[str, Any], api_key: str | None = None) -> Provider:
    """Create or update a provider; ``api_key`` None keeps the stored key, "" clears it."""
    if api_key is not None:
        provider.set_api_key(api_key)
    return record_save(row=provider, fields=fields)


@transaction.atomic
def tier_save(*, tier: ModelTier, fields: Mapping[str, Any],
              entries: Sequence[Mapping[str, Any]] | None = None) -> ModelTier:
    """Create or update a tier; ``entries`` (provider name, model, enabled) replace its list."""
    record_save(row=tier, fields=fields)
    if entries is not None:
        providers = {p.name: p for p in Provider.objects.filter(name__in=[e["provider"] for e in entries])}
        tier.entries.all().delete()
        for position, entry in enumerate(entries):
            provider = providers.get(entry["provider"])
            if provider is None:
                raise ValidationError({"entries": f"entry {position}: no provider named {entry['provider']!r}"})
            record_save(row=TierEntry(tier=tier, provider=provider, position=position),
                        fields={"model": entry["model"], "enabled": entry.get("enabled", True)})
    return tier


def client_key_save(*, key: ClientKey, fields: Mapping[str, Any]) -> ClientKey:
    record_save(row=key, fields=fields)
    client_key_cache_clear()
    limits_cache_clear()  # this process at once; the others within CLIENT_KEY_CACHE_TTL
    return key


def client_key_delete(*, key: ClientKey) -> None:
    key.delete()
    client_key_cache_clear()
    limits_cache_clear()
