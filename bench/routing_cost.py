"""Routing cost per request with 50 routes and 200 agent fingerprints (in-process, CPU time).

Times exactly what the request path runs for routing: prompt fingerprints (cached per prompt, and
a cold miss), request facts, the pure resolution and the arrangement by strategy, affinity and
circuits. Run: ``.venv/bin/python bench/routing_cost.py`` (target: < 0.5 ms per request).
"""

from __future__ import annotations

import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proxy_project.settings")

import django  # noqa: E402

django.setup()

from payloads import anthropic_body  # noqa: E402

from routing import meta as routing_meta  # noqa: E402
from routing.breaker import Circuit, Policy  # noqa: E402
from routing.fingerprints import fingerprint  # noqa: E402
from routing.resolution import (  # noqa: E402
    AgentConfig,
    ProviderConfig,
    RouteConfig,
    RouteTable,
    TierConfig,
    arrange,
    resolve,
)


def table(routes: int = 50, prints: int = 200) -> RouteTable:
    providers = {f"p{i}": ProviderConfig(id=i, name=f"p{i}", kind="openai_compat", base_url=f"http://p{i}",
                                         api_key_encrypted=f"enc-{i}") for i in range(8)}
    tiers = tuple(TierConfig(name, (pattern,), "round_robin", tuple((f"p{j}", f"{name}-m{j}") for j in range(4)))
                  for name, pattern in (("small", "haiku"), ("middle", "sonnet"), ("big", "opus")))
    scenarios = ("model", "long_context", "thinking", "background")
    route_rows = tuple(RouteConfig(f"r{i}", scenarios[i % 4], f"p{i % 8}", f"route-m{i}", pattern=f"pattern-{i}",
                                   threshold=150_000 + i) for i in range(routes))
    agents = {}
    for i in range(prints):
        fp = fingerprint(f"You are agent number {i}. " * 40)
        agents[fp] = AgentConfig(fp, f"agent-{i}", "opus" if i % 2 else f"agent-model-{i}@p{i % 8}")
    return RouteTable(providers, tiers, route_rows, agents, {a.name: a for a in agents.values()})


def cpu_us_per_call(fn: Callable[[], Any], seconds: float = 0.5) -> float:
    calls, start = 0, time.process_time()
    while True:
        for _ in range(200):
            fn()
        calls += 200
        spent = time.process_time() - start
        if spent >= seconds:
            return spent / calls * 1e6


def main() -> None:
    tbl = table()
    body = anthropic_body(False)
    circuits = {f"{i}:m:x": Circuit("open", 5, open_until=time.time() + 60) for i in range(50)}
    policy = Policy()
    rng = random.Random(1)

    def route_once(b: dict[str, Any] = body) -> None:
        prints, _ = routing_meta.prompt_fingerprints(b)
        meta = routing_meta.request_meta(b, url_provider=None, url_model=None, agent_name="",
                                         prints=prints, input_estimate=1000)
        res = resolve(meta, tbl)
        arrange(res, circuits, time.time(), policy, turn=7, rng=rng, pinned=None)

    def cold() -> None:
        routing_meta._fingerprints_of.cache_clear()
        route_once()

    warm_us = cpu_us_per_call(route_once)
    cold_us = cpu_us_per_call(cold)
    prompt_chars = sum(len(b.get("text", "")) for b in body.get("system", []) if isinstance(b, dict))
    print(f"routing with {len(tbl.routes)} routes, {len(tbl.agents_by_print)} fingerprints, "
          f"{prompt_chars} prompt chars")
    print(f"  per request (prompt seen before): {warm_us / 1000:.3f} ms CPU   target < 0.5 ms "
          f"{'PASS' if warm_us < 500 else 'MISS'}")
    print(f"  first request of a new prompt:     {cold_us / 1000:.3f} ms CPU   (fingerprint normalisation)")


if __name__ == "__main__":
    main()
