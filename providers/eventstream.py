"""The AWS event-stream framer for Bedrock's ``invoke-with-response-stream``.

Bedrock streams binary event-stream messages (prelude, headers, payload, CRCs), decoded here with
botocore's ``EventStreamBuffer``. Each ``chunk`` event's payload is ``{"bytes": "<base64>"}`` holding
one Anthropic stream event as JSON; exception messages (``:message-type: exception`` or ``error``)
become an Anthropic ``error`` event. ``EventStreamParser`` has the ``feed()``/``flush()`` interface
of ``providers.sse.SSEParser``, so ``StreamSession`` drives either (see ``event_parser_for``).
"""

from __future__ import annotations

import base64
import binascii
import struct
from typing import Any, Protocol

from botocore.eventstream import EventStreamBuffer, ParserError

from providers.adapters.base import StreamEvent, anthropic_error_event, dumps, loads
from providers.adapters.bedrock import bedrock_error
from providers.sse import SSEParser

CHUNK_HEADERS = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}


def encode_event_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One binary event-stream message with string-typed (type 7) headers::

        prelude: total length (u32) | headers length (u32) | CRC32 of those 8 bytes (u32)
        headers: name length (u8) | name | 7 | value length (u16) | value
        payload, then CRC32 of everything before it (u32)
    """
    encoded = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        encoded += struct.pack(">B", len(raw_name)) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    body = prelude + struct.pack(">I", binascii.crc32(prelude)) + encoded + payload
    return body + struct.pack(">I", binascii.crc32(body))


def encode_chunk(event: Any) -> bytes:
    """A ``chunk`` message carrying one Anthropic stream event (a JSON-able dict)."""
    inner = base64.b64encode(dumps(event)).decode()
    return encode_event_message(CHUNK_HEADERS, dumps({"bytes": inner}))


def encode_exception(exception_type: str, message: str) -> bytes:
    """An in-stream exception message, e.g. ``encode_exception("throttlingException", "slow down")``."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_event_message(headers, dumps({"message": message}))


class EventParser(Protocol):
    def feed(self, chunk: bytes) -> list[StreamEvent]: ...

    def flush(self) -> list[StreamEvent]: ...


def event_parser_for(kind: str) -> EventParser:
    """The framer for an adapter kind's upstream stream (Anthropic SSE keeps the raw bytes)."""
    if kind == "bedrock":
        return EventStreamParser()
    return SSEParser(keep_raw=kind == "anthropic")


def _header(headers: dict[str, Any], name: str) -> str:
    value = headers.get(name, "")
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _payload_message(payload: bytes) -> str:
    try:
        data = loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")[:500]
    if isinstance(data, dict):
        return str(data.get("message") or data.get("Message") or "")
    return ""


def exception_event(name: str, message: str) -> StreamEvent:
    """An Anthropic error event for a Bedrock exception named ``name`` ("throttlingException")."""
    err = bedrock_error(name, message)
    if err is None:
        return anthropic_error_event("api_error", f"{name}: {message}" if message else name or "upstream error")
    return anthropic_error_event(err.error_type, err.message)


def chunk_event(payload: bytes) -> StreamEvent:
    """The Anthropic event inside a ``chunk`` payload ``{"bytes": "<base64 JSON>"}``."""
    try:
        wrapper = loads(payload)
        data = loads(base64.b64decode(wrapper["bytes"], validate=True))
    except (ValueError, KeyError, TypeError, binascii.Error):
        return anthropic_error_event("api_error", "upstream sent an unreadable event-stream chunk")
    if not isinstance(data, dict):
        return anthropic_error_event("api_error", "upstream sent an unreadable event-stream chunk")
    return StreamEvent(str(data.get("type") or "message"), data)


class EventStreamParser:
    """feed(bytes) -> list[StreamEvent]; flush() at end of stream. Stops at the first corrupt frame."""

    __slots__ = ("_buffer", "_broken", "_pending")

    def __init__(self) -> None:
        self._buffer = EventStreamBuffer()
        self._broken = False
        self._pending = 0  # bytes fed but not yet part of a complete message

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        if self._broken:
            return []
        self._buffer.add_data(chunk)
        self._pending += len(chunk)
        out: list[StreamEvent] = []
        try:
            for message in self._buffer:
                self._pending -= message.prelude.total_length
                event = self._event(message.headers, message.payload)
                if event is not None:
                    out.append(event)
        except ParserError as exc:
            self._broken = True
            out.append(anthropic_error_event("api_error", f"upstream event stream is corrupt ({type(exc).__name__})"))
        return out

    def flush(self) -> list[StreamEvent]:
        if self._broken or not self._pending:
            return []
        self._broken = True
        return [anthropic_error_event("api_error", "upstream event stream ended inside a message")]

    @staticmethod
    def _event(headers: dict[str, Any], payload: bytes) -> StreamEvent | None:
        message_type = _header(headers, ":message-type") or "event"
        if message_type == "exception":
            return exception_event(_header(headers, ":exception-type"), _payload_message(payload))
        if message_type == "error":
            return exception_event(_header(headers, ":error-code"), _header(headers, ":error-message"))
        if _header(headers, ":event-type") == "chunk":
            return chunk_event(payload)
        return None  # initial-response and other event types carry nothing the gateway needs
