"""OpenAI Responses API backends (``POST /v1/responses``): the newest OpenAI coding and reasoning
models are served there only, and it is the one OpenAI API that carries reasoning between turns.

``request`` translates the Anthropic request, ``response`` a complete reply, ``stream`` the
event stream; errors are spelled as on chat completions, so ``openai_compat.errors`` classifies
them. Tool-name shortening and the other small helpers are openai_compat's as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from providers.adapters.base import (
    AdapterError,
    ChatRequest,
    ChatResponse,
    Target,
    UpstreamRequest,
)
from providers.adapters.openai_compat import OPENAI_OPTIONS, models_probe
from providers.adapters.openai_compat.errors import classify_error
from providers.adapters.openai_responses.request import translate_request
from providers.adapters.openai_responses.response import translate_response
from providers.adapters.openai_responses.stream import ResponsesStreamTranslator
from providers.adapters.spec import KindSpec

__all__ = ["OpenAIResponsesAdapter", "ResponsesStreamTranslator"]


class OpenAIResponsesAdapter:
    kind: ClassVar[str] = "openai_responses"
    spec: ClassVar[KindSpec] = KindSpec(
        label="OpenAI Responses API (/v1/responses; reasoning carried across turns)",
        options=OPENAI_OPTIONS,
    )

    def probe(self, target: Target) -> UpstreamRequest:
        """GET /models, as openai_compat's (the same API key opens both)."""
        return models_probe(target, target.base_url)

    def translate_request(self, req: ChatRequest, target: Target) -> UpstreamRequest:
        return translate_request(req, target)

    def translate_response(self, status: int, body: Mapping[str, Any], up: UpstreamRequest) -> ChatResponse:
        return translate_response(status, body, up)

    def stream_translator(self, up: UpstreamRequest) -> ResponsesStreamTranslator:
        return ResponsesStreamTranslator(up)

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> AdapterError:
        return classify_error(status, body, headers)
