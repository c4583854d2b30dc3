"""A/B the gateway against what-if variants in ONE run, interleaved, to see where CPU goes.

All variants run side by side under daphne against the same fake upstream and database (idle ones
cost nothing); each round measures every variant once per scenario, so machine noise hits them
alike. Reported: median gateway CPU ms per request (from /proc/<pid>/stat) and rps over the rounds.

Variants (``--variants``, comma-separated):

* ``baseline``: the gateway as deployed (proxy_project.settings, proxy_project.asgi:application);
* ``no-mw``: the same with ``MIDDLEWARE = []`` (bench/whatif/nomw_settings.py);
* ``no-hygiene``: without the API handler's close_old_connections after each request;
* ``sysmalloc``: ``PYTHONMALLOC=malloc`` (glibc for small objects: a burst's memory can be trimmed);
* ``no-metrics`` / ``no-console``: without the Prometheus counting / the per-request console line;
* ``floor-fwd``: a bare ASGI app that forwards with httpx, no Django (bench/whatif/floor_asgi.py);
* ``floor-hello``: a bare ASGI app answering canned replies, no upstream (daphne/twisted floor).

    .venv/bin/python bench/compare.py [--rounds 3] [--duration 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from run import Ctx, load, new_ctx, setup_db, start_gateway, stop  # noqa: E402

FLOOR = "bench.whatif.floor_asgi:application"
VARIANTS: dict[str, tuple[str | None, dict[str, str]]] = {
    "baseline": (None, {}),
    "no-mw": (None, {"DJANGO_SETTINGS_MODULE": "bench.whatif.nomw_settings"}),
    "stock-pool": (None, {"UPSTREAM_LEAN_POOL": "false"}),
    "no-hygiene": ("bench.whatif.nohygiene_asgi:application", {}),
    "sysmalloc": (None, {"PYTHONMALLOC": "malloc"}),
    "no-metrics": (None, {"METRICS_ENABLED": "false"}),  # without the Prometheus counting (README "Numbers")
    "no-console": (None, {"REQUEST_CONSOLE_LOG": "false"}),  # without the per-request console line
    "floor-fwd": (FLOOR, {"FLOOR_MODE": "forward"}),
    "floor-hello": (FLOOR, {"FLOOR_MODE": "hello"}),
}
SCENARIOS: list[tuple[str, int]] = [("nonstream", 1), ("nonstream", 16), ("stream", 16), ("count_tokens", 1)]


def main() -> int:
    ap = argparse.ArgumentParser(description="interleaved A/B of gateway variants")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=0.7)
    ap.add_argument("--out", default=str(BENCH / "last_compare.json"))
    args = ap.parse_args()
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    for n in names:
        if n not in VARIANTS:
            raise SystemExit(f"unknown variant {n!r}; known: {', '.join(VARIANTS)}")

    ctx: Ctx = new_ctx()
    gateways: dict[str, tuple[int, int]] = {}
    results: dict[str, dict[str, list[dict[str, Any]]]] = {n: {} for n in names}
    try:
        setup_db(ctx)
        for n in names:
            app, extra = VARIANTS[n]
            env = dict(ctx.env, **extra)
            ready = start_gateway(ctx, app=app, env=env, name=n)
            gateways[n] = (ctx.gw_port, ctx.gw_pid)
            print(f"{n}: ready in {ready:.2f} s on :{ctx.gw_port}", flush=True)
        for r in range(args.rounds):
            print(f"round {r + 1}/{args.rounds}", flush=True)
            for mode, c in SCENARIOS:
                for n in names if r % 2 == 0 else list(reversed(names)):
                    ctx.gw_port, ctx.gw_pid = gateways[n]
                    out = load(ctx, "gateway", mode, c, duration=args.duration, warmup=args.warmup)
                    results[n].setdefault(f"{mode} c={c}", []).append(out)
                    time.sleep(0.2)
    finally:
        for p in reversed(ctx.procs):
            stop(p)
        shutil.rmtree(ctx.tmp, ignore_errors=True)

    print()
    keys = [f"{m} c={c}" for m, c in SCENARIOS]
    print("median over rounds: gateway CPU ms/request (rps)")
    print(f"{'variant':12s} " + " ".join(f"{k:>22s}" for k in keys))
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for n in names:
        cells = []
        summary[n] = {}
        for k in keys:
            runs = results[n].get(k, [])
            cpu = [r["cpu"]["gateway"]["stat_ms_per_req"] for r in runs if r["requests"]]
            rps = [r["rps"] for r in runs]
            med_cpu = statistics.median(cpu) if cpu else float("nan")
            med_rps = statistics.median(rps) if rps else float("nan")
            summary[n][k] = {"cpu_ms": med_cpu, "rps": med_rps}
            cells.append(f"{med_cpu:8.2f} ({med_rps:7.1f})")
        print(f"{n:12s} " + " ".join(f"{c:>22s}" for c in cells))
    Path(args.out).write_text(json.dumps({"summary": summary, "runs": results}, indent=1, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
