from __future__ import annotations

from django.apps import AppConfig


class GatewayConfig(AppConfig):
    """The inbound API: the dialects clients speak (Anthropic, OpenAI chat, Bedrock, Vertex) and
    the path from a parsed request to an answer. Holds no models."""

    name = "gateway"
