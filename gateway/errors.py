"""Anthropic-shaped error answers, and the mapping of transport failures to them.

The status for an error type an upstream reports (in a stream or a 200 body) comes from the one
table in providers/adapters/openai_compat/errors.py: ``status_for_type``, re-exported here."""

from __future__ import annotations

import httpx
from django.conf import settings

from providers.adapters.base import AdapterError, dumps, error_object
from providers.adapters.openai_compat.errors import status_for_type as status_for_type  # the one table
from runtime.looplag import LagMeter, lag_meter

POOL_RETRY_AFTER = 1.0  # our own pool frees up as soon as a request finishes
STALL_SHARE = 0.25  # a connect window the loop spent this much of stalled is not the peer's fault


class GatewayError(AdapterError):
    """A failure of the gateway itself (its pool or event loop saturated): never a provider's."""


def error_body(error_type: str, message: str) -> bytes:
    return dumps(error_object(error_type, message))


def transport_error(exc: Exception, *, started: float | None = None) -> AdapterError:
    """An httpx failure as a provider error, or as the gateway's own (never echoes request data).

    ``started`` is the attempt's ``loop.time()``. Rules:
    - PoolTimeout: every upstream connection of this process is busy. Another candidate would
      wait on the same pool, so no fallback: a clean 529 with retry-after, never counted.
    - ConnectTimeout while the event loop was stalled for STALL_SHARE of the connect window or
      more (runtime/looplag.py): the handshake may have completed unseen, so it falls
      back like any timeout but is not counted against the provider.
    - every other timeout or connection error (refused, reset) is the provider's.
    """
    name = type(exc).__name__
    if isinstance(exc, httpx.PoolTimeout):
        return GatewayError("the gateway is at its upstream connection limit; retry shortly", status=529,
                            error_type="overloaded_error", retry_after=POOL_RETRY_AFTER)
    if isinstance(exc, httpx.ConnectTimeout) and started is not None and _loop_stalled(started):
        return GatewayError(f"upstream connect timed out while the gateway was overloaded ({name})", status=504,
                            retryable=True, error_type="timeout_error")
    if isinstance(exc, httpx.TimeoutException):
        return AdapterError(f"upstream timed out ({name})", status=504, retryable=True, error_type="timeout_error")
    return AdapterError(f"upstream connection failed ({name})", status=502, retryable=True, error_type="api_error")


def _loop_stalled(started: float) -> bool:
    return lag_meter().stalled_since(started) >= settings.CONNECT_TIMEOUT * STALL_SHARE


class ConnectWindow:
    """An upstream attempt until its response headers arrive (a wait for a free connection, then
    the connect): the only time a stall changes how a timeout counts, so the loop's lag meter
    runs while any attempt is in one. ``started`` is the loop clock at its start; ``close()``
    (idempotent) ends it, after the attempt's error, if any, has been classified."""

    __slots__ = ("_meter", "started")

    def __init__(self) -> None:
        self._meter: LagMeter | None = lag_meter()
        self.started = self._meter.hold()

    def close(self) -> None:
        if self._meter is not None:
            self._meter.release()
            self._meter = None
