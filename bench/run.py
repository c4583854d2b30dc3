"""One-shot gateway benchmark: ``.venv/bin/python bench/run.py [--quick]``.

Starts the fake OpenAI upstream (own process), sets up and starts the gateway under daphne against
it (fresh SQLite in a temp dir), then drives both with ``bench/load.py`` (own process per scenario):

* stream / non-stream at 1, 16, 64 clients, direct-to-fake and via the gateway, with ratios;
* gateway CPU ms per request from /proc/<daphne pid>/stat (utime+stime delta / requests), for
  burst streams (the whole upstream stream in one write) and paced streams (one chunk per ms);
* at one client: paced streams (20 chunks at 0/1/3/10 ms gaps, 200 at 3 ms, 2,000 at 1 ms) and
  non-stream bodies of 8 KB / 46 KB / 200 KB / 1 MB, each cell re-run while foreign load is high;
* count_tokens CPU ms per call for a ~200 KB (~50k token) request;
* idle RSS after warm-up, and ready-to-serve time (spawn -> first 200 on GET /health);
* a hook for routing-cost scenarios (``ROUTING_SCENARIOS`` below).

Prints one table and writes ``bench/last_results.json``. Everything stops by itself.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from harness import (  # noqa: E402 - the process plumbing (bench/harness.py)
    NOISE_LIMIT,
    NOISE_RERUNS,
    Ctx,
    fmt,
    gw_cpu,
    load,
    new_ctx,
    noise_of,
    quiet_load,
    ratio,
    serve_for,
    set_gap,
    setup_db,
    start_gateway,
    stop,
)
from proc import calibrate_ms, cpu_model, cpu_sample, status_kib, wakeup_us  # noqa: E402

CONCURRENCY = (1, 16, 64)
PACED_GAP_MS = 1.0
WAKEUP_GAPS_MS = (1, 3, 10)  # the paced cells' gaps: each one's bare wake-up cost on this host

# (chunks, gap ms, streams measured) at one client: what a user's stream costs as it arrives.
PACED_CELLS = ((20, 0.0, 15), (20, 1.0, 12), (20, 3.0, 10), (20, 10.0, 8), (200, 3.0, 3), (2000, 1.0, 2))
BODY_SIZES = ((8_000, "8 KB"), (0, "46 KB"), (200_000, "200 KB"), (1_000_000, "1 MB"))

TARGETS = {
    "cpu_nonstream_ms": 5.0,
    "cpu_stream_ms": 7.0,
    "cpu_stream_10ms_ms": 12.0,
    "cpu_paced_chunk_ms": 0.5,
    "cpu_1mb_ms": 6.0,
    "count_tokens_cpu_ms": 2.0,
    "idle_rss_mib": 100.0,  # issue 16: an idle web process within 100 MiB
    "ready_s": 2.0,
    "make_run_pss_mib": 250.0,
}
BACKENDS = ("sqlite", "pg-redis")
WEB_COUNTS = (1, 2)  # manage.py serve's WEB_PROCESSES in the web-process cells (PostgreSQL + Redis)


@dataclass
class Profile:
    duration: float
    warmup: float
    paced_duration: float
    count_tokens_seconds: float
    count_tokens_min_calls: int
    paced_scale: float = 1.0  # share of PACED_CELLS' stream counts (and body requests) to run


FULL = Profile(
    duration=6.0, warmup=1.0, paced_duration=6.0, count_tokens_seconds=5.0, count_tokens_min_calls=50
)
QUICK = Profile(
    duration=2.5, warmup=0.7, paced_duration=3.0, count_tokens_seconds=2.0, count_tokens_min_calls=50,
    paced_scale=0.5,
)


# --- (f) routing-cost hook -------------------------------------------------------------------------
# A routing scenario changes the gateway's configuration (against the same database the running gateway
# uses), waits for the route table to refresh (ROUTE_TABLE_TTL, 1 s by default) and re-measures the
# gateway. Its rows are reported next to the baseline with the CPU delta per request. To add
# "50 routes + 200 fingerprints" later, write a setup that creates them, e.g. with
# ``manage(ctx, "shell", "-c", "...")`` or a dedicated management command, and append it:
#
#     def routes_50_fingerprints_200(ctx: Ctx) -> None:
#         manage(ctx, "shell", "-c", "from routing.models import ...; ...")
#
#     ROUTING_SCENARIOS.append(RoutingScenario("50 routes + 200 fingerprints", routes_50_fingerprints_200))


@dataclass
class RoutingScenario:
    name: str
    setup: Callable[[Ctx], None]
    # (mode, concurrency) pairs re-measured via the gateway after setup
    measure: tuple[tuple[str, int], ...] = (("nonstream", 1), ("nonstream", 16), ("stream", 16))
    settle_s: float = 1.5


ROUTING_SCENARIOS: list[RoutingScenario] = []


# --- report ----------------------------------------------------------------------------------------


def measure_paced(ctx: Ctx, prof: Profile) -> list[dict[str, Any]]:
    """One client, streams of N chunks with a gap between them: gateway CPU per stream and per chunk."""
    cells = []
    for chunks, gap, streams in PACED_CELLS:
        set_gap(ctx, gap, chunks)
        n = max(1, int(streams * prof.paced_scale))
        cell: dict[str, Any] = {"chunks": chunks, "gap_ms": gap}
        cell["direct"] = load(ctx, "direct", "stream", 1, requests=n, warmup=0.2)
        cell["gateway"] = quiet_load(ctx, "gateway", "stream", 1, requests=n, warmup=0.2)
        cells.append(cell)
    set_gap(ctx, 0.0)
    return cells


def measure_bodies(ctx: Ctx, prof: Profile) -> list[dict[str, Any]]:
    """Non-stream requests at one client by body size (a long session's requests grow to ~1 MB)."""
    cells = []
    for size, label in BODY_SIZES:
        n = max(60, int(200 * prof.paced_scale))  # 100 quick: a 1 MB cell of 20 read 6-9 ms on one host
        cell: dict[str, Any] = {"label": label, "bytes": size}
        cell["direct"] = load(ctx, "direct", "nonstream", 1, requests=n, warmup=0.2, body_bytes=size)
        cell["gateway"] = quiet_load(ctx, "gateway", "nonstream", 1, requests=n, warmup=0.2, body_bytes=size)
        cells.append(cell)
    return cells


def times_fake(r: dict[str, Any] | None) -> str:
    """``", 4.3x the fake's CPU"``: the gateway's CPU in a cell against the fake upstream's in it."""
    x = ratio(gw_cpu(r), fake_cpu(r)) if r else None
    return f", {x:.1f}x the fake's CPU" if x is not None else ""


def fake_cpu(r: dict[str, Any]) -> float | None:
    """The fake upstream's CPU ms per request during a run (load.py reads it beside the gateway's)."""
    value = r.get("cpu", {}).get("fake", {}).get("clock_ms_per_req")
    return float(value) if value is not None else None


def print_cells(results: dict[str, Any]) -> None:
    ref = results.get("calib_start_ms")
    print("One client (c=1). CPU = gateway ms per request (kernel ns clock); ratio = gateway / direct;"
          f" %ref = CPU as % of the fixed reference workload ({fmt(ref, 1)} ms)")
    wake = results.get("wakeup_us", {})
    print("wakes = CPU per chunk in bare wake-ups of this host at that gap (bench/proc.py wakeup_us: "
          "the floor under a chunk that arrives alone)")
    print("xfake = gateway CPU / the fake upstream's own CPU in the same cell (it wakes and writes each chunk:"
          " a yardstick taken at the same moment, whatever the host does)")
    print(f"{'paced stream':22s} {'CPU/stream':>10s} {'CPU/chunk':>9s} {'wakes':>6s} {'xfake':>6s} {'%ref':>6s}"
          f" {'p50 ratio':>9s} {'TTFT dir':>8s} {'TTFT gw':>8s} {'noise':>5s}")
    for c in results.get("paced_cells", []):
        g, d = c["gateway"], c["direct"]
        cpu = gw_cpu(g)
        per_chunk = cpu / (c["chunks"] + 3) if cpu is not None else None  # + usage, [DONE], tail
        floor = wake.get(format(c["gap_ms"], "g"))
        wakes = per_chunk * 1000 / floor if per_chunk is not None and floor else None
        print(f"{str(c['chunks']) + ' chunks @ ' + format(c['gap_ms'], 'g') + ' ms':22s} {fmt(cpu, 2):>10s}"
              f" {fmt(per_chunk, 3):>9s} {fmt(wakes, 1):>6s} {fmt(ratio(cpu, fake_cpu(g)), 2):>6s}"
              f" {fmt(ratio(cpu, ref) and 100 * ratio(cpu, ref), 1):>6s}"
              f" {fmt(ratio(g['lat_p50_ms'], d['lat_p50_ms']), 3):>9s} {fmt(d.get('ttft_p50_ms'), 2):>8s}"
              f" {fmt(g.get('ttft_p50_ms'), 2):>8s} {fmt(noise_of(g), 2):>5s}" + ("  noisy" if g.get("noisy") else ""))
    print(f"{'non-stream body':22s} {'CPU/req':>10s} {'':9s} {'%ref':>6s} {'p50 ratio':>9s} {'p50 dir':>8s}"
          f" {'p50 gw':>8s} {'noise':>5s}")
    for c in results.get("body_cells", []):
        g, d = c["gateway"], c["direct"]
        cpu = gw_cpu(g)
        print(f"{c['label']:22s} {fmt(cpu, 2):>10s} {'':9s} {fmt(ratio(cpu, ref) and 100 * ratio(cpu, ref), 1):>6s}"
              f" {fmt(ratio(g['lat_p50_ms'], d['lat_p50_ms']), 3):>9s} {d['lat_p50_ms']:8.2f} {g['lat_p50_ms']:8.2f}"
              f" {fmt(noise_of(g), 2):>5s}" + ("  noisy" if g.get("noisy") else ""))


def print_table(results: dict[str, Any]) -> None:
    rows = results["scenarios"]
    print()
    print("=" * 125)
    print(
        "Gateway vs direct (same fake upstream, same run). ratio = gateway / direct. CPU = daphne utime+stime / req.\n"
        "noise = CPU cores used by other processes on the machine during the gateway run (0 = quiet)."
    )
    print("-" * 125)
    head = (
        f"{'mode':10s} {'c':>3s} | {'rps direct':>10s} {'rps gw':>8s} {'ratio':>6s} | {'p50 dir':>8s} {'p50 gw':>8s}"
        f" {'ratio':>6s} | {'p99 dir':>8s} {'p99 gw':>8s} | {'TTFT dir':>8s} {'TTFT gw':>8s} | {'gw CPU ms':>9s}"
        f" {'noise':>5s}"
    )
    print(head)
    print("-" * 125)
    for r in rows:
        d, g = r["direct"], r["gateway"]
        print(
            f"{r['mode']:10s} {r['concurrency']:3d} | {d['rps']:10.0f} {g['rps']:8.1f} {fmt(ratio(g['rps'], d['rps']), 3):>6s}"
            f" | {d['lat_p50_ms']:8.2f} {g['lat_p50_ms']:8.2f} {fmt(ratio(g['lat_p50_ms'], d['lat_p50_ms'])):>6s}"
            f" | {d['lat_p99_ms']:8.2f} {g['lat_p99_ms']:8.2f}"
            f" | {fmt(d.get('ttft_p50_ms'), 2):>8s} {fmt(g.get('ttft_p50_ms'), 2):>8s} | {fmt(gw_cpu(g), 2):>9s}"
            f" {fmt(g.get('machine', {}).get('other_cores'), 2):>5s}"
            + (f"  ({g['errors']} errors)" if g["errors"] else "")
        )
    print("-" * 125)
    print_cells(results)
    print("-" * 125)
    from stack import print_backends, print_footprints, print_web

    if results.get("footprints"):
        print_footprints(results["footprints"])
        print("-" * 125)
    if results.get("backend_cells"):
        print_backends(results["backend_cells"], results["backends"])
        print("-" * 125)
    if results.get("web_cells"):
        print_web(results["web_cells"], tuple(results["web_counts"]))
        print("-" * 125)
    s = results["summary"]
    print(f"Targets (a cell is re-run up to {NOISE_RERUNS}x while foreign load > {NOISE_LIMIT} cores;"
          " a verdict under noise is marked)")
    for name, value, target, unit, note in s["checks"]:
        ok = "-" if value is None else ("PASS" if value <= target else "MISS")
        print(f"  {name:52s} {fmt(value, 2):>9s} {unit:4s} target <= {target:<6g} {ok:4s} {note}")
    print("Other")
    for name, value, unit in s["info"]:
        print(f"  {name:52s} {fmt(value, 2):>9s} {unit}")
    for extra in s.get("notes", []):
        print(f"  note: {extra}")
    print("=" * 125)


def mean_noise(results: dict[str, Any]) -> float | None:
    vals = [
        r["gateway"]["machine"]["other_cores"]
        for r in results["scenarios"]
        if "machine" in r.get("gateway", {})
    ]
    return sum(vals) / len(vals) if vals else None


def noise_note(r: dict[str, Any] | None) -> str:
    if not r:
        return ""
    return f"noise {fmt(noise_of(r), 2)} cores" + (" NOISY (re-run, still above the limit)" if r.get("noisy") else "")


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    by = {(r["mode"], r["concurrency"]): r for r in results["scenarios"]}

    def cpu_of(mode: str, c: int) -> float | None:
        r = by.get((mode, c))
        return gw_cpu(r["gateway"]) if r else None

    def added(mode: str, key: str) -> float | None:
        r = by.get((mode, 1))
        if not r or r["gateway"].get(key) is None or r["direct"].get(key) is None:
            return None
        return float(r["gateway"][key] - r["direct"][key])

    paced = results.get("paced_stream")
    ct = results.get("count_tokens")
    cells = {(c["chunks"], c["gap_ms"]): c["gateway"] for c in results.get("paced_cells", [])}
    bodies = {c["bytes"]: c["gateway"] for c in results.get("body_cells", [])}

    def per_chunk(chunks: int, gap: float) -> float | None:
        cpu = gw_cpu(cells[(chunks, gap)]) if (chunks, gap) in cells else None
        return cpu / (chunks + 3) if cpu is not None else None

    checks: list[tuple[str, float | None, float, str, str]] = [
        (
            "gateway CPU / non-stream request (c=16)",
            cpu_of("nonstream", 16),
            TARGETS["cpu_nonstream_ms"],
            "ms",
            noise_note(by[("nonstream", 16)]["gateway"]) if ("nonstream", 16) in by else "",
        ),
        (
            "gateway CPU / 20-chunk stream, burst (c=16)",
            cpu_of("stream", 16),
            TARGETS["cpu_stream_ms"],
            "ms",
            noise_note(by[("stream", 16)]["gateway"]) if ("stream", 16) in by else "",
        ),
        (
            f"gateway CPU / 20-chunk stream, paced {PACED_GAP_MS:g}ms (c=16)",
            gw_cpu(paced["gateway"]) if paced else None,
            TARGETS["cpu_stream_ms"],
            "ms",
            noise_note(paced["gateway"]) if paced else "",
        ),
        (
            "count_tokens CPU / call (~200 KB, ~50k tokens)",
            gw_cpu(ct) if ct else None,
            TARGETS["count_tokens_cpu_ms"],
            "ms",
            f"({ct['requests']} calls)" if ct else "",
        ),
        ("gateway CPU / 20-chunk stream, 10 ms gaps (c=1)", gw_cpu(cells[(20, 10.0)]) if (20, 10.0) in cells
         else None, TARGETS["cpu_stream_10ms_ms"], "ms", noise_note(cells.get((20, 10.0))) + times_fake(cells.get((20, 10.0)))),
        ("gateway CPU / paced chunk, 200 chunks @ 3 ms (c=1)", per_chunk(200, 3.0), TARGETS["cpu_paced_chunk_ms"],
         "ms", noise_note(cells.get((200, 3.0)))),
        ("gateway CPU / paced chunk, 2000 chunks @ 1 ms (c=1)", per_chunk(2000, 1.0),
         TARGETS["cpu_paced_chunk_ms"], "ms", noise_note(cells.get((2000, 1.0)))),
        ("gateway CPU / 1 MB non-stream request (c=1)", gw_cpu(bodies[1_000_000]) if 1_000_000 in bodies else None,
         TARGETS["cpu_1mb_ms"], "ms", noise_note(bodies.get(1_000_000))),
        ("idle RSS after warm-up", results.get("idle_rss_mib"), TARGETS["idle_rss_mib"], "MiB",
         "dev extras installed (+4 MiB)" if results.get("host", {}).get("dev_extras") else ""),
        ("ready-to-serve (spawn -> first 200 /health)", results.get("ready_s"), TARGETS["ready_s"], "s", ""),
    ]
    for fp in results.get("footprints", []):
        checks.append((f"make run ({fp['name']}): PSS of serve + worker + beat", fp.get("pss_mib"),
                       TARGETS["make_run_pss_mib"], "MiB", f"RSS {fmt(fp.get('rss_mib'))} MiB,"
                       f" {len(fp.get('processes', []))} processes"))
    info: list[tuple[str, float | None, str]] = [
        ("added p50 latency, non-stream, 1 client", added("nonstream", "lat_p50_ms"), "ms"),
        ("added p50 latency, stream (full body), 1 client", added("stream", "lat_p50_ms"), "ms"),
        ("added p50 TTFT, stream, 1 client", added("stream", "ttft_p50_ms"), "ms"),
        ("gateway CPU / non-stream request (c=1)", cpu_of("nonstream", 1), "ms"),
        ("gateway CPU / non-stream request (c=64)", cpu_of("nonstream", 64), "ms"),
        ("gateway CPU / stream, burst (c=1)", cpu_of("stream", 1), "ms"),
        ("gateway CPU / stream, burst (c=64)", cpu_of("stream", 64), "ms"),
        ("count_tokens p50 latency", ct["lat_p50_ms"] if ct else None, "ms"),
        ("RSS after the run", results.get("final_rss_mib"), "MiB"),
        ("noise: fixed Python workload, start (lower=faster)", results.get("calib_start_ms"), "ms"),
        ("noise: fixed Python workload, end", results.get("calib_end_ms"), "ms"),
        ("noise: other processes' CPU in gateway runs", mean_noise(results), "cores"),
        ("peak RSS (VmHWM)", results.get("peak_rss_mib"), "MiB"),
    ]
    for rs in results.get("routing", []):
        for m in rs["runs"]:
            base, now = cpu_of(m["mode"], m["concurrency"]), gw_cpu(m)
            info.append((f"routing '{rs['name']}': CPU {m['mode']} c={m['concurrency']}", now, "ms"))
            if base is not None and now is not None:
                info.append(("  delta vs baseline", now - base, "ms"))
    return {"checks": checks, "info": info, "notes": results.get("notes", [])}


# --- main ------------------------------------------------------------------------------------------


def run_stack(ctx: Ctx, prof: Profile, args: argparse.Namespace, results: dict[str, Any], backends: list[str],
              cells: set[str]) -> None:
    """The whole-stack cells (bench/stack.py): make-run footprint, backends side by side, web processes."""
    from stack import backend_cells, pg_redis, serve_footprint, start_gateway_env, web_process_cells

    if "footprint" in cells:
        print("make-run footprint: manage.py serve (daphne + Celery worker with embedded beat) ...", flush=True)
        fps = [serve_footprint(ctx, warmup=prof.warmup)]
        for spec in args.footprint_tree:
            name, _, path = spec.partition("=")
            fps.append(serve_footprint(ctx, warmup=prof.warmup, name=name, cwd=Path(path).resolve()))
        results["footprints"] = fps
        results["notes"].extend(n for fp in fps for n in fp.get("notes", []))
    if "pg-redis" not in backends or not cells & {"backends", "web"}:
        return
    with pg_redis(ctx) as backing:
        env = dict(ctx.env, **backing.env)
        setup_db(ctx, env=env)
        redis = {"backend-redis": backing.redis_pid}
        if "backends" in cells:
            gateways: dict[str, tuple[int, int, dict[str, int]]] = (
                {"sqlite": (ctx.gw_port, ctx.gw_pid, {})} if "sqlite" in backends else {})
            gateways["pg-redis"] = (*start_gateway_env(ctx, env, name="daphne-pg-redis"), redis)
            print("backends: " + ", ".join(gateways), flush=True)
            results["backends"] = list(gateways)
            results["backend_cells"] = backend_cells(ctx, gateways, duration=prof.duration, warmup=prof.warmup)
        if "web" in cells:
            print(f"web processes: manage.py serve with WEB_PROCESSES={'/'.join(map(str, WEB_COUNTS))}"
                  " on PostgreSQL + Redis ...", flush=True)
            results["web_counts"] = list(WEB_COUNTS)
            results["web_cells"], results["web_info"] = web_process_cells(
                ctx, env, WEB_COUNTS, duration=prof.duration, warmup=prof.warmup, extra_pids=redis)



def run_standard(ctx: Ctx, prof: Profile, args: argparse.Namespace, results: dict[str, Any],
                 backends: list[str]) -> None:
    """The latency/CPU scenarios, then the whole-stack cells (the gateway on ctx is up, unless --direct-only)."""
    if not args.direct_only:
        # Warm-up: every path once at low and high concurrency, then let it go idle.
        for mode in ("nonstream", "stream"):
            load(ctx, "gateway", mode, 16, duration=prof.warmup, warmup=0.3)
        load(ctx, "gateway", "count_tokens", 1, requests=5, warmup=0)
        time.sleep(3.0)  # idle: the gateway hands freed memory back after about a second of quiet
        results["idle_rss_mib"] = status_kib(ctx.gw_pid, "VmRSS") / 1024
        print(f"idle RSS after warm-up: {results['idle_rss_mib']:.1f} MiB", flush=True)

    for mode in ("nonstream", "stream"):
        for c in CONCURRENCY:
            row: dict[str, Any] = {"mode": mode, "concurrency": c}
            row["direct"] = load(ctx, "direct", mode, c, duration=prof.duration, warmup=prof.warmup)
            if args.direct_only:
                row["gateway"] = row["direct"]
            else:
                row["gateway"] = quiet_load(ctx, "gateway", mode, c, duration=prof.duration, warmup=prof.warmup)
            results["scenarios"].append(row)

    if not args.direct_only:
        set_gap(ctx, PACED_GAP_MS)
        paced: dict[str, Any] = {"gap_ms": PACED_GAP_MS}
        paced["direct"] = load(
            ctx, "direct", "stream", 16, duration=prof.paced_duration, warmup=prof.warmup
        )
        paced["gateway"] = load(
            ctx, "gateway", "stream", 16, duration=prof.paced_duration, warmup=prof.warmup
        )
        set_gap(ctx, 0.0)
        results["paced_stream"] = paced
        results["paced_cells"] = measure_paced(ctx, prof)
        results["body_cells"] = measure_bodies(ctx, prof)

        ct_probe = load(ctx, "gateway", "count_tokens", 1, requests=10, warmup=0)
        per_call = max(ct_probe["elapsed_s"] / max(ct_probe["requests"], 1), 1e-4)
        n_calls = max(prof.count_tokens_min_calls, min(2000, int(prof.count_tokens_seconds / per_call)))
        results["count_tokens"] = load(ctx, "gateway", "count_tokens", 1, requests=n_calls, warmup=0)

        for rs in ROUTING_SCENARIOS:
            print(f"routing scenario: {rs.name}", flush=True)
            rs.setup(ctx)
            time.sleep(rs.settle_s)
            runs = []
            for mode, c in rs.measure:
                runs.append(load(ctx, "gateway", mode, c, duration=prof.duration, warmup=prof.warmup))
            results.setdefault("routing", []).append({"name": rs.name, "runs": runs})

        time.sleep(0.5)
        results["final_rss_mib"] = status_kib(ctx.gw_pid, "VmRSS") / 1024
        results["peak_rss_mib"] = status_kib(ctx.gw_pid, "VmHWM") / 1024
        results["gateway_cpu_total_s"] = cpu_sample(ctx.gw_pid).stat_s
        run_stack(ctx, prof, args, results, backends,
                  {"backends", "web"} | (set() if args.no_footprint else {"footprint"}))
        if args.hold > 0:
            print(
                f"holding the gateway on :{ctx.gw_port} (pid {ctx.gw_pid}) for {args.hold:g} s",
                flush=True,
            )
            time.sleep(min(args.hold, 1800))


def main() -> int:
    ap = argparse.ArgumentParser(description="gateway benchmark (one run, ratios vs direct)")
    ap.add_argument("--quick", action="store_true", help="short durations (whole run < 2 min)")
    ap.add_argument("--out", default=str(BENCH / "last_results.json"))
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (DB, daphne log)")
    ap.add_argument("--direct-only", action="store_true", help="fake upstream + load generator only")
    ap.add_argument(
        "--hold", type=float, default=0.0, help="after the run, keep the gateway up N s (profiling)"
    )
    ap.add_argument("--settings", default="proxy_project.settings", help="what-if: DJANGO_SETTINGS_MODULE")
    ap.add_argument("--app", default="proxy_project.asgi:application", help="what-if: ASGI app for daphne")
    ap.add_argument(
        "--serve",
        type=float,
        default=0.0,
        help="only start fake + gateway and keep them up N s (for profiling)",
    )
    ap.add_argument("--backends", default="sqlite",
                    help="comma-separated: sqlite (the run's database), pg-redis (a fresh PostgreSQL database"
                         " on 127.0.0.1:5432 and an own redis-server): non-stream c=1/16 and stream c=16 on"
                         " each, and with pg-redis the 1-vs-2 web-process cells of manage.py serve")
    ap.add_argument("--footprint-tree", action="append", default=[], metavar="NAME=PATH",
                    help="also measure the make-run footprint of the checkout at PATH (before/after in one run)")
    ap.add_argument("--no-footprint", action="store_true", help="skip the make-run footprint cell")
    ap.add_argument("--only", default="", help="comma-separated: footprint, backends, web: only these"
                    " whole-stack cells (no latency/CPU scenarios)")
    args = ap.parse_args()
    prof = QUICK if args.quick else FULL
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    for b in backends:
        if b not in BACKENDS:
            raise SystemExit(f"unknown backend {b!r}; known: {', '.join(BACKENDS)}")
    only = {o.strip() for o in args.only.split(",") if o.strip()}
    if only - {"footprint", "backends", "web"}:
        raise SystemExit(f"--only: footprint, backends, web (not {', '.join(sorted(only))})")
    if only & {"backends", "web"} and "pg-redis" not in backends:
        backends.append("pg-redis")
    t_start = time.perf_counter()

    ctx = new_ctx(settings=args.settings, app=args.app)
    tmp = ctx.tmp
    results: dict[str, Any] = {
        "profile": "quick" if args.quick else "full",
        "settings": args.settings,
        "app": args.app,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "host": {"cpus": os.cpu_count(), "cpu_model": cpu_model(), "kernel": os.uname().release,
                 "python": sys.version.split()[0], "loadavg": os.getloadavg(),
                 # the gateway runs on this interpreter: with rich installed (a dev extra's), httpx
                 # imports its command-line tool at import, which a production install does not have
                 "dev_extras": importlib.util.find_spec("rich") is not None},
        "payload": {},
        "scenarios": [],
        "notes": [],
    }
    results["calib_start_ms"] = calibrate_ms()
    results["wakeup_us"] = {str(gap): wakeup_us(gap) for gap in WAKEUP_GAPS_MS}
    print(f"host: {results['host']['cpu_model'] or '?'} x{os.cpu_count()}, kernel {results['host']['kernel']}; "
          f"reference workload {results['calib_start_ms']:.1f} ms; a bare wake-up costs "
          + ", ".join(f"{v:.0f} µs at {k} ms gaps" for k, v in results["wakeup_us"].items()), flush=True)
    try:
        if not args.direct_only:
            print(f"setting up gateway in {tmp} (fake upstream on :{ctx.fake_port}) ...", flush=True)
            setup_db(ctx)
            ready = start_gateway(ctx)
            results["ready_s"] = ready
            print(f"gateway ready on :{ctx.gw_port} in {ready:.2f} s (pid {ctx.gw_pid}, PYTHONMALLOC="
                  f"{ctx.env.get('PYTHONMALLOC', 'malloc')}: manage.py serve's is malloc)", flush=True)
            if args.serve > 0:
                serve_for(ctx, args.serve)
                return 0
        if only:
            run_stack(ctx, prof, args, results, backends, only)
        else:
            run_standard(ctx, prof, args, results, backends)
        results["fake_cpu_total_s"] = cpu_sample(ctx.fake_pid).stat_s
    finally:
        for p in reversed(ctx.procs):
            stop(p)
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")

    results["calib_end_ms"] = calibrate_ms()
    results["wall_s"] = time.perf_counter() - t_start
    results["notes"].extend(ctx.notes)
    if args.direct_only:
        results["notes"].append("--direct-only: gateway columns repeat the direct numbers")
    results["summary"] = (
        summarize(results) if not args.direct_only else {"checks": [], "info": [], "notes": []}
    )
    print_table(results)
    Path(args.out).write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"wrote {args.out}  (wall {results['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
