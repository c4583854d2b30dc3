"""PURE: the seeds' config formats, each parsed into the canonical dict (see canonical.py).

- ``claude-proxy`` YAML: ``routing.model_routing`` (requested model or alias -> upstream model;
  keys naming haiku/sonnet/opus, dated ones too, become the small/middle/big tiers matched by
  that family word, other keys model routes),
  ``routing.agent_routing`` (agent name or prompt fingerprint -> model), ``fallback`` (a list of
  models tried after every primary, or a map model -> fallbacks), optional ``upstream``
  ``{base_url, api_key}`` (default: the Anthropic API). Models named the LiteLLM way
  (``gemini/…``, ``vertex_ai/…``, ``bedrock/…``, ``openai/…``...) go to a provider of their own
  kind (configuration/litellm.py); other names to the upstream.
- ``ccproxy`` settings.json: ``providers.<name>.{apiKey, baseURL, responseStyle}``,
  ``models.{bigModel, middleModel?, smallModel}`` as ``model`` or ``model@provider``,
  ``defaultProvider``. Layered files (user, then project, then managed) are merged key by key,
  later files winning. A ``gemini`` provider is the native Gemini kind, a Vertex AI base URL the
  Vertex kinds with its project and location (configuration/google.py).
- ``providers.json`` (fuergaosi233's claude-code-proxy): ``providers[]`` with ``name``,
  ``base_url``, ``api_key``, ``priority`` (lower first), ``enabled``, ``models.{big, middle,
  small}``, ``timeout``, ``max_retries``, ``custom_headers``, ``type`` (openai, anthropic, bedrock,
  or azure with ``api_version``: the azure_openai preset); ``${VAR}`` keys are kept as written;
  ``fallback_strategy``;
  ``circuit_breaker`` (global: reported as the environment variables to set).
- ``agent-hashes``: agent_hashes.json as ``generate_hashes`` writes it (``{name: {hash, model,
  description}}``), or ``{fingerprint: name | {name, model}}``; fingerprints of 16 (this
  gateway's) or 64 hex characters.

Each parser checks every entry and raises all their errors together (errors.gather).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from configuration.canonical import (
    PLACEHOLDER,
    TIER_PATTERNS,
    integer,
    number,
    slug,
    str_map,
    text,
    url,
)
from configuration.errors import (
    ConfigError,
    Origin,
    Path,
    Source,
    expect_mapping,
    gather,
    raise_all,
)
from configuration.google import GEMINI_NAMES, GOOGLE_KINDS, VERTEX_HOST, google_notes, vertex_endpoint
from configuration.litellm import LiteLLMNames

# generate_hashes (routing/fingerprints.py) writes 16 hex characters; other tools write a whole
# SHA-256 (64). Both are kept as written, so an export imports back to the same rows.
HEX_PRINT = re.compile(r"^(?:[0-9a-f]{16}|[0-9a-f]{64})$")
PRINT_EXPECTED = "a 16- or 64-character hex prompt fingerprint (as generate_hashes writes)"
ALIAS_TIERS = {"haiku": "small", "sonnet": "middle", "opus": "big"}
AZURE_TYPES = ("azure", "azure_openai")
AZURE_API_VERSION = "2024-10-21"  # the azure_openai preset's
STYLE_KINDS = {"openai": "openai_compat", "openai_compat": "openai_compat", "chat": "openai_compat",
               "claude": "anthropic", "anthropic": "anthropic", "bedrock": "bedrock", "gemini": "gemini"}
PJ_KINDS = {**STYLE_KINDS, **dict.fromkeys(AZURE_TYPES, "openai_compat")}  # providers.json "type"
DEFAULT_URLS = {"openai_compat": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com",
                "gemini": "https://generativelanguage.googleapis.com"}
STRATEGY_NAMES = {"priority": "priority", "sequential": "priority", "failover": "priority",
                  "round_robin": "round_robin", "round-robin": "round_robin", "random": "random"}
T = TypeVar("T")
U = TypeVar("U")
FORMATS = ("gateway", "claude-proxy", "ccproxy", "providers-json", "agent-hashes")


def _auth_for(key: str) -> str:
    if not key:
        return "none"
    return "oauth" if key.startswith("sk-ant-oat") else "api_key"


def _guess_kind(name: str, base_url: str) -> str:
    probe = f"{name} {base_url}".lower()
    if VERTEX_HOST in base_url.lower():  # before "anthropic": Vertex's Claude paths name the publisher
        return "vertex" if "/publishers/anthropic" in probe else "gemini_vertex"
    if "anthropic" in probe or "claude" in probe:
        return "anthropic"
    if "generativelanguage.googleapis.com" in probe and "/openai" not in probe:
        return "gemini"  # the native API (its OpenAI-compatible layer lives under /v1beta/openai)
    if not base_url and name.lower() in GEMINI_NAMES:
        return "gemini"  # ccproxy's "gemini" provider: the native API at its default URL
    return "bedrock" if "bedrock" in probe else "openai_compat"


def _entries(provider: str, models: list[str]) -> list[dict[str, Any]]:
    seen: list[str] = []
    for model in models:
        if model not in seen:
            seen.append(model)
    return [{"provider": provider, "model": m, "enabled": True} for m in seen]


# --- claude-proxy YAML ---------------------------------------------------------------------------

def parse_claude_proxy(data: Any, source: Origin) -> dict[str, Any]:
    root = expect_mapping(source, data, ())
    if "routing" not in root:
        raise source.error((), "a 'routing' mapping with model_routing and/or agent_routing")
    routing = expect_mapping(source, root["routing"], ("routing",))
    provider = _claude_proxy_upstream(root, source)
    fallback, fb_path = (routing["fallback"], ("routing", "fallback")) if "fallback" in routing \
        else (root.get("fallback"), ("fallback",))
    model_routing = expect_mapping(source, routing.get("model_routing", {}), ("routing", "model_routing"))
    agent_routing = expect_mapping(source, routing.get("agent_routing", {}), ("routing", "agent_routing"))

    def chain(pair: tuple[Any, Any]) -> tuple[str, list[str]]:
        model = text(source, pair[1], ("routing", "model_routing", str(pair[0])))
        return str(pair[0]), [model, *_fallbacks(source, fallback, fb_path, model)]

    def agent(pair: tuple[Any, Any]) -> dict[str, Any]:
        return _agent(source, str(pair[0]), pair[1], ("routing", "agent_routing", str(pair[0])))

    chains, agents = _both(lambda: gather(chain, model_routing.items()), lambda: gather(agent, agent_routing.items()))
    names = LiteLLMNames(provider["name"])  # LiteLLM's gemini/..., vertex_ai/..., bedrock/... names
    placed = [(alias, [names.place(m) for m in models]) for alias, models in chains]
    for item in agents:
        item["model"] = names.spec(item["model"]) if item["model"] else ""
    tiers, routes = _claude_proxy_tiers(placed)
    return {"providers": [provider, *names.providers.values()], "tiers": tiers, "routes": routes, "agents": agents,
            "notes": names.notes}


def _both(first: Callable[[], T], second: Callable[[], U]) -> tuple[T, U]:
    """Run both parts; when either fails, the errors of both are raised together."""
    errors: list[ConfigError] = []
    results: list[Any] = []
    for part in (first, second):
        try:
            results.append(part())
        except ConfigError as exc:
            errors.append(exc)
    raise_all(errors)
    return results[0], results[1]


def _claude_proxy_tiers(chains: list[tuple[str, list[tuple[str, str]]]]
                        ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """haiku/sonnet/opus keys become tiers matched by family; other keys model routes.

    A key like ``claude-3-5-haiku-20241022`` names one dated model, and as a substring pattern it
    never matches today's ids (``claude-haiku-4-5-20251001``): the family word the key contains
    is the tier's pattern, so every generation of that family is routed. Several keys of one
    family add their models to the tier in file order (the first key's models first)."""
    tiers: dict[str, dict[str, Any]] = {}
    routes: list[dict[str, Any]] = []
    for alias, models in chains:
        family = next((a for a in ALIAS_TIERS if a in alias.lower()), None)
        if family is None:
            routes.extend({"name": f"model:{alias}"[:100], "scenario": "model", "pattern": alias,
                           "provider": p, "model": m} for p, m in models)
            continue
        tier = tiers.setdefault(ALIAS_TIERS[family], {"name": ALIAS_TIERS[family], "patterns": family,
                                                      "strategy": "priority", "entries": []})
        known = [(e["provider"], e["model"]) for e in tier["entries"]]
        tier["entries"] = [{"provider": p, "model": m, "enabled": True} for p, m in dict.fromkeys([*known, *models])]
    return list(tiers.values()), routes


def _claude_proxy_upstream(root: Mapping[str, Any], source: Origin) -> dict[str, Any]:
    upstream = expect_mapping(source, root.get("upstream", {}), ("upstream",))
    key = text(source, upstream.get("api_key", ""), ("upstream", "api_key"), empty=True, limit=10_000)
    base = url(source, upstream.get("base_url", DEFAULT_URLS["anthropic"]), ("upstream", "base_url"))
    return {"name": "anthropic", "kind": "anthropic", "base_url": base, "auth_type": _auth_for(key),
            "api_key": key, "priority": 0}


def _fallbacks(source: Origin, fallback: Any, path: Path, model: str) -> list[str]:
    if fallback is None:
        return []
    if isinstance(fallback, list):
        return [text(source, m, (*path, i)) for i, m in enumerate(fallback)]
    mapping = expect_mapping(source, fallback, path)
    chain = mapping.get(model, [])
    chain = [chain] if isinstance(chain, str) else chain
    if not isinstance(chain, list):
        raise source.error((*path, model), "a model name or a list of model names")
    return [text(source, m, (*path, model, i)) for i, m in enumerate(chain)]


def _agent(source: Origin, key: str, value: Any, path: Path) -> dict[str, Any]:
    spec = {"model": value} if isinstance(value, str) else dict(expect_mapping(source, value, path))
    fingerprint = str(spec.get("hash") or spec.get("fingerprint") or "")
    name = str(spec.get("name") or "")
    if HEX_PRINT.match(key):
        fingerprint = fingerprint or key
    else:
        name = name or key
    if not fingerprint:
        fingerprint = (PLACEHOLDER + name)[:64]
    elif not HEX_PRINT.match(fingerprint):
        raise source.error((*path, "hash"), f"{PRINT_EXPECTED}, got {fingerprint!r:.80}")
    return {"fingerprint": fingerprint, "name": name[:200],
            "description": text(source, spec.get("description", ""), (*path, "description"), empty=True, limit=2000),
            "model": text(source, spec.get("model", ""), (*path, "model"), empty=True)}


# --- ccproxy settings.json -----------------------------------------------------------------------

def parse_ccproxy(data: Any, source: Origin) -> dict[str, Any]:
    root = expect_mapping(source, data, ())
    specs = expect_mapping(source, root.get("providers"), ("providers",))
    if not specs:
        raise source.error(("providers",), "at least one provider: {name: {apiKey, baseURL, responseStyle}}")
    providers = gather(lambda e: _ccproxy_provider(source, str(e[1][0]), e[1][1], e[0]), enumerate(specs.items()))
    names = [p["name"] for p in providers]
    default = root.get("defaultProvider", names[0])
    if default not in names:
        raise source.error(("defaultProvider",), f"one of the providers ({', '.join(names)}), got {default!r:.80}")
    models = expect_mapping(source, root.get("models", {}), ("models",))
    refs: dict[str, tuple[str, str]] = {}
    for tier, key in (("big", "bigModel"), ("middle", "middleModel"), ("small", "smallModel")):
        if key in models:
            refs[tier] = _model_ref(source, models[key], ("models", key), names, default)
        elif tier != "middle":
            raise source.error(("models", key), "a model name, or model@provider")
    refs.setdefault("middle", refs["big"])  # ccproxy's big model serves sonnet and opus alike
    tiers = [{"name": t, "patterns": TIER_PATTERNS[t], "strategy": "priority",
              "entries": _entries(refs[t][1], [refs[t][0]])} for t in ("small", "middle", "big")]
    return {"providers": providers, "tiers": tiers, "notes": google_notes(providers)}


def _ccproxy_provider(source: Origin, name: str, spec: Any, index: int) -> dict[str, Any]:
    path: Path = ("providers", name)
    spec = expect_mapping(source, spec, path)
    style = spec.get("responseStyle")
    if style is None:
        kind = _guess_kind(name, str(spec.get("baseURL", "")))
    elif style in STYLE_KINDS:
        kind = STYLE_KINDS[style]
    else:
        raise source.error((*path, "responseStyle"), f"one of {', '.join(STYLE_KINDS)}, got {style!r:.80}")
    key = text(source, spec.get("apiKey", ""), (*path, "apiKey"), empty=True, limit=10_000)
    default_url = DEFAULT_URLS.get(kind)
    if "baseURL" not in spec and default_url is None:
        raise source.error((*path, "baseURL"), "the provider's base URL")
    kind, base, options = vertex_endpoint(kind, url(source, spec.get("baseURL", default_url), (*path, "baseURL")))
    auth = "api_key" if kind in GOOGLE_KINDS else _auth_for(key)  # no key: Application Default Credentials
    return {"name": slug(source, name, path), "kind": kind, "base_url": base, "options": options,
            "auth_type": auth, "api_key": key, "priority": index * 10}


def _model_ref(source: Origin, value: Any, path: Path, providers: list[str], default: str) -> tuple[str, str]:
    ref = text(source, value, path)
    model, sep, provider = ref.rpartition("@")
    if sep and provider in providers and model:
        return model, provider
    if sep and model and "@" not in provider and not re.match(r"^\d", provider):
        raise source.error(path, f"model@provider with a provider defined under providers ({', '.join(providers)})")
    return ref, default


def merge_layers(layers: list[tuple[Any, Source]]) -> tuple[dict[str, Any], Origin]:
    """ccproxy's layered settings: later files (user < project < managed) win key by key."""
    merged: dict[str, Any] = {}
    owners: dict[Path, Source] = {}
    for data, source in layers:
        _deep_merge(merged, expect_mapping(source, data, ()), (), source, owners)
    return merged, Layered(owners, layers[-1][1])


def _deep_merge(into: dict[str, Any], new: Mapping[str, Any], path: Path, source: Source,
                owners: dict[Path, Source]) -> None:
    for key, value in new.items():
        child = (*path, str(key))
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _deep_merge(into[key], value, child, source, owners)
        else:
            into[key] = _copy(value)
            owners[child] = source
            for owned in [p for p in owners if p[: len(child)] == child and p != child]:
                del owners[owned]  # the whole subtree now comes from this file


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    return list(value) if isinstance(value, list) else value


class Layered:
    """Errors in merged data name the file that supplied the key."""

    def __init__(self, owners: dict[Path, Source], last: Source) -> None:
        self.owners = owners
        self.name = last.name
        self.last = last

    def error(self, path: Path, expected: str) -> ConfigError:
        probe = path
        while probe:
            if probe in self.owners:
                return self.owners[probe].error(path, expected)
            probe = probe[:-1]
        return self.last.error(path, expected)


# --- fuergaosi233 providers.json -----------------------------------------------------------------

def parse_providers_json(data: Any, source: Origin) -> dict[str, Any]:
    root = expect_mapping(source, data, ())
    specs = root.get("providers")
    if not isinstance(specs, list) or not specs:
        raise source.error(("providers",), "a non-empty list of providers")
    default_models = expect_mapping(source, root.get("models", {}), ("models",))
    strategy_raw = root.get("fallback_strategy", "priority")

    def strategy() -> str:
        if strategy_raw not in STRATEGY_NAMES:
            raise source.error(("fallback_strategy",), f"one of {', '.join(STRATEGY_NAMES)}, got {strategy_raw!r:.80}")
        return STRATEGY_NAMES[strategy_raw]

    parsed, chosen = _both(lambda: gather(lambda e: _pj_provider(source, e[1], e[0], default_models),
                                          enumerate(specs)), strategy)
    order = sorted(range(len(parsed)), key=lambda i: (parsed[i][0]["priority"], i))
    tiers = []
    for tier in ("small", "middle", "big"):
        entries = [{"provider": parsed[i][0]["name"], "model": parsed[i][1][tier], "enabled": True}
                   for i in order if parsed[i][1].get(tier)]
        if entries:
            tiers.append({"name": tier, "patterns": TIER_PATTERNS[tier],
                          "strategy": chosen, "entries": entries})
    return {"providers": [p for p, _ in parsed], "tiers": tiers, "notes": _circuit_notes(source, root)}


def _pj_provider(source: Origin, spec: Any, index: int, default_models: Mapping[str, Any]
                 ) -> tuple[dict[str, Any], dict[str, str]]:
    path: Path = ("providers", index)
    spec = expect_mapping(source, spec, path)
    name = slug(source, spec.get("name"), (*path, "name"))
    base = url(source, spec.get("base_url"), (*path, "base_url"))
    key = text(source, spec.get("api_key", ""), (*path, "api_key"), empty=True, limit=10_000)
    kind_raw = spec.get("type")
    azure = str(kind_raw).lower() in AZURE_TYPES
    kind = _guess_kind(name, base) if kind_raw is None else PJ_KINDS.get(str(kind_raw).lower(), "")
    if not kind:
        raise source.error((*path, "type"), f"one of {', '.join(PJ_KINDS)}, got {kind_raw!r:.80}")
    models = expect_mapping(source, spec.get("models", default_models), (*path, "models"))
    tier_models = {t: text(source, models[t], (*path, "models", t)) for t in ("big", "middle", "small") if t in models}
    if not tier_models:
        raise source.error((*path, "models"), "at least one of big, middle, small")
    provider = {
        "name": name, "kind": kind, "base_url": base, "auth_type": _auth_for(key), "api_key": key,
        "priority": integer(source, spec.get("priority", index), (*path, "priority"), low=-(2**31)),
        "enabled": bool(spec.get("enabled", True)),
        "timeout": number(source, spec.get("timeout"), (*path, "timeout")),
        "max_retries": integer(source, spec.get("max_retries", 0), (*path, "max_retries"), high=10),
        "headers": str_map(source, spec.get("custom_headers", {}), (*path, "custom_headers")),
    }
    if azure:
        provider.update(_azure(source, spec, path, key))
    elif "api_version" in spec:
        raise source.error((*path, "api_version"), 'no api_version except on "type": "azure" providers')
    return provider, tier_models


def _azure(source: Origin, spec: Mapping[str, Any], path: Path, key: str) -> dict[str, Any]:
    """Azure OpenAI as the azure_openai preset has it: the key in an ``api-key`` header and the
    API version on the chat-completions path (base_url is the deployment URL)."""
    version = text(source, spec.get("api_version", AZURE_API_VERSION), (*path, "api_version"), limit=40)
    return {"preset": "azure_openai", "auth_type": "header" if key else "none", "auth_header": "api-key",
            "options": {"path": f"/chat/completions?api-version={version}", "reasoning_effort": "auto",
                        "reasoning_model": "auto"}}


def _circuit_notes(source: Origin, root: Mapping[str, Any]) -> list[str]:
    if "circuit_breaker" not in root:
        return []
    spec = expect_mapping(source, root["circuit_breaker"], ("circuit_breaker",))
    env = {"failure_threshold": "CIRCUIT_FAILURE_THRESHOLD", "recovery_timeout": "CIRCUIT_RECOVERY_TIMEOUT"}
    notes = []
    for key, var in env.items():
        if key in spec:
            value = number(source, spec[key], ("circuit_breaker", key))
            notes.append(f"circuit_breaker.{key}: set {var}={value:g} in the environment (a global setting)")
    return notes


# --- agent_hashes.json ---------------------------------------------------------------------------

def parse_agent_hashes(data: Any, source: Origin) -> dict[str, Any]:
    if isinstance(data, list):
        pairs = [(str(i), item) for i, item in enumerate(data)]
    else:
        pairs = [(str(k), v) for k, v in expect_mapping(source, data, ()).items()]
    def one(pair: tuple[str, Any]) -> dict[str, Any]:
        key, value = pair
        path: Path = (int(key),) if isinstance(data, list) else (key,)
        if isinstance(value, str) and HEX_PRINT.match(key):
            value = {"name": value}
        agent = _agent(source, "" if isinstance(data, list) else key, value, path)
        if agent["fingerprint"].startswith(PLACEHOLDER):
            raise source.error((*path, "hash"), f"the agent's fingerprint: {PRINT_EXPECTED}")
        return agent

    return {"agents": gather(one, pairs)}


# --- detection and merging -----------------------------------------------------------------------

def detect(data: Any, source: Origin) -> str:
    if isinstance(data, Mapping):
        providers = data.get("providers")
        if "version" in data and any(k in data for k in ("providers", "tiers", "routes", "agents", "prices")):
            return "gateway"
        if "routing" in data:
            return "claude-proxy"
        models = data.get("models")
        ccproxy_models = isinstance(models, Mapping) and any(k in models for k in ("bigModel", "middleModel", "smallModel"))
        if isinstance(providers, Mapping) or ccproxy_models or "defaultProvider" in data:
            return "ccproxy"  # a layer may hold only some of its keys
        if isinstance(providers, list):
            return "providers-json"
        if data and all(HEX_PRINT.match(str(k)) or (isinstance(v, Mapping) and "hash" in v) for k, v in data.items()):
            return "agent-hashes"
    if isinstance(data, list) and data and all(isinstance(v, Mapping) and "hash" in v for v in data):
        return "agent-hashes"
    raise source.error((), "a known format: a gateway export (version, providers, tiers), claude-proxy YAML "
                           "(routing:), ccproxy settings.json (providers: {...}), providers.json "
                           "(providers: [...]) or agent_hashes.json; or pass --format")


def merge(parts: list[dict[str, Any]], kinds: list[str] | None = None) -> dict[str, Any]:
    """One canonical dict from several files: later files win per provider, tier, agent and price.

    ``kinds`` (each part's format) keeps a gateway export exact: an agent it lists both by name
    (``agent:NAME``) and by fingerprint stays two rows; only a seed file's name or fingerprint
    merges the two (see resolve_placeholders)."""
    out: dict[str, Any] = {"version": 1, "notes": []}
    keyed: dict[str, tuple[str, ...]] = {"providers": ("name",), "tiers": ("name",), "agents": ("fingerprint",),
                                         "prices": ("provider", "model")}
    seeded: set[str] = set()
    for index, part in enumerate(parts):
        for section, keys in keyed.items():
            if section in part:
                current = {tuple(item[k] for k in keys): item for item in out.get(section, [])}
                current.update({tuple(item[k] for k in keys): item for item in part[section]})
                out[section] = list(current.values())
        if "routes" in part:
            out["routes"] = [*out.get("routes", []), *part["routes"]]
        out["notes"].extend(part.get("notes", []))
        if kinds is None or kinds[index] != "gateway":
            seeded.update(a["fingerprint"] for a in part.get("agents", []))
    if "agents" in out:
        out["agents"] = resolve_placeholders(out["agents"], seeded)
    return out


def resolve_placeholders(agents: list[dict[str, Any]], seeded: set[str] | None = None) -> list[dict[str, Any]]:
    """An agent known by name (``agent:<name>``) and by fingerprint becomes one fingerprint row,
    when either of the two came from a seed file (``seeded``; None: all did)."""
    named = {a["name"]: a for a in agents if a["name"] and not a["fingerprint"].startswith(PLACEHOLDER)}
    out = []
    for agent in agents:
        real = named.get(agent["name"]) if agent["fingerprint"].startswith(PLACEHOLDER) else None
        if real is not None and seeded is not None and not {agent["fingerprint"], real["fingerprint"]} & seeded:
            real = None  # both from a gateway export: it had both rows, keep both
        if real is None:
            out.append(agent)
        elif not real["model"]:
            real["model"] = agent["model"]
    return out
