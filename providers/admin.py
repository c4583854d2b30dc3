from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from audit.services import audit_changes
from providers.adapters import REGISTRY
from providers.envvars import env_refs_refused, env_refusal_message
from providers.models import ModelPrice, OAuthToken, Provider
from providers.oauth import oauth_token_refresh
from providers.presets import PRESETS, preset_fields
from providers.pricing import Price, default_table, format_usd
from providers.probes import health_check_run
from providers.services import provider_preset_apply
from runtime import crypto
from runtime.display import truncated


def options_help() -> str:
    """Each kind's option names (the adapter entry's ``spec.options``); any other key is refused."""
    lines = (f"{kind}: {', '.join(sorted(a.spec.options)) or '(none)'}" for kind, a in REGISTRY.items())
    return "A JSON object; the keys each kind takes. " + "; ".join(lines) + "."


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
        self.fields["options"].help_text = options_help()
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
        obj.save()  # routing reloads its route table on commit (its post_save receiver)

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
        obj.save()  # the route table carries the access token: routing reloads it on commit

    @admin.action(description="Refresh token now")
    def refresh_now(self, request: HttpRequest, queryset: QuerySet[OAuthToken]) -> None:
        for token in queryset:
            with audit_changes(row=token):  # the refresh writes with update(): recorded here
                result = oauth_token_refresh(token_id=token.pk)
            if result.ok:
                messages.success(request, f"{token.provider.name}: token refreshed")
            else:
                messages.error(request, f"{token.provider.name}: {result.error}")


def _rates(price: Price | None) -> str:
    if price is None:
        return "unknown (no shipped price)"
    text = (f"input {format_usd(price.input)}, output {format_usd(price.output)}, cache write "
            f"{format_usd(price.cache_write)}, cache read {format_usd(price.cache_read)} per million")
    long = price.long_context
    return text if long is None else f"{text}; above {long.threshold} prompt tokens: {_rates(long.price)}"


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    """The admin's prices, laid over the shipped defaults (listed read-only below the rows)."""

    change_list_template = "admin/providers/modelprice/change_list.html"
    list_display = ("model", "provider", "input", "output", "cache_write", "cache_read", "long_context_threshold",
                    "updated")
    list_filter = ("provider",)
    list_select_related = ("provider",)
    search_fields = ("model", "note")
    readonly_fields = ("shipped_default", "updated")
    fieldsets = (
        (None, {"fields": ("provider", "model", "shipped_default", "note")}),
        ("USD per million tokens", {"fields": ("input", "output", "cache_write", "cache_write_1h", "cache_read")}),
        ("Long-context tier (optional)", {"fields": ("long_context_threshold", "long_context_input",
                                                     "long_context_output", "long_context_cache_write",
                                                     "long_context_cache_read")}),
        (None, {"fields": ("updated",)}),
    )

    @admin.display(description="shipped default")
    def shipped_default(self, obj: ModelPrice) -> str:
        if not obj.model:
            return "-"
        found = default_table().match(obj.provider.name if obj.provider else None, obj.model)
        return _rates(None if found is None else found.price) + (f" (row {found.key})" if found else "")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        table = default_table()
        defaults = [{"provider": scope or "any", "model": key, "rates": _rates(price)}
                    for scope, rows in [(None, table.models), *table.providers.items()]
                    for key, price in sorted(rows.items())]
        return super().changelist_view(request, {**(extra_context or {}), "shipped_defaults": defaults})
