"""Bedrock ``InvokeModel`` <-> the canonical Anthropic Messages model (Claude Code in Bedrock mode).

``to_anthropic`` turns an invoke body and the URL's model id into an Anthropic Messages body and
its beta flags (Vertex's ``rawPredict`` body follows the same rules); ``BedrockEventStream``
encodes the stream's events as AWS event-stream ``chunk`` frames (errors as in-stream
exceptions); ``error_to_bedrock`` reshapes an Anthropic error answer as Bedrock's.

Pure like the adapters: no Django, settings, clock or network.
"""

from gateway.inbound.bedrock.errors import EXCEPTIONS, STREAM_EXCEPTIONS, error_to_bedrock, exception_name
from gateway.inbound.bedrock.request import BedrockBodyError, to_anthropic
from gateway.inbound.bedrock.stream import BedrockEventStream, frame

__all__ = [
    "EXCEPTIONS",
    "STREAM_EXCEPTIONS",
    "BedrockBodyError",
    "BedrockEventStream",
    "error_to_bedrock",
    "exception_name",
    "frame",
    "to_anthropic",
]
