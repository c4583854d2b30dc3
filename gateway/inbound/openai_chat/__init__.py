"""OpenAI chat completions <-> the canonical Anthropic Messages model (inbound OpenAI clients).

``to_anthropic`` turns a ``POST /v1/chat/completions`` body into an Anthropic Messages body;
``from_anthropic`` and ``AnthropicToOpenAIStream`` turn the Anthropic answer back into a
``chat.completion`` or ``chat.completion.chunk`` dicts; ``OpenAIChunks`` encodes the stream's
events as the client's bytes; ``error_to_openai`` reshapes errors.

Pure like the adapters: no Django, settings, clock or network. The caller passes ``created``.
"""

from gateway.inbound.openai_chat.request import InboundError, to_anthropic
from gateway.inbound.openai_chat.response import error_to_openai, from_anthropic, openai_status
from gateway.inbound.openai_chat.stream import AnthropicToOpenAIStream, OpenAIChunks

__all__ = [
    "AnthropicToOpenAIStream",
    "InboundError",
    "OpenAIChunks",
    "error_to_openai",
    "from_anthropic",
    "openai_status",
    "to_anthropic",
]
