"""The registry of backend kinds: the one place kinds are listed (admin choices derive from it)."""

from __future__ import annotations

from providers.adapters.anthropic import AnthropicAdapter
from providers.adapters.base import Adapter
from providers.adapters.bedrock import BedrockAdapter
from providers.adapters.bedrock_converse import BedrockConverseAdapter
from providers.adapters.gemini import GeminiAdapter, GeminiVertexAdapter
from providers.adapters.openai_compat import OpenAICompatAdapter
from providers.adapters.openai_responses import OpenAIResponsesAdapter
from providers.adapters.vertex import VertexAdapter

REGISTRY: dict[str, Adapter] = {
    AnthropicAdapter.kind: AnthropicAdapter(),
    OpenAICompatAdapter.kind: OpenAICompatAdapter(),
    BedrockAdapter.kind: BedrockAdapter(),
    OpenAIResponsesAdapter.kind: OpenAIResponsesAdapter(),
    GeminiAdapter.kind: GeminiAdapter(),
    GeminiVertexAdapter.kind: GeminiVertexAdapter(),
    VertexAdapter.kind: VertexAdapter(),
    BedrockConverseAdapter.kind: BedrockConverseAdapter(),
}

KIND_LABELS: dict[str, str] = {
    "anthropic": "Anthropic Messages API",
    "openai_compat": "OpenAI-compatible chat completions",
    "bedrock": "AWS Bedrock (Anthropic models, SigV4)",
    "openai_responses": "OpenAI Responses API (/v1/responses; reasoning carried across turns)",
    "gemini": "Google Gemini native API (generateContent, thought signatures)",
    "gemini_vertex": "Google Gemini on Vertex AI (generateContent, Google OAuth)",
    "vertex": "Google Vertex AI (Anthropic models, Google OAuth)",
    "bedrock_converse": "AWS Bedrock Converse API (Nova, Llama, Qwen, DeepSeek, Mistral...; SigV4)",
}
