"""Admin REST API for routing under /api/admin/: model tiers (with their entries), scenario
routes, agent fingerprints and the breakers' circuits. Thin sync operations over routing/services.py
and routing/circuits.py (proxy_project/api.py mounts it behind the staff token or session)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from providers.models import Provider
from routing.circuits import circuit_reset
from routing.models import AgentFingerprint, CircuitState, ModelTier, Route
from routing.services import tier_save
from runtime.rest import INT32, Text, get_or_404, patch_schema
from runtime.rows import record_delete, record_save

router = Router(tags=["admin"])


# --- tiers ---------------------------------------------------------------------------------------

class TierEntryIn(Schema):
    provider: Text = Field(min_length=1, max_length=64, description="Provider name.")
    model: Text = Field(min_length=1, max_length=200)
    enabled: bool = True


class TierIn(Schema):
    name: Text = Field(description="small, middle or big", max_length=16)
    patterns: Text = Field(min_length=1, max_length=200)
    strategy: Text = Field("priority", max_length=16)
    entries: list[TierEntryIn] = Field(default_factory=list, max_length=100)


TierPatch = patch_schema(TierIn)


class TierEntryOut(Schema):
    provider: str = Field(alias="provider.name")
    model: str
    enabled: bool


class TierOut(Schema):
    id: int
    name: str
    patterns: str
    strategy: str
    entries: list[TierEntryOut]
    updated: datetime

    @staticmethod
    def resolve_entries(obj: ModelTier) -> list[Any]:
        return list(obj.entries.select_related("provider").order_by("position", "id"))


def _tier_write(tier: ModelTier, data: dict[str, Any]) -> ModelTier:
    entries = data.pop("entries", None)
    return tier_save(tier=tier, fields=data, entries=entries)


@router.get("/tiers", response=list[TierOut])
def tiers_list(request: HttpRequest) -> Any:
    return list(ModelTier.objects.order_by("name"))


@router.post("/tiers", response={201: TierOut})
def tier_create(request: HttpRequest, payload: TierIn) -> Any:
    return Status(201, _tier_write(ModelTier(), payload.dict()))


@router.get("/tiers/{tier_id}", response=TierOut)
def tier_get(request: HttpRequest, tier_id: int) -> Any:
    return get_or_404(ModelTier, tier_id)


@router.patch("/tiers/{tier_id}", response=TierOut)
def tier_update(request: HttpRequest, tier_id: int, payload: TierPatch) -> Any:  # type: ignore[valid-type]
    return _tier_write(get_or_404(ModelTier, tier_id), payload.dict(exclude_unset=True))  # type: ignore[attr-defined]


@router.delete("/tiers/{tier_id}", response={204: None})
def tier_delete(request: HttpRequest, tier_id: int) -> Any:
    record_delete(row=get_or_404(ModelTier, tier_id))
    return Status(204, None)


# --- routes --------------------------------------------------------------------------------------

class RouteIn(Schema):
    name: Text = Field(min_length=1, max_length=100)
    scenario: Text = Field(max_length=16, description="long_context, thinking, background or model")
    pattern: Text = Field("", max_length=200)
    threshold: int = Field(60_000, ge=0, le=INT32)
    provider: Text = Field(min_length=1, max_length=64, description="Provider name.")
    model: Text = Field(min_length=1, max_length=200)
    position: int = Field(0, ge=0, le=INT32)
    enabled: bool = True


RoutePatch = patch_schema(RouteIn)


class RouteOut(Schema):
    id: int
    name: str
    scenario: str
    pattern: str
    threshold: int
    provider: str = Field(alias="provider.name")
    model: str
    position: int
    enabled: bool
    updated: datetime


def _route_write(route: Route, data: dict[str, Any]) -> Route:
    if "provider" in data:
        data["provider"] = _provider_named(data["provider"])
    return record_save(row=route, fields=data)


def _provider_named(name: str) -> Provider:
    provider = Provider.objects.filter(name=name).first()
    if provider is None:
        raise ValidationError({"provider": f"no provider named {name!r}"})
    return provider


@router.get("/routes", response=list[RouteOut])
def routes_list(request: HttpRequest) -> Any:
    return list(Route.objects.select_related("provider").order_by("scenario", "position", "id"))


@router.post("/routes", response={201: RouteOut})
def route_create(request: HttpRequest, payload: RouteIn) -> Any:
    return Status(201, _route_write(Route(), payload.dict()))


@router.get("/routes/{route_id}", response=RouteOut)
def route_get(request: HttpRequest, route_id: int) -> Any:
    return get_or_404(Route, route_id)


@router.patch("/routes/{route_id}", response=RouteOut)
def route_update(request: HttpRequest, route_id: int, payload: RoutePatch) -> Any:  # type: ignore[valid-type]
    return _route_write(get_or_404(Route, route_id), payload.dict(exclude_unset=True))  # type: ignore[attr-defined]


@router.delete("/routes/{route_id}", response={204: None})
def route_delete(request: HttpRequest, route_id: int) -> Any:
    record_delete(row=get_or_404(Route, route_id))
    return Status(204, None)


# --- agent fingerprints --------------------------------------------------------------------------

class FingerprintIn(Schema):
    fingerprint: Text = Field(min_length=1, max_length=64)
    name: Text = Field("", max_length=200)
    description: Text = Field("", max_length=2000)
    model: Text = Field("", max_length=200, description="Tier, model@provider or model; empty: unassigned.")


FingerprintPatch = patch_schema(FingerprintIn)


class FingerprintOut(Schema):
    id: int
    fingerprint: str
    name: str
    description: str
    model: str
    seen_count: int
    first_seen: datetime | None
    last_seen: datetime | None


@router.get("/fingerprints", response=list[FingerprintOut])
def fingerprints_list(request: HttpRequest) -> Any:
    return list(AgentFingerprint.objects.order_by("name", "fingerprint"))


@router.post("/fingerprints", response={201: FingerprintOut})
def fingerprint_create(request: HttpRequest, payload: FingerprintIn) -> Any:
    return Status(201, record_save(row=AgentFingerprint(), fields=payload.dict()))


@router.get("/fingerprints/{fingerprint_id}", response=FingerprintOut)
def fingerprint_get(request: HttpRequest, fingerprint_id: int) -> Any:
    return get_or_404(AgentFingerprint, fingerprint_id)


@router.patch("/fingerprints/{fingerprint_id}", response=FingerprintOut)
def fingerprint_update(request: HttpRequest, fingerprint_id: int, payload: FingerprintPatch) -> Any:  # type: ignore[valid-type]
    return record_save(row=get_or_404(AgentFingerprint, fingerprint_id), fields=payload.dict(exclude_unset=True))  # type: ignore[attr-defined]


@router.delete("/fingerprints/{fingerprint_id}", response={204: None})
def fingerprint_delete(request: HttpRequest, fingerprint_id: int) -> Any:
    record_delete(row=get_or_404(AgentFingerprint, fingerprint_id))
    return Status(204, None)


# --- circuits ------------------------------------------------------------------------------------

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
