"""Inbound protocols other than Anthropic Messages, translated to and from the canonical model.

Each module is pure (stdlib, ``providers.adapters`` and the providers' framers only), like the
backend adapters: an inbound request becomes one canonical Anthropic request, goes through the
usual routing and providers, and the Anthropic answer is translated back; a stream's events are
encoded once, in the client's dialect (``encoders``). Never provider-to-provider.

* ``openai_chat``: ``/v1/chat/completions``;
* ``bedrock``: Bedrock ``InvokeModel`` (and the body rules Vertex's ``rawPredict`` shares);
* ``encoders``: the ``StreamEncoder`` protocol and Anthropic SSE (``/v1/messages``, Vertex).
"""

from gateway.inbound.openai_chat import (
    AnthropicToOpenAIStream,
    InboundError,
    OpenAIChunks,
    error_to_openai,
    from_anthropic,
    openai_status,
    to_anthropic,
)

__all__ = [
    "AnthropicToOpenAIStream",
    "InboundError",
    "OpenAIChunks",
    "error_to_openai",
    "from_anthropic",
    "openai_status",
    "to_anthropic",
]
