"""Build the adapter-facing Target for a provider and model (the only place settings meet adapters)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from django.conf import settings

from providers.adapters import kind_spec
from providers.adapters.base import Target
from providers.config import ProviderConfig
from providers.model_limits import is_reasoning_model, output_limit
from runtime import resets

_TARGET_FIELDS = {f.name for f in dataclasses.fields(Target)}
# Target fields that come from Provider columns, never from Provider.options.
_SET_BY_PROVIDER = {"kind", "base_url", "model", "provider", "headers", "max_tokens_cap", "oauth"}


def target_options(kind: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """The kind's declared Target options from Provider.options, converted (lists made hashable).

    Keys the kind does not declare were refused when the row was saved (Provider.clean); a row
    written before that check still loads, without them.
    """
    spec = kind_spec(kind)
    declared = spec.options if spec is not None else {}
    out: dict[str, Any] = {}
    for name, value in options.items():
        option = declared.get(name)
        if option is None or not option.target or name not in _TARGET_FIELDS or name in _SET_BY_PROVIDER:
            continue
        out[name] = option.convert(value)
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
    spec = kind_spec(provider.kind)
    if not provider.max_tokens_cap and spec is not None and spec.known_output_limits:
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
        **target_options(provider.kind, _auto(dict(provider.options), model)),
    )
