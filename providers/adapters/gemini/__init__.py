"""Google Gemini's native API (``generateContent`` / ``streamGenerateContent?alt=sse``).

Native rather than the OpenAI-compatible layer because only the native API carries
``thoughtSignature`` between tool turns, without which Gemini's thinking models degrade (and
Gemini 3 refuses the turn). ``request`` translates the Anthropic request, ``stream`` the SSE chunks,
``response`` a complete reply (folded from the stream rules), ``errors`` the error answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from providers.adapters.base import AdapterError, ChatRequest, ChatResponse, Target, UpstreamRequest
from providers.adapters.gemini.errors import classify_error
from providers.adapters.gemini.request import translate_request, versioned_base
from providers.adapters.gemini.response import translate_response
from providers.adapters.gemini.stream import GeminiStreamTranslator
from providers.adapters.openai_compat import models_probe
from providers.adapters.spec import GENERATION, AuthSpec, KindSpec, Option

__all__ = ["GeminiAdapter", "GeminiStreamTranslator"]


class GeminiAdapter:
    kind: ClassVar[str] = "gemini"
    spec: ClassVar[KindSpec] = KindSpec(
        label="Google Gemini native API (generateContent, thought signatures)",
        # an API key travels in x-goog-api-key (bearer/OAuth auth types still send a Bearer token)
        auth=AuthSpec(key_header="x-goog-api-key", key_prefix=""),
        options={**GENERATION,
                 "schema_drop_keywords": Option("str_set", "JSON-schema keywords removed from tool schemas")},
    )

    def probe(self, target: Target) -> UpstreamRequest:
        """GET models (models.list): the cheap keyed read."""
        return models_probe(target, versioned_base(target.base_url))

    def translate_request(self, req: ChatRequest, target: Target) -> UpstreamRequest:
        return translate_request(req, target)

    def translate_response(self, status: int, body: Mapping[str, Any], up: UpstreamRequest) -> ChatResponse:
        return translate_response(status, body, up)

    def stream_translator(self, up: UpstreamRequest) -> GeminiStreamTranslator:
        return GeminiStreamTranslator(up)

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> AdapterError:
        return classify_error(status, body, headers)
