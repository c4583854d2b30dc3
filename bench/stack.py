"""``bench/run.py``'s cells for the whole stack: ``manage.py serve`` (as ``make run`` starts it) and the
PostgreSQL + Redis backends.

* ``serve_footprint``: ``manage.py serve`` (daphne in serve + a Celery worker with embedded beat) on a
  temp GATEWAY_HOME and the run's SQLite database; after warm-up and a few seconds idle, the PSS and
  RSS of every process of its tree (from /proc/<pid>/smaps_rollup). PSS splits shared pages among the
  processes that map them, so it adds up to what the tree really costs; RSS counts shared pages twice.
* ``pg_redis``: a fresh PostgreSQL database on the local server and an own ``redis-server`` (no
  persistence) on a free port, both removed afterwards.
* ``backend_cells``: the same cells (non-stream c=1/16, stream c=16) through a daphne per backend,
  each next to the direct call of the same round.
* ``web_process_cells``: ``manage.py serve --no-worker`` with 1 and with N web processes (SO_REUSEPORT)
  on PostgreSQL + Redis: throughput and CPU per request summed over the web processes.

Every process here is bounded (timeouts) and stopped in ``finally`` blocks; children of serve get
SIGTERM from the kernel if the bench dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import (
    PY,
    ROOT,
    Ctx,
    byte_compile,
    fake_stats,
    free_port,
    gw_cpu,
    http,
    load,
    noise_of,
    quiet_load,
    start_gateway,
)
from proc import clock_cpu_s, cmdline, memory_kib, tree_pids

PG_BASE = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432")
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:  # between fork and exec: SIGTERM when the bench exits, however it exits
    if _libc is not None:
        _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Served:
    """One ``manage.py serve`` tree."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    seen: set[int] = field(default_factory=set)  # every pid of its tree we saw (stopped by pid at the end)

    def pids(self) -> list[int]:
        pids = tree_pids(self.proc.pid) if self.proc.poll() is None else []
        self.seen.update(pids)
        return pids


def start_serve(ctx: Ctx, name: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                timeout: float = 60.0) -> Served:
    """``manage.py serve --host 127.0.0.1 --port <free> *args``; returns once GET /health answers 200."""
    port = free_port()
    log = ctx.tmp / f"{name}.log"
    ctx.logs[name] = log
    run_env = dict(env or ctx.env)
    run_env.setdefault("CELERY_BROKER_FOLDER", str(ctx.tmp / f"broker-{name}"))  # not the checkout's .celery/
    run_env.setdefault("ADMIN_PASSWORD", "bench-admin-not-secret")  # no generated password to show
    if cwd:
        run_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(cwd), run_env.get("PYTHONPATH", "")) if p)
    byte_compile(cwd or ROOT)  # as ``make run`` does first
    proc = subprocess.Popen(
        [PY, str((cwd or ROOT) / "manage.py"), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        cwd=cwd or ROOT, env=run_env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
        stdin=subprocess.DEVNULL, process_group=0, preexec_fn=_die_with_parent,
    )
    served = Served(name, proc, port, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve ({name}) exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        served.pids()
        with contextlib.suppress(OSError):
            if http("GET", f"http://127.0.0.1:{port}/health", timeout=1.0)[0] == 200:
                return served
        time.sleep(0.05)
    stop_serve(served)
    raise RuntimeError(f"serve ({name}) not healthy after {timeout:g} s:\n{log.read_text()[-3000:]}")


def stop_serve(served: Served, grace: float = 20.0) -> None:
    """SIGTERM serve (it stops its children: Celery's warm shutdown), then kill what is left, by pid."""
    served.pids()
    if served.proc.poll() is None:
        served.proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            served.proc.wait(timeout=grace)
    if served.proc.poll() is None:
        served.proc.kill()
        served.proc.wait(timeout=5)
    deadline = time.monotonic() + 5
    for pid in sorted(served.seen - {served.proc.pid}):
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def role(served: Served, pid: int) -> str:
    cmd = cmdline(pid)
    if pid == served.proc.pid:
        return "serve (daphne)"
    if "celery" in cmd:
        return "celery worker" if _ppid(pid) == served.proc.pid else "celery beat (worker's child)"
    if "edge_daphne" in cmd or "daphne" in cmd:
        return "web (daphne --fd)"
    return cmd[:60]


def _wait_tree(served: Served, count: int, timeout: float) -> list[int]:
    """Until the tree has ``count`` processes and its PSS is steady for a second (bounded)."""
    deadline = time.monotonic() + timeout
    last = -1
    while time.monotonic() < deadline:
        pids = served.pids()
        total = sum(memory_kib(p).get("Pss", 0) for p in pids)
        if len(pids) >= count and abs(total - last) < 1024:
            return pids
        last = total
        time.sleep(1.0)
    return served.pids()


def warm(ctx: Ctx, port: int, pids: dict[str, int], seconds: float) -> None:
    """Every API path once at 16 clients, then count_tokens."""
    saved = ctx.gw_port, ctx.gw_pid
    ctx.gw_port, ctx.gw_pid = port, 0
    try:
        for mode in ("nonstream", "stream"):
            load(ctx, "gateway", mode, 16, duration=seconds, warmup=0.3, cpu_pids=pids)
        load(ctx, "gateway", "count_tokens", 1, requests=5, warmup=0, cpu_pids=pids)
    finally:
        ctx.gw_port, ctx.gw_pid = saved


# --- the make-run footprint ----------------------------------------------------------------------


def serve_footprint(ctx: Ctx, *, warmup: float, idle: float = 5.0, name: str = "serve",
                    cwd: Path | None = None, args: tuple[str, ...] = ()) -> dict[str, Any]:
    """``manage.py serve`` as ``make run`` starts it (against the run's database): PSS/RSS per process
    after the worker ran a periodic task, a warm-up of every API path and ``idle`` seconds of quiet."""
    # The health check every 5 s instead of 60 (a new row; this database's first beat): the worker
    # runs its real periodic work during the cell, and the fake counting it says the worker is up.
    env = dict(ctx.env, HEALTH_CHECK_INTERVAL="5")
    models0 = fake_stats(ctx).get("models", 0)
    t0 = time.perf_counter()
    served = start_serve(ctx, name, *args, env=env, cwd=cwd)
    out: dict[str, Any] = {"name": name, "ready_s": time.perf_counter() - t0, "notes": [], "idle_s": idle}
    try:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and fake_stats(ctx).get("models", 0) <= models0:
            time.sleep(0.5)
        if fake_stats(ctx).get("models", 0) <= models0:
            out["notes"].append(f"{name}: the worker ran no health check within 45 s")
        out["worker_up_s"] = time.perf_counter() - t0
        warm(ctx, served.port, {"serve": served.proc.pid}, warmup)
        before = {pid: clock_cpu_s(pid) for pid in served.pids()}
        time.sleep(idle)  # the web process trims freed memory after about a second of quiet
        # idle CPU of the tree (ms per second): beat's ticks, the broker's polling, the web process's timers
        out["idle_cpu_ms_per_s"] = {role(served, pid): _cpu_delta(pid, t) * 1e3 / idle for pid, t in before.items()}
        pids = _wait_tree(served, 1, timeout=10)
        procs = []
        for pid in pids:
            m = memory_kib(pid)
            procs.append({"pid": pid, "role": role(served, pid), "pss_mib": m.get("Pss", 0) / 1024,
                          "rss_mib": m.get("Rss", 0) / 1024,
                          "private_mib": (m.get("Private_Clean", 0) + m.get("Private_Dirty", 0)) / 1024,
                          "threads": _threads(pid), "cmd": cmdline(pid)[:160]})
        out["processes"] = procs
        out["pss_mib"] = sum(p["pss_mib"] for p in procs)
        out["rss_mib"] = sum(p["rss_mib"] for p in procs)
    finally:
        stop_serve(served)
    print(f"  make-run footprint ({name}): PSS {out.get('pss_mib', 0):.1f} MiB, RSS {out.get('rss_mib', 0):.1f} MiB"
          f" in {len(out.get('processes', []))} processes: "
          + ", ".join(f"{p['role']} {p['pss_mib']:.1f}" for p in out.get("processes", [])), flush=True)
    return out


def _cpu_delta(pid: int, since: float) -> float:
    return clock_cpu_s(pid) - since  # the kernel's ns clock (NaN once the process is gone)


def _threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


# --- PostgreSQL + Redis --------------------------------------------------------------------------


def _psql(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


@dataclass(frozen=True)
class Backing:
    env: dict[str, str]  # DATABASE_URL, REDIS_URL
    redis_pid: int
    database: str


@contextlib.contextmanager
def pg_redis(ctx: Ctx) -> Iterator[Backing]:
    """A fresh PostgreSQL database and an own redis-server (no persistence); both gone afterwards."""
    db = f"gwbench_{os.getpid()}_{int(time.time())}"
    port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--daemonize", "no", "--loglevel", "warning"],
        stdout=open(ctx.tmp / "redis.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
        stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
    )
    created = False
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    break
            if redis.poll() is not None:
                raise RuntimeError(f"redis-server exited: {(ctx.tmp / 'redis.log').read_text()[-1000:]}")
            time.sleep(0.05)
        _psql(f'CREATE DATABASE "{db}"')
        created = True
        print(f"PostgreSQL database {db}, redis-server on :{port}", flush=True)
        yield Backing({"DATABASE_URL": f"{PG_BASE}/{db}", "REDIS_URL": f"redis://127.0.0.1:{port}/0"}, redis.pid, db)
    finally:
        if created:
            try:
                _psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            except Exception as exc:  # noqa: BLE001 - report, never hide the run's own error
                print(f"could not drop database {db}: {exc}", flush=True)
        if redis.poll() is None:
            redis.terminate()
            try:
                redis.wait(timeout=5)
            except subprocess.TimeoutExpired:
                redis.kill()
                redis.wait(timeout=5)


def start_gateway_env(ctx: Ctx, env: dict[str, str], name: str) -> tuple[int, int]:
    """Another daphne (as run.py's) on ``env``; ctx's current gateway stays what it was. (port, pid)"""
    saved = ctx.gw_port, ctx.gw_pid
    try:
        ready = start_gateway(ctx, env=env, name=name)
        print(f"{name} ready on :{ctx.gw_port} in {ready:.2f} s (pid {ctx.gw_pid})", flush=True)
        return ctx.gw_port, ctx.gw_pid
    finally:
        ctx.gw_port, ctx.gw_pid = saved


BACKEND_CELLS = (("nonstream", 1), ("nonstream", 16), ("stream", 16))


def backend_cells(ctx: Ctx, gateways: dict[str, tuple[int, int, dict[str, int]]], *, duration: float,
                  warmup: float) -> list[dict[str, Any]]:
    """Each cell: the direct call, then every backend's daphne (``gateways``: name -> (port, pid, the
    backend's own processes, e.g. {"backend-redis": pid})). SQLite runs are re-run while foreign
    load is high; PostgreSQL + Redis runs are not: PostgreSQL's server processes (a backend forked
    per connection, DB_CONN_MAX_AGE=0) are part of that cell's "other" CPU."""
    saved = ctx.gw_port, ctx.gw_pid
    cells = []
    try:
        for mode, c in BACKEND_CELLS:
            ctx.gw_port, ctx.gw_pid = 0, 0
            cell: dict[str, Any] = {"mode": mode, "concurrency": c,
                                    "direct": load(ctx, "direct", mode, c, duration=duration, warmup=warmup)}
            for name, (port, pid, extra) in gateways.items():
                ctx.gw_port, ctx.gw_pid = port, pid
                if extra:
                    cell[name] = load(ctx, "gateway", mode, c, duration=duration, warmup=warmup,
                                      cpu_pids={"gateway": pid, **extra})
                else:
                    cell[name] = quiet_load(ctx, "gateway", mode, c, duration=duration, warmup=warmup)
            cells.append(cell)
    finally:
        ctx.gw_port, ctx.gw_pid = saved
    return cells


WEB_CELLS = (("nonstream", 16), ("nonstream", 64), ("stream", 64))


def web_process_cells(ctx: Ctx, env: dict[str, str], counts: tuple[int, ...], *, duration: float,
                      warmup: float, extra_pids: dict[str, int] | None = None
                      ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``manage.py serve --no-worker --processes N`` for each N in ``counts`` (all up at once, idle
    ones cost nothing), each cell next to the direct call; CPU summed over each tree's web processes.
    One run per cell (PostgreSQL's CPU counts as "other": no re-runs on noise)."""
    served: dict[int, Served] = {}
    web: dict[int, dict[str, int]] = {}
    info: dict[str, Any] = {}
    cells = []
    saved = ctx.gw_port, ctx.gw_pid
    try:
        for n in counts:
            t0 = time.perf_counter()
            s = served[n] = start_serve(ctx, f"serve-web{n}", "--no-worker", "--processes", str(n),
                                        env=dict(env, WEB_PROCESSES=str(n)))
            pids = _wait_tree(s, n, timeout=30)
            if len(pids) != n:
                raise RuntimeError(f"serve --processes {n}: {len(pids)} processes ({pids})")
            web[n] = {f"web{i + 1}": pid for i, pid in enumerate(pids)}
            info[f"ready_{n}_s"] = time.perf_counter() - t0
            warm(ctx, s.port, web[n], warmup)
        for mode, c in WEB_CELLS:
            ctx.gw_port, ctx.gw_pid = 0, 0
            cell: dict[str, Any] = {"mode": mode, "concurrency": c,
                                    "direct": load(ctx, "direct", mode, c, duration=duration, warmup=warmup)}
            for n in counts:
                ctx.gw_port, ctx.gw_pid = served[n].port, 0
                r = load(ctx, "gateway", mode, c, duration=duration, warmup=warmup,
                         cpu_pids={**web[n], **(extra_pids or {})})
                r["web_share"] = _shares(r)
                cell[f"web{n}"] = r
            cells.append(cell)
    finally:
        ctx.gw_port, ctx.gw_pid = saved
        for s in served.values():
            stop_serve(s)
    return cells, info


def _shares(r: dict[str, Any]) -> list[float]:
    """Each web process's part of the CPU (how evenly SO_REUSEPORT spread the connections)."""
    vals = [c["clock_s"] for n, c in r["cpu"].items() if n.startswith("web")]
    total = sum(vals)
    return [v / total for v in vals] if total > 0 else []


# --- report --------------------------------------------------------------------------------------


def _f(v: float | None, nd: int = 2) -> str:
    return "-" if v is None else f"{v:.{nd}f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def print_footprints(items: list[dict[str, Any]]) -> None:
    for fp in items:
        print(f"make-run footprint '{fp['name']}' (manage.py serve, SQLite, embedded worker + beat; ready"
              f" {_f(fp.get('ready_s'), 1)} s, worker's first task after {_f(fp.get('worker_up_s'), 1)} s)")
        for p in fp.get("processes", []):
            print(f"  {p['role']:30s} pid {p['pid']:<7d} PSS {p['pss_mib']:7.1f} MiB  RSS {p['rss_mib']:7.1f} MiB"
                  f"  private {p['private_mib']:6.1f} MiB  {p['threads']:3d} threads")
        print(f"  {'sum':30s} {'':11s} PSS {fp.get('pss_mib', 0):7.1f} MiB  RSS {fp.get('rss_mib', 0):7.1f} MiB")
        idle = fp.get("idle_cpu_ms_per_s", {})
        if idle:
            print(f"  idle CPU over the {_f(fp.get('idle_s'), 0)} s before (ms per s): "
                  + ", ".join(f"{k} {_f(v)}" for k, v in idle.items()))


def _backend_ms(r: dict[str, Any], name: str) -> float | None:
    v = r["cpu"].get(name, {}).get("clock_ms_per_req")
    return float(v) if v is not None else None


def _pg_estimate(g: dict[str, Any], sqlite: dict[str, Any] | None) -> float | None:
    """PostgreSQL ms/request, estimated: the cell's "other" cores above the SQLite run's of the same
    round (that one had no database server working for it), per request."""
    if sqlite is None or not g.get("rps"):
        return None
    return max(0.0, (noise_of(g) or 0.0) - (noise_of(sqlite) or 0.0)) * 1e3 / g["rps"]


def print_backends(cells: list[dict[str, Any]], names: list[str]) -> None:
    print("Backends: the same gateway on each database/cache, next to the direct call of the same cell;"
          " x = gateway / direct. CPU = the gateway process; other = other processes' cores (for pg-redis"
          " PostgreSQL's too); redis = redis-server ms/req; pg~ = (other - sqlite's other) per request")
    head = f"{'cell':14s} {'direct rps':>10s}"
    for n in names:
        head += f" | {n:8s} {'rps':>6s} {'x':>6s} {'p50 x':>6s} {'CPU ms':>6s} {'other':>5s}"
        if n != "sqlite":
            head += f" {'redis':>5s} {'pg~':>5s}"
    print(head + (f" | {'CPU ' + names[-1] + '/' + names[0]}" if len(names) > 1 else ""))
    for cell in cells:
        d = cell["direct"]
        line = f"{cell['mode'] + ' c=' + str(cell['concurrency']):14s} {d['rps']:10.0f}"
        for n in names:
            g = cell[n]
            line += (f" | {'':8s} {g['rps']:6.0f} {_f(_ratio(g['rps'], d['rps']), 4):>6s}"
                     f" {_f(_ratio(g['lat_p50_ms'], d['lat_p50_ms']), 1):>6s} {_f(gw_cpu(g)):>6s}"
                     f" {_f(noise_of(g)):>5s}" + ("*" if g.get("noisy") else ""))
            if n != "sqlite":
                line += f" {_f(_backend_ms(g, 'backend-redis')):>5s} {_f(_pg_estimate(g, cell.get('sqlite'))):>5s}"
        if len(names) > 1:
            line += f" | {_f(_ratio(gw_cpu(cell[names[-1]]), gw_cpu(cell[names[0]])))}"
        print(line)
    print("  (* noisy: the SQLite run's other processes used > 0.5 cores even in the quietest re-run)")


def print_web(cells: list[dict[str, Any]], counts: tuple[int, ...]) -> None:
    print("Web processes (manage.py serve --no-worker, PostgreSQL + Redis): rps, rps / direct,"
          " CPU ms/request summed over the web processes; share = each process's part of that CPU")
    for cell in cells:
        d = cell["direct"]
        line = f"{cell['mode'] + ' c=' + str(cell['concurrency']):14s} direct {d['rps']:8.0f} rps |"
        for n in counts:
            g = cell[f"web{n}"]
            share = "/".join(f"{s:.2f}" for s in g.get("web_share", []))
            line += (f" {n} proc: {g['rps']:6.1f} rps ({_f(_ratio(g['rps'], d['rps']), 4)}) CPU {_f(gw_cpu(g))} ms"
                     f" share {share} other {_f(noise_of(g))} redis {_f(_backend_ms(g, 'backend-redis'))} ms |")
        first, last = cell[f"web{counts[0]}"], cell[f"web{counts[-1]}"]
        line += (f" {counts[-1]}/{counts[0]}: rps {_f(_ratio(last['rps'], first['rps']))}"
                 f" CPU {_f(_ratio(gw_cpu(last), gw_cpu(first)))}")
        print(line)

