"""/health's inputs, read on the event loop (the lean API handler serves /health): the route
table and circuits (both cached by routing), the last probes, recent traffic, credentials."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings

from gateway.catalog import HealthInputs, health_summary
from gateway.traffic import TRAFFIC
from providers.client import credential_missing
from providers.models import Provider
from routing.circuits import circuits_view
from routing.selectors import route_table_get
from runtime import resets
from runtime.outage import DATABASE, DATABASE_ERRORS
from runtime.ttlcache import Refreshed

PROBES_TTL = 2.0  # seconds: /health is polled by load balancers; the checks run once a minute
Probes = dict[str, tuple[bool | None, str]]  # provider name -> (last check ok, its error)


async def _probes_load() -> Probes:
    return {n: (ok, err) async for n, ok, err in Provider.objects.values_list("name", "health_ok", "health_error")}


# The last health checks (one query per PROBES_TTL); during a database outage the last answer.
_probes: Refreshed[Probes] = Refreshed(_probes_load, PROBES_TTL, initial={}, errors=DATABASE_ERRORS,
                                       on_error=DATABASE.failed)
resets.register(_probes.reset)


def probes_expire() -> None:
    """The next /health reads the checks again (instead of within PROBES_TTL)."""
    _probes.expire()


async def ahealth_summary() -> dict[str, Any]:
    """/health's summary: the route table and circuits (both cached), the last health checks
    (one cached query; during a database outage the last answer), this process's recent calls
    (gateway/traffic.py) and each provider's credential."""
    table = await route_table_get()
    probes = await _probes.get()
    now = time.monotonic()
    inputs = HealthInputs(
        probes=probes, traffic=TRAFFIC.rates(window=settings.HEALTH_ERROR_WINDOW, now=now),
        missing={p.name: credential_missing(p) for p in table.providers.values()},
        min_calls=settings.HEALTH_ERROR_MIN_CALLS, max_error_rate=settings.HEALTH_ERROR_RATE,
    )
    return health_summary(table, await circuits_view(), time.time(), inputs)
