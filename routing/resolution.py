"""PURE routing decision: (request meta, route table snapshot) -> ordered candidates.

No ORM, no settings, no clock: everything arrives as arguments, so the table of cases in
tests/routing/test_resolution.py runs in milliseconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """An immutable snapshot of a Provider row (credentials stay encrypted)."""

    id: int
    name: str
    kind: str
    base_url: str
    auth_type: str = "api_key"
    auth_header: str = ""
    api_key_encrypted: str = ""
    enabled: bool = True
    priority: int = 100
    timeout: float | None = None
    max_retries: int = 0
    max_tokens_cap: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TierConfig:
    name: str
    patterns: tuple[str, ...]
    strategy: str = "priority"
    entries: tuple[tuple[str, str], ...] = ()  # (provider name, upstream model), in order


@dataclass(frozen=True, slots=True)
class RouteTable:
    providers: Mapping[str, ProviderConfig]
    tiers: tuple[TierConfig, ...] = ()
    default_provider: str | None = None


@dataclass(frozen=True, slots=True)
class RequestMeta:
    model: str
    url_provider: str | None = None
    url_model: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    provider: ProviderConfig
    model: str
    reason: str


class NoRoute(Exception):
    """No enabled provider can serve the request."""


def resolve(meta: RequestMeta, table: RouteTable) -> list[Candidate]:
    """Candidates in the order to try them. Raises NoRoute when there is none.

    Precedence: URL ``provider:model`` prefix, explicit ``model@provider``, tier by model-name
    pattern, then the default provider with the model name unchanged.
    """
    if meta.url_provider:
        return [_explicit(table, meta.url_provider, meta.url_model or meta.model, "url")]
    model, at, provider_name = meta.model.rpartition("@")
    if at and model and provider_name in table.providers:
        return [_explicit(table, provider_name, model, "explicit")]
    tier = tier_for(meta.model, table.tiers)
    if tier is not None:
        found = [
            Candidate(table.providers[p], m, f"tier:{tier.name}")
            for p, m in tier.entries
            if p in table.providers and table.providers[p].enabled
        ]
        if found:
            return found
    default = _default_provider(table)
    if default is None:
        raise NoRoute(f"no enabled provider can serve model {meta.model!r}")
    return [Candidate(default, meta.model, "default")]


def tier_for(model: str, tiers: tuple[TierConfig, ...]) -> TierConfig | None:
    low = model.lower()
    for tier in tiers:
        if any(p in low for p in tier.patterns):
            return tier
    return None


def _explicit(table: RouteTable, provider_name: str, model: str, reason: str) -> Candidate:
    provider = table.providers.get(provider_name)
    if provider is None or not provider.enabled:
        raise NoRoute(f"provider {provider_name!r} is unknown or disabled")
    return Candidate(provider, model, f"{reason}:{provider_name}")


def _default_provider(table: RouteTable) -> ProviderConfig | None:
    if table.default_provider:
        chosen = table.providers.get(table.default_provider)
        if chosen is not None and chosen.enabled:
            return chosen
    enabled = sorted((p for p in table.providers.values() if p.enabled), key=lambda p: (p.priority, p.name))
    return enabled[0] if enabled else None
