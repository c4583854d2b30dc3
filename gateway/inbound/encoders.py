"""Stream encoders: the canonical Anthropic events -> one client dialect's bytes, encoded once.

``StreamSession`` (gateway/streaming.py) hands every batch of events it forwards to the encoder
the inbound endpoint chose, in the task that read them from the upstream; the body the client
receives is those bytes, never parsed again. One encoder per dialect:

* ``AnthropicSSE`` (``/v1/messages``, Vertex): Anthropic SSE; passthrough events keep their
  exact upstream bytes (``wants_raw``), which spares a JSON encode per event;
* ``OpenAIChunks`` (gateway/inbound/openai_chat/stream.py): ``data:`` chunks and ``[DONE]``;
* ``BedrockEventStream`` (gateway/inbound/bedrock/stream.py): AWS event-stream ``chunk`` frames.

Pure: stateful objects with sync methods and no I/O, so tests feed lists.
"""

from __future__ import annotations

from typing import Protocol

from providers.adapters.base import StreamEvent
from providers.sse import PING, encode_many

COMMENT_PING = b": keep-alive\n\n"  # before message_start an event would break SDK parsers


class StreamEncoder(Protocol):
    # Passthrough events' exact upstream bytes (``StreamEvent.raw``) serve as this encoding:
    # the upstream parser keeps them only for an encoder that uses them.
    wants_raw: bool

    def encode(self, events: list[StreamEvent]) -> bytes:
        """One forwarded batch (never empty) -> the bytes of one write (b"": nothing to write)."""
        ...

    def keepalive(self, started: bool) -> bytes:
        """What an idle stream sends (b"": nothing); ``started``: events were already sent."""
        ...

    def end(self) -> bytes:
        """The tail after the last event of a stream that ended (not after a disconnect)."""
        ...


class AnthropicSSE:
    """Anthropic SSE, as ``/v1/messages`` and Vertex's ``streamRawPredict`` answer."""

    __slots__ = ()
    wants_raw = True

    def encode(self, events: list[StreamEvent]) -> bytes:
        return encode_many(events)

    def keepalive(self, started: bool) -> bytes:
        return PING if started else COMMENT_PING

    def end(self) -> bytes:
        return b""


__all__ = ["COMMENT_PING", "AnthropicSSE", "StreamEncoder"]
