"""htmx function views: the full page, or one panel when htmx asks for it (polling refresh)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django_htmx.middleware import HtmxDetails

from audit.selectors import recent_changes
from dashboard import selectors
from dashboard.fragments import TEMPLATE, WS_PATH, panels_context


def _providers() -> dict[str, Any]:
    return {"providers": selectors.provider_health_summary()}


def _totals() -> dict[str, Any]:
    return {"totals": selectors.request_totals()}


def _requests() -> dict[str, Any]:
    return {"requests": selectors.recent_requests()}


def _fallbacks() -> dict[str, Any]:
    return {"fallbacks": selectors.recent_fallbacks()}


def _changes() -> dict[str, Any]:
    return {"changes": recent_changes(limit=15)}


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


PANELS: dict[str, Callable[[], dict[str, Any]]] = {
    "providers": _providers,
    "totals": _totals,
    "requests": _requests,
    "fallbacks": _fallbacks,
    "changes": _changes,
}


@staff_member_required
def index(request: HtmxHttpRequest) -> HttpResponse:
    panel = request.GET.get("panel", "")
    if request.htmx and panel in PANELS:
        return render(request, f"{TEMPLATE}#{panel}", {**PANELS[panel](), "now": timezone.now()})
    return render(request, TEMPLATE, {**panels_context(), **_changes(), "ws_path": WS_PATH})
