"""Anthropic-shaped error answers, and the mapping of transport failures to them."""

from __future__ import annotations

import httpx

from providers.adapters.base import AdapterError, dumps, error_object


def error_body(error_type: str, message: str) -> bytes:
    return dumps(error_object(error_type, message))


def transport_error(exc: Exception) -> AdapterError:
    """An httpx failure as a retryable provider error (never echoes request data)."""
    if isinstance(exc, httpx.TimeoutException):
        return AdapterError(f"upstream timed out ({type(exc).__name__})", status=504, retryable=True,
                            error_type="timeout_error")
    return AdapterError(f"upstream connection failed ({type(exc).__name__})", status=502, retryable=True,
                        error_type="api_error")
