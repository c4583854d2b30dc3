"""The AWS event-stream framer for Bedrock's ``invoke-with-response-stream``.

Bedrock streams binary event-stream messages (prelude, headers, payload, CRCs), decoded here with
botocore's ``EventStreamBuffer``. Each ``chunk`` event's payload is ``{"bytes": "<base64>"}`` holding
one Anthropic stream event as JSON; exception messages (``:message-type: exception`` or ``error``)
become an Anthropic ``error`` event. ``EventStreamParser`` has the ``feed()``/``flush()`` interface
of ``providers.sse.SSEParser``, so ``StreamSession`` drives either (see ``event_parser_for``).
Bedrock's Converse stream names each message by ``:event-type`` (``messageStart``,
``contentBlockDelta``...) with a plain JSON payload: a ``typed`` parser hands those on as
``StreamEvent(<event type>, <payload>)`` for the adapter's translator.
"""

from __future__ import annotations

import base64
import binascii
import struct
from typing import Any, Protocol

from providers.adapters import REGISTRY
from providers.adapters.base import StreamEvent, anthropic_error_event, dumps, loads
from providers.adapters.bedrock import bedrock_error
from providers.adapters.spec import EVENTSTREAM, EVENTSTREAM_TYPED, SSE_PASSTHROUGH
from providers.sse import SSEParser

PRELUDE_LENGTH = 12  # total length, headers length, prelude CRC (u32 each)
MAX_MESSAGE_LENGTH = 16 * 1024 * 1024 + 128 * 1024 + 16  # botocore's payload + headers limits
CHUNK_HEADERS = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}


def encode_event_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One binary event-stream message with string-typed (type 7) headers::

        prelude: total length (u32) | headers length (u32) | CRC32 of those 8 bytes (u32)
        headers: name length (u8) | name | 7 | value length (u16) | value
        payload, then CRC32 of everything before it (u32)
    """
    return _message(encode_headers(headers), payload)


def encode_headers(headers: dict[str, str]) -> bytes:
    encoded = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        encoded += struct.pack(">B", len(raw_name)) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value
    return encoded


def _message(encoded_headers: bytes, payload: bytes) -> bytes:
    prelude = struct.pack(">II", 12 + len(encoded_headers) + len(payload) + 4, len(encoded_headers))
    body = b"".join((prelude, struct.pack(">I", binascii.crc32(prelude)), encoded_headers, payload))
    return body + struct.pack(">I", binascii.crc32(body))


_CHUNK_HEADER_BYTES = encode_headers(CHUNK_HEADERS)  # the same for every chunk: encoded once


def encode_chunk(event: Any) -> bytes:
    """A ``chunk`` message carrying one Anthropic stream event (a JSON-able dict)."""
    # base64 needs no JSON escaping: the payload is {"bytes": "<base64>"} byte for byte
    return _message(_CHUNK_HEADER_BYTES, b'{"bytes":"' + base64.b64encode(dumps(event)) + b'"}')


def encode_exception(exception_type: str, message: str) -> bytes:
    """An in-stream exception message, e.g. ``encode_exception("throttlingException", "slow down")``."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_event_message(headers, dumps({"message": message}))


class EventParser(Protocol):
    def feed(self, chunk: bytes) -> list[StreamEvent]: ...

    def flush(self) -> list[StreamEvent]: ...


def event_parser_for(kind: str, *, raw: bool = True) -> EventParser:
    """The framer for an adapter kind's upstream stream (Anthropic SSE keeps the raw bytes when
    ``raw``: the client's encoder forwards them as they came; other dialects do not need them).

    The kind's spec says which (providers/adapters/spec.py): EVENTSTREAM (Anthropic events in
    ``chunk`` messages), EVENTSTREAM_TYPED (events named by ``:event-type``), SSE_PASSTHROUGH (SSE
    whose raw bytes are kept), else SSE."""
    adapter = REGISTRY.get(kind)
    framing = adapter.spec.stream_framing if adapter is not None else ""
    if framing in (EVENTSTREAM, EVENTSTREAM_TYPED):
        return EventStreamParser(typed=framing == EVENTSTREAM_TYPED)
    return SSEParser(keep_raw=raw and framing == SSE_PASSTHROUGH)


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


def typed_event(event_type: str, payload: bytes) -> StreamEvent:
    """A Converse stream message: its event type and JSON object payload."""
    try:
        data = loads(payload) if payload else {}
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return anthropic_error_event("api_error", f"upstream sent an unreadable {event_type} event")
    return StreamEvent(event_type, data)


class EventStreamParser:
    """feed(bytes) -> list[StreamEvent]; flush() at end of stream. Stops at the first corrupt frame.

    botocore's buffer appends every read to one bytes object (quadratic for a big message read in
    small pieces), so the pieces of an unfinished message wait here, in a list, and the buffer is
    handed whole messages: each byte is copied a bounded number of times whatever the read size.
    """

    __slots__ = ("_buffer", "_error", "_broken", "_pieces", "_have", "_need", "_typed")

    def __init__(self, typed: bool = False) -> None:
        # botocore is imported by the first Bedrock stream, not by every web process at start (0.5 MiB)
        from botocore.eventstream import EventStreamBuffer, ParserError

        self._error = ParserError
        self._typed = typed  # hand on other event types by name (Converse) instead of ignoring them
        self._buffer = EventStreamBuffer()
        self._broken = False
        self._pieces: list[bytes] = []  # bytes fed but not yet handed to the buffer
        self._have = 0
        self._need = 0  # total length of the message being collected (0: prelude not read yet)

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        if self._broken:
            return []
        self._pieces.append(chunk)
        self._have += len(chunk)
        out: list[StreamEvent] = []
        try:
            while self._ready():
                message_bytes = self._take()
                self._buffer.add_data(message_bytes)
                for message in self._buffer:
                    event = self._event(message.headers, message.payload)
                    if event is not None:
                        out.append(event)
                if len(message_bytes) == PRELUDE_LENGTH:  # a bad prelude botocore let through
                    raise self._error("event-stream prelude is inconsistent")
        except self._error as exc:
            self._broken = True
            out.append(anthropic_error_event("api_error", f"upstream event stream is corrupt ({type(exc).__name__})"))
        return out

    def _ready(self) -> bool:
        """Whether a whole message (or a prelude botocore must judge) is collected."""
        if not self._need:
            if self._have < PRELUDE_LENGTH:
                return False
            head = b"".join(self._pieces)
            self._pieces = [head]
            total, headers = struct.unpack(">II", head[:8])
            sane = binascii.crc32(head[:8]) == struct.unpack(">I", head[8:12])[0] and headers <= total
            # A prelude that fails its checks goes to botocore at once, which names the fault.
            self._need = total if sane and total <= MAX_MESSAGE_LENGTH else PRELUDE_LENGTH
        return self._have >= self._need

    def _take(self) -> bytes:
        """The collected message's bytes; what follows it stays in the pieces."""
        data = b"".join(self._pieces) if len(self._pieces) > 1 else self._pieces[0]
        rest = data[self._need:]
        self._pieces = [rest] if rest else []
        self._have = len(rest)
        taken = data[:self._need] if rest else data
        self._need = 0
        return taken

    def flush(self) -> list[StreamEvent]:
        if self._broken or not self._have:
            return []
        self._broken = True
        return [anthropic_error_event("api_error", "upstream event stream ended inside a message")]

    def _event(self, headers: dict[str, Any], payload: bytes) -> StreamEvent | None:
        message_type = _header(headers, ":message-type") or "event"
        if message_type == "exception":
            return exception_event(_header(headers, ":exception-type"), _payload_message(payload))
        if message_type == "error":
            return exception_event(_header(headers, ":error-code"), _header(headers, ":error-message"))
        event_type = _header(headers, ":event-type")
        if event_type == "chunk" and not self._typed:
            return chunk_event(payload)
        if self._typed and event_type and event_type != "initial-response":
            return typed_event(event_type, payload)
        return None  # initial-response and other event types carry nothing the gateway needs
