from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from dashboard.models import RequestLog


@admin.register(RequestLog)
class RequestLogAdmin(admin.ModelAdmin):
    list_display = ("created", "client_key", "requested_model", "provider", "upstream_model", "status",
                    "latency_ms", "ttft_ms", "input_tokens", "output_tokens", "cached_tokens", "route_reason")
    list_filter = ("provider", "status", "stream")
    search_fields = ("requested_model", "upstream_model", "session_id")
    list_select_related = ("client_key",)
    date_hierarchy = "created"
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
