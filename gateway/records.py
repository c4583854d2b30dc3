"""What the request path reports, through one narrow interface: a record per client request (its
upstream attempts nested in it), per request the gateway refused itself, and per fallback.

Observability installs its sinks at start-up (dashboard/apps.py: queued, bulk-written log rows,
metrics and console lines; OpenTelemetry spans when OTEL_TRACES_ENABLED); the request path calls the
three functions below and imports nothing of them. Without a sink records are dropped. Sinks never
block: they queue.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from gateway.traffic import TRAFFIC


class RecordSink(Protocol):
    def request(self, *, client_name: str, fields: dict[str, Any]) -> None: ...

    def refusal(self, *, key_id: int | None, client_name: str, status: int, reason: str, endpoint: str) -> None: ...

    def fallback(self, *, fields: dict[str, Any]) -> None: ...


_sinks: tuple[RecordSink, ...] = ()  # one set per process, installed once by the observing app


def sink_install(sink: RecordSink) -> None:
    """Add a sink (idempotent per sink class, so a second ``ready()`` adds nothing)."""
    global _sinks
    _sinks = tuple(s for s in _sinks if type(s) is not type(sink)) + (sink,)


def sinks_installed() -> tuple[RecordSink, ...]:
    return _sinks


def request_log_record(*, client_name: str = "", **fields: Any) -> None:
    """One answered client request: what the client got, and its ``attempts`` (upstream calls, as
    dicts with provider, status, latency...). ``client_name`` labels metrics and console lines."""
    now = time.monotonic()
    for attempt in fields.get("attempts") or ():
        TRAFFIC.record(attempt.get("provider", ""), int(attempt.get("status", 0)), now)
    for sink in _sinks:
        sink.request(client_name=client_name, fields=fields)


def refusal_record(*, key_id: int | None, client_name: str, status: int, reason: str, endpoint: str) -> None:
    """A request the gateway refused itself (a key's rate limit or budget, 401, 408, 413, 529)."""
    for sink in _sinks:
        sink.refusal(key_id=key_id, client_name=client_name, status=status, reason=reason, endpoint=endpoint)


def fallback_event_record(**fields: Any) -> None:
    """A move to the next provider before the first byte (from_provider, to_provider, reason...)."""
    for sink in _sinks:
        sink.fallback(fields=fields)
