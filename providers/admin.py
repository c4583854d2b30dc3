from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from providers.models import ClientKey, Provider
from providers.services.keys import client_key_create


class ProviderForm(forms.ModelForm):
    base_url = forms.URLField(max_length=500, assume_scheme="https")
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: leave empty to keep the stored key. Stored encrypted.",
    )
    clear_api_key = forms.BooleanField(required=False, help_text="Remove the stored key.")

    class Meta:
        model = Provider
        fields = "__all__"


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ("name", "kind", "base_url", "auth_type", "enabled", "priority", "api_key_masked", "updated")
    list_filter = ("kind", "enabled", "auth_type")
    search_fields = ("name", "base_url")
    readonly_fields = ("api_key_masked", "created", "updated")

    def save_model(self, request: HttpRequest, obj: Provider, form: Any, change: bool) -> None:
        if form.cleaned_data.get("clear_api_key"):
            obj.api_key_encrypted = ""
        elif form.cleaned_data.get("api_key"):
            obj.set_api_key(form.cleaned_data["api_key"])
        super().save_model(request, obj, form, change)


class ClientKeyForm(forms.ModelForm):
    class Meta:
        model = ClientKey
        fields = ("name", "enabled")


@admin.register(ClientKey)
class ClientKeyAdmin(admin.ModelAdmin):
    form = ClientKeyForm
    list_display = ("name", "key_prefix", "enabled", "created", "last_used")
    list_filter = ("enabled",)
    search_fields = ("name", "key_prefix")
    readonly_fields = ("key_prefix", "created", "last_used")

    def save_model(self, request: HttpRequest, obj: ClientKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        row, plaintext = client_key_create(name=obj.name)
        obj.pk = row.pk
        obj.key_hash, obj.key_prefix, obj.created = row.key_hash, row.key_prefix, row.created
        if not obj.enabled:
            ClientKey.objects.filter(pk=row.pk).update(enabled=False)
        messages.warning(request, f"New client key (shown once, copy it now): {plaintext}")
