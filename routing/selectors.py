"""Async loaders for the request path: an immutable RouteTable, cached per process.

Every ROUTE_TABLE_TTL seconds one request reads the configuration's version (one query: the
``ConfigVersion`` token, changed on commit by every write to the table's rows, in any process:
routing/services.py) while the others keep using the current table; the table itself (five
queries and the provider decrypts) is reloaded only when the token changed, or after
ROUTE_TABLE_MAX_AGE seconds whatever it says (a write that bypassed the ORM's signals). So an
admin edit takes effect within ROUTE_TABLE_TTL in every worker, and this process's own edits at
once. While the database is unreachable the last good table keeps serving.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings

from providers.models import Provider
from providers.selectors import provider_config
from routing.models import AgentFingerprint, ConfigVersion, ModelTier, Route, TierEntry
from routing.resolution import AgentConfig, RouteConfig, RouteTable, TierConfig
from runtime import resets
from runtime.outage import DATABASE, DATABASE_ERRORS
from runtime.ttlcache import MISS, Refreshed


async def route_table_get() -> RouteTable:
    """The current table. Queries (on reload only): providers, tiers, tier entries."""
    return await _TABLE.get()


def route_table_invalidate() -> None:
    """The next request reloads the table, whatever the version says (an edit here, on commit)."""
    _SEEN.token = None
    _TABLE.clear()


async def config_version_get() -> str:
    """Query: the configuration's current token ("" before its first change)."""
    row = await ConfigVersion.objects.filter(pk=1).values_list("token", flat=True).afirst()
    return row or ""


@dataclass
class _Seen:
    token: str | None = None  # the version the current table was loaded at (None: reload)
    loaded_at: float = float("-inf")

    def reset(self) -> None:
        self.token, self.loaded_at = None, float("-inf")


_SEEN = _Seen()


async def _table_if_changed() -> RouteTable:
    """The current table while the version is unchanged, else a fresh one. The version is read
    first: a write committed between the two reads only makes the next check reload again."""
    token = await config_version_get()
    current = _TABLE.peek()
    now = time.monotonic()
    if (current is not MISS and token == _SEEN.token
            and now - _SEEN.loaded_at < settings.ROUTE_TABLE_MAX_AGE):
        return current
    table = await route_table_load()
    _SEEN.token, _SEEN.loaded_at = token, now
    return table


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
_TABLE: Refreshed[RouteTable] = Refreshed(_table_if_changed, lambda: settings.ROUTE_TABLE_TTL, errors=DATABASE_ERRORS,
                                          on_error=DATABASE.failed, on_success=DATABASE.succeeded)
resets.register(_TABLE.reset)
resets.register(_SEEN.reset)
