"""The bench's process plumbing, shared by run.py, compare.py, burst.py and stack.py: the fake
upstream and the gateway as processes, the load generator's runs, and the CPU readings of a run."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

PY = sys.executable
CLIENT_KEY = "sk-gw-bench-0000"
UPSTREAM_KEY = "sk-bench-fake"
NOISE_LIMIT = 0.5  # foreign load (cores) above which a cell is re-run, then marked "noisy"
NOISE_RERUNS = 2


@dataclass
class Ctx:
    """Everything a scenario (or a routing hook) may need."""

    tmp: Path
    env: dict[str, str]
    fake_port: int
    fake_pid: int
    gw_port: int = 0
    gw_pid: int = 0
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    app: str = "proxy_project.asgi:application"


# --- process plumbing ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def manage(ctx: Ctx, *args: str, timeout: float = 120.0, env: dict[str, str] | None = None) -> str:
    res = subprocess.run(
        [PY, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env or ctx.env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if res.returncode != 0:
        raise RuntimeError(
            f"manage.py {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
        )
    return res.stdout


def start_fake(tmp: Path, max_seconds: float) -> tuple[subprocess.Popen[bytes], int]:
    log = open(tmp / "fake.err", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [PY, str(BENCH / "fake_upstream.py"), "--port", "0", "--max-seconds", str(max_seconds)],
        stdout=subprocess.PIPE,
        stderr=log,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line.startswith("LISTENING "):
        proc.kill()
        raise RuntimeError(f"fake upstream did not start: {line!r} {(tmp / 'fake.err').read_text()}")
    return proc, int(line.split()[1])


def http(method: str, url: str, body: bytes | None = None, timeout: float = 2.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def byte_compile(tree: Path) -> None:
    """As ``make run`` does before it starts the gateway (the bench's processes run with
    PYTHONDONTWRITEBYTECODE, so this is what writes ``tree``'s .pyc; older trees get it too)."""
    make = (tree / "Makefile").read_text() if (tree / "Makefile").exists() else ""
    found = re.search(r"^PACKAGES := (.+)$", make, re.MULTILINE)
    packages = found.group(1).split() if found else [p.parent.name for p in tree.glob("*/__init__.py")]
    subprocess.run([PY, "-m", "compileall", "-q", *packages], cwd=tree, stdout=subprocess.DEVNULL, check=False,
                   timeout=120)


def start_gateway(
    ctx: Ctx,
    timeout: float = 30.0,
    *,
    app: str | None = None,
    env: dict[str, str] | None = None,
    name: str = "daphne",
    cwd: Path | None = None,
) -> float:
    """Spawn daphne (it becomes ctx's current gateway); return seconds from spawn to the first 200 on GET /health.

    It runs with glibc's allocator, as ``manage.py serve`` runs it (``GATEWAY_SYSTEM_MALLOC``, on by
    default), unless the environment names one (``PYTHONMALLOC=pymalloc``: compare.py's variant)."""
    ctx.gw_port = free_port()
    env = dict(env or ctx.env)
    env.setdefault("PYTHONMALLOC", "malloc")
    byte_compile(cwd or ROOT)
    log_path = ctx.tmp / f"{name}.log"
    ctx.logs[name] = log_path
    log = open(log_path, "wb")  # noqa: SIM115 - lives as long as the process
    # the gateway's daphne entry point, as ``manage.py serve`` runs it (plain daphne in older trees)
    server = "proxy_project.edge_daphne" if ((cwd or ROOT) / "proxy_project/edge_daphne.py").exists() else "daphne"
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        # -v 0: no access log, and ``-e`` with a backlog, as ``manage.py serve`` runs it
        [PY, "-m", server, "-v", "0", "-e", f"tcp:port={ctx.gw_port}:interface=127.0.0.1:backlog="
         f"{env.get('LISTEN_BACKLOG', '4096')}", app or ctx.app],
        cwd=cwd or ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    ctx.procs.append(proc)
    ctx.gw_pid = proc.pid
    url = f"http://127.0.0.1:{ctx.gw_port}/health"
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            status, _ = http("GET", url, timeout=1.0)
            if status == 200:
                return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(0.005)
    raise RuntimeError(f"gateway not healthy after {timeout}s:\n{log_path.read_text()[-3000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def load(
    ctx: Ctx,
    target: str,
    mode: str,
    concurrency: int,
    *,
    duration: float = 0.0,
    requests: int = 0,
    warmup: float = 1.0,
    body_bytes: int = 0,
    cpu_pids: dict[str, int] | None = None,
) -> dict[str, Any]:
    """One load.py run against the current gateway (or the fake). ``cpu_pids``: the processes whose
    CPU is read instead of ctx.gw_pid's (e.g. every web process of ``manage.py serve``)."""
    via_gateway = target.startswith("gateway")  # "gateway" (Anthropic dialect) or "gateway-openai"
    port = ctx.gw_port if via_gateway else ctx.fake_port
    key = CLIENT_KEY if via_gateway else UPSTREAM_KEY
    cmd = [PY, str(BENCH / "load.py"), "--port", str(port), "--target", target, "--mode", mode]
    cmd += [
        "-c",
        str(concurrency),
        "--warmup",
        str(warmup),
        "--api-key",
        key,
        "--cpu-pid",
        f"fake={ctx.fake_pid}",
        "--body-bytes",
        str(body_bytes),
    ]
    for name, pid in (cpu_pids or ({"gateway": ctx.gw_pid} if ctx.gw_pid else {})).items():
        cmd += ["--cpu-pid", f"{name}={pid}"]
    cmd += ["--requests", str(requests), "--max-seconds", "90"] if requests else ["--duration", str(duration)]
    upstream0 = fake_stats(ctx)["requests"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + warmup + 120)
    if res.returncode != 0:
        raise RuntimeError(f"load.py failed: {' '.join(cmd)}\n{res.stderr[-3000:]}")
    out: dict[str, Any] = json.loads(res.stdout)
    # Sanity: every gateway request must have reached the fake upstream exactly once.
    out["upstream_requests"] = fake_stats(ctx)["requests"] - upstream0
    sent = out["requests"] + out["warmup_requests"]
    if via_gateway and mode != "count_tokens" and out["upstream_requests"] != sent:
        ctx.notes.append(
            f"{mode} c={concurrency}: load generator completed {sent} gateway requests, "
            f"upstream saw {out['upstream_requests']}"
        )
    tag = f"{target:7s} {mode:12s} c={concurrency:<3d}"
    cpu = {"stat_ms_per_req": web_cpu(out, "stat_ms_per_req")} if via_gateway else out["cpu"].get("fake", {})
    print(
        f"  {tag} {out['requests']:6d} req {out['rps']:8.1f} rps  p50 {out['lat_p50_ms']:7.2f} ms"
        f"  p99 {out['lat_p99_ms']:7.2f} ms  cpu {fmt(cpu.get('stat_ms_per_req'), 3)} ms/req"
        + (f"  ERRORS {out['errors']}: {out['error_samples'][:1]}" if out["errors"] else ""),
        flush=True,
    )
    return out


def fake_stats(ctx: Ctx) -> dict[str, Any]:
    _, body = http("GET", f"http://127.0.0.1:{ctx.fake_port}/_fake/stats")
    stats: dict[str, Any] = json.loads(body)
    return stats


def set_gap(ctx: Ctx, gap_ms: float, chunks: int = 20) -> None:
    """Pace the fake's streams: one chunk every ``gap_ms`` (0: all at once), ``chunks`` per stream."""
    http(
        "POST",
        f"http://127.0.0.1:{ctx.fake_port}/_fake/config",
        json.dumps({"chunk_gap_ms": gap_ms, "chunks": chunks}).encode(),
    )


def new_ctx(settings: str = "proxy_project.settings", app: str = "proxy_project.asgi:application") -> Ctx:
    """A temp dir, the fake upstream running, and the gateway's environment (nothing else started)."""
    tmp = Path(tempfile.mkdtemp(prefix="gwbench-"))
    fake, fake_port = start_fake(tmp, max_seconds=900)
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE=settings,
        DATABASE_URL=f"sqlite:///{tmp}/bench.sqlite3",
        GATEWAY_HOME=str(tmp / "home"),  # generated keys: shared by every gateway (and tree) of the run
        SECRET_KEY="bench-not-secret",
        PREFERRED_PROVIDER="openai",
        OPENAI_BASE_URL=f"http://127.0.0.1:{fake_port}/v1",
        OPENAI_API_KEY=UPSTREAM_KEY,
        BIG_MODEL="gpt-bench",
        MIDDLE_MODEL="gpt-bench",
        SMALL_MODEL="gpt-bench",
        PYTHONDONTWRITEBYTECODE="1",
    )
    ctx = Ctx(tmp=tmp, env=env, fake_port=fake_port, fake_pid=fake.pid, app=app)
    ctx.procs.append(fake)
    return ctx


def setup_db(ctx: Ctx, env: dict[str, str] | None = None) -> None:
    """The lead's contract: migrate, seed from the environment, one known client key."""
    manage(ctx, "migrate", "--noinput", env=env)
    manage(ctx, "seed", env=env)
    manage(ctx, "create_client_key", "bench", "--key", CLIENT_KEY, env=env)


def serve_for(ctx: Ctx, seconds: float) -> None:
    """Keep the fake upstream and the gateway up (bounded) and say how to load and profile them."""
    seconds = min(seconds, 1800.0)
    lg = f"{PY} {BENCH / 'load.py'} --port {ctx.gw_port} --target gateway --cpu-pid gateway={ctx.gw_pid}"
    print(f"serving for {seconds:g} s. Examples:")
    print(f"  {lg} --mode nonstream -c 16 --duration 20")
    print(f"  {ROOT / '.venv/bin/py-spy'} record --pid {ctx.gw_pid} --gil -r 250 -d 10 -f raw -o /tmp/gw.txt")
    print(f"  {PY} {BENCH / 'flame_summary.py'} /tmp/gw.txt", flush=True)
    time.sleep(seconds)


def fmt(v: float | None, nd: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{nd}f}"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def web_cpu(r: dict[str, Any], key: str = "clock_ms_per_req") -> float | None:
    """CPU ms/request summed over the gateway's processes (every --cpu-pid but the fake and load.py)."""
    vals = [c.get(key, c.get("stat_ms_per_req")) for n, c in r["cpu"].items()
            if n not in ("fake", "loadgen") and not n.startswith("backend-")]  # backend-redis: not the gateway
    if not vals or any(v is None for v in vals):
        return None
    return float(sum(vals))


def gw_cpu(r: dict[str, Any]) -> float | None:
    """Gateway CPU ms/request by the kernel's ns clock (stat ticks are 10 ms: too coarse for few requests),
    summed over its web processes when there are several."""
    return web_cpu(r, "clock_ms_per_req")


def noise_of(r: dict[str, Any] | None) -> float | None:
    return float(r["machine"]["other_cores"]) if r and "machine" in r else None


def quiet_load(ctx: Ctx, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """``load`` re-run (at most NOISE_RERUNS times) while foreign load exceeds NOISE_LIMIT; the
    quietest run is kept and marked ``noisy`` if even that one was above the limit."""
    best = load(ctx, *args, **kwargs)
    for _ in range(NOISE_RERUNS):
        if (noise_of(best) or 0.0) <= NOISE_LIMIT:
            break
        again = load(ctx, *args, **kwargs)
        if (noise_of(again) or 0.0) < (noise_of(best) or 0.0):
            best = again
    best["noisy"] = (noise_of(best) or 0.0) > NOISE_LIMIT
    return best


