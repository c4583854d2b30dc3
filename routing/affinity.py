"""Per-process session affinity and round-robin turns (cheap in-memory state, bounded)."""

from __future__ import annotations

import time
from collections import OrderedDict

from django.conf import settings

from runtime import resets

MAX_SESSIONS = 20_000
_sessions: OrderedDict[str, tuple[float, tuple[str, str]]] = OrderedDict()
_turns: dict[str, int] = {}


def affinity_get(session_id: str) -> tuple[str, str] | None:
    if not session_id:
        return None
    hit = _sessions.get(session_id)
    if hit is None:
        return None
    if time.monotonic() - hit[0] > settings.SESSION_AFFINITY_TTL:
        _sessions.pop(session_id, None)
        return None
    return hit[1]


def affinity_set(session_id: str, provider: str, model: str) -> None:
    if not session_id:
        return
    _sessions[session_id] = (time.monotonic(), (provider, model))
    _sessions.move_to_end(session_id)
    while len(_sessions) > MAX_SESSIONS:
        _sessions.popitem(last=False)


def next_turn(group: str) -> int:
    turn = _turns.get(group, 0)
    _turns[group] = turn + 1
    return turn


@resets.register
def affinity_clear() -> None:
    _sessions.clear()
    _turns.clear()
