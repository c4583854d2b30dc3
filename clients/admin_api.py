"""Admin REST API for client keys under /api/admin/: issue (the key is shown once), rotate with a
grace period, edit budgets, remove. Usage per key: dashboard/admin_api.py."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError

from clients.models import ClientKey
from clients.services import (
    MAX_GRACE_SECONDS,
    DuplicateKeyName,
    client_key_create,
    client_key_delete,
    client_key_rotate,
    client_key_save,
)
from runtime.rest import INT32, Text, get_or_404, patch_schema

router = Router(tags=["admin"])


class ClientKeyIn(Schema):
    name: Text = Field(min_length=1, max_length=100, description="Unique among client keys.")
    enabled: bool = True
    expires_at: datetime | None = Field(None, description="Empty: never expires.")
    requests_per_minute: int | None = Field(None, ge=0, le=INT32)
    requests_per_day: int | None = Field(None, ge=0, le=INT32)
    tokens_per_day: int | None = Field(None, ge=0, le=2**63 - 1)
    usd_per_day: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2,
                                        description="USD per UTC day, priced from the price table (empty: unlimited).")
    usd_per_month: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2,
                                          description="USD per UTC calendar month (empty: unlimited).")


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
    usd_per_day: Decimal | None
    usd_per_month: Decimal | None


class ClientKeyCreated(ClientKeyOut):
    key: str = Field(description="The key itself: shown only in this answer.")


class RotateIn(Schema):
    grace_seconds: int = Field(3600, ge=0, le=MAX_GRACE_SECONDS,
                               description="How long the old key keeps working (0: it stops at once).")


class ClientKeyRotated(ClientKeyCreated):
    previous: ClientKeyOut = Field(description="The old key: renamed, expiring after the grace period.")


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
