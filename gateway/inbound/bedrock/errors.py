"""Anthropic error types -> Bedrock's exception names, for HTTP errors and in-stream exceptions."""

from __future__ import annotations

from typing import Any

from providers.adapters.base import loads

# Anthropic error type -> Bedrock exception name (HTTP header / in-stream ``:exception-type``)
EXCEPTIONS: dict[str, str] = {
    "invalid_request_error": "ValidationException",
    "request_too_large": "ValidationException",
    "not_found_error": "ResourceNotFoundException",
    "authentication_error": "UnrecognizedClientException",
    "permission_error": "AccessDeniedException",
    "rate_limit_error": "ThrottlingException",
    "overloaded_error": "ServiceUnavailableException",
    "timeout_error": "ModelTimeoutException",
}
# the exceptions Bedrock's ResponseStream declares; others become internalServerException
STREAM_EXCEPTIONS = frozenset({"ValidationException", "ThrottlingException", "ServiceUnavailableException",
                               "ModelTimeoutException", "InternalServerException", "ModelStreamErrorException"})


def exception_name(error_type: str, status: int = 500) -> str:
    """"rate_limit_error" -> "ThrottlingException" (unknown types by status)."""
    name = EXCEPTIONS.get(error_type)
    if name is None:
        name = "ValidationException" if 400 <= status < 500 else "InternalServerException"
    return name


def stream_exception_type(error_type: str) -> str:
    """The in-stream ``:exception-type`` for an Anthropic error type ("throttlingException")."""
    name = exception_name(error_type)
    name = name if name in STREAM_EXCEPTIONS else "InternalServerException"
    return name[0].lower() + name[1:]


def anthropic_error(body: Any) -> tuple[str, str]:
    """(error type, message) of an Anthropic error object ``{"error": {"type", "message"}}``."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "api_error", "upstream error"
    return str(error.get("type") or "api_error"), str(error.get("message") or "upstream error")


def error_to_bedrock(status: int, body: bytes) -> tuple[str, str]:
    """(exception name, message) for an Anthropic error answer's status and JSON body."""
    try:
        error_type, message = anthropic_error(loads(body))
    except ValueError:
        error_type, message = "api_error", body.decode("utf-8", "replace")[:500]
    return exception_name(error_type, status), message
