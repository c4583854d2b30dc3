"""The routing decision as a table: (request, table, circuits) -> candidate order."""

from __future__ import annotations

import random

import pytest

from routing.breaker import Circuit, Policy
from routing.resolution import (
    AgentConfig,
    NoRoute,
    ProviderConfig,
    RequestMeta,
    RouteConfig,
    RouteTable,
    TierConfig,
    arrange,
    resolve,
)

P = {name: ProviderConfig(id=i, name=name, kind="openai_compat", base_url=f"http://{name}", priority=i)
     for i, name in enumerate(["oauth", "openai", "ollama", "off"], start=1)}
P["off"] = ProviderConfig(id=9, name="off", kind="openai_compat", base_url="http://off", enabled=False)
TIERS = (
    TierConfig("small", ("haiku",), "priority", (("openai", "mini"), ("ollama", "qwen"))),
    TierConfig("middle", ("sonnet",), "round_robin", (("oauth", "claude-sonnet-5"), ("openai", "gpt-mid"))),
    TierConfig("big", ("opus",), "priority", (("off", "x"), ("oauth", "claude-opus-4-8"), ("openai", "gpt-big"))),
)
ROUTES = (
    RouteConfig("long", "long_context", "ollama", "long-model", threshold=100_000),
    RouteConfig("think", "thinking", "openai", "o-think"),
    RouteConfig("bg", "background", "ollama", "tiny"),
    RouteConfig("coder", "model", "openai", "codex", pattern="code"),
)
AGENTS = {"f" * 16: AgentConfig("f" * 16, "code-reviewer", "opus"),
          "e" * 16: AgentConfig("e" * 16, "explainer", "gpt-special@ollama"),
          "d" * 16: AgentConfig("d" * 16, "", "")}
TABLE = RouteTable(P, TIERS, ROUTES, AGENTS, {a.name: a for a in AGENTS.values() if a.name})


def picks(meta, table=TABLE):
    res = resolve(meta, table)
    return [(c.provider.name, c.model, c.reason) for c in res.candidates], res.strategy


CASES = [
    ("url prefix wins over everything",
     RequestMeta("claude-opus-4-8@openai", url_provider="ollama", url_model="gpt-oss:20b", fingerprints=("f" * 16,)),
     [("ollama", "gpt-oss:20b", "url:ollama")]),
    ("url prefix without model keeps the body model",
     RequestMeta("claude-opus-4-8", url_provider="ollama"), [("ollama", "claude-opus-4-8", "url:ollama")]),
    ("explicit model@provider", RequestMeta("my/model:7b@ollama", fingerprints=("f" * 16,)),
     [("ollama", "my/model:7b", "explicit:ollama")]),
    ("a date after @ is part of a model name (Vertex ids)", RequestMeta("weird@20240620"),
     [("oauth", "weird@20240620", "default")]),
    ("agent header beats fingerprint", RequestMeta("claude-sonnet-5", agent_name="explainer", fingerprints=("f" * 16,)),
     [("ollama", "gpt-special", "agent:explainer"), ("oauth", "claude-sonnet-5", "tier:middle"),
      ("openai", "gpt-mid", "tier:middle")]),
    ("fingerprint picks a tier, tier of the request follows as fallback",
     RequestMeta("claude-sonnet-5", fingerprints=("0" * 16, "f" * 16)),
     [("oauth", "claude-opus-4-8", "fingerprint:code-reviewer"), ("openai", "gpt-big", "fingerprint:code-reviewer"),
      ("oauth", "claude-sonnet-5", "tier:middle"), ("openai", "gpt-mid", "tier:middle")]),
    ("unassigned fingerprint is ignored", RequestMeta("claude-haiku-4-5", fingerprints=("d" * 16,)),
     [("ollama", "tiny", "route:bg"), ("openai", "mini", "tier:small"), ("ollama", "qwen", "tier:small")]),
    ("long context route", RequestMeta("claude-sonnet-5", input_tokens=150_000),
     [("ollama", "long-model", "route:long"), ("oauth", "claude-sonnet-5", "tier:middle"), ("openai", "gpt-mid", "tier:middle")]),
    ("below the threshold no long context route", RequestMeta("claude-opus-4-8", input_tokens=99_000),
     [("oauth", "claude-opus-4-8", "tier:big"), ("openai", "gpt-big", "tier:big")]),
    ("model pattern route", RequestMeta("my-code-model"), [("openai", "codex", "route:coder"), ("oauth", "my-code-model", "default")]),
    ("thinking route", RequestMeta("claude-opus-4-8", thinking=True),
     [("openai", "o-think", "route:think"), ("oauth", "claude-opus-4-8", "tier:big"), ("openai", "gpt-big", "tier:big")]),
    ("tier skips disabled providers", RequestMeta("claude-opus-4-8"),
     [("oauth", "claude-opus-4-8", "tier:big"), ("openai", "gpt-big", "tier:big")]),
    ("no tier match goes to the default provider", RequestMeta("gpt-4o"), [("oauth", "gpt-4o", "default")]),
]


@pytest.mark.parametrize("name,meta,expected", CASES, ids=[c[0] for c in CASES])
def test_resolve_table(name, meta, expected):
    assert picks(meta)[0] == expected


def test_resolve_tier_strategy_is_reported():
    assert picks(RequestMeta("claude-sonnet-5"))[1] == "round_robin"


@pytest.mark.parametrize("meta", [RequestMeta("x", url_provider="off"), RequestMeta("x", url_provider="nope")])
def test_resolve_disabled_or_unknown_url_provider_is_no_route(meta):
    with pytest.raises(NoRoute):
        resolve(meta, TABLE)


def test_resolve_no_enabled_provider_is_no_route():
    with pytest.raises(NoRoute):
        resolve(RequestMeta("gpt"), RouteTable({"off": P["off"]}))


POLICY = Policy(failure_threshold=3, recovery_timeout=30, rate_limit_cooldown=300)


def names(arranged):
    return [(c.provider.name, c.admission) for c in arranged.candidates]


def test_arrange_round_robin_rotates_by_turn():
    res = resolve(RequestMeta("claude-sonnet-5"), TABLE)
    assert [names(arrange(res, {}, 0, POLICY, turn=t))[0][0] for t in range(4)] == ["oauth", "openai", "oauth", "openai"]


def test_arrange_random_uses_given_rng():
    res = resolve(RequestMeta("claude-opus-4-8"), TABLE)
    seen = {names(arrange(res, {}, 0, POLICY, rng=random.Random(seed)))[0][0] for seed in range(20)}
    assert seen == {"oauth", "openai"} or res.strategy == "priority"


def test_arrange_drops_open_circuits_and_cooling_down():
    res = resolve(RequestMeta("claude-opus-4-8"), TABLE)
    oauth = res.candidates[0]
    circuits = {oauth.circuit: Circuit("open", 1, open_until=1000.0, reason="rate_limited")}
    arranged = arrange(res, circuits, 900.0, POLICY)
    assert names(arranged) == [("openai", "pass")]


def test_arrange_expired_cooldown_keeps_its_place_as_the_probe():
    res = resolve(RequestMeta("claude-opus-4-8"), TABLE)
    oauth = res.candidates[0]
    circuits = {oauth.circuit: Circuit("open", 1, open_until=1000.0)}
    assert names(arrange(res, circuits, 1000.0, POLICY)) == [("oauth", "probe"), ("openai", "pass")]


def test_arrange_all_blocked_tries_the_one_whose_block_ends_soonest():
    res = resolve(RequestMeta("claude-opus-4-8"), TABLE)
    first, second = res.candidates[:2]
    circuits = {first.circuit: Circuit("open", 5, open_until=930.0),
                second.circuit: Circuit("open", 5, open_until=910.0)}
    arranged = arrange(res, circuits, 880.0, POLICY)
    assert names(arranged) == [(second.provider.name, "panic")] and arranged.retry_after is None


def test_arrange_all_blocked_by_inferred_cooldowns_still_tries_upstream():
    res = resolve(RequestMeta("claude-opus-4-8"), TABLE)
    circuits = {c.circuit: Circuit(limited_until=900.0 + i, limit_streak=3) for i, c in enumerate(res.candidates)}
    assert names(arrange(res, circuits, 880.0, POLICY)) == [(res.candidates[0].provider.name, "panic")]


def test_arrange_explicit_retry_after_is_not_panicked_over():
    res = resolve(RequestMeta("claude-opus-4-8"), TABLE)
    first, second = res.candidates[:2]
    explicit = {first.circuit: Circuit(limited_until=890.0, limit_explicit=True),
                second.circuit: Circuit(limited_until=885.5, limit_explicit=True)}
    arranged = arrange(res, explicit, 880.0, POLICY)
    assert arranged.candidates == () and arranged.retry_after == 5.5
    # one provider paused on its own word, the other only by our breaker: the breaker gives way
    mixed = {**explicit, second.circuit: Circuit("open", 5, open_until=2000.0)}
    assert names(arrange(res, mixed, 880.0, POLICY)) == [(second.provider.name, "panic")]


def test_arrange_half_open_probe_in_flight_blocks_others():
    res = resolve(RequestMeta("claude-opus-4-8"), TABLE)
    oauth = res.candidates[0]
    circuits = {oauth.circuit: Circuit("half_open", 5, open_until=800.0, probe_since=995.0)}
    assert names(arrange(res, circuits, 1000.0, POLICY)) == [("openai", "pass")]
    # a probe that never reported back is given up after the recovery timeout
    assert names(arrange(res, circuits, 1030.0, POLICY))[0] == ("oauth", "probe")


def test_arrange_session_affinity_pins_among_equal_candidates():
    res = resolve(RequestMeta("claude-sonnet-5"), TABLE)
    for turn in range(3):
        assert names(arrange(res, {}, 0, POLICY, turn=turn, pinned=("openai", "gpt-mid")))[0][0] == "openai"


def test_circuit_scope_includes_credential():
    a = ProviderConfig(id=1, name="a", kind="k", base_url="u", api_key_encrypted="one")
    b = ProviderConfig(id=1, name="a", kind="k", base_url="u", api_key_encrypted="two")
    from routing.resolution import Candidate

    assert Candidate(a, "m", "r").circuit != Candidate(b, "m", "r").circuit
    assert Candidate(a, "m", "r").circuit != Candidate(a, "m2", "r").circuit
