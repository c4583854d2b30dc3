"""Recent upstream outcomes per provider in this process: the traffic part of /health.

Fed with every upstream attempt by gateway/records.py; read by gateway/health.py.
"""

from __future__ import annotations

from collections import deque

from runtime import resets


def attempt_failed(status: int) -> bool:
    """What counts against a provider's health: no answer, a 5xx, or a refused credential.
    A 429 is the breaker's (cooling down), a client's 4xx and a hang-up (499) are not the provider's."""
    return status == 0 or (status >= 500) or status in (401, 403)


class Traffic:
    """The last outcomes per provider in this process (bounded: SAMPLES each)."""

    SAMPLES = 200

    def __init__(self) -> None:
        self.outcomes: dict[str, deque[tuple[float, bool]]] = {}

    def record(self, provider: str, status: int, now: float) -> None:
        if not provider:
            return
        queue = self.outcomes.get(provider)
        if queue is None:
            queue = self.outcomes[provider] = deque(maxlen=self.SAMPLES)
        queue.append((now, attempt_failed(status)))

    def rates(self, *, window: float, now: float) -> dict[str, tuple[int, int]]:
        """Per provider: (calls, failed calls) in the last ``window`` seconds."""
        out = {}
        for provider, queue in self.outcomes.items():
            recent = [failed for when, failed in queue if when >= now - window]
            if recent:
                out[provider] = (len(recent), sum(recent))
        return out

    def clear(self) -> None:
        self.outcomes.clear()


TRAFFIC = Traffic()  # one per process: reset for tests by runtime.resets.reset_all()
resets.register(TRAFFIC.clear)
