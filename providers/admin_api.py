"""Admin REST API (providers, client keys, circuits, OAuth tokens, usage) under /api/admin/.

Thin sync operations over providers/services: the programmatic control a team scripts against
(staff bearer token, or a staff session in the browser). Writes validate with full_clean and
answer 400 with the reason; nothing here is on the request path.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.db.models import Model
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import AfterValidator, create_model

from audit.services import audit_changes
from providers.envvars import env_refs_refused, env_refusal_message
from providers.limits import usage_today
from providers.models import CircuitState, ClientKey, OAuthToken, Provider
from providers.selectors import usage_by_key
from providers.services.circuits import circuit_reset
from providers.services.keys import MAX_GRACE_SECONDS, DuplicateKeyName, client_key_create, client_key_rotate
from providers.services.records import client_key_delete, client_key_save, provider_save, record_delete
from providers.services.tokens import oauth_token_refresh
from providers.staff_auth import STAFF_AUTH

router = Router(auth=STAFF_AUTH, tags=["admin"])

INT32 = 2**31 - 1


def no_nul(value: Any) -> Any:
    """PostgreSQL stores no NUL character in text or JSON: refuse it up front (400, not 500)."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("NUL characters are not allowed")
    if isinstance(value, dict):
        for k, v in value.items():
            no_nul(k)
            no_nul(v)
    elif isinstance(value, list):
        for v in value:
            no_nul(v)
    return value


Text = Annotated[str, AfterValidator(no_nul)]
JSONObject = Annotated[dict[str, Any], AfterValidator(no_nul)]


def patch_schema(schema: type[Schema]) -> type[Schema]:
    """``schema`` with every field optional and its constraints kept (for PATCH bodies)."""
    fields: dict[str, Any] = {}
    for name, info in schema.model_fields.items():
        optional = copy.copy(info)
        optional.default, optional.default_factory = None, None
        annotation: Any = info.annotation
        fields[name] = (annotation | None, optional)
    return create_model(f"{schema.__name__}Patch", __base__=Schema, **fields)  # type: ignore[call-overload, no-any-return]


def get_or_404(model: type[Model], pk: int) -> Any:
    row = model._default_manager.filter(pk=pk).first()
    if row is None:
        raise HttpError(404, f"no {model._meta.verbose_name} with id {pk}")
    return row


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


# --- circuits and tokens -------------------------------------------------------------------------

class CircuitOut(Schema):
    id: int
    provider: str = Field(alias="provider.name")
    model: str
    state: str
    failure_count: int
    open_until: float
    reason: str
    updated: datetime


class ResetOut(Schema):
    reset: int


class RefreshOut(Schema):
    ok: bool
    error: str


class CircuitFilter(Schema):
    provider_id: int | None = Field(None, ge=-(2**63), le=2**63 - 1)  # a bigint: larger is a 400, not a 500


@router.get("/circuits", response=list[CircuitOut])
def circuits_list(request: HttpRequest, filters: Query[CircuitFilter]) -> Any:
    qs = CircuitState.objects.select_related("provider").order_by("provider__name", "model")
    return list(qs.filter(provider_id=filters.provider_id) if filters.provider_id is not None else qs)


@router.post("/circuits/{circuit_id}/reset", response=ResetOut)
def circuit_reset_one(request: HttpRequest, circuit_id: int) -> Any:
    get_or_404(CircuitState, circuit_id)
    return {"reset": int(circuit_reset(circuit_id=circuit_id))}


@router.post("/providers/{provider_id}/circuits/reset", response=ResetOut)
def provider_circuits_reset(request: HttpRequest, provider_id: int) -> Any:
    get_or_404(Provider, provider_id)
    ids = CircuitState.objects.filter(provider_id=provider_id).values_list("pk", flat=True)
    return {"reset": sum(circuit_reset(circuit_id=pk) for pk in list(ids))}


@router.post("/providers/{provider_id}/token/refresh", response=RefreshOut)
def provider_token_refresh(request: HttpRequest, provider_id: int) -> Any:
    get_or_404(Provider, provider_id)
    token = OAuthToken.objects.filter(provider_id=provider_id).first()
    if token is None:
        raise HttpError(404, f"provider {provider_id} has no OAuth token")
    with audit_changes(row=token):  # the refresh writes with update(): no signal to record it
        result = oauth_token_refresh(token_id=token.pk)
    return {"ok": result.ok, "error": result.error}


# --- client keys and usage -----------------------------------------------------------------------

class ClientKeyIn(Schema):
    name: Text = Field(min_length=1, max_length=100, description="Unique among client keys.")
    enabled: bool = True
    expires_at: datetime | None = Field(None, description="Empty: never expires.")
    requests_per_minute: int | None = Field(None, ge=0, le=INT32)
    requests_per_day: int | None = Field(None, ge=0, le=INT32)
    tokens_per_day: int | None = Field(None, ge=0, le=2**63 - 1)


ClientKeyPatch = patch_schema(ClientKeyIn)


class ClientKeyOut(Schema):
    id: int
    name: str
    key_prefix: str
    enabled: bool
    expires_at: datetime | None
    created: datetime
    last_used: datetime | None
    requests_per_minute: int | None
    requests_per_day: int | None
    tokens_per_day: int | None


class ClientKeyCreated(ClientKeyOut):
    key: str = Field(description="The key itself: shown only in this answer.")


class RotateIn(Schema):
    grace_seconds: int = Field(3600, ge=0, le=MAX_GRACE_SECONDS,
                               description="How long the old key keeps working (0: it stops at once).")


class ClientKeyRotated(ClientKeyCreated):
    previous: ClientKeyOut = Field(description="The old key: renamed, expiring after the grace period.")


class UsageDay(Schema):
    key_id: int
    name: str
    day: str
    requests: int = Field(description="Client requests answered (one per request, however many upstream calls).")
    errors: int = Field(description="Answered requests whose status was 4xx/5xx (a client's hang-up, 499, excluded).")
    throttled: int = Field(0, description="Requests refused with 429 by this key's own rate limits or token budget.")
    refused: int = Field(0, description="All requests the gateway refused itself (throttled, 408, 413, 529).")
    input_tokens: int
    output_tokens: int
    cached_tokens: int


class KeyUsage(Schema):
    key_id: int
    name: str
    current: dict[str, int] = Field(description="Counters of the running limit windows: rpm, rpd, tpd.")
    days: list[UsageDay]


class UsageFilter(Schema):
    days: int = Field(7, ge=1, le=366)


@router.get("/client-keys", response=list[ClientKeyOut])
def client_keys_list(request: HttpRequest) -> Any:
    return list(ClientKey.objects.order_by("name"))


@router.post("/client-keys", response={201: ClientKeyCreated})
def client_key_issue(request: HttpRequest, payload: ClientKeyIn) -> Any:
    data = payload.dict()
    enabled = data.pop("enabled")
    try:
        row, plaintext = client_key_create(**data)
    except DuplicateKeyName as exc:
        raise HttpError(400, str(exc)) from None
    if not enabled:
        client_key_save(key=row, fields={"enabled": False})
    return Status(201, {**ClientKeyOut.from_orm(row).dict(), "key": plaintext})


@router.post("/client-keys/{key_id}/rotate", response={201: ClientKeyRotated})
def client_key_rotate_one(request: HttpRequest, key_id: int, payload: RotateIn) -> Any:
    get_or_404(ClientKey, key_id)
    try:
        row, plaintext = client_key_rotate(key_id=key_id, grace_seconds=payload.grace_seconds)
    except DuplicateKeyName as exc:  # a concurrent create took the name
        raise HttpError(409, str(exc)) from None
    previous = ClientKey.objects.get(pk=key_id)
    return Status(201, {**ClientKeyOut.from_orm(row).dict(), "key": plaintext,
                        "previous": ClientKeyOut.from_orm(previous).dict()})


@router.get("/client-keys/{key_id}", response=ClientKeyOut)
def client_key_get(request: HttpRequest, key_id: int) -> Any:
    return get_or_404(ClientKey, key_id)


@router.patch("/client-keys/{key_id}", response=ClientKeyOut)
def client_key_update(request: HttpRequest, key_id: int, payload: ClientKeyPatch) -> Any:  # type: ignore[valid-type]
    return client_key_save(key=get_or_404(ClientKey, key_id), fields=payload.dict(exclude_unset=True))  # type: ignore[attr-defined]


@router.delete("/client-keys/{key_id}", response={204: None})
def client_key_remove(request: HttpRequest, key_id: int) -> Any:
    client_key_delete(key=get_or_404(ClientKey, key_id))
    return Status(204, None)


@router.get("/client-keys/{key_id}/usage", response=KeyUsage)
def client_key_usage(request: HttpRequest, key_id: int, filters: Query[UsageFilter]) -> Any:
    key = get_or_404(ClientKey, key_id)
    return {"key_id": key.pk, "name": key.name, "current": usage_today(key.pk),
            "days": usage_by_key(days=filters.days, key_id=key.pk)}


@router.get("/usage", response=list[UsageDay])
def usage(request: HttpRequest, filters: Query[UsageFilter]) -> Any:
    return usage_by_key(days=filters.days)
