from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.services import audit_changes
from clients.models import ClientKey
from clients.services import client_key_create, client_key_rotate


class ClientKeyForm(forms.ModelForm):
    class Meta:
        model = ClientKey
        fields = ("name", "enabled", "expires_at", "requests_per_minute", "requests_per_day", "tokens_per_day",
                  "usd_per_day", "usd_per_month")
        error_messages = {"name": {"unique": "A client key with this name already exists: pick another name, "
                                             "or rotate that key."}}


@admin.register(ClientKey)
class ClientKeyAdmin(admin.ModelAdmin):
    form = ClientKeyForm
    list_display = ("name", "key_prefix", "enabled", "expires_at", "requests_per_minute", "requests_per_day",
                    "tokens_per_day", "usd_per_day", "usd_per_month", "created", "last_used")
    list_filter = ("enabled",)
    search_fields = ("name", "key_prefix")
    readonly_fields = ("key_prefix", "created", "last_used")
    actions = ["rotate_with_grace", "rotate_now"]

    @admin.action(description="Rotate: issue a new key; the old one works one more hour")
    def rotate_with_grace(self, request: HttpRequest, queryset: QuerySet[ClientKey]) -> None:
        self._rotate(request, queryset, 3600)

    @admin.action(description="Rotate now: issue a new key; the old one stops at once")
    def rotate_now(self, request: HttpRequest, queryset: QuerySet[ClientKey]) -> None:
        self._rotate(request, queryset, 0)

    def _rotate(self, request: HttpRequest, queryset: QuerySet[ClientKey], grace_seconds: int) -> None:
        for key_id in list(queryset.values_list("pk", flat=True)):
            row, plaintext = client_key_rotate(key_id=key_id, grace_seconds=grace_seconds)
            messages.warning(request, f"New key for {row.name} (shown once, copy it now): {plaintext}")

    def save_model(self, request: HttpRequest, obj: ClientKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        row, plaintext = client_key_create(
            name=obj.name, requests_per_minute=obj.requests_per_minute, requests_per_day=obj.requests_per_day,
            tokens_per_day=obj.tokens_per_day, expires_at=obj.expires_at, usd_per_day=obj.usd_per_day,
            usd_per_month=obj.usd_per_month,
        )
        obj.pk = row.pk
        obj.key_hash, obj.key_prefix, obj.created = row.key_hash, row.key_prefix, row.created
        if not obj.enabled:
            with audit_changes(row=row):  # update() sends no signal: record the change here
                ClientKey.objects.filter(pk=row.pk).update(enabled=False)
        messages.warning(request, f"New client key (shown once, copy it now): {plaintext}")
