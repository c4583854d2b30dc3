from __future__ import annotations

import pytest

from providers.adapters.base import StreamEvent
from providers.sse import SSEParser, encode

STREAM = (
    b"event: message_start\r\ndata: {\"type\": \"message_start\", \"t\": \"h\xc3\xa9llo \xf0\x9f\x98\x80\"}\r\n\r\n"
    b": keep-alive comment\n\n"
    b"data: {\"a\": 1}\n"
    b"data: {\"b\": 2}\n\n"
    b"event: ping\ndata:{\"type\":\"ping\"}\n\n"
    b"data: [DONE]\n\n"
    b"id: 7\nretry: 10\ndata: not json\n\n"
    b"data: {\"tail\": true}"
)


def parse(chunks, keep_raw=False):
    parser = SSEParser(keep_raw=keep_raw)
    out = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    out.extend(parser.flush())
    return out


def expected():
    return [
        StreamEvent("message_start", {"type": "message_start", "t": "héllo 😀"}),
        StreamEvent("message", {"_text": '{"a": 1}\n{"b": 2}'}),
        StreamEvent("ping", {"type": "ping"}),
        StreamEvent("message", {"_done": True}),
        StreamEvent("message", {"_text": "not json"}),
        StreamEvent("message", {"tail": True}),
    ]


def test_sse_parser_whole_stream():
    assert parse([STREAM]) == expected()


@pytest.mark.parametrize("offset", range(1, len(STREAM)))
def test_sse_parser_split_at_every_offset(offset):
    assert parse([STREAM[:offset], STREAM[offset:]]) == expected()


def test_sse_parser_byte_by_byte():
    assert parse([STREAM[i:i + 1] for i in range(len(STREAM))]) == expected()


def test_sse_parser_keeps_raw_bytes_for_passthrough():
    raw = b"event: a\ndata: {\"type\": \"a\"}\n\nevent: b\r\ndata: {\"type\": \"b\"}\r\n\r\n"
    for offset in range(1, len(raw)):
        events = parse([raw[:offset], raw[offset:]], keep_raw=True)
        assert [e.event for e in events] == ["a", "b"]
        assert events[0].raw == b"event: a\ndata: {\"type\": \"a\"}\n\n"
        assert events[1].raw == b"event: b\r\ndata: {\"type\": \"b\"}\r\n\r\n"


def test_encode_roundtrips_through_parser():
    event = StreamEvent("content_block_delta", {"type": "content_block_delta", "delta": {"text": "ü 🚀"}})
    assert parse([encode(event)]) == [event]


@pytest.mark.parametrize("keep_raw", [False, True])
def test_sse_parser_scans_one_big_event_once_whatever_the_read_size(keep_raw):
    """A 1 MB event fed in 4 KB pieces: every byte is searched for a separator exactly once
    (the old parser re-joined and re-scanned the unfinished tail on every read)."""
    text = "x" * 1_000_000
    stream = b'event: content_block_delta\r\ndata: {"text": "' + text.encode() + b'"}\r\n\r\nevent: ping\ndata: {}\n\n'
    parser = SSEParser(keep_raw=keep_raw)
    events = []
    for i in range(0, len(stream), 4096):
        events.extend(parser.feed(stream[i:i + 4096]))
    events.extend(parser.flush())
    assert [e.event for e in events] == ["content_block_delta", "ping"]
    assert events[0].data == {"text": text}
    if keep_raw:
        assert b"".join(e.raw for e in events) == stream
    assert len(stream) - stream.count(b"\r\n") <= parser.scanned <= len(stream)  # CRLF -> LF (non-raw)


def test_eventstream_parser_big_message_in_small_pieces_then_a_corrupt_one():
    from providers.eventstream import EventStreamParser, encode_chunk

    big = {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "y" * 500_000}}
    stream = encode_chunk(big) + encode_chunk({"type": "message_stop"})
    parser = EventStreamParser()
    events = []
    for i in range(0, len(stream), 4096):
        events.extend(parser.feed(stream[i:i + 4096]))
    assert [e.data for e in events] == [big, {"type": "message_stop"}]
    assert parser.flush() == []
    broken = bytearray(encode_chunk({"type": "ping"}))
    broken[9] ^= 0xFF  # the prelude's CRC
    events = parser.feed(bytes(broken))
    assert [e.event for e in events] == ["error"]
    assert parser.feed(encode_chunk({"type": "ping"})) == []
