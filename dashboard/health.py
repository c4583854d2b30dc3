"""/health's inputs, read on the event loop (the lean API handler serves /health).

Kept out of dashboard/selectors.py: this reads the routing and circuit caches of the request
path (providers.services), which themselves write log rows through dashboard.services.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings

from dashboard.metrics import TRAFFIC
from providers.catalog import HealthInputs, health_summary
from providers.client import credential_missing
from providers.models import Provider
from providers.services.circuits import circuits_view
from proxy_project.outage import DATABASE, DATABASE_ERRORS
from routing.selectors import route_table_get

_probes: dict[str, Any] = {"at": 0.0, "rows": {}}
PROBES_TTL = 2.0  # seconds: /health is polled by load balancers; the checks run once a minute


async def ahealth_summary() -> dict[str, Any]:
    """/health's summary: the route table and circuits (both cached), the last health checks
    (one cached query; during a database outage the last answer), this process's recent calls
    (dashboard.metrics.TRAFFIC) and each provider's credential."""
    table = await route_table_get()
    now = time.monotonic()
    if now - _probes["at"] >= PROBES_TTL:
        try:
            _probes["rows"] = {n: (ok, err) async for n, ok, err in
                               Provider.objects.values_list("name", "health_ok", "health_error")}
        except DATABASE_ERRORS as exc:
            DATABASE.failed(exc)
        _probes["at"] = now
    inputs = HealthInputs(
        probes=_probes["rows"], traffic=TRAFFIC.rates(window=settings.HEALTH_ERROR_WINDOW, now=now),
        missing={p.name: credential_missing(p) for p in table.providers.values()},
        min_calls=settings.HEALTH_ERROR_MIN_CALLS, max_error_rate=settings.HEALTH_ERROR_RATE,
    )
    return health_summary(table, await circuits_view(), time.time(), inputs)
