"""Read-only admin for the request log and fallback events, fast on a table of millions of rows.

No query here counts the whole table: the paginator counts at most COUNT_CAP rows, the full
count is off, facets are off, and every filter offers choices from small tables (providers,
client keys, configured models) or fixed ranges, never a DISTINCT over the log.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.safestring import SafeString

from dashboard.models import FallbackEvent, RequestLog
from providers.models import Provider
from providers.pricing import format_usd
from routing.models import Route, TierEntry
from runtime.display import truncated

COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP rows: SELECT COUNT(*) FROM (SELECT … LIMIT cap), bounded work
    whatever the table's size. Pages past the cap are reached by narrowing the filters."""

    object_list: QuerySet[Any]

    @cached_property
    def count(self) -> int:
        return int(self.object_list[:COUNT_CAP].count())


class TimeFilter(admin.SimpleListFilter):
    """Relative windows on created (served by its index) instead of date_hierarchy, whose
    year/month links run a DISTINCT date_trunc over every row of the period."""

    title = "time"
    parameter_name = "since"
    WINDOWS = {"15m": ("last 15 minutes", 15), "1h": ("last hour", 60), "24h": ("last 24 hours", 24 * 60),
               "7d": ("last 7 days", 7 * 24 * 60), "30d": ("last 30 days", 30 * 24 * 60)}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _) in self.WINDOWS.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        window = self.WINDOWS.get(self.value() or "")
        if window is None:
            return queryset
        return queryset.filter(created__gte=timezone.now() - timedelta(minutes=window[1]))


class ProviderFilter(admin.SimpleListFilter):
    """Choices from the Provider table; served by the (provider, -created) index."""

    title = "provider"
    parameter_name = "provider"
    field = "provider"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name, name) for name in Provider.objects.order_by("name").values_list("name", flat=True)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(**{self.field: self.value()}) if self.value() else queryset


class FromProviderFilter(ProviderFilter):
    title = "from provider"
    parameter_name = "from_provider"
    field = "from_provider"


class StatusFilter(admin.SimpleListFilter):
    """Status classes; served by the (status, -created) index, which makes the rare ones fast."""

    title = "status"
    parameter_name = "status"
    CLASSES = {
        "2xx": ("2xx success", Q(status__gte=200, status__lt=300)),
        "4xx": ("4xx client errors (not 429/499)", Q(status__gte=400, status__lt=500) & ~Q(status__in=(429, 499))),
        "429": ("429 rate limited", Q(status=429)),
        "499": ("499 client went away", Q(status=499)),
        "5xx": ("5xx upstream/gateway errors", Q(status__gte=500)),
    }

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(key, label) for key, (label, _) in self.CLASSES.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        chosen = self.CLASSES.get(self.value() or "")
        return queryset.filter(chosen[1]) if chosen else queryset


class ModelFilter(admin.SimpleListFilter):
    """Upstream models from the routing configuration (small tables); served by the
    (upstream_model, -created) index. Requested model names are searchable instead."""

    title = "upstream model"
    parameter_name = "model"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        models = set(TierEntry.objects.values_list("model", flat=True)) | set(Route.objects.values_list("model", flat=True))
        return [(m, m) for m in sorted(models)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(upstream_model=self.value()) if self.value() else queryset


class ReadOnlyLogAdmin(admin.ModelAdmin):
    paginator = CappedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # the retention task deletes, in batches

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        return super().changelist_view(request, {**(extra_context or {}), "subtitle": retention_note()})


def retention_note() -> str:
    days = settings.REQUEST_LOG_RETENTION_DAYS
    if days <= 0:
        return "Retention: kept forever (REQUEST_LOG_RETENTION_DAYS=0)."
    return (f"Retention: rows older than {days} days are deleted daily by the "
            f"'request log retention' task (REQUEST_LOG_RETENTION_DAYS).")


@admin.register(RequestLog)
class RequestLogAdmin(ReadOnlyLogAdmin):
    list_display = ("created", "client_key", "requested_model", "provider", "upstream_model", "status",
                    "latency_ms", "ttft_ms", "input_tokens", "output_tokens", "cached_tokens", "cost_cell",
                    "route_reason_cell")
    list_filter = (TimeFilter, ProviderFilter, "client_key", StatusFilter, ModelFilter, "stream")
    search_fields = ("=session_id", "^requested_model")
    list_select_related = ("client_key",)
    ordering = ("-created", "-id")

    @admin.display(description="cost", ordering="cost_usd")
    def cost_cell(self, obj: RequestLog) -> str:
        return format_usd(obj.cost_usd)  # "unknown" for an unpriced model, never $0

    @admin.display(description="route reason")
    def route_reason_cell(self, obj: RequestLog) -> SafeString:
        return truncated(obj.route_reason)


@admin.register(FallbackEvent)
class FallbackEventAdmin(ReadOnlyLogAdmin):
    list_display = ("created", "requested_model", "from_provider", "from_model", "to_provider", "to_model",
                    "status", "reason_cell")
    list_filter = (TimeFilter, FromProviderFilter)
    search_fields = ("^requested_model",)
    ordering = ("-created", "-id")

    @admin.display(description="reason")
    def reason_cell(self, obj: FallbackEvent) -> SafeString:
        return truncated(obj.reason)
