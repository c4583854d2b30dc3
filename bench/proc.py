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
