"""A/B the gateway against what-if variants in ONE run, interleaved, to see where CPU goes.

All variants run side by side under daphne against the same fake upstream and database (idle ones
cost nothing); each round measures every variant once per scenario, so machine noise hits them
alike. Reported: median gateway CPU ms per request (from /proc/<pid>/stat) and rps over the rounds.

Variants (``--variants``, comma-separated):

* ``baseline``: the gateway as deployed (proxy_project.settings, proxy_project.asgi:application);
* ``no-mw``: the same with ``MIDDLEWARE = []`` (bench/whatif/nomw_settings.py);
* ``no-hygiene``: without the API handler's close_old_connections after each request;
* ``stock-pool``: httpcore's own AsyncConnectionPool behind the upstream transport (not LeanPool);
* ``stock-spool`` / ``stock-buffer``: Twisted's spooling of bodies >= 100 kB to a temporary file /
  daphne's 8 KiB ASGI body messages, instead of daphne_tuning's (bench/whatif/stockbody_asgi.py);
* ``stock-write``: Twisted's stock response writes, each queued for the reactor's next turn,
  instead of daphne_tuning's DIRECT_WRITES (bench/whatif/stockwrite_asgi.py);
* ``pymalloc``: ``PYTHONMALLOC=pymalloc``, Python's small-object allocator (the baseline runs with
  glibc's, as ``manage.py serve`` does: a burst's memory can be trimmed);
* ``no-metrics`` / ``no-console``: without the Prometheus counting / the per-request console line;
* ``floor-fwd``: a bare ASGI app that forwards with httpx, no Django (bench/whatif/floor_asgi.py);
* ``floor-hello``: a bare ASGI app answering canned replies, no upstream (daphne/twisted floor).

``--tree NAME=PATH`` adds the gateway as checked out at PATH (e.g. ``before=/work/main``), run
from that tree (its own code on PYTHONPATH), so a change is A/B'd against its base in one run;
``--scenarios streams`` measures what users feel per chunk and per body size instead, ``--scenarios
bodies`` large non-stream requests.

    .venv/bin/python bench/compare.py [--rounds 3] [--duration 3]
    .venv/bin/python bench/compare.py --variants baseline --tree before=/work/main --scenarios streams
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from harness import Ctx, load, new_ctx, set_gap, setup_db, start_gateway, stop  # noqa: E402

FLOOR = "bench.whatif.floor_asgi:application"
STOCK_BODY = "bench.whatif.stockbody_asgi:application"
VARIANTS: dict[str, tuple[str | None, dict[str, str]]] = {
    "baseline": (None, {}),
    "no-mw": (None, {"DJANGO_SETTINGS_MODULE": "bench.whatif.nomw_settings"}),
    "stock-pool": (None, {"UPSTREAM_LEAN_POOL": "false"}),
    "no-hygiene": ("bench.whatif.nohygiene_asgi:application", {}),
    "stock-spool": (STOCK_BODY, {"WHATIF_STOCK_BODY": "spool"}),  # Twisted spools bodies >= 100 kB to a file
    "stock-buffer": (STOCK_BODY, {"WHATIF_STOCK_BODY": "buffer"}),  # daphne's 8 KiB body messages
    "pymalloc": (None, {"PYTHONMALLOC": "pymalloc"}),  # Python's allocator (the baseline has serve's glibc malloc)
    "asyncio-loop": (None, {"EVENT_LOOP": "asyncio"}),  # the standard library loop under the reactor (default: uvloop)
    "no-beat": (None, {"DJANGO_SETTINGS_MODULE": "bench.whatif.nobeat_settings"}),  # the web process without django-celery-beat
    "no-metrics": (None, {"METRICS_ENABLED": "false"}),  # without the Prometheus counting (README "Numbers")
    "no-console": (None, {"REQUEST_CONSOLE_LOG": "false"}),  # without the per-request console line
    "stock-write": ("bench.whatif.stockwrite_asgi:application", {}),  # Twisted's queued writes (no DIRECT_WRITES)
    "floor-fwd": (FLOOR, {"FLOOR_MODE": "forward"}),
    "floor-hello": (FLOOR, {"FLOOR_MODE": "hello"}),
}


@dataclass(frozen=True)
class Scenario:
    mode: str
    c: int
    gap_ms: float = 0.0
    chunks: int = 20
    body_bytes: int = 0
    requests: int = 0  # a fixed count (paced streams); 0: --duration seconds
    target: str = "gateway"  # "gateway-openai": the same through the OpenAI dialect

    @property
    def key(self) -> str:
        extra = f" {self.chunks}ch@{self.gap_ms:g}ms" if self.gap_ms else ""
        extra += f" {self.body_bytes // 1000}KB" if self.body_bytes else ""
        dialect = " openai" if self.target == "gateway-openai" else ""
        return f"{self.mode}{dialect} c={self.c}{extra}"


SCENARIO_SETS: dict[str, list[Scenario]] = {
    "default": [Scenario("nonstream", 1), Scenario("nonstream", 16), Scenario("stream", 16),
                Scenario("count_tokens", 1)],
    "burst": [Scenario("stream", 16), Scenario("stream", 1)],
    "streams": [Scenario("stream", 1, gap_ms=10, requests=12), Scenario("stream", 1, gap_ms=3, chunks=200, requests=4),
                Scenario("stream", 1, gap_ms=1, chunks=2000, requests=2),
                Scenario("stream", 16), Scenario("nonstream", 1, body_bytes=1_000_000),
                Scenario("stream", 1, gap_ms=1, chunks=2000, requests=2, target="gateway-openai"),
                Scenario("stream", 16, target="gateway-openai")],
    "bodies": [Scenario("nonstream", 1, body_bytes=200_000), Scenario("nonstream", 1, body_bytes=1_000_000),
               Scenario("nonstream", 16, body_bytes=200_000)],
}


def main() -> int:
    ap = argparse.ArgumentParser(description="interleaved A/B of gateway variants")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=0.7)
    ap.add_argument("--out", default=str(BENCH / "last_compare.json"))
    ap.add_argument("--tree", action="append", default=[], metavar="NAME=PATH",
                    help="also run the gateway checked out at PATH as variant NAME")
    ap.add_argument("--scenarios", choices=sorted(SCENARIO_SETS), default="default")
    args = ap.parse_args()
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    for n in names:
        if n not in VARIANTS:
            raise SystemExit(f"unknown variant {n!r}; known: {', '.join(VARIANTS)}")
    trees: dict[str, Path] = {}
    for spec in args.tree:
        name, _, path = spec.partition("=")
        trees[name] = Path(path).resolve()
        names.append(name)
    scenarios = SCENARIO_SETS[args.scenarios]

    ctx: Ctx = new_ctx()
    gateways: dict[str, tuple[int, int]] = {}
    results: dict[str, dict[str, list[dict[str, Any]]]] = {n: {} for n in names}
    try:
        setup_db(ctx)
        for n in names:
            app, extra = VARIANTS.get(n, (None, {}))
            cwd = trees.get(n)
            # the tree first on the path, ahead of (not instead of) what the caller put there
            path = os.pathsep.join(p for p in (str(cwd) if cwd else "", ctx.env.get("PYTHONPATH", "")) if p)
            env = dict(ctx.env, **extra, **({"PYTHONPATH": path} if path else {}))
            ready = start_gateway(ctx, app=app, env=env, name=n, cwd=cwd)
            gateways[n] = (ctx.gw_port, ctx.gw_pid)
            print(f"{n}: ready in {ready:.2f} s on :{ctx.gw_port}", flush=True)
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}", flush=True)
            for sc in scenarios:
                set_gap(ctx, sc.gap_ms, sc.chunks)
                for n in names if r % 2 == 0 else list(reversed(names)):
                    ctx.gw_port, ctx.gw_pid = gateways[n]
                    out = load(ctx, sc.target, sc.mode, sc.c, duration=args.duration, requests=sc.requests,
                               warmup=args.warmup, body_bytes=sc.body_bytes)
                    out["noise_cores"] = out["machine"]["other_cores"]
                    results[n].setdefault(sc.key, []).append(out)
                    time.sleep(0.2)
    finally:
        for p in reversed(ctx.procs):
            stop(p)
        shutil.rmtree(ctx.tmp, ignore_errors=True)

    print()
    keys = [sc.key for sc in scenarios]
    print("median over rounds: gateway CPU ms/request (rps); last line: median foreign load in cores")
    print(f"{'variant':12s} " + " ".join(f"{k:>22s}" for k in keys))
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for n in names:
        cells = []
        summary[n] = {}
        for k in keys:
            runs = results[n].get(k, [])
            # the kernel's ns clock: /proc stat ticks are 10 ms, too coarse for a few paced streams
            cpu = [r["cpu"]["gateway"]["clock_ms_per_req"] for r in runs if r["requests"]]
            rps = [r["rps"] for r in runs]
            med_cpu = statistics.median(cpu) if cpu else float("nan")
            med_rps = statistics.median(rps) if rps else float("nan")
            ttft = [r["ttft_p50_ms"] for r in runs if r.get("ttft_p50_ms") is not None]
            summary[n][k] = {"cpu_ms": med_cpu, "rps": med_rps,
                             "ttft_ms": statistics.median(ttft) if ttft else float("nan")}
            cells.append(f"{med_cpu:8.2f} ({med_rps:7.1f})")
        print(f"{n:12s} " + " ".join(f"{c:>22s}" for c in cells))
    for n in names:
        print(f"{n + ' TTFT':12s} " + " ".join(f"{summary[n][k]['ttft_ms']:>19.2f} ms" for k in keys))
    noise = [statistics.median([r["noise_cores"] for n in names for r in results[n].get(k, [])] or [0.0])
             for k in keys]
    print(f"{'noise':12s} " + " ".join(f"{v:>22.2f}" for v in noise))
    if len(names) >= 2:
        a, b = names[-1], names[0]  # --tree before=... vs the first variant (the tree under test)
        ratios = [summary[n][k]["cpu_ms"] for n in (b, a) for k in keys]
        print(f"{b + '/' + a:12s} " + " ".join(
            f"{ratios[i] / ratios[len(keys) + i]:>22.2f}" if ratios[len(keys) + i] else f"{'-':>22s}"
            for i in range(len(keys))))
    Path(args.out).write_text(json.dumps({"summary": summary, "runs": results}, indent=1, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
