"""Async loaders for the request path: an immutable RouteTable, cached per process.

The table is reloaded at most every ROUTE_TABLE_TTL seconds (by one request, while the others keep
using the previous snapshot), so an admin edit takes effect within that delay in every worker.
While the database is unreachable the last good table keeps serving.
"""

from __future__ import annotations

from django.conf import settings

from providers.models import Provider
from providers.selectors import provider_config
from routing.models import AgentFingerprint, ModelTier, Route, TierEntry
from routing.resolution import AgentConfig, RouteConfig, RouteTable, TierConfig
from runtime import resets
from runtime.outage import DATABASE, DATABASE_ERRORS
from runtime.ttlcache import Refreshed


async def route_table_get() -> RouteTable:
    """The current table. Queries (on reload only): providers, tiers, tier entries."""
    return await _TABLE.get()


def route_table_invalidate() -> None:
    """The next request reloads the table (an admin edit, on commit)."""
    _TABLE.clear()


async def route_table_load() -> RouteTable:
    """Queries: providers, tier entries (+provider), tiers, routes (+provider), assigned agents."""
    providers = {p.name: provider_config(p) async for p in Provider.objects.select_related("oauth_token")}
    entries: dict[int, list[tuple[str, str]]] = {}
    async for e in TierEntry.objects.filter(enabled=True).select_related("provider").order_by("position", "id"):
        entries.setdefault(e.tier_id, []).append((e.provider.name, e.model))
    tiers = tuple(
        [
            TierConfig(t.name, tuple(t.pattern_list()), t.strategy, tuple(entries.get(t.pk, ())))
            async for t in ModelTier.objects.all()
        ]
    )
    routes = tuple(
        [
            RouteConfig(r.name, r.scenario, r.provider.name, r.model, r.pattern, r.threshold)
            async for r in Route.objects.filter(enabled=True).select_related("provider")
        ]
    )
    agents = [
        AgentConfig(a.fingerprint, a.name, a.model)
        async for a in AgentFingerprint.objects.assigned().only("fingerprint", "name", "model")
    ]
    # The default provider is the enabled one with the lowest priority (the seeds give the
    # PREFERRED_PROVIDER priority 0), so it is edited in the admin like everything else.
    return RouteTable(
        providers=providers,
        tiers=tiers,
        routes=routes,
        agents_by_print={a.fingerprint: a for a in agents},
        agents_by_name={a.name: a for a in agents if a.name},
    )


# The process's one table: while it reloads, or while the database is away, the last one serves.
_TABLE: Refreshed[RouteTable] = Refreshed(route_table_load, lambda: settings.ROUTE_TABLE_TTL, errors=DATABASE_ERRORS,
                                          on_error=DATABASE.failed, on_success=DATABASE.succeeded)
resets.register(_TABLE.reset)
