"""What goes on the dashboard's wire: partials of templates/dashboard/index.html as htmx
out-of-band swaps, rendered once by the publisher and fanned out to the "dashboard" group.

Wire protocol (channel layer -> DashboardConsumer -> browser): ``{"type": "dashboard.event",
"html": str, "kind": "requests"|"fallbacks" (optional), "ids": [int] (optional)}``. ``kind`` and
``ids`` let a consumer drop rows its connect-time snapshot already showed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.template.loader import render_to_string
from django.utils import timezone

from dashboard import selectors
from dashboard.selectors import FallbackRow, ProviderHealth, RequestRow, Totals

GROUP = "dashboard"
TEMPLATE = "dashboard/index.html"
WS_PATH = "/ws/dashboard/"


def partial(name: str, context: dict[str, Any]) -> str:
    return render_to_string(f"{TEMPLATE}#{name}", context)


def request_rows(rows: Sequence[RequestRow]) -> str:
    """New rows, newest first, prepended to the recent-requests table."""
    return partial("request-rows-oob", {"requests": rows})


def fallback_rows(rows: Sequence[FallbackRow]) -> str:
    return partial("fallback-rows-oob", {"fallbacks": rows})


def provider_rows(providers: Iterable[ProviderHealth]) -> str:
    """One status row per provider, each replacing its own row by id."""
    return "".join(partial("provider-row", {"p": p, "row_oob": True}) for p in providers)


def totals_panel(totals: Totals) -> str:
    return partial("totals", {"totals": totals, "oob": True})


def live_stamp() -> str:
    """The connection indicator as the server sees it (sent with each heartbeat, so a silent
    socket shows in the page's stamp and connection.js can tell a stalled connection)."""
    return partial("live", {"now": timezone.now(), "oob": True})


def event(html: str, *, kind: str = "", ids: Sequence[int] = ()) -> dict[str, Any]:
    return {"type": "dashboard.event", "html": html, "kind": kind, "ids": list(ids)}


@dataclass(frozen=True)
class Snapshot:
    html: str
    ids: dict[str, set[int]] = field(default_factory=dict)


def panels_context() -> dict[str, Any]:
    """Everything the full page shows. Queries: see the selectors."""
    return {
        "providers": selectors.provider_health_summary(),
        "totals": selectors.request_totals(),
        "requests": selectors.recent_requests(),
        "fallbacks": selectors.recent_fallbacks(),
        "redis_down": selectors.redis_unreachable(),
        "now": timezone.now(),
    }


def snapshot_render() -> Snapshot:
    """Every panel as an out-of-band swap: what a (re)connecting browser needs to catch up."""
    context = {**panels_context(), "oob": True}
    html = "".join(partial(name, context) for name in ("live", "redis", "providers", "totals", "requests", "fallbacks"))
    ids = {
        "requests": {row.id for row in context["requests"]},
        "fallbacks": {row.id for row in context["fallbacks"]},
    }
    return Snapshot(html, ids)
