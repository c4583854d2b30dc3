"""PURE: the gateway's own config format (what export writes), checked item by item.

    {"version": 1,
     "providers": [{"name", "kind", "preset", "base_url", "auth_type", "auth_header", "api_key"?, "enabled",
                    "priority", "timeout", "max_retries", "max_tokens_cap", "headers", "options"}],
     "tiers": [{"name": "small|middle|big", "patterns", "strategy", "entries": [{"provider", "model", "enabled"}]}],
     "routes": [{"name", "scenario", "pattern", "threshold", "provider", "model", "enabled"}],
     "agents": [{"fingerprint", "name", "description", "model"}],
     "prices": [{"provider" ("": every provider), "model", "input", "output", "cache_write"?, "cache_write_1h"?,
                 "cache_read"?, "long_context_threshold"?, "long_context_input"?, "long_context_output"?,
                 "long_context_cache_write"?, "long_context_cache_read"?, "note"}]}

Every seed format is parsed into this shape; ``clean`` fills defaults and rejects wrong types
and unknown keys, naming the key path. A missing ``api_key`` keeps the stored key; a missing
``routes`` list keeps the stored routes, a missing ``prices`` list the stored prices. Prices are USD
per million tokens, kept as exact decimals.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from configuration.errors import ConfigError, Origin, Path, expect_mapping, gather, raise_all
from providers.adapters import REGISTRY

VERSION = 1
TIER_NAMES = ("small", "middle", "big")
TIER_PATTERNS = {"small": "haiku", "middle": "sonnet", "big": "opus"}
STRATEGIES = ("priority", "round_robin", "random")
SCENARIOS = ("long_context", "thinking", "background", "model")
AUTH_TYPES = ("api_key", "bearer", "oauth", "header", "none")
SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
PLACEHOLDER = "agent:"  # fingerprint of an agent known only by name (routed by its agent header)

PROVIDER_DEFAULTS: dict[str, Any] = {
    "kind": "openai_compat", "preset": "", "auth_type": "api_key", "auth_header": "", "enabled": True, "priority": 100,
    "timeout": None, "max_retries": 0, "max_tokens_cap": None, "headers": {}, "options": {},
}
ROUTE_DEFAULTS: dict[str, Any] = {"pattern": "", "threshold": 60_000, "enabled": True}
PRICE_FIELDS = ("input", "output", "cache_write", "cache_write_1h", "cache_read", "long_context_input",
                "long_context_output", "long_context_cache_write", "long_context_cache_read")
PRICES_REQUIRED = ("input", "output")
USD_MAX = Decimal("999999.999999")
USD_STEP = Decimal("0.000001")


def text(source: Origin, value: Any, path: Path, *, empty: bool = False, limit: int = 200) -> str:
    if not isinstance(value, str) or (not empty and not value.strip()):
        raise source.error(path, f"a {'string' if empty else 'non-empty string'}, got {value!r:.80}")
    if len(value) > limit or "\x00" in value:
        raise source.error(path, f"a string of at most {limit} characters without NUL bytes")
    return value


def integer(source: Origin, value: Any, path: Path, *, low: int = 0, high: int = 2**31 - 1,
            optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise source.error(path, f"an integer from {low} to {high}{' or null' if optional else ''}, got {value!r:.80}")
    return value


def number(source: Origin, value: Any, path: Path) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 86_400:
        raise source.error(path, f"a number of seconds above 0 and at most 86400 or null, got {value!r:.80}")
    return float(value)


def usd(source: Origin, value: Any, path: Path, *, optional: bool) -> Decimal | None:
    """USD per million tokens: a number or decimal string from 0 to USD_MAX, at most 6 decimals."""
    if value is None and optional:
        return None
    expected = f"a price in USD per million tokens from 0 to {USD_MAX} (at most 6 decimals){' or null' if optional else ''}"
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise source.error(path, f"{expected}, got {value!r:.80}")
    try:
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise source.error(path, f"{expected}, got {value!r:.80}") from None
    if not price.is_finite() or not 0 <= price <= USD_MAX or price != price.quantize(USD_STEP):
        raise source.error(path, f"{expected}, got {value!r:.80}")
    return price


def boolean(source: Origin, value: Any, path: Path) -> bool:
    if not isinstance(value, bool):
        raise source.error(path, f"true or false, got {value!r:.80}")
    return value


def choice(source: Origin, value: Any, path: Path, options: tuple[str, ...]) -> str:
    if value not in options:
        raise source.error(path, f"one of {', '.join(options)}, got {value!r:.80}")
    return str(value)


def slug(source: Origin, value: Any, path: Path) -> str:
    name = text(source, value, path, limit=64)
    if not SLUG.match(name):
        raise source.error(path, f"a name of letters, digits, '-' and '_' (at most 64), got {name!r}")
    return name


def url(source: Origin, value: Any, path: Path) -> str:
    raw = text(source, value, path, limit=500)
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise source.error(path, f"an http(s) URL, got {raw!r}")
    return raw


def str_map(source: Origin, value: Any, path: Path) -> dict[str, str]:
    mapping = expect_mapping(source, value, path)
    return {str(k): text(source, v, (*path, str(k)), empty=True, limit=2000) for k, v in mapping.items()}


def no_unknown(source: Origin, item: Mapping[str, Any], path: Path, allowed: set[str]) -> None:
    extra = sorted(set(item) - allowed)
    if extra:
        raise source.error((*path, extra[0]), f"one of the keys {', '.join(sorted(allowed))}")


def clean_provider(source: Origin, raw: Mapping[str, Any], path: Path) -> dict[str, Any]:
    no_unknown(source, raw, path, {"name", "base_url", "api_key", *PROVIDER_DEFAULTS})
    item = {**PROVIDER_DEFAULTS, **raw}
    out: dict[str, Any] = {
        "name": slug(source, item.get("name"), (*path, "name")),
        "kind": choice(source, item["kind"], (*path, "kind"), tuple(REGISTRY)),
        "base_url": url(source, item.get("base_url"), (*path, "base_url")),
        "preset": text(source, item["preset"], (*path, "preset"), empty=True, limit=32),
        "auth_type": choice(source, item["auth_type"], (*path, "auth_type"), AUTH_TYPES),
        "auth_header": text(source, item["auth_header"], (*path, "auth_header"), empty=True, limit=64),
        "enabled": boolean(source, item["enabled"], (*path, "enabled")),
        "priority": integer(source, item["priority"], (*path, "priority"), low=-(2**31)),
        "timeout": number(source, item["timeout"], (*path, "timeout")),
        "max_retries": integer(source, item["max_retries"], (*path, "max_retries"), high=10),
        "max_tokens_cap": integer(source, item["max_tokens_cap"], (*path, "max_tokens_cap"), optional=True),
        "headers": str_map(source, item["headers"], (*path, "headers")),
        "options": dict(expect_mapping(source, item["options"], (*path, "options"))),
    }
    if "api_key" in raw and raw["api_key"] is not None:
        out["api_key"] = text(source, raw["api_key"], (*path, "api_key"), empty=True, limit=10_000)
    return out


def clean_tier(source: Origin, raw: Mapping[str, Any], path: Path) -> dict[str, Any]:
    no_unknown(source, raw, path, {"name", "patterns", "strategy", "entries"})
    name = choice(source, raw.get("name"), (*path, "name"), TIER_NAMES)
    entries = raw.get("entries", [])
    if not isinstance(entries, list):
        raise source.error((*path, "entries"), "a list of {provider, model, enabled}")
    cleaned = []
    for i, entry in enumerate(entries):
        epath = (*path, "entries", i)
        entry = expect_mapping(source, entry, epath)
        no_unknown(source, entry, epath, {"provider", "model", "enabled"})
        cleaned.append({
            "provider": slug(source, entry.get("provider"), (*epath, "provider")),
            "model": text(source, entry.get("model"), (*epath, "model")),
            "enabled": boolean(source, entry.get("enabled", True), (*epath, "enabled")),
        })
    return {
        "name": name,
        "patterns": text(source, raw.get("patterns", TIER_PATTERNS[name]), (*path, "patterns")),
        "strategy": choice(source, raw.get("strategy", "priority"), (*path, "strategy"), STRATEGIES),
        "entries": cleaned,
    }


def clean_route(source: Origin, raw: Mapping[str, Any], path: Path) -> dict[str, Any]:
    no_unknown(source, raw, path, {"name", "scenario", "provider", "model", *ROUTE_DEFAULTS})
    item = {**ROUTE_DEFAULTS, **raw}
    return {
        "name": text(source, item.get("name"), (*path, "name"), limit=100),
        "scenario": choice(source, item.get("scenario"), (*path, "scenario"), SCENARIOS),
        "pattern": text(source, item["pattern"], (*path, "pattern"), empty=True),
        "threshold": integer(source, item["threshold"], (*path, "threshold")),
        "provider": slug(source, item.get("provider"), (*path, "provider")),
        "model": text(source, item.get("model"), (*path, "model")),
        "enabled": boolean(source, item["enabled"], (*path, "enabled")),
    }


def clean_agent(source: Origin, raw: Mapping[str, Any], path: Path) -> dict[str, Any]:
    no_unknown(source, raw, path, {"fingerprint", "name", "description", "model"})
    return {
        "fingerprint": text(source, raw.get("fingerprint"), (*path, "fingerprint"), limit=64),
        "name": text(source, raw.get("name", ""), (*path, "name"), empty=True),
        "description": text(source, raw.get("description", ""), (*path, "description"), empty=True, limit=2000),
        "model": text(source, raw.get("model", ""), (*path, "model"), empty=True),
    }


def clean_price(source: Origin, raw: Mapping[str, Any], path: Path) -> dict[str, Any]:
    no_unknown(source, raw, path, {"provider", "model", "long_context_threshold", "note", *PRICE_FIELDS})
    out: dict[str, Any] = {
        "provider": text(source, raw.get("provider", ""), (*path, "provider"), empty=True),
        "model": text(source, raw.get("model"), (*path, "model")),
        "long_context_threshold": integer(source, raw.get("long_context_threshold"),
                                          (*path, "long_context_threshold"), low=1, optional=True),
        "note": text(source, raw.get("note", ""), (*path, "note"), empty=True),
    }
    for name in PRICE_FIELDS:
        out[name] = usd(source, raw.get(name), (*path, name), optional=name not in PRICES_REQUIRED)
    return out


SECTIONS: dict[str, Callable[[Origin, Mapping[str, Any], Path], dict[str, Any]]] = {
    "providers": clean_provider, "tiers": clean_tier, "routes": clean_route, "agents": clean_agent,
    "prices": clean_price,
}


def clean(data: Any, source: Origin) -> dict[str, Any]:
    """The canonical dict with defaults filled in; raises ConfigError naming the bad key."""
    root = expect_mapping(source, data, ())
    no_unknown(source, root, (), {"version", "notes", *SECTIONS})
    version = root.get("version", VERSION)
    if version != VERSION:
        raise source.error(("version",), f"{VERSION} (the only format version this gateway reads), got {version!r}")
    out: dict[str, Any] = {"version": VERSION}
    errors: list[ConfigError] = []
    for key, cleaner in SECTIONS.items():
        if key in root:
            try:
                out[key] = _section(source, root, key, cleaner)
            except ConfigError as exc:  # every section is checked: the file's errors are listed together
                errors.append(exc)
    raise_all(errors)
    _unique(source, out, "providers", "name")
    _unique(source, out, "tiers", "name")
    _unique(source, out, "agents", "fingerprint")
    _unique_prices(source, out)
    notes = root.get("notes", [])
    out["notes"] = [str(n) for n in notes] if isinstance(notes, list) else []
    return out


def _section(source: Origin, root: Mapping[str, Any], key: str,
             cleaner: Callable[[Origin, Mapping[str, Any], Path], dict[str, Any]]) -> list[dict[str, Any]]:
    value = root.get(key, [])
    if not isinstance(value, list):
        raise source.error((key,), f"a list, got {type(value).__name__}")

    def one(pair: tuple[int, Any]) -> dict[str, Any]:
        path: Path = (key, pair[0])
        return cleaner(source, expect_mapping(source, pair[1], path), path)

    return gather(one, enumerate(value))


def _unique(source: Origin, data: Mapping[str, Any], section: str, key: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(data.get(section, [])):
        if item[key] in seen:
            raise source.error((section, i, key), f"a {key} not used earlier in {section}, got {item[key]!r} twice")
        seen.add(item[key])


def _unique_prices(source: Origin, data: Mapping[str, Any]) -> None:
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(data.get("prices", [])):
        key = (item["provider"], item["model"])
        if key in seen:
            who = f"provider {key[0]!r}" if key[0] else "every provider"
            raise source.error(("prices", i, "model"), f"one price per model and provider, got {key[1]!r} twice for {who}")
        seen.add(key)
