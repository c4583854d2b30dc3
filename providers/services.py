"""Provider writes: saving a provider (validated, its key encrypted) and applying a preset."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from providers.models import Provider
from providers.presets import PRESETS, preset_fields
from runtime.rows import record_save


@transaction.atomic
def provider_save(*, provider: Provider, fields: Mapping[str, Any], api_key: str | None = None) -> Provider:
    """Create or update a provider; ``api_key`` None keeps the stored key, "" clears it."""
    if api_key is not None:
        provider.set_api_key(api_key)
    return record_save(row=provider, fields=fields)


def provider_preset_apply(*, provider: Provider, preset: str, overwrite: bool = False) -> Provider:
    """Fill ``provider`` from ``preset``: empty fields only, or every preset field with ``overwrite``.

    Options are merged (the provider's own keys win unless ``overwrite``). Does not save.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {sorted(PRESETS)}")
    fields = preset_fields(preset)
    provider.preset = preset
    provider.kind = fields["kind"] if overwrite or not provider.kind else provider.kind
    if overwrite or not provider.base_url:
        provider.base_url = fields["base_url"]
    if overwrite or not provider.pk:
        provider.auth_type = fields["auth_type"]
        provider.auth_header = fields["auth_header"]
    if fields["max_tokens_cap"] and (overwrite or provider.max_tokens_cap is None):
        provider.max_tokens_cap = fields["max_tokens_cap"]
    provider.headers = {**fields["headers"], **(provider.headers or {})} if not overwrite else \
        {**(provider.headers or {}), **fields["headers"]}
    provider.options = {**fields["options"], **(provider.options or {})} if not overwrite else \
        {**(provider.options or {}), **fields["options"]}
    return provider
