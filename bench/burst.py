"""Burst load: N simultaneous 20-chunk streams through ONE gateway process, then idle memory.

    .venv/bin/python bench/burst.py [--streams 1000,2000] [--cap N] [--backlog 4096]

Starts the fake upstream and one daphne (as bench/run.py, with ``-e ...:backlog=B`` and, as
``manage.py serve``, ``PYTHONMALLOC=malloc``; ``--pymalloc`` keeps Python's allocator), warms up,
waits for idle and reads VmRSS (the baseline). For each burst size it opens N connections at
once, each sending the bench's Claude-Code-like streaming body (~46 KB, or ``--body-bytes``), and
reads every answer to the end. Counted: the gateway's CPU per stream over the burst, 200s with a
complete stream (``message_stop``), clean 529s (with ``retry-after``), anything else (resets,
timeouts, other statuses), the gateway's RequestLog rows for the burst, and VmRSS once the gateway
is idle again. Prints a table, writes JSON.
This is a load script, not a test; everything stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from harness import CLIENT_KEY, Ctx, new_ctx, setup_db, start_gateway, stop  # noqa: E402
from load import build_request  # noqa: E402
from proc import clock_cpu_s, status_kib  # noqa: E402


async def one_stream(port: int, request: bytes, seconds: float) -> str:
    """'ok', '529', or what went wrong, for one stream on its own connection."""
    try:
        async with asyncio.timeout(seconds):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(request)
                await writer.drain()
                data = await reader.read()  # Connection: close: the answer ends with EOF
            finally:
                writer.close()
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        return type(exc).__name__
    status = data[9:12].decode(errors="replace")
    if status == "200":
        return "ok" if b"event: message_stop" in data and b"event: error" not in data else "200-incomplete"
    if status == "529":
        clean = b"retry-after:" in data.lower() and b"overloaded_error" in data
        return "529" if clean else "529-unclean"
    message = data.partition(b'"message":"')[2].split(b'"', 1)[0].decode(errors="replace")[:60]
    return f"http-{status or 'none'} {message}".strip()


async def burst(port: int, request: bytes, n: int, seconds: float) -> tuple[Counter[str], float]:
    t0 = time.perf_counter()
    results = await asyncio.gather(*(one_stream(port, request, seconds) for _ in range(n)))
    return Counter(results), time.perf_counter() - t0


def log_rows(ctx: Ctx) -> int:
    with sqlite3.connect(ctx.tmp / "bench.sqlite3", timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM dashboard_requestlog").fetchone()[0])


def wait_rows(ctx: Ctx, want: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    rows = log_rows(ctx)
    while rows < want and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = log_rows(ctx)
    return rows


def idle_rss_mib(pid: int, settle: float) -> float:
    """VmRSS after ``settle`` seconds of quiet (the gateway trims its heap once idle)."""
    time.sleep(settle)
    return status_kib(pid, "VmRSS") / 1024


def stream_request(port: int, size: int = 0) -> bytes:
    raw, _ = build_request("127.0.0.1", port, "gateway", "stream", CLIENT_KEY, size)
    head, sep, body = raw.partition(b"\r\n\r\n")
    return head + b"\r\nConnection: close" + sep + body


def run_bursts(ctx: Ctx, sizes: list[int], settle: float, timeout: float, body_bytes: int = 0) -> dict[str, Any]:
    request = stream_request(ctx.gw_port, body_bytes)
    asyncio.run(burst(ctx.gw_port, request, 50, timeout))  # warm-up: imports, pools, caches
    rows = wait_rows(ctx, 50, 30)
    baseline = idle_rss_mib(ctx.gw_pid, settle)
    print(f"baseline idle RSS {baseline:.1f} MiB", flush=True)
    out: dict[str, Any] = {"baseline_rss_mib": round(baseline, 1), "bursts": []}
    for n in sizes:
        cpu0 = clock_cpu_s(ctx.gw_pid)
        counts, seconds = asyncio.run(burst(ctx.gw_port, request, n, timeout))
        cpu_ms = (clock_cpu_s(ctx.gw_pid) - cpu0) * 1000 / n  # the gateway's CPU per stream in the burst
        peak = status_kib(ctx.gw_pid, "VmHWM") / 1024
        served = counts["ok"] + counts["200-incomplete"]
        got = wait_rows(ctx, rows + served, 60) - rows
        rows += got
        after = idle_rss_mib(ctx.gw_pid, settle)
        other = {k: v for k, v in counts.items() if k not in ("ok", "529")}
        entry = {"streams": n, "ok": counts["ok"], "overloaded_529": counts["529"], "other": other,
                 "seconds": round(seconds, 2), "cpu_ms_per_stream": round(cpu_ms, 2), "log_rows": got,
                 "peak_rss_mib": round(peak, 1),
                 "idle_rss_after_mib": round(after, 1), "idle_rss_delta_mib": round(after - baseline, 1)}
        out["bursts"].append(entry)
        print(f"{n:5d} streams in {seconds:5.1f} s ({cpu_ms:.2f} ms CPU a stream): {counts['ok']} ok, "
              f"{counts['529']} clean 529, "
              f"other {other or 0}; {got} log rows; peak RSS {peak:.0f} MiB, idle after "
              f"{after:.1f} MiB ({after - baseline:+.1f})", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description="N simultaneous streams through one gateway process")
    ap.add_argument("--streams", default="1000,2000", help="comma-separated burst sizes, run in turn")
    ap.add_argument("--cap", type=int, default=0, help="MAX_INFLIGHT_REQUESTS (0: the gateway's default)")
    ap.add_argument("--backlog", type=int, default=4096, help="listen backlog for daphne's endpoint")
    ap.add_argument("--settle", type=float, default=4.0, help="seconds of quiet before reading idle RSS")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds one stream may take")
    ap.add_argument("--pymalloc", action="store_true",
                    help="keep Python's allocator (manage.py serve runs with PYTHONMALLOC=malloc)")
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE for the gateway (repeatable)")
    ap.add_argument("--app", default="", help="ASGI app (e.g. bench.whatif.memdump_asgi:application)")
    ap.add_argument("--body-bytes", type=int, default=0, help="request body size (0: the ~46 KB default)")
    ap.add_argument("--out", default=str(BENCH / "last_burst.json"))
    args = ap.parse_args()
    ctx = new_ctx(**({"app": args.app} if args.app else {}))
    ctx.env["LISTEN_BACKLOG"] = str(args.backlog)
    if args.pymalloc:  # else glibc's, as manage.py serve runs (GATEWAY_SYSTEM_MALLOC; harness.start_gateway)
        ctx.env["PYTHONMALLOC"] = "pymalloc"
    ctx.env.update(item.split("=", 1) for item in args.env)
    if args.cap:
        ctx.env["MAX_INFLIGHT_REQUESTS"] = str(args.cap)
    try:
        setup_db(ctx)
        ready = start_gateway(ctx)
        print(f"gateway ready in {ready:.2f} s on :{ctx.gw_port} (pid {ctx.gw_pid})", flush=True)
        out = run_bursts(ctx, [int(s) for s in args.streams.split(",") if s.strip()], args.settle, args.timeout,
                         args.body_bytes)
        if args.app:
            os.kill(ctx.gw_pid, signal.SIGUSR1)
            time.sleep(35)  # past the upstream pool's keepalive expiry
            os.kill(ctx.gw_pid, signal.SIGUSR1)
            time.sleep(3)
            print(ctx.logs["daphne"].read_text(errors="replace")[-20000:])
    finally:
        for p in reversed(ctx.procs):
            stop(p)
        shutil.rmtree(ctx.tmp, ignore_errors=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
