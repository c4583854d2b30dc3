"""The registry of backend kinds: the one place kinds are listed (admin choices derive from it)."""

from __future__ import annotations

from providers.adapters.anthropic import AnthropicAdapter
from providers.adapters.base import Adapter
from providers.adapters.bedrock import BedrockAdapter
from providers.adapters.openai_compat import OpenAICompatAdapter
from providers.adapters.vertex import VertexAdapter

REGISTRY: dict[str, Adapter] = {
    AnthropicAdapter.kind: AnthropicAdapter(),
    OpenAICompatAdapter.kind: OpenAICompatAdapter(),
    BedrockAdapter.kind: BedrockAdapter(),
    VertexAdapter.kind: VertexAdapter(),
}

KIND_LABELS: dict[str, str] = {
    "anthropic": "Anthropic Messages API",
    "openai_compat": "OpenAI-compatible chat completions",
    "bedrock": "AWS Bedrock (Anthropic models, SigV4)",
    "vertex": "Google Vertex AI (Anthropic models, Google OAuth)",
}
