from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from audit.services import audit_changes
from dashboard.services import dashboard_status_send
from providers import crypto
from providers.auth import client_key_cache_clear
from providers.envvars import env_refs_refused, env_refusal_message
from providers.models import CircuitState, ClientKey, OAuthToken, Provider
from providers.presets import PRESETS, preset_fields
from providers.services.circuits import circuit_reset
from providers.services.health import health_check_run
from providers.services.keys import client_key_create, client_key_rotate
from providers.services.presets import provider_preset_apply
from providers.services.tokens import oauth_token_refresh
from proxy_project.admin_site import truncated
from routing.services import (
    route_config_changed,
    route_config_delete,
    route_config_delete_many,
    route_config_save,
)


class ProviderForm(forms.ModelForm):
    # Optional here: a preset fills them (clean below); without one they are required.
    base_url = forms.URLField(max_length=500, assume_scheme="https", required=False)
    api_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: leave empty to keep the stored key. Stored encrypted.",
    )
    clear_api_key = forms.BooleanField(required=False, help_text="Remove the stored key.")
    # Vertex AI: kept in options (project, region) and, for the key, where API keys go (encrypted).
    vertex_project = forms.CharField(required=False, max_length=100,
                                     help_text="Vertex only: Google Cloud project id. Empty: the key's project_id.")
    vertex_region = forms.CharField(required=False, max_length=64,
                                    help_text="Vertex only: location (us-east5, europe-west1, global, ...).")
    service_account_json = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text="Vertex only, write-only: paste the service-account key JSON (stored encrypted, never shown). "
                  "Leave empty to keep the stored key; with none stored, Application Default Credentials are used.",
    )

    class Meta:
        model = Provider
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].required = False
        # admin-preset.js fills the form from this the moment a preset is picked (no secrets in it).
        self.fields["preset"].help_text = (
            "Picking a preset fills kind, base URL, auth style, headers and options at once (before saving); "
            "a field you typed on this page is kept, the stored key is never touched.")
        self.fields["preset"].widget.attrs["data-preset-fields"] = json.dumps(
            {name: preset_fields(name) for name in PRESETS})
        options = self.instance.options if isinstance(self.instance.options, dict) else {}
        self.fields["vertex_project"].initial = options.get("project", "")
        self.fields["vertex_region"].initial = options.get("region", "")

    def clean_service_account_json(self) -> str:
        text = str(self.cleaned_data.get("service_account_json") or "").strip()
        if not text:
            return ""
        try:
            info = json.loads(text)
        except ValueError:
            raise forms.ValidationError("Not JSON: paste the whole key file.") from None
        missing = [k for k in ("client_email", "private_key", "token_uri") if not (isinstance(info, dict) and info.get(k))]
        if missing or info.get("type") != "service_account":
            raise forms.ValidationError("Not a service-account key (type service_account with "
                                        "client_email, private_key and token_uri).")
        return text

    def _vertex_options(self, data: dict[str, Any]) -> None:
        """Project and region into options (project defaulting to the pasted key's project_id)."""
        if self.has_error("options") or self.has_error("service_account_json"):
            return
        options = dict(data.get("options") or {})
        project = (data.get("vertex_project") or "").strip()
        if not project and data.get("service_account_json"):
            project = str(json.loads(data["service_account_json"]).get("project_id") or "")
        for name, value in (("project", project), ("region", (data.get("vertex_region") or "").strip())):
            if value:
                options[name] = value
        data["options"] = options

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        preset = data.get("preset")
        filled = preset_fields(preset) if preset else {}
        for name in ("kind", "base_url"):
            if not data.get(name):
                if filled:
                    data[name] = filled[name]
                else:
                    self.add_error(name, "Required unless a preset is picked.")
        refused = env_refs_refused([data.get("api_key") or ""])
        if refused:
            self.add_error("api_key", env_refusal_message(refused))
        if data.get("service_account_json") and data.get("api_key"):
            self.add_error("api_key", "Give either an API key or a service-account key, not both.")
        self._vertex_options(data)
        return data


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ("name", "kind", "base_url_cell", "enabled", "priority", "api_key_masked", "health_ok",
                    "health_checked_at")
    list_filter = ("kind", "preset", "enabled", "auth_type")
    search_fields = ("name", "base_url")
    readonly_fields = ("api_key_masked", "health_checked_at", "health_ok", "health_latency_ms", "health_error",
                       "created", "updated")
    actions = ["test_connection"]

    class Media:
        js = ("admin-preset.js",)

    @admin.display(description="base URL", ordering="base_url")
    def base_url_cell(self, obj: Provider) -> SafeString:
        return truncated(obj.base_url)

    def save_model(self, request: HttpRequest, obj: Provider, form: Any, change: bool) -> None:
        if obj.preset and "preset" in form.changed_data:
            provider_preset_apply(provider=obj, preset=obj.preset)  # fills what was left empty
        if form.cleaned_data.get("clear_api_key"):
            obj.api_key_encrypted = ""
        elif form.cleaned_data.get("api_key"):
            obj.set_api_key(form.cleaned_data["api_key"])
        elif form.cleaned_data.get("service_account_json"):
            obj.set_api_key(form.cleaned_data["service_account_json"])
        route_config_save(obj=obj)

    def delete_model(self, request: HttpRequest, obj: Provider) -> None:
        route_config_delete(obj=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        route_config_delete_many(queryset=queryset)

    @admin.action(description="Test connection (health check now)")
    def test_connection(self, request: HttpRequest, queryset: QuerySet[Provider]) -> None:
        for provider in queryset:
            result = health_check_run(provider_id=provider.pk, force=True)
            if result.ok:
                messages.success(request, f"{provider.name}: OK, HTTP {result.status} in {result.latency_ms:.0f} ms")
            elif result.ok is None:
                messages.warning(request, f"{provider.name}: not checked: {result.error}")
            else:
                messages.error(request, f"{provider.name}: failed: {result.error}")



class ClientKeyForm(forms.ModelForm):
    class Meta:
        model = ClientKey
        fields = ("name", "enabled", "expires_at", "requests_per_minute", "requests_per_day", "tokens_per_day")
        error_messages = {"name": {"unique": "A client key with this name already exists: pick another name, "
                                             "or rotate that key."}}


@admin.register(ClientKey)
class ClientKeyAdmin(admin.ModelAdmin):
    form = ClientKeyForm
    list_display = ("name", "key_prefix", "enabled", "expires_at", "requests_per_minute", "requests_per_day",
                    "tokens_per_day", "created", "last_used")
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
            tokens_per_day=obj.tokens_per_day, expires_at=obj.expires_at,
        )
        obj.pk = row.pk
        obj.key_hash, obj.key_prefix, obj.created = row.key_hash, row.key_prefix, row.created
        if not obj.enabled:
            with audit_changes(row=row):  # update() sends no signal: record the change here
                ClientKey.objects.filter(pk=row.pk).update(enabled=False)
        messages.warning(request, f"New client key (shown once, copy it now): {plaintext}")

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # A disabled key stops working in this process at once (elsewhere: CLIENT_KEY_CACHE_TTL).
        client_key_cache_clear()


class OAuthTokenForm(forms.ModelForm):
    token_url = forms.URLField(max_length=500, required=False, assume_scheme="https",
                               help_text="Empty: OAUTH_TOKEN_URL setting.")
    access_token = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: leave empty to keep the stored token. Stored encrypted.",
    )
    refresh_token = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: leave empty to keep the stored token. Stored encrypted.",
    )

    class Meta:
        model = OAuthToken
        fields = ("provider", "expires_at", "token_url", "client_id")


@admin.register(OAuthToken)
class OAuthTokenAdmin(admin.ModelAdmin):
    form = OAuthTokenForm
    list_display = ("provider", "access_token_masked", "expires_at", "last_refresh_at", "refresh_failures",
                    "last_error")
    list_select_related = ("provider",)
    readonly_fields = ("access_token_masked", "refreshing_since", "last_refresh_at", "last_error",
                       "refresh_failures", "updated")
    actions = ["refresh_now"]

    def save_model(self, request: HttpRequest, obj: OAuthToken, form: Any, change: bool) -> None:
        access, refresh = form.cleaned_data.get("access_token"), form.cleaned_data.get("refresh_token")
        if access:
            obj.set_tokens(access, refresh or None)
        elif refresh:
            obj.refresh_token_encrypted = crypto.encrypt(refresh)
        route_config_save(obj=obj)  # the route table carries the access token

    @admin.action(description="Refresh token now")
    def refresh_now(self, request: HttpRequest, queryset: QuerySet[OAuthToken]) -> None:
        for token in queryset:
            with audit_changes(row=token):  # the refresh writes with update(): recorded here
                result = oauth_token_refresh(token_id=token.pk)
            if result.ok:
                messages.success(request, f"{token.provider.name}: token refreshed")
            else:
                messages.error(request, f"{token.provider.name}: {result.error}")
        route_config_changed()


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
        dashboard_status_send(provider_ids={provider_id for _, provider_id in rows})
        messages.success(request, f"{reset} circuit(s) closed.")
