"""Per-process session affinity and round-robin turns (cheap in-memory state, bounded)."""

from __future__ import annotations

from django.conf import settings

from runtime import resets
from runtime.ttlcache import MISS, TTLCache

MAX_SESSIONS = 20_000
# session id -> the (provider, model) that last answered it, for SESSION_AFFINITY_TTL seconds
_sessions: TTLCache[str, tuple[str, str]] = TTLCache(lambda: settings.SESSION_AFFINITY_TTL, maxsize=MAX_SESSIONS)
_turns: dict[str, int] = {}  # round-robin group -> the next turn (one entry per tier or route)


def affinity_get(session_id: str) -> tuple[str, str] | None:
    if not session_id:
        return None
    hit = _sessions.get(session_id)
    return None if hit is MISS else hit


def affinity_set(session_id: str, provider: str, model: str) -> None:
    if session_id:
        _sessions.set(session_id, (provider, model))


def next_turn(group: str) -> int:
    turn = _turns.get(group, 0)
    _turns[group] = turn + 1
    return turn


@resets.register
def affinity_clear() -> None:
    _sessions.clear()
    _turns.clear()
