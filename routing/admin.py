from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from providers.signals import provider_status_changed
from routing.circuits import circuit_reset
from routing.models import AgentFingerprint, CircuitState, ModelTier, Route, TierEntry
from runtime.display import truncated


class TierEntryInline(admin.TabularInline):
    model = TierEntry
    extra = 1
    fields = ("position", "provider", "model", "enabled")
    ordering = ("position", "id")


@admin.register(ModelTier)
class ModelTierAdmin(admin.ModelAdmin):
    list_display = ("name", "patterns_cell", "strategy", "entry_list", "updated")
    inlines = [TierEntryInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ModelTier]:
        return super().get_queryset(request).prefetch_related("entries__provider")

    @admin.display(description="patterns", ordering="patterns")
    def patterns_cell(self, obj: ModelTier) -> SafeString:
        return truncated(obj.patterns)

    @admin.display(description="entries (in order)")
    def entry_list(self, obj: ModelTier) -> SafeString:
        entries = sorted(obj.entries.all(), key=lambda e: (e.position, e.pk))
        return truncated(", ".join(f"{e.model}@{e.provider.name}" + ("" if e.enabled else " (off)")
                                   for e in entries) or "–")


@admin.register(Route)
class RouteAdmin(admin.ModelAdmin):
    list_display = ("name", "scenario", "pattern", "threshold", "provider", "model", "position", "enabled")
    list_editable = ("position", "enabled")
    list_filter = ("scenario", "enabled", "provider")
    list_select_related = ("provider",)
    search_fields = ("name", "pattern", "model")


class AssignmentFilter(admin.SimpleListFilter):
    title = "assignment"
    parameter_name = "assigned"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("no", "unassigned (seen in traffic)"), ("yes", "assigned")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "no":
            return queryset.filter(model="")
        if self.value() == "yes":
            return queryset.exclude(model="")
        return queryset


@admin.register(AgentFingerprint)
class AgentFingerprintAdmin(admin.ModelAdmin):
    list_display = ("name", "fingerprint_cell", "model", "seen_count", "last_seen")
    list_filter = (AssignmentFilter,)
    search_fields = ("name", "fingerprint", "description", "sample")
    readonly_fields = ("fingerprint", "seen_count", "first_seen", "last_seen", "updated")
    fields = ("name", "model", "description", "fingerprint", "sample", "seen_count", "first_seen", "last_seen",
              "updated")
    ordering = ("-last_seen",)

    @admin.display(description="fingerprint", ordering="fingerprint")
    def fingerprint_cell(self, obj: AgentFingerprint) -> SafeString:
        return truncated(obj.fingerprint)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # rows come from agent files (manage.py generate_hashes) and from traffic

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        return super().changelist_view(request, {**(extra_context or {}), "subtitle": sightings_retention_note()})


def sightings_retention_note() -> str:
    """Rows with a name or an assigned model are kept; only traffic's unassigned sightings age out."""
    days = settings.FINGERPRINT_SIGHTINGS_RETENTION_DAYS
    kept = "kept until assigned" if days <= 0 else f"deleted after {days} days unseen (daily task)"
    return (f"Retention: unassigned fingerprints seen in traffic are {kept}, at most "
            f"{settings.FINGERPRINT_SIGHTINGS_MAX} of them (the least recently seen make room); "
            f"FINGERPRINT_SIGHTINGS_RETENTION_DAYS, FINGERPRINT_SIGHTINGS_MAX.")


@admin.register(CircuitState)
class CircuitStateAdmin(admin.ModelAdmin):
    list_display = ("provider", "model", "state", "failure_count", "reopens", "cooling_until", "reason", "updated")
    list_filter = ("state", "provider")
    list_select_related = ("provider",)
    search_fields = ("model", "key")
    # Breaker state is written by the request path with conditional updates; the admin only resets it.
    readonly_fields = ("key", "provider", "model", "state", "failure_count", "reopens", "probe_since", "reason",
                       "cooling_until", "limit_streak", "limit_explicit", "updated")
    exclude = ("open_until", "limited_until")
    actions = ["reset_circuit"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="open until")
    def reopens(self, obj: CircuitState) -> str:
        if not obj.open_until:
            return "–"
        return f"{datetime.fromtimestamp(obj.open_until, tz=UTC):%Y-%m-%d %H:%M:%S} UTC"

    @admin.display(description="429 cooldown until")
    def cooling_until(self, obj: CircuitState) -> str:
        if not obj.limited_until:
            return "–"
        return f"{datetime.fromtimestamp(obj.limited_until, tz=UTC):%Y-%m-%d %H:%M:%S} UTC"

    @admin.action(description="Reset circuit (close it now)")
    def reset_circuit(self, request: HttpRequest, queryset: QuerySet[CircuitState]) -> None:
        rows = list(queryset.values_list("pk", "provider_id"))
        reset = sum(circuit_reset(circuit_id=pk) for pk, _ in rows)
        provider_status_changed.send(sender=CircuitState, provider_ids={provider_id for _, provider_id in rows})
        messages.success(request, f"{reset} circuit(s) closed.")
