"""Gemini error answers -> Anthropic-shaped AdapterErrors.

Gemini's body is ``{"error": {"code", "message", "status"}}`` (``RESOURCE_EXHAUSTED`` for 429,
``INVALID_ARGUMENT`` for 400, ``UNAVAILABLE`` for 503...). The status mapping is the OpenAI
adapter's (429 retryable with retry-after, 5xx retryable, credentials never echoed); Gemini's own
spellings of a bad key and a too-long prompt are recognised here.
"""

from __future__ import annotations

from collections.abc import Mapping

from providers.adapters.base import AdapterError, error_message_from
from providers.adapters.openai_compat.errors import PROMPT_TOO_LONG
from providers.adapters.openai_compat.errors import classify_error as classify_openai_error

# Google answers a bad API key with 400 INVALID_ARGUMENT: it is the gateway's credential, not the client's request
BAD_KEY_MARKERS = (b"API_KEY_INVALID", b"API key not valid")
# "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
TOO_LONG_MARKER = "exceeds the maximum number of tokens"


def classify_error(status: int, body: bytes, headers: Mapping[str, str]) -> AdapterError:
    if status == 400 and any(marker in body for marker in BAD_KEY_MARKERS):
        return classify_openai_error(401, body, headers)
    if status == 400:
        message = error_message_from(body)
        if TOO_LONG_MARKER in message:
            return AdapterError(PROMPT_TOO_LONG + message, 400, False, "invalid_request_error")
    return classify_openai_error(status, body, headers)
