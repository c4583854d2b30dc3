"""First configuration from environment variables, stored as ordinary rows the admin can edit.

Variables (claude-code-proxy compatible): PREFERRED_PROVIDER, OPENAI_API_KEY, OPENAI_BASE_URL,
ANTHROPIC_API_KEY (an ``sk-ant-oat…`` value is a Claude OAuth token, refreshed with
ANTHROPIC_OAUTH_REFRESH_TOKEN, expiring at ANTHROPIC_OAUTH_EXPIRES_AT), ANTHROPIC_UPSTREAM_URL (or ANTHROPIC_BASE_URL), BIG_MODEL, MIDDLE_MODEL
(default: BIG_MODEL), SMALL_MODEL, REQUEST_TIMEOUT, MAX_TOKENS_LIMIT, CUSTOM_HEADER_<NAME>.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from django.db import transaction

from providers.models import Provider
from providers.oauth import oauth_token_store
from routing.models import ModelTier, TierEntry

DEFAULT_MODELS = {
    "openai": {"big": "gpt-4.1", "middle": "gpt-4.1", "small": "gpt-4.1-mini"},
    "anthropic": {"big": "claude-opus-4-8", "middle": "claude-sonnet-5", "small": "claude-haiku-4-5"},
}
TIER_PATTERNS = {"small": "haiku", "middle": "sonnet", "big": "opus"}


def _custom_headers(env: Mapping[str, str]) -> dict[str, str]:
    prefix = "CUSTOM_HEADER_"
    return {
        name[len(prefix):].replace("_", "-").title(): value
        for name, value in env.items()
        if name.startswith(prefix) and value
    }


def _number(env: Mapping[str, str], name: str, kind: type) -> float | int | None:
    raw = env.get(name, "")
    if not raw:
        return None
    try:
        return kind(raw)  # type: ignore[no-any-return]
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a valid {kind.__name__}") from None


def _expiry(raw: str) -> datetime | None:
    """An expiry as epoch seconds/milliseconds (Claude's credentials file) or ISO 8601."""
    if not raw:
        return None
    try:
        number = float(raw)
    except ValueError:
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            raise ValueError(f"ANTHROPIC_OAUTH_EXPIRES_AT={raw!r} is neither epoch time nor ISO 8601") from None
    return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, tz=UTC)


def tier_model(env: Mapping[str, str], tier: str, default: str) -> str:
    """``<TIER>_MODEL``; an unset MIDDLE_MODEL follows BIG_MODEL, because the default middle model
    (gpt-4.1) does not exist on most OpenAI-compatible servers (Ollama, vLLM, NIM) that BIG_MODEL names."""
    chosen = env.get(f"{tier.upper()}_MODEL", "").strip()
    if not chosen and tier == "middle":
        chosen = env.get("BIG_MODEL", "").strip()
    return chosen or default


def _provider_specs(env: Mapping[str, str]) -> dict[str, dict[str, object]]:
    specs: dict[str, dict[str, object]] = {}
    if env.get("OPENAI_API_KEY") or env.get("OPENAI_BASE_URL") or env.get("PREFERRED_PROVIDER", "openai") == "openai":
        specs["openai"] = {
            "kind": "openai_compat",
            "base_url": env.get("OPENAI_BASE_URL") or "https://api.openai.com/v1",
            "key": env.get("OPENAI_API_KEY", ""),
            # No key: a local server (Ollama, vLLM) at a custom URL needs none; the public API does,
            # so it is reported at start (a 401 naming OPENAI_API_KEY) instead of failing upstream.
            "auth_type": "api_key" if env.get("OPENAI_API_KEY") or not env.get("OPENAI_BASE_URL") else "none",
            # reasoning_effort / max_completion_tokens only for models known to reason
            "options": {"reasoning_effort": "auto", "reasoning_model": "auto"},
        }
    if env.get("ANTHROPIC_API_KEY") or env.get("PREFERRED_PROVIDER") == "anthropic":
        key = env.get("ANTHROPIC_API_KEY", "")
        specs["anthropic"] = {
            "kind": "anthropic",
            "base_url": env.get("ANTHROPIC_UPSTREAM_URL") or env.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com",
            "key": key,
            "auth_type": "oauth" if key.startswith("sk-ant-oat") else "api_key",
        }
    return specs


@transaction.atomic
def seed_from_env(*, env: Mapping[str, str], force: bool = False) -> list[str]:
    """Create providers and tiers from ``env`` where missing (``force``: overwrite). Returns notes."""
    notes: list[str] = []
    specs = _provider_specs(env)
    preferred = env.get("PREFERRED_PROVIDER") or next(iter(specs), "openai")
    if preferred not in specs:
        raise ValueError(f"PREFERRED_PROVIDER={preferred!r}: expected one of {sorted(specs) or ['openai', 'anthropic']}")
    timeout = _number(env, "REQUEST_TIMEOUT", float)
    cap = _number(env, "MAX_TOKENS_LIMIT", int)
    headers = _custom_headers(env)
    for name, spec in specs.items():
        existing = Provider.objects.filter(name=name).first()
        if existing is not None and not force:
            notes.append(f"provider {name}: kept (exists)")
            continue
        provider = existing or Provider(name=name)
        provider.kind = str(spec["kind"])
        provider.base_url = str(spec["base_url"])
        provider.auth_type = str(spec["auth_type"])
        provider.set_api_key(str(spec["key"]))
        provider.priority = 0 if name == preferred else 10
        provider.timeout = timeout
        provider.max_tokens_cap = int(cap) if cap else None
        provider.headers = headers
        provider.options = dict(spec.get("options") or {})  # type: ignore[call-overload]
        provider.save()
        if provider.auth_type == Provider.AuthType.OAUTH:
            oauth_token_store(
                provider_id=provider.pk, access=str(spec["key"]),
                refresh=env.get("ANTHROPIC_OAUTH_REFRESH_TOKEN", ""),
                expires_at=_expiry(env.get("ANTHROPIC_OAUTH_EXPIRES_AT", "")),
            )
        notes.append(f"provider {name}: {'updated' if existing else 'created'}")
    _seed_tiers(env, specs, preferred, force, notes)
    return notes


def _seed_tiers(env: Mapping[str, str], specs: Mapping[str, object], preferred: str, force: bool,
                notes: list[str]) -> None:
    order = [preferred] + [n for n in specs if n != preferred]
    for tier_name, pattern in TIER_PATTERNS.items():
        tier, created = ModelTier.objects.get_or_create(name=tier_name, defaults={"patterns": pattern})
        if tier.entries.exists() and not force:
            continue
        tier.entries.all().delete()
        for position, provider_name in enumerate(order):
            model = DEFAULT_MODELS["openai" if specs and provider_name == "openai" else provider_name][tier_name]
            if provider_name == preferred:
                model = tier_model(env, tier_name, model)
            provider = Provider.objects.get(name=provider_name)
            TierEntry.objects.create(tier=tier, provider=provider, model=model, position=position)
        notes.append(f"tier {tier_name}: " + ", ".join(order))
