"""Admin REST API for providers under /api/admin/: providers and their OAuth token refresh.

Thin sync operations over providers/services.py: the programmatic control a team scripts against
(proxy_project/api.py mounts it behind the staff token or session). Writes validate with
full_clean and answer 400 with the reason; nothing here is on the request path.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError

from audit.services import audit_changes
from providers.envvars import env_refs_refused, env_refusal_message
from providers.models import OAuthToken, Provider
from providers.oauth import oauth_token_refresh
from providers.services import provider_save
from runtime.rest import INT32, JSONObject, Text, get_or_404, patch_schema
from runtime.rows import record_delete

router = Router(tags=["admin"])


# --- providers -----------------------------------------------------------------------------------

class ProviderIn(Schema):
    name: Text = Field(min_length=1, max_length=64, pattern=r"^[-a-zA-Z0-9_]+$")
    kind: Text = Field(max_length=32)
    preset: Text = Field("", max_length=32)
    base_url: Text = Field(max_length=500)
    auth_type: Text = Field("api_key", max_length=16)
    auth_header: Text = Field("", max_length=64)
    api_key: Text | None = Field(None, max_length=10_000, description="Write-only; omit to keep, '' to clear.")
    enabled: bool = True
    priority: int = Field(100, ge=-INT32 - 1, le=INT32)
    timeout: float | None = Field(None, gt=0, le=86_400, allow_inf_nan=False)
    max_retries: int = Field(0, ge=0, le=10)
    max_tokens_cap: int | None = Field(None, ge=0, le=INT32)
    headers: dict[Text, Text] = Field(default_factory=dict)
    options: JSONObject = Field(default_factory=dict)


ProviderPatch = patch_schema(ProviderIn)


class ProviderOut(Schema):
    id: int
    name: str
    kind: str
    preset: str
    base_url: str
    auth_type: str
    auth_header: str
    api_key_masked: str
    enabled: bool
    priority: int
    timeout: float | None
    max_retries: int
    max_tokens_cap: int | None
    headers: dict[str, Any]
    options: dict[str, Any]
    created: datetime
    updated: datetime


def _provider_write(provider: Provider, data: dict[str, Any]) -> Provider:
    api_key = data.pop("api_key", None)
    refused = env_refs_refused([api_key or ""])
    if refused:  # base_url and headers: Provider.clean (full_clean in provider_save)
        raise ValidationError({"api_key": env_refusal_message(refused)})
    return provider_save(provider=provider, fields=data, api_key=api_key)


@router.get("/providers", response=list[ProviderOut])
def providers_list(request: HttpRequest) -> Any:
    return list(Provider.objects.order_by("priority", "name"))


@router.post("/providers", response={201: ProviderOut})
def provider_create(request: HttpRequest, payload: ProviderIn) -> Any:
    return Status(201, _provider_write(Provider(), payload.dict()))


@router.get("/providers/{provider_id}", response=ProviderOut)
def provider_get(request: HttpRequest, provider_id: int) -> Any:
    return get_or_404(Provider, provider_id)


@router.patch("/providers/{provider_id}", response=ProviderOut)
def provider_update(request: HttpRequest, provider_id: int, payload: ProviderPatch) -> Any:  # type: ignore[valid-type]
    return _provider_write(get_or_404(Provider, provider_id), payload.dict(exclude_unset=True))  # type: ignore[attr-defined]


@router.delete("/providers/{provider_id}", response={204: None})
def provider_delete(request: HttpRequest, provider_id: int) -> Any:
    record_delete(row=get_or_404(Provider, provider_id))
    return Status(204, None)


class RefreshOut(Schema):
    ok: bool
    error: str


@router.post("/providers/{provider_id}/token/refresh", response=RefreshOut)
def provider_token_refresh(request: HttpRequest, provider_id: int) -> Any:
    get_or_404(Provider, provider_id)
    token = OAuthToken.objects.filter(provider_id=provider_id).first()
    if token is None:
        raise HttpError(404, f"provider {provider_id} has no OAuth token")
    with audit_changes(row=token):  # the refresh writes with update(): no signal to record it
        result = oauth_token_refresh(token_id=token.pk)
    return {"ok": result.ok, "error": result.error}
