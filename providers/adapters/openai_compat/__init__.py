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
from providers.adapters.spec import GENERATION, KindSpec, Option, Starter

# The Target quirks of OpenAI-style backends (chat completions and Responses alike).
OPENAI_OPTIONS: dict[str, Option] = {
    **GENERATION,
    "drop_params": Option("str_set", "OpenAI parameters this backend rejects"),
    "path": Option("str", "the endpoint path after the base URL"),
    "images_in_tool_results": Option("bool", "false: tool-result images go in a following user message"),
    "tool_id_max": Option("optional_int", "longest tool call id the backend takes"),
    "tool_id_alnum": Option("bool", "tool call ids must be [a-zA-Z0-9]"),
    "schema_drop_keywords": Option("str_set", "JSON-schema keywords removed from tool schemas"),
    "schema_flatten_anyof": Option("bool", "flatten anyOf in tool schemas"),
    "reasoning_effort": Option("auto_bool", "map thinking / output_config.effort to reasoning_effort"),
    "user_max_len": Option("int", "metadata.user_id -> user only if it fits (0: never)"),
}


def models_probe(target: Target, base: str) -> UpstreamRequest:
    """GET ``{base}/models``: the cheap keyed read OpenAI-style APIs (and Gemini's) all have."""
    return UpstreamRequest(url=base.rstrip("/") + "/models", body=b"", headers=dict(target.headers), stream=False,
                           method="GET")

__all__ = ["OpenAICompatAdapter", "OpenAIStreamTranslator"]


class OpenAICompatAdapter:
    kind: ClassVar[str] = "openai_compat"
    spec: ClassVar[KindSpec] = KindSpec(
        label="OpenAI-compatible chat completions",
        options={**OPENAI_OPTIONS,
                 "reasoning_model": Option("auto_bool", "send max_completion_tokens instead of max_tokens"),
                 "reasoning_history": Option("bool", "send earlier thinking back as reasoning_content"),
                 "stream_usage": Option("bool", "send stream_options.include_usage")},
        starter=Starter("https://api.openai.com/v1", big="gpt-4.1", middle="gpt-4.1", small="gpt-4.1-mini",
                        default=True),
        known_output_limits=True,
    )

    def probe(self, target: Target) -> UpstreamRequest:
        return models_probe(target, target.base_url)

    def translate_request(self, req: ChatRequest, target: Target) -> UpstreamRequest:
        return translate_request(req, target)

    def translate_response(self, status: int, body: Mapping[str, Any], up: UpstreamRequest) -> ChatResponse:
        return translate_response(status, body, up)

    def stream_translator(self, up: UpstreamRequest) -> OpenAIStreamTranslator:
        return OpenAIStreamTranslator(up)

    def classify_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> AdapterError:
        return classify_error(status, body, headers)
