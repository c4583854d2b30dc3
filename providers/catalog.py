"""Pure views of the route table: the /v1/models listing and the /health summary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.circuit import Circuit, status_label
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


SEVERITY = {"healthy": 0, "half_open": 1, "cooling_down": 2, "circuit_open": 3}


def health_summary(table: RouteTable, circuits: Mapping[str, Circuit], now: float) -> dict[str, Any]:
    """Per provider: the worst state over its circuits (all its models and credentials)."""
    by_provider: dict[int, list[Circuit]] = {}
    for key, circuit in circuits.items():
        provider_id = int(key.split(":", 1)[0])
        by_provider.setdefault(provider_id, []).append(circuit)
    providers: dict[str, dict[str, Any]] = {}
    for p in table.providers.values():
        states = by_provider.get(p.id, [])
        labels = [status_label(c, now) for c in states] or ["healthy"]
        status = max(labels, key=lambda s: SEVERITY.get(s, 0)) if p.enabled else "disabled"
        providers[p.name] = {
            "status": status,
            "priority": p.priority,
            "failure_count": sum(c.failure_count for c in states),
        }
    healthy = any(v["status"] == "healthy" for v in providers.values())
    return {"status": "ok" if healthy or not providers else "degraded", "providers": providers}
