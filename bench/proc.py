"""Per-process CPU and memory from /proc (Linux).

``stat_s`` is utime+stime from ``/proc/<pid>/stat`` (all threads, clock-tick resolution, usually
10 ms); ``clock_s`` is the kernel's per-process CPU clock (``clock_gettime`` on the process's CPU
clock id, nanosecond resolution). Both count every thread of the process.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class CpuSample:
    stat_s: float
    clock_s: float


def stat_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        raw = f.read()
    fields = raw[raw.rfind(")") + 2 :].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15 (1-based, man 5 proc)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def clock_cpu_s(pid: int) -> float:
    """CPU seconds of a whole process via its CPU-time clock id (MAKE_PROCESS_CPUCLOCK(pid, SCHED))."""
    clock_id = ((~pid) << 3) | 2
    try:
        return time.clock_gettime(clock_id)
    except OSError:
        return float("nan")


def cpu_sample(pid: int) -> CpuSample:
    return CpuSample(stat_cpu_s(pid), clock_cpu_s(pid))


def status_kib(pid: int, key: str) -> int:
    """A ``kB`` field of /proc/<pid>/status, e.g. VmRSS or VmHWM."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def system_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from the first line of /proc/stat."""
    with open("/proc/stat") as f:
        parts = f.readline().split()
    vals = [int(v) for v in parts[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
    total = sum(vals[:8])  # guest time is already counted in user/nice
    return (total - idle) / CLK_TCK, total / CLK_TCK


def wakeup_us(gap_ms: float, count: int = 100, rounds: int = 3) -> float:
    """CPU µs this process spends per wake-up when one byte arrives alone every ``gap_ms`` (a
    forked child writes it into a socketpair; here a selector waits and reads it; median of
    ``rounds``). What a host charges for waking a sleeping process, caches gone cold, with almost
    no work done: the floor under a paced chunk (seen: 20 µs at 1 ms gaps, 100 µs at 10 ms on one
    2-core VM). Compare paced-chunk CPU across hosts in these units."""
    import selectors
    import socket
    import statistics

    per: list[float] = []
    for _ in range(rounds):
        here, there = socket.socketpair()
        pid = os.fork()
        if pid == 0:  # the child: a byte every gap, then exit
            here.close()
            try:
                for _ in range(count):
                    time.sleep(gap_ms / 1000)
                    there.send(b"x")
            finally:
                os._exit(0)
        there.close()
        sel = selectors.DefaultSelector()
        sel.register(here, selectors.EVENT_READ)
        got = 0
        t0 = time.process_time()
        while got < count and sel.select(timeout=1.0):
            chunk = here.recv(4096)
            if not chunk:
                break
            got += len(chunk)
        cpu = time.process_time() - t0
        sel.close()
        here.close()
        os.waitpid(pid, 0)
        per.append(cpu / max(got, 1) * 1e6)
    return statistics.median(per)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        return ""


def calibrate_ms(rounds: int = 3) -> float:
    """CPU ms of a fixed pure-Python workload (best of ``rounds``): a yardstick for how fast this
    machine runs Python right now, to compare runs taken under different background load."""
    import json

    data = {f"k{i}": [i, str(i) * 3, {"x": i / 7}] for i in range(2000)}
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        for _ in range(20):
            json.loads(json.dumps(data))
            sorted(data, key=lambda k: k[::-1])
        best = min(best, time.process_time() - t0)
    return best * 1e3


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc/<pid>/task/*/children), parents first."""
    out, i = [pid], 0
    while i < len(out):
        try:
            tasks = os.listdir(f"/proc/{out[i]}/task")
        except OSError:
            tasks = []
        for tid in tasks:
            try:
                with open(f"/proc/{out[i]}/task/{tid}/children") as f:
                    out += [c for c in map(int, f.read().split()) if c not in out]
            except OSError:
                pass
        i += 1
    return out


def memory_kib(pid: int) -> dict[str, int]:
    """Rss, Pss, Private_* and Shared_* (kB) from /proc/<pid>/smaps_rollup; {} once the process is gone.
    PSS shares each page among the processes that map it, so PSS values add up across a tree."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            lines = f.readlines()
    except OSError:
        return {}
    out: dict[str, int] = {}
    for line in lines[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
            out[parts[0][:-1]] = int(parts[1])
    return out


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""
