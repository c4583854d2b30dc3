"""The gateway's application with a SIGUSR1 memory report on stderr (a measurement aid only):
object counts by type, obmalloc arena stats, then malloc_trim and VmRSS before/after."""

from __future__ import annotations

import collections
import gc
import signal
import sys
from typing import Any

from proxy_project.asgi import application  # noqa: F401 - served by daphne
from runtime import memory


def _rss() -> str:
    with open("/proc/self/status") as f:
        return next(line.strip() for line in f if line.startswith("VmRSS"))


def _report(signum: int, frame: Any) -> None:
    print("MEMDUMP before gc", _rss(), "gc counts", gc.get_count(), file=sys.stderr)
    memory.trim()
    print("MEMDUMP trim without gc", _rss(), file=sys.stderr)
    gc.set_debug(gc.DEBUG_SAVEALL)
    print("MEMDUMP collected", gc.collect(), file=sys.stderr)
    garbage = collections.Counter(type(o).__qualname__ for o in gc.garbage)
    print("MEMDUMP garbage", garbage.most_common(30), file=sys.stderr)
    gc.garbage.clear()
    gc.set_debug(0)
    counts = collections.Counter(type(o).__name__ for o in gc.get_objects())
    print("MEMDUMP", _rss(), "objects", sum(counts.values()), counts.most_common(25), file=sys.stderr)
    sys._debugmallocstats()
    memory.trim()
    print("MEMDUMP after trim", _rss(), file=sys.stderr, flush=True)


signal.signal(signal.SIGUSR1, _report)
