"""Upstream errors -> Anthropic-shaped AdapterErrors (HTTP answers and in-stream error objects).

HTTP mapping: 429 -> 429 rate_limit_error (retryable, keeps retry-after); 503/529 -> 529
overloaded_error and every other 5xx -> 502 api_error (both retryable); a context-length 4xx ->
400 invalid_request_error "prompt is too long: ..." (what Claude Code compacts on); 401/403 -> 502
api_error, not retryable (the gateway's upstream credentials are wrong, not the client's); 422 ->
400; other 4xx keep their status, not retryable (408/409 stay retryable as in base).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.adapters.base import (
    AdapterError,
    error_message_from,
    error_type_for,
    is_context_length_message,
    is_retryable_status,
    parse_retry_after,
)

OVERLOADED_STATUSES = frozenset({503, 529})
CREDENTIAL_STATUSES = frozenset({401, 403})
PROMPT_TOO_LONG = "prompt is too long: "


def classify_error(status: int, body: bytes, headers: Mapping[str, str]) -> AdapterError:
    if status in CREDENTIAL_STATUSES:
        # never echo the upstream message: some include a (partially masked) key
        return AdapterError(f"upstream rejected the gateway's credentials (HTTP {status})", 502, False)
    message = error_message_from(body)
    if status == 429:
        return AdapterError(message, 429, True, "rate_limit_error", parse_retry_after(headers))
    if status >= 500:
        if status in OVERLOADED_STATUSES:
            return AdapterError(message, 529, True, "overloaded_error", parse_retry_after(headers))
        return AdapterError(message, 502, True, "api_error")
    if is_context_length_message(message):
        text = message if message.lower().startswith(PROMPT_TOO_LONG[:18]) else PROMPT_TOO_LONG + message
        return AdapterError(text, 400, False, "invalid_request_error")
    if status == 422:
        status = 400
    return AdapterError(message, status, is_retryable_status(status), error_type_for(status))


def error_object_type(error: Any) -> tuple[str, str]:
    """(Anthropic error type, message) for an error object found inside a 200 body or a stream."""
    if not isinstance(error, Mapping):
        return "api_error", str(error) or "upstream error"
    message = str(error.get("message") or error.get("detail") or "upstream error")
    code = error.get("code")
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    label = f"{code} {error.get('type') or ''}".lower()
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code < 600:
        if code in CREDENTIAL_STATUSES:
            return "api_error", f"upstream rejected the gateway's credentials (HTTP {code})"
        kind = error_type_for(529 if code in OVERLOADED_STATUSES else code)
    elif "rate_limit" in label:
        kind = "rate_limit_error"
    elif "overloaded" in label:
        kind = "overloaded_error"
    else:
        kind = "api_error"
    if is_context_length_message(message):
        return "invalid_request_error", PROMPT_TOO_LONG + message
    return kind, message


# The one error type -> status table: the status the gateway answers for an error the upstream sent
# inside a 200 body or a stream (the gateway's streams use it too). Any other type is a 502.
STATUS_FOR_TYPE: dict[str, int] = {
    "rate_limit_error": 429,
    "overloaded_error": 529,
    "invalid_request_error": 400,
    "timeout_error": 504,
    "api_error": 502,
}


def status_for_type(error_type: str) -> int:
    return STATUS_FOR_TYPE.get(error_type, 502)


def error_from_object(error: Any) -> AdapterError:
    """AdapterError for an error object an upstream sent with HTTP 200."""
    kind, message = error_object_type(error)
    status = status_for_type(kind)
    return AdapterError(message, status, is_retryable_status(status), kind if status != 502 else "api_error")
