"""Build the adapter-facing Target for a provider and model (the only place settings meet adapters)."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings

from providers.adapters.base import Target
from providers.config import ProviderConfig
from providers.model_limits import is_reasoning_model, output_limit
from runtime import resets

_TARGET_FIELDS = {f.name for f in dataclasses.fields(Target)}
_FROZEN_SETS = {"drop_params", "schema_drop_keywords"}
_TUPLES = {"beta_allow", "beta_deny"}
# Target fields that come from Provider columns, never from Provider.options.
_SET_BY_PROVIDER = {"kind", "base_url", "model", "provider", "headers", "max_tokens_cap", "oauth"}


def target_options(options: dict[str, Any]) -> dict[str, Any]:
    """Provider.options restricted to Target fields, with list values made hashable."""
    out: dict[str, Any] = {}
    for name, value in options.items():
        if name not in _TARGET_FIELDS or name in _SET_BY_PROVIDER:
            continue
        if name in _FROZEN_SETS and isinstance(value, list | tuple | set):
            value = frozenset(value)
        elif name in _TUPLES and isinstance(value, list):
            value = tuple(value)
        out[name] = value
    return out


def _auto(options: dict[str, Any], model: str) -> dict[str, Any]:
    """"auto" for reasoning_effort / reasoning_model: on for models known to reason."""
    for name in ("reasoning_effort", "reasoning_model"):
        if options.get(name) == "auto":
            options[name] = is_reasoning_model(model)
    return options


# Output limits learned from upstream refusals ("supports at most N completion tokens"), per process.
_learned_caps: dict[tuple[int, str], int] = {}


@resets.register
def output_caps_forget() -> None:
    _learned_caps.clear()


def output_cap_learn(*, provider_id: int, model: str, cap: int) -> None:
    if len(_learned_caps) > 10_000:
        _learned_caps.clear()
    _learned_caps[(provider_id, model)] = cap


def target_for(provider: ProviderConfig, model: str) -> Target:
    caps = [c for c in (provider.max_tokens_cap, settings.MAX_TOKENS_LIMIT,
                        _learned_caps.get((provider.id, model))) if c]
    if not provider.max_tokens_cap and provider.kind == "openai_compat":
        known = output_limit(model)  # the model's own limit, when we know it
        if known:
            caps.append(known)
    return Target(
        kind=provider.kind,
        base_url=provider.base_url,
        model=model,
        provider=provider.name,
        max_tokens_cap=min(caps) if caps else None,
        oauth=provider.auth_type == "oauth",
        headers=dict(provider.headers),
        **target_options(_auto(dict(provider.options), model)),
    )
