"""Inbound protocols other than Anthropic Messages, translated to and from the canonical model.

Each module is pure (stdlib and ``providers.adapters.base`` only), like the backend adapters:
an inbound request becomes one canonical Anthropic request, goes through the usual routing and
providers, and the Anthropic answer is translated back. Never provider-to-provider.
"""

from gateway.inbound.openai_chat import (
    AnthropicToOpenAIStream,
    InboundError,
    error_to_openai,
    from_anthropic,
    openai_status,
    to_anthropic,
)

__all__ = [
    "AnthropicToOpenAIStream",
    "InboundError",
    "error_to_openai",
    "from_anthropic",
    "openai_status",
    "to_anthropic",
]
