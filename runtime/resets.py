"""One reset hook per piece of per-process state, and ``reset_all()`` for the tests.

A module that keeps state for the life of the process (a cache, a queue, an outage flag) adds its
reset function here when it is imported (``resets.register(fn)``, usable as a decorator), so the
test fixtures call ``reset_all()`` instead of reaching into private names. A module never
imported has nothing to reset. Hooks run in registration order, so lower layers reset first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

Hook = TypeVar("Hook", bound=Callable[[], object])

_hooks: dict[Callable[[], object], None] = {}  # the registry itself (ordered, no duplicates): one per process


def register(hook: Hook) -> Hook:
    """Add ``hook`` (a function or a bound method such as ``CACHE.clear``); adding it twice is a no-op."""
    _hooks.setdefault(hook, None)
    return hook


def registered() -> tuple[str, ...]:
    """The hooks' names, in the order ``reset_all`` runs them."""
    return tuple(_name(hook) for hook in _hooks)


def _name(hook: Callable[[], object]) -> str:
    owner: Any = getattr(hook, "__self__", None)
    if hasattr(owner, "__qualname__"):  # a method of a function object, such as an lru_cache's cache_clear
        return f"{owner.__module__}.{owner.__qualname__}.{getattr(hook, '__name__', '?')}"
    return f"{getattr(hook, '__module__', '?')}.{getattr(hook, '__qualname__', repr(hook))}"


def reset_all() -> None:
    """Forget every registered piece of per-process state (tests)."""
    for hook in list(_hooks):
        hook()


__all__ = ["register", "registered", "reset_all"]
