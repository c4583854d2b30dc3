"""Anthropic stream events -> AWS event-stream frames, as ``invoke-with-response-stream`` answers.

Each event becomes one ``chunk`` message (``{"bytes": "<base64 event JSON>"}``); pings are
dropped (the event stream has no comment to keep a connection alive with) and an ``error``
event becomes an in-stream exception message, which ends the stream for the SDKs.
"""

from __future__ import annotations

from gateway.inbound.bedrock.errors import anthropic_error, stream_exception_type
from providers.adapters.base import StreamEvent
from providers.eventstream import encode_chunk, encode_exception


def frame(event: StreamEvent) -> bytes:
    """One event's frame (b"" for pings and events without a type)."""
    data = event.data
    kind = data.get("type")
    if event.event == "error" or kind == "error":
        error_type, message = anthropic_error(data)
        return encode_exception(stream_exception_type(error_type), message)
    if not isinstance(kind, str) or kind == "ping":
        return b""
    return encode_chunk(data)


class BedrockEventStream:
    """The Bedrock dialect's stream encoder (gateway.inbound.encoders.StreamEncoder)."""

    __slots__ = ()
    wants_raw = False

    def encode(self, events: list[StreamEvent]) -> bytes:
        return b"".join([frame(event) for event in events])

    def keepalive(self, started: bool) -> bytes:
        return b""

    def end(self) -> bytes:
        return b""
