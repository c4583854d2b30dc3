"""Inbound Bedrock InvokeModel <-> canonical Anthropic: table-driven, pure (no database)."""

from __future__ import annotations

import base64
import json

import pytest
from botocore.eventstream import EventStreamBuffer

from gateway.inbound.bedrock import (
    BedrockBodyError,
    BedrockEventStream,
    error_to_bedrock,
    exception_name,
    frame,
    to_anthropic,
)
from gateway.inbound.bedrock.errors import stream_exception_type
from providers.adapters.base import StreamEvent
from providers.sse import SSEParser
from tests.providers.casekit import ABSENT, assert_subset

SONNET_ID = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
USER = {"role": "user", "content": "hi"}


def body(**fields):
    return {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "messages": [USER], **fields}


# (name, invoke body, URL model id, stream, anthropic-beta header, expected subset, expected beta flags)
TO_ANTHROPIC = [
    ("version_dropped_model_from_url", body(), SONNET_ID, False, "",
     {"model": "claude-sonnet-4-5-20250929", "stream": False, "anthropic_version": ABSENT, "anthropic_beta": ABSENT,
      "max_tokens": 64, "messages": [USER]}, ()),
    ("stream_from_the_action", body(), SONNET_ID, True, "", {"stream": True}, ()),
    ("stream_in_body_is_overridden", body(stream=True), SONNET_ID, False, "", {"stream": False}, ()),
    ("percent_encoded_id", body(), "us.anthropic.claude-sonnet-4-5-20250929-v1%3A0", False, "",
     {"model": "claude-sonnet-4-5-20250929"}, ()),
    ("foundation_model_arn", body(),
     "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0", False, "",
     {"model": "claude-haiku-4-5-20251001"}, ()),
    ("claude_name_unchanged", body(), "claude-opus-4-1", False, "", {"model": "claude-opus-4-1"}, ()),
    ("other_vendor_unchanged", body(), "meta.llama3-70b-instruct-v1:0", False, "",
     {"model": "meta.llama3-70b-instruct-v1:0"}, ()),
    ("header_then_body_flags_deduplicated", body(anthropic_beta=["context-1m-2025-08-07", "claude-code-20250219"]),
     SONNET_ID, False, "claude-code-20250219", {}, ("claude-code-20250219", "context-1m-2025-08-07")),
    ("comma_string_flags", body(anthropic_beta="a-1, b-2,"), SONNET_ID, False, "", {}, ("a-1", "b-2")),
    ("header_flags_trimmed", body(), SONNET_ID, False, " x-1 ,, y-2 ", {}, ("x-1", "y-2")),
    ("empty_flags", body(anthropic_beta=[]), SONNET_ID, False, "", {"anthropic_beta": ABSENT}, ()),
    ("null_flags", body(anthropic_beta=None), SONNET_ID, False, "", {}, ()),
    ("other_fields_pass", body(system="Be brief.", temperature=0.3, tools=[{"name": "t", "input_schema": {}}]),
     SONNET_ID, False, "", {"system": "Be brief.", "temperature": 0.3, "tools": [{"name": "t", "input_schema": {}}]},
     ()),
]


@pytest.mark.parametrize(("raw", "model_id", "stream", "header", "expected", "beta"), [c[1:] for c in TO_ANTHROPIC],
                         ids=[c[0] for c in TO_ANTHROPIC])
def test_to_anthropic(raw, model_id, stream, header, expected, beta):
    out, flags = to_anthropic(json.loads(json.dumps(raw)), model_id, stream=stream, header_beta=header)
    assert_subset(expected, out)
    assert flags == beta


@pytest.mark.parametrize("flags", [[1, "a"], {"a": 1}, 7, [None]], ids=["number_in_list", "object", "number", "null"])
def test_to_anthropic_refuses_flags_that_are_not_strings(flags):
    with pytest.raises(BedrockBodyError) as info:
        to_anthropic(body(anthropic_beta=flags), SONNET_ID, stream=False)
    assert info.value.param == "anthropic_beta"
    assert "valid list of strings" in info.value.message


# (Anthropic error type, HTTP status, Bedrock exception name)
EXCEPTION_NAMES = [
    ("invalid_request_error", 400, "ValidationException"),
    ("request_too_large", 413, "ValidationException"),
    ("not_found_error", 404, "ResourceNotFoundException"),
    ("authentication_error", 401, "UnrecognizedClientException"),
    ("permission_error", 403, "AccessDeniedException"),
    ("rate_limit_error", 429, "ThrottlingException"),
    ("overloaded_error", 529, "ServiceUnavailableException"),
    ("timeout_error", 504, "ModelTimeoutException"),
    ("api_error", 500, "InternalServerException"),
    ("something_new", 418, "ValidationException"),
    ("something_new", 502, "InternalServerException"),
]


@pytest.mark.parametrize(("error_type", "status", "expected"), EXCEPTION_NAMES,
                         ids=[f"{c[0]}-{c[1]}" for c in EXCEPTION_NAMES])
def test_exception_name(error_type, status, expected):
    assert exception_name(error_type, status) == expected


# (Anthropic error type, in-stream :exception-type): only the names Bedrock's ResponseStream declares
STREAM_TYPES = [
    ("rate_limit_error", "throttlingException"),
    ("overloaded_error", "serviceUnavailableException"),
    ("timeout_error", "modelTimeoutException"),
    ("invalid_request_error", "validationException"),
    ("not_found_error", "internalServerException"),
    ("authentication_error", "internalServerException"),
    ("api_error", "internalServerException"),
]


@pytest.mark.parametrize(("error_type", "expected"), STREAM_TYPES, ids=[c[0] for c in STREAM_TYPES])
def test_stream_exception_type(error_type, expected):
    assert stream_exception_type(error_type) == expected


# (status, Anthropic error body, (exception name, message))
ERRORS = [
    (429, b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}',
     ("ThrottlingException", "slow down")),
    (400, b'{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}', ("ValidationException", "bad")),
    (502, b'{"type":"error","error":{}}', ("InternalServerException", "upstream error")),
    (503, b'{"detail": "x"}', ("InternalServerException", "upstream error")),
    (502, b"<html>bad gateway</html>", ("InternalServerException", "<html>bad gateway</html>")),
]


@pytest.mark.parametrize(("status", "raw", "expected"), ERRORS, ids=["rate_limit", "invalid", "no_type", "not_anthropic",
                                                                     "not_json"])
def test_error_to_bedrock(status, raw, expected):
    assert error_to_bedrock(status, raw) == expected


# --- the stream encoder ---------------------------------------------------------------------------

START = {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
                                              "content": [], "usage": {"input_tokens": 5, "output_tokens": 1}}}
TEXT_EVENTS = [
    START,
    {"type": "ping"},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Grüße 🌍"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}},
    {"type": "message_stop"},
]
ERROR_EVENTS = [START, {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}]


def decoded(raw):
    """(message type, the event or exception) per frame, through botocore's decoder."""
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    out = []
    for message in buffer:
        headers = dict(message.headers)
        if headers[":message-type"] == "event":
            assert headers[":event-type"] == "chunk"
            out.append(("event", json.loads(base64.b64decode(json.loads(message.payload)["bytes"]))))
        else:
            out.append((headers[":exception-type"], json.loads(message.payload)))
    return out


def sse_bytes(events):
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e, ensure_ascii=False)}\n\n".encode() for e in events)


# (name, Anthropic events, the decoded frames)
STREAMS = [
    ("text_without_pings", TEXT_EVENTS, [("event", e) for e in TEXT_EVENTS if e["type"] != "ping"]),
    ("error_becomes_exception", ERROR_EVENTS,
     [("event", START), ("serviceUnavailableException", {"message": "busy"})]),
]


@pytest.mark.parametrize(("events", "expected"), [c[1:] for c in STREAMS], ids=[c[0] for c in STREAMS])
def test_stream_encoding_at_every_byte_boundary(events, expected):
    """The upstream's SSE split anywhere, parsed, then encoded once per batch as the session does."""
    raw = sse_bytes(events)
    for split in range(len(raw) + 1):
        parser, encoder = SSEParser(), BedrockEventStream()
        out = b""
        for piece in (raw[:split], raw[split:]):
            batch = parser.feed(piece)
            if batch:
                out += encoder.encode(batch)
        out += encoder.encode(parser.flush()) + encoder.end()
        assert decoded(out) == expected, f"split at {split}"


def test_stream_keepalive_and_untyped_events_send_nothing():
    encoder = BedrockEventStream()
    assert encoder.keepalive(False) == encoder.keepalive(True) == b""
    assert frame(StreamEvent("message", {"_text": "not json"})) == b""
    assert frame(StreamEvent("ping", {"type": "ping"})) == b""
    assert decoded(frame(StreamEvent("error", {"error": {"type": "rate_limit_error", "message": "m"}}))) == [
        ("throttlingException", {"message": "m"})]
