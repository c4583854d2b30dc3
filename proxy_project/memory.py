"""Give memory back to the OS when the gateway goes idle (glibc only; a no-op elsewhere).

A burst of large requests (Claude Code bodies are 100 KB to MBs) leaves freed memory in glibc's
heaps, and every worker thread gets a heap ("arena") of its own. Capping arenas at start-up and
calling malloc_trim once the gateway has been idle keeps an idle process near its start-up size.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

M_ARENA_MAX = -8


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018 - glibc only
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def arenas_limit(count: int = 2) -> None:
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_ARENA_MAX, count)


def trim() -> None:
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
