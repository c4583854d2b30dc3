"""Incremental server-sent-events parsing and encoding.

``SSEParser`` is fed raw byte chunks exactly as they arrive (any boundary, including inside a
multi-byte UTF-8 character or between ``\\r`` and ``\\n``) and returns complete events. Like
httpx's line decoder it keeps only the unfinished line between calls.
"""

from __future__ import annotations

from providers.adapters.base import StreamEvent, dumps, loads

DONE = b"[DONE]"


def _decode_data(raw: bytes) -> dict:
    """An event's data: the JSON object (parsed straight from the bytes, the common case), or
    ``_done`` / ``_text`` / ``_value`` for what is not one."""
    if not raw:
        return {}
    if raw == DONE:
        return {"_done": True}
    try:
        value = loads(raw)
    except ValueError:
        text = raw.decode("utf-8", "replace")  # invalid UTF-8 inside a JSON string still parses
        try:
            value = loads(text)
        except ValueError:
            return {"_text": text}
    return value if isinstance(value, dict) else {"_value": value}


class SSEParser:
    """feed(bytes) -> list[StreamEvent]; flush() at end of stream.

    Linear in the stream whatever the read size: the unfinished line is kept as a list of pieces
    (joined once, when its newline arrives) and only each new chunk is scanned for newlines, so
    one 1 MB event read in 4 KB pieces costs what it costs in one piece. ``scanned`` counts the
    bytes searched for a separator (tests check it stays the stream's length).
    """

    __slots__ = ("_pieces", "_event", "_data", "_raw", "_keep_raw", "_cr", "scanned")

    def __init__(self, keep_raw: bool = False) -> None:
        self._pieces: list[bytes] = []  # the unfinished line, in the pieces it arrived in
        self._event = ""
        self._data: list[bytes] = []  # the event's data lines, undecoded
        self._raw: list[bytes] = []
        self._keep_raw = keep_raw
        self._cr = False  # previous chunk ended in "\r": a following "\n" belongs to it
        self.scanned = 0

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        if not self._keep_raw:
            # Normalising only the new chunk is enough: the kept pieces never hold a "\r".
            if self._cr and chunk.startswith(b"\n"):
                chunk = chunk[1:]
            self._cr = chunk.endswith(b"\r")
            if b"\r" in chunk:
                chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        self.scanned += len(chunk)
        out: list[StreamEvent] = []
        end = chunk.find(b"\n")
        if end < 0:
            if chunk:
                self._pieces.append(chunk)
            return out
        start = 0
        if self._pieces:  # the line begun in earlier chunks ends here
            self._pieces.append(chunk[:end + 1])
            self._take(b"".join(self._pieces), out)
            self._pieces = []
            start = end + 1
            end = chunk.find(b"\n", start)
        while end >= 0:
            self._take(chunk[start:end + 1], out)
            start = end + 1
            end = chunk.find(b"\n", start)
        if start < len(chunk):
            self._pieces.append(chunk[start:])
        return out

    def _take(self, line: bytes, out: list[StreamEvent]) -> None:
        """One complete line, its "\\n" (and in raw mode any "\\r" before it) included."""
        if self._keep_raw:
            self._raw.append(line)
            self._line(line[:-2] if line.endswith(b"\r\n") else line[:-1], out)
        else:
            self._line(line[:-1], out)

    def flush(self) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if self._pieces:
            tail = b"".join(self._pieces)
            self._pieces = []
            if self._keep_raw:
                self._raw.append(tail)
            self._line(tail.rstrip(b"\r"), out)
        self._line(b"", out)
        return out

    def _line(self, line: bytes, out: list[StreamEvent]) -> None:
        if not line:
            if self._data or self._event:
                raw = b"".join(self._raw) if self._keep_raw else None
                lines = self._data
                data = _decode_data(lines[0] if len(lines) == 1 else b"\n".join(lines))
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
            self._data.append(value)
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
