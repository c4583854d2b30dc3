"""Pure views of the route table: the /v1/models listing and the /health summary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from routing.breaker import Circuit, status_label
from routing.resolution import RouteTable

# Claude model ids Claude Code asks for, with their context windows; requests for them are routed
# by tier. Advertised so /v1/models answers in Anthropic's shape with real limits.
CLAUDE_MODELS: tuple[tuple[str, str, int, int], ...] = (
    ("claude-opus-4-8", "Claude Opus 4.8", 200_000, 64_000),
    ("claude-sonnet-5", "Claude Sonnet 5", 200_000, 64_000),
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", 200_000, 64_000),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", 200_000, 64_000),
)
CREATED_AT = "2025-01-01T00:00:00Z"


def _model(model_id: str, name: str, context: int, output: int) -> dict[str, Any]:
    return {
        "type": "model",
        "id": model_id,
        "display_name": name,
        "created_at": CREATED_AT,
        "max_input_tokens": context,
        "max_tokens": output,
    }


def models_list(table: RouteTable) -> dict[str, Any]:
    data = [_model(*row) for row in CLAUDE_MODELS]
    seen = {row[0] for row in CLAUDE_MODELS}
    for tier in table.tiers:
        for provider, model in tier.entries:
            model_id = f"{model}@{provider}"
            if model_id not in seen:
                seen.add(model_id)
                data.append(_model(model_id, f"{model} via {provider} ({tier.name})", 200_000, 64_000))
    return {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}


SEVERITY = {"healthy": 0, "half_open": 1, "cooling_down": 2, "unhealthy": 3, "circuit_open": 4}


@dataclass(frozen=True, slots=True)
class HealthInputs:
    """What /health combines besides the circuits, per provider name (all optional)."""

    probes: Mapping[str, tuple[bool | None, str]] = field(default_factory=dict)  # last health check: ok, error
    traffic: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # recent calls, failed calls
    missing: Mapping[str, str] = field(default_factory=dict)  # why it has no credential
    min_calls: int = 5
    max_error_rate: float = 0.5


def health_reasons(name: str, inputs: HealthInputs) -> list[str]:
    """PURE: why ``name`` cannot be trusted to answer: no credential, a failed health check, or
    a share of failed real calls at or above max_error_rate (over at least min_calls calls)."""
    reasons = []
    if inputs.missing.get(name):
        reasons.append(inputs.missing[name])
    ok, error = inputs.probes.get(name, (None, ""))
    if ok is False:
        reasons.append(f"health check failed: {error}" if error else "health check failed")
    calls, failed = inputs.traffic.get(name, (0, 0))
    if calls >= max(1, inputs.min_calls) and failed / calls >= inputs.max_error_rate:
        reasons.append(f"{failed} of its last {calls} calls failed")
    return reasons


def provider_state(circuit_label: str, *, enabled: bool, reasons: list[str]) -> str:
    """PURE: the breaker's label, raised to ``unhealthy`` when there are reasons (an open circuit stays
    the more specific answer)."""
    if not enabled:
        return "disabled"
    if reasons and SEVERITY.get(circuit_label, 0) < SEVERITY["unhealthy"]:
        return "unhealthy"
    return circuit_label


def health_summary(table: RouteTable, circuits: Mapping[str, Circuit], now: float,
                   inputs: HealthInputs | None = None) -> dict[str, Any]:
    """Per provider: the worst state over its circuits (all its models and credentials), combined
    with the health check, recent real traffic and its credential. ``ok`` only when every enabled
    provider is healthy; anything else is ``degraded`` (still HTTP 200: the gateway answers)."""
    inputs = inputs or HealthInputs()
    by_provider: dict[int, list[Circuit]] = {}
    for key, circuit in circuits.items():
        provider_id = int(key.split(":", 1)[0])
        by_provider.setdefault(provider_id, []).append(circuit)
    providers: dict[str, dict[str, Any]] = {}
    for p in table.providers.values():
        states = by_provider.get(p.id, [])
        labels = [status_label(c, now) for c in states] or ["healthy"]
        reasons = health_reasons(p.name, inputs) if p.enabled else []
        worst = max(labels, key=lambda s: SEVERITY.get(s, 0))
        providers[p.name] = {
            "status": provider_state(worst, enabled=p.enabled, reasons=reasons),
            "priority": p.priority,
            "failure_count": sum(c.failure_count for c in states),
        }
        if reasons:  # why it is unhealthy (no credential, a failed health check, failing calls)
            providers[p.name]["reasons"] = reasons
    healthy = all(v["status"] in ("healthy", "disabled") for v in providers.values())
    return {"status": "ok" if healthy else "degraded", "providers": providers}
