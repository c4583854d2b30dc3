"""OpenAI-compatible chat-completions backends (OpenAI, vLLM, DeepSeek, OpenRouter, Gemini...).

Every compatible backend is served by this one adapter; their differences are data on ``Target``.
``request`` translates the Anthropic request, ``response`` a complete reply, ``stream`` the SSE
chunks, ``errors`` the upstream error answers.
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
from providers.adapters.openai_compat.errors import classify_error
from providers.adapters.openai_compat.request import translate_request
from providers.adapters.openai_compat.response import translate_response
from providers.adapters.openai_compat.stream import OpenAIStreamTranslator

__all__ = ["OpenAICompatAdapter", "OpenAIStreamTranslator"]


class OpenAICompatAdapter:
    kind: ClassVar[str] = "openai_compat"

    def translate_request(self, req: ChatRequest, target: Target) -> UpstreamRequest:
        return translate_request(req, target)

    def translate_response(self, status: int, body: Mapping[str, Any], up: UpstreamRequest) -> ChatResponse:
        return translate_response(status, body, up)

    def stream_translator(self, up: UpstreamRequest) -> OpenAIStreamTranslator:
        return OpenAIStreamTranslator(up)

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> AdapterError:
        return classify_error(status, body, headers)
