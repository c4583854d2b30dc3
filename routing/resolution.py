"""PURE routing decision: (request meta, route table snapshot, circuit view) -> ordered candidates.

No ORM, no settings, no clock: everything arrives as arguments, so the table of cases in
tests/routing/test_resolution.py runs in milliseconds.

Precedence: URL ``provider:model`` prefix, explicit ``model@provider``, agent (id header, then
system-prompt fingerprint), scenario routes (long context, model pattern, thinking, background),
model tier by name pattern, then the default provider with the model name unchanged.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from providers.config import ProviderConfig
from routing.breaker import Circuit, Policy, admission, blocked_until, circuit_key, explicit_wait


@dataclass(frozen=True, slots=True)
class TierConfig:
    name: str
    patterns: tuple[str, ...]
    strategy: str = "priority"
    entries: tuple[tuple[str, str], ...] = ()  # (provider name, upstream model), in order


@dataclass(frozen=True, slots=True)
class RouteConfig:
    name: str
    scenario: str  # long_context | model | thinking | background
    provider: str
    model: str
    pattern: str = ""
    threshold: int = 0


@dataclass(frozen=True, slots=True)
class AgentConfig:
    fingerprint: str
    name: str
    model: str  # tier name, haiku/sonnet/opus, model@provider, or a model name


@dataclass(frozen=True, slots=True)
class RouteTable:
    providers: Mapping[str, ProviderConfig]
    tiers: tuple[TierConfig, ...] = ()
    routes: tuple[RouteConfig, ...] = ()
    agents_by_print: Mapping[str, AgentConfig] = field(default_factory=dict)
    agents_by_name: Mapping[str, AgentConfig] = field(default_factory=dict)
    default_provider: str | None = None


@dataclass(frozen=True, slots=True)
class RequestMeta:
    model: str
    url_provider: str | None = None
    url_model: str | None = None
    agent_name: str = ""
    fingerprints: tuple[str, ...] = ()
    input_tokens: int = 0
    thinking: bool = False


@dataclass(frozen=True, slots=True)
class Candidate:
    provider: ProviderConfig
    model: str
    reason: str
    # "pass", "probe" (the single half-open trial request) or "panic" (tried although blocked,
    # because every candidate is)
    admission: str = "pass"

    @property
    def circuit(self) -> str:
        p = self.provider
        return circuit_key(p.id, self.model, p.credential_scope or p.api_key_encrypted)


@dataclass(frozen=True, slots=True)
class Resolution:
    candidates: tuple[Candidate, ...]
    strategy: str = "priority"
    group: str = ""  # the tier/route the order applies to (round-robin counter key)


class NoRoute(Exception):
    """No enabled provider can serve the request."""


class UnknownProvider(NoRoute):
    """``model@name`` where no provider is called ``name``: the client's mistake (a 400), not a
    missing route; sending the whole string to the default provider hid the typo."""


# The provider part of ``model@provider``: a provider name (letters, digits, '-', '_') that does not
# start with a digit, so Vertex-style ids with a date (``claude-3-5-sonnet@20240620``) stay model names.
PROVIDER_SUFFIX = re.compile(r"^[A-Za-z_][-A-Za-z0-9_]*$")


TIER_ALIASES = {"haiku": "small", "sonnet": "middle", "opus": "big"}


def resolve(meta: RequestMeta, table: RouteTable) -> Resolution:
    """Candidates in preference order, before health and strategy. Raises NoRoute."""
    if meta.url_provider:
        return Resolution((_explicit(table, meta.url_provider, meta.url_model or meta.model, "url"),))
    model, at, provider_name = meta.model.rpartition("@")
    if at and model and provider_name in table.providers:
        return Resolution((_explicit(table, provider_name, model, "explicit"),))
    if at and model and PROVIDER_SUFFIX.match(provider_name):
        known = ", ".join(sorted(table.providers)) or "none"
        raise UnknownProvider(f"model {meta.model!r}: no provider is called {provider_name!r} "
                              f"(known providers: {known}); use model@provider with one of them")
    agent = _agent(meta, table)
    if agent is not None:
        label = f"agent:{agent.name}" if meta.agent_name and agent.name == meta.agent_name else \
            f"fingerprint:{agent.name or agent.fingerprint[:8]}"
        chosen = _spec(agent.model, table, label)
        if chosen.candidates:
            return _with_fallback(chosen, meta, table)
    routed = _scenario(meta, table)
    if routed is not None:
        return _with_fallback(routed, meta, table)
    return _tier_or_default(meta.model, table)


def _agent(meta: RequestMeta, table: RouteTable) -> AgentConfig | None:
    if meta.agent_name:
        agent = table.agents_by_name.get(meta.agent_name)
        if agent is not None and agent.model:
            return agent
    for print_ in meta.fingerprints:
        agent = table.agents_by_print.get(print_)
        if agent is not None and agent.model:
            return agent
    return None


def _spec(spec: str, table: RouteTable, reason: str) -> Resolution:
    """Candidates for an agent's model spec: a tier, ``model@provider``, or a model name."""
    tier_name = TIER_ALIASES.get(spec.lower(), spec.lower())
    for tier in table.tiers:
        if tier.name == tier_name:
            return Resolution(_tier_candidates(tier, table, reason), tier.strategy, f"tier:{tier.name}")
    model, at, provider_name = spec.rpartition("@")
    if at and provider_name in table.providers and table.providers[provider_name].enabled:
        return Resolution((Candidate(table.providers[provider_name], model, reason),))
    resolved = _tier_or_default(spec, table)
    return replace(resolved, candidates=tuple(replace(c, reason=reason) for c in resolved.candidates))


def _scenario(meta: RequestMeta, table: RouteTable) -> Resolution | None:
    if not table.routes:
        return None
    low = meta.model.lower()
    tier = tier_for(meta.model, table.tiers)
    checks = (
        ("long_context", lambda r: meta.input_tokens > r.threshold),
        ("model", lambda r: bool(r.pattern) and r.pattern.lower() in low),
        ("thinking", lambda r: meta.thinking),
        ("background", lambda r: tier is not None and tier.name == "small"),
    )
    for scenario, matches in checks:
        found = tuple(
            Candidate(table.providers[r.provider], r.model, f"route:{r.name}")
            for r in table.routes
            if r.scenario == scenario and r.provider in table.providers
            and table.providers[r.provider].enabled and matches(r)
        )
        if found:
            return Resolution(found, "priority", f"route:{scenario}")
    return None


def _with_fallback(first: Resolution, meta: RequestMeta, table: RouteTable) -> Resolution:
    """An agent or scenario choice, followed by the tier's candidates as fallbacks."""
    try:
        rest = _tier_or_default(meta.model, table).candidates
    except NoRoute:
        rest = ()
    seen = {(c.provider.name, c.model) for c in first.candidates}
    extra = tuple(c for c in rest if (c.provider.name, c.model) not in seen)
    return replace(first, candidates=first.candidates + extra)


def _tier_or_default(model: str, table: RouteTable) -> Resolution:
    tier = tier_for(model, table.tiers)
    if tier is not None:
        found = _tier_candidates(tier, table, f"tier:{tier.name}")
        if found:
            return Resolution(found, tier.strategy, f"tier:{tier.name}")
    default = _default_provider(table)
    if default is None:
        raise NoRoute(f"no enabled provider can serve model {model!r}")
    return Resolution((Candidate(default, model, "default"),))


def _tier_candidates(tier: TierConfig, table: RouteTable, reason: str) -> tuple[Candidate, ...]:
    return tuple(
        Candidate(table.providers[p], m, reason)
        for p, m in tier.entries
        if p in table.providers and table.providers[p].enabled
    )


def tier_for(model: str, tiers: tuple[TierConfig, ...]) -> TierConfig | None:
    low = model.lower()
    for tier in tiers:
        if any(p in low for p in tier.patterns):
            return tier
    return None


def _explicit(table: RouteTable, provider_name: str, model: str, reason: str) -> Candidate:
    provider = table.providers.get(provider_name)
    if provider is None or not provider.enabled:
        raise NoRoute(f"provider {provider_name!r} is unknown or disabled")
    return Candidate(provider, model, f"{reason}:{provider_name}")


def _default_provider(table: RouteTable) -> ProviderConfig | None:
    if table.default_provider:
        chosen = table.providers.get(table.default_provider)
        if chosen is not None and chosen.enabled:
            return chosen
    enabled = sorted((p for p in table.providers.values() if p.enabled), key=lambda p: (p.priority, p.name))
    return enabled[0] if enabled else None


@dataclass(frozen=True, slots=True)
class Arranged:
    candidates: tuple[Candidate, ...]
    # Empty candidates: every one is held by its provider's own Retry-After; seconds until the first ends.
    retry_after: float | None = None


def arrange(
    res: Resolution,
    circuits: Mapping[str, Circuit],
    now: float,
    policy: Policy,
    *,
    turn: int = 0,
    rng: random.Random | None = None,
    pinned: tuple[str, str] | None = None,
) -> Arranged:
    """Apply the strategy, session affinity and circuit admission to a resolution.

    Blocked candidates (open circuit, cooling down, probe in flight elsewhere) are dropped; a
    candidate whose open period is over keeps its place and carries the half-open probe, so a
    recovered primary gets its traffic back. When every candidate is blocked, the breaker is not
    allowed to be the whole answer (Envoy's panic mode): see ``_panic``.
    """
    cands = _ordered(res, turn=turn, rng=rng, pinned=pinned)
    ok: list[Candidate] = []
    for cand in cands:
        state = circuits.get(cand.circuit)
        verdict = admission(state, now, policy) if state is not None else "pass"
        if verdict == "pass":
            ok.append(cand)
        elif verdict == "probe":
            ok.append(replace(cand, admission="probe"))
    return Arranged(tuple(ok)) if ok else _panic(cands, circuits, now, policy)


def _ordered(res: Resolution, *, turn: int, rng: random.Random | None, pinned: tuple[str, str] | None
             ) -> list[Candidate]:
    cands = list(res.candidates)
    if len(cands) > 1 and res.strategy == "round_robin":
        k = turn % len(cands)
        cands = cands[k:] + cands[:k]
    elif len(cands) > 1 and res.strategy == "random":
        (rng or random.Random()).shuffle(cands)
    if pinned is not None:
        cands.sort(key=lambda c: (c.provider.name, c.model) != pinned)
    return cands


def _panic(cands: list[Candidate], circuits: Mapping[str, Circuit], now: float, policy: Policy) -> Arranged:
    """Every candidate is blocked: try the one whose block ends soonest (a real upstream answer),
    except candidates whose provider explicitly asked for a pause (Retry-After still running).
    If only those remain, the answer is a 429 with the shortest remaining pause."""
    waits = [explicit_wait(circuits[c.circuit], now) for c in cands]
    free = [c for c, wait in zip(cands, waits, strict=True) if wait is None]
    if free:
        soonest = min(free, key=lambda c: blocked_until(circuits[c.circuit], policy))
        return Arranged((replace(soonest, admission="panic"),))
    return Arranged((), retry_after=min(w for w in waits if w is not None))
