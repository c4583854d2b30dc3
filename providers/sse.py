"""Incremental server-sent-events parsing and encoding.

``SSEParser`` is fed raw byte chunks exactly as they arrive (any boundary, including inside a
multi-byte UTF-8 character or between ``\\r`` and ``\\n``) and returns complete events. Like
httpx's line decoder it keeps only the unfinished tail between calls.
"""

from __future__ import annotations

from providers.adapters.base import StreamEvent, dumps, loads

DONE = "[DONE]"


def _decode_data(text: str) -> dict:
    if not text:
        return {}
    if text == DONE:
        return {"_done": True}
    try:
        value = loads(text)
    except ValueError:
        return {"_text": text}
    return value if isinstance(value, dict) else {"_value": value}


class SSEParser:
    """feed(bytes) -> list[StreamEvent]; flush() at end of stream."""

    __slots__ = ("_tail", "_event", "_data", "_raw", "_keep_raw", "_cr")

    def __init__(self, keep_raw: bool = False) -> None:
        self._tail = b""
        self._event = ""
        self._data: list[str] = []
        self._raw: list[bytes] = []
        self._keep_raw = keep_raw
        self._cr = False  # previous chunk ended in "\r": a following "\n" belongs to it

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        if self._keep_raw:
            return self._feed_raw(chunk)
        if self._cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
        self._cr = chunk.endswith(b"\r")
        buf = self._tail + chunk if self._tail else chunk
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        out: list[StreamEvent] = []
        start = 0
        find = buf.find
        while True:
            end = find(b"\n", start)
            if end < 0:
                break
            self._line(buf[start:end], out)
            start = end + 1
        self._tail = buf[start:]
        return out

    def _feed_raw(self, chunk: bytes) -> list[StreamEvent]:
        """Passthrough mode: lines end in LF or CRLF (as every real server sends) and each
        event keeps its exact bytes, line endings included."""
        buf = self._tail + chunk if self._tail else chunk
        out: list[StreamEvent] = []
        start = 0
        while True:
            end = buf.find(b"\n", start)
            if end < 0:
                break
            self._raw.append(buf[start:end + 1])
            line = buf[start:end]
            self._line(line[:-1] if line.endswith(b"\r") else line, out)
            start = end + 1
        self._tail = buf[start:]
        return out

    def flush(self) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if self._tail:
            if self._keep_raw:
                self._raw.append(self._tail)
            self._line(self._tail.rstrip(b"\r"), out)
            self._tail = b""
        self._line(b"", out)
        return out

    def _line(self, line: bytes, out: list[StreamEvent]) -> None:
        if not line:
            if self._data or self._event:
                raw = b"".join(self._raw) if self._keep_raw else None
                data = _decode_data("\n".join(self._data))
                out.append(StreamEvent(self._event or "message", data, raw))
            self._event = ""
            self._data = []
            self._raw = []
            return
        if line[0] == 58:  # b":" comment / keep-alive
            return
        field, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if field == b"data":
            self._data.append(value.decode("utf-8", "replace"))
        elif field == b"event":
            self._event = value.decode("utf-8", "replace")
        # "id" and "retry" carry nothing the gateway needs


def encode(event: StreamEvent) -> bytes:
    """One Anthropic-style SSE event; passthrough events keep their exact bytes."""
    if event.raw is not None:
        return event.raw
    return b"event: " + event.event.encode() + b"\ndata: " + dumps(event.data) + b"\n\n"


def encode_many(events: list[StreamEvent]) -> bytes:
    return b"".join(encode(e) for e in events)


PING = b'event: ping\ndata: {"type": "ping"}\n\n'
