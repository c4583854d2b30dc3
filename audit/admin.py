from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html_join

from audit.models import AuditEntry
from audit.selectors import change_summary


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: the trail is written by the receivers, never by hand."""

    list_display = ("created", "actor", "action", "model", "object_repr", "summary")
    list_filter = ("action", "actor_kind", "model")
    search_fields = ("actor", "object_repr", "object_id")
    date_hierarchy = "created"
    show_full_result_count = False  # the trail only grows: no COUNT(*) per page view

    @admin.display(description="changes")
    def summary(self, obj: AuditEntry) -> str:
        return format_html_join("", "<div>{}</div>", ((line,) for line in change_summary(obj.changes)))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False
