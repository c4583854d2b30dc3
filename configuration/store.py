"""Config import and export against the database.

``config_import`` writes one canonical dict in a single transaction: any error (a bad value, a
reference to an unknown provider) raises ConfigError and nothing is written.
``config_export`` writes what ``config_import`` reads back to the same state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction

from configuration.canonical import PLACEHOLDER, PRICE_FIELDS, PROVIDER_DEFAULTS, VERSION, clean
from configuration.errors import Path, Source
from providers.envvars import env_refs_refused, env_refusal_message
from providers.models import ModelPrice, Provider
from routing.models import AgentFingerprint, ModelTier, Route, TierEntry
from runtime import crypto

Progress = Callable[[str], None]
PROVIDER_FIELDS = ("kind", "base_url", *[k for k in PROVIDER_DEFAULTS if k != "kind"])
ROUTE_FIELDS = ("name", "scenario", "pattern", "threshold", "model", "enabled")
PROGRESS_EVERY = 200


@dataclass
class ImportReport:
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _quiet(message: str) -> None:
    return None


def _save(row: models.Model, source: Source, path: Path) -> None:
    try:
        row.full_clean()
    except ValidationError as exc:
        field_name, messages = next(iter(exc.message_dict.items()))
        where = path if field_name == "__all__" else (*path, field_name)
        raise source.error(where, f"a valid value ({' '.join(messages)})") from None
    row.save()


@transaction.atomic
def config_import(*, data: Mapping[str, Any], source: str = "<data>", replace: bool = False,
                  progress: Progress | None = None) -> ImportReport:
    """Write ``data`` (canonical) to the database, all or nothing.

    Providers, tiers and agents are matched by name/fingerprint and prices by (provider, model),
    and updated in place; a tier's entries and (when the file has a ``routes`` list) all routes
    are replaced. ``replace`` also deletes providers, tiers and agents the file does not name, and
    (when the file has a ``prices`` list) the prices it does not name.
    """
    src = Source(source)
    canonical = clean(data, src)
    say = progress or _quiet
    report = ImportReport(notes=list(canonical.get("notes", [])))
    providers = _import_providers(canonical.get("providers", []), src, replace, say)
    known = {p.name: p for p in Provider.objects.all()} | providers
    report.counts["providers"] = len(providers)
    report.counts["tiers"] = _import_tiers(canonical.get("tiers", []), known, src, replace, say)
    if "routes" in canonical:
        report.counts["routes"] = _import_routes(canonical["routes"], known, src, say)
    report.counts["agents"] = _import_agents(canonical.get("agents", []), src, replace, say)
    if "prices" in canonical:
        report.counts["prices"] = _import_prices(canonical["prices"], known, src, replace, say)
    return report


def _import_prices(items: list[dict[str, Any]], known: Mapping[str, Provider], src: Source, replace: bool,
                   say: Progress) -> int:
    kept: list[int] = []
    for i, item in enumerate(items):
        provider = _provider(known, item["provider"], src, ("prices", i, "provider")) if item["provider"] else None
        row = ModelPrice.objects.filter(provider=provider, model=item["model"]).first() or ModelPrice(
            provider=provider, model=item["model"])
        for name in (*PRICE_FIELDS, "long_context_threshold", "note"):
            setattr(row, name, item[name])
        _save(row, src, ("prices", i))
        kept.append(row.pk)
    if replace:
        ModelPrice.objects.exclude(pk__in=kept).delete()
    say(f"prices: {len(items)}")
    return len(items)


def _import_providers(items: list[dict[str, Any]], src: Source, replace: bool, say: Progress
                      ) -> dict[str, Provider]:
    existing = {p.name: p for p in Provider.objects.all()}
    done: dict[str, Provider] = {}
    for i, item in enumerate(items):
        row = existing.get(item["name"]) or Provider(name=item["name"])
        for name in PROVIDER_FIELDS:
            setattr(row, name, item[name])
        if "api_key" in item:
            refused = env_refs_refused([item["api_key"]])
            if refused:  # base_url and headers: Provider.clean, reported by _save
                raise src.error(("providers", i, "api_key"), f"a key without disallowed variables "
                                f"({env_refusal_message(refused)})")
            row.set_api_key(item["api_key"])
        _save(row, src, ("providers", i))
        done[row.name] = row
    if replace:
        Provider.objects.exclude(name__in=list(done)).delete()
    say(f"providers: {len(done)}")
    return done


def _provider(known: Mapping[str, Provider], name: str, src: Source, path: Path) -> Provider:
    try:
        return known[name]
    except KeyError:
        raise src.error(path, f"a provider defined in the file or the database, got {name!r}") from None


def _import_tiers(items: list[dict[str, Any]], known: Mapping[str, Provider], src: Source, replace: bool,
                  say: Progress) -> int:
    for i, item in enumerate(items):
        tier = ModelTier.objects.filter(name=item["name"]).first() or ModelTier(name=item["name"])
        tier.patterns, tier.strategy = item["patterns"], item["strategy"]
        _save(tier, src, ("tiers", i))
        tier.entries.all().delete()
        for position, entry in enumerate(item["entries"]):
            path: Path = ("tiers", i, "entries", position)
            provider = _provider(known, entry["provider"], src, (*path, "provider"))
            row = TierEntry(tier=tier, provider=provider, model=entry["model"], position=position,
                            enabled=entry["enabled"])
            _save(row, src, path)
    if replace:
        ModelTier.objects.exclude(name__in=[t["name"] for t in items]).delete()
    say(f"tiers: {len(items)}")
    return len(items)


def _import_routes(items: list[dict[str, Any]], known: Mapping[str, Provider], src: Source, say: Progress) -> int:
    Route.objects.all().delete()
    for i, item in enumerate(items):
        provider = _provider(known, item["provider"], src, ("routes", i, "provider"))
        row = Route(provider=provider, position=i, **{k: item[k] for k in ROUTE_FIELDS})
        _save(row, src, ("routes", i))
    say(f"routes: {len(items)}")
    return len(items)


def _import_agents(items: list[dict[str, Any]], src: Source, replace: bool, say: Progress) -> int:
    existing = {a.fingerprint: a for a in AgentFingerprint.objects.all()}
    named = {a["fingerprint"] for a in items}
    # A stored by-name row is replaced by the agent's real fingerprint, unless the file lists it too
    # (an export of an agent known under both names imports back to both rows).
    placeholders = {a.name: a for a in existing.values()
                    if a.fingerprint.startswith(PLACEHOLDER) and a.fingerprint not in named}
    for i, item in enumerate(items):
        row = existing.get(item["fingerprint"]) or AgentFingerprint(fingerprint=item["fingerprint"])
        stale = placeholders.get(item["name"]) if not item["fingerprint"].startswith(PLACEHOLDER) else None
        row.name, row.description = item["name"], item["description"]
        row.model = item["model"] or (stale.model if stale is not None else "")
        _save(row, src, ("agents", i))
        if stale is not None and stale.pk != row.pk:
            stale.delete()  # the agent's real fingerprint replaces its by-name placeholder
        if (i + 1) % PROGRESS_EVERY == 0:
            say(f"agents: {i + 1}/{len(items)}")
    if replace:
        AgentFingerprint.objects.exclude(fingerprint__in=[a["fingerprint"] for a in items]).delete()
    say(f"agents: {len(items)}")
    return len(items)


def config_export(*, secrets: bool = True) -> dict[str, Any]:
    """Everything ``config_import`` reads, in a stable order. ``secrets``: include provider API keys."""
    return {
        "version": VERSION,
        "providers": [_provider_dict(p, secrets) for p in Provider.objects.order_by("name")],
        "tiers": [
            {"name": t.name, "patterns": t.patterns, "strategy": t.strategy,
             "entries": [{"provider": e.provider.name, "model": e.model, "enabled": e.enabled}
                         for e in t.entries.select_related("provider").order_by("position", "id")]}
            for t in ModelTier.objects.order_by("name")
        ],
        "routes": [
            {**{k: getattr(r, k) for k in ROUTE_FIELDS}, "provider": r.provider.name}
            for r in Route.objects.select_related("provider").order_by("scenario", "position", "id")
        ],
        "agents": [
            {"fingerprint": a.fingerprint, "name": a.name, "description": a.description, "model": a.model}
            for a in AgentFingerprint.objects.order_by("fingerprint")
        ],
        "prices": [_price_dict(p) for p in ModelPrice.objects.select_related("provider").order_by("model", "provider__name")],
    }


def _price_dict(p: ModelPrice) -> dict[str, Any]:
    """Prices as JSON numbers (a 6-decimal price survives float's round trip exactly)."""
    item: dict[str, Any] = {"provider": p.provider.name if p.provider else "", "model": p.model}
    for name in PRICE_FIELDS:
        value = getattr(p, name)
        item[name] = float(value) if value is not None else None
    item["long_context_threshold"] = p.long_context_threshold
    item["note"] = p.note
    return item


def _provider_dict(p: Provider, secrets: bool) -> dict[str, Any]:
    item: dict[str, Any] = {"name": p.name, **{k: getattr(p, k) for k in PROVIDER_FIELDS}}
    item["headers"], item["options"] = dict(p.headers or {}), dict(p.options or {})
    if secrets:
        # An undecryptable key (the encryption key changed) is left out: import keeps the stored one.
        with contextlib.suppress(ValueError):
            item["api_key"] = crypto.decrypt(p.api_key_encrypted)
    return item
