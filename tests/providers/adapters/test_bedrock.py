"""Bedrock adapter and event-stream framer: table-driven cases, model ids, errors, binary frames."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from providers.adapters.base import ChatRequest, StreamEvent, UpstreamRequest, loads
from providers.adapters.bedrock import (
    MODEL_IDS,
    BedrockAdapter,
    BedrockStream,
    bedrock_model_id,
    normalize_model,
)
from providers.eventstream import EventStreamParser, event_parser_for
from providers.sse import SSEParser
from tests.fakes.bedrock_server import (
    bedrock_stream_events,
    chunk_frame,
    eventstream_message,
    exception_frame,
)
from tests.providers import casekit
from tests.providers.casekit import assert_subset

CASES = Path(__file__).resolve().parents[1] / "cases" / "bedrock"
ADAPTER = BedrockAdapter()
BASE_TARGET = {"kind": "bedrock", "base_url": "http://bedrock.test/", "model": "claude-sonnet-4-5"}


def load_cases(prefix):
    return casekit.load_cases("bedrock", prefix)


def make_target(fields):
    return casekit.make_target(BASE_TARGET, fields)








# -- requests and responses -------------------------------------------------------------------------


@load_cases("request_")
def test_translate_request_case(case):
    before = json.dumps(case["input"], sort_keys=True)
    req = ChatRequest(body=case["input"], beta=tuple(case.get("beta", ())))
    up = ADAPTER.translate_request(req, make_target(case.get("target", {})))
    body = loads(up.body)
    if case.get("exact"):
        assert body == case["expected"]
    else:
        assert_subset(case["expected"], body)
    for key in ("model", "stream", *case.get("absent", ())):
        assert key not in body, key
    assert body["anthropic_version"] == "bedrock-2023-05-31"
    if "url" in case:
        assert up.url == case["url"]
    assert up.stream is case.get("stream", False)
    assert up.requested_model == case["input"]["model"]
    for note in case.get("ledger", ()):
        assert note in up.ledger, (note, up.ledger)
    if "ledger_exact" in case:
        assert up.ledger == case["ledger_exact"]
    assert json.dumps(case["input"], sort_keys=True) == before, "input body was mutated"


@load_cases("response_")
def test_translate_response_case(case):
    up = UpstreamRequest(url="", body=b"", headers={}, stream=False, requested_model=case["model"])
    before = json.dumps(case["upstream"], sort_keys=True)
    resp = ADAPTER.translate_response(200, case["upstream"], up)
    if case.get("exact"):
        assert resp.body == case["expected"]
    else:
        assert_subset(case["expected"], resp.body)
    assert json.dumps(case["upstream"], sort_keys=True) == before


def test_translate_request_headers_never_carry_credentials_or_anthropic_headers():
    req = ChatRequest(body={"model": "m", "max_tokens": 5, "stream": True, "messages": []},
                      beta=("context-1m-2025-08-07",))
    up = ADAPTER.translate_request(req, make_target({"headers": {"x-extra": "1"}}))
    assert up.headers == {"content-type": "application/json", "accept": "application/vnd.amazon.eventstream",
                          "x-extra": "1"}
    assert loads(up.body)["anthropic_beta"] == ["context-1m-2025-08-07"]


# -- model ids --------------------------------------------------------------------------------------

MODEL_MAPPING = [
    ("claude-sonnet-4-5", {}, "anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("claude-sonnet-4-5-20250929", {}, "anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("claude-sonnet-4-0", {"region_prefix": "us"}, "us.anthropic.claude-sonnet-4-20250514-v1:0"),
    ("claude-opus-4-6", {"region_prefix": "eu"}, "eu.anthropic.claude-opus-4-6-v1"),
    ("claude-opus-4-8", {}, "anthropic.claude-opus-4-8"),
    ("claude-3-7-sonnet-20250219", {"region_prefix": "apac."}, "apac.anthropic.claude-3-7-sonnet-20250219-v1:0"),
    ("claude-3-5-sonnet-20241022", {}, "anthropic.claude-3-5-sonnet-20241022-v2:0"),
    ("claude-haiku-4-5", {"model_map": {"claude-haiku-4-5": "anthropic.claude-3-5-haiku-20241022-v1:0"}},
     "anthropic.claude-3-5-haiku-20241022-v1:0"),
    ("fast", {"model_map": {"fast": "us.anthropic.claude-haiku-4-5-20251001-v1:0"}, "region_prefix": "eu"},
     "us.anthropic.claude-haiku-4-5-20251001-v1:0"),
    ("us.anthropic.claude-sonnet-4-20250514-v1:0", {"region_prefix": "eu"}, "us.anthropic.claude-sonnet-4-20250514-v1:0"),
    ("anthropic.claude-3-haiku-20240307-v1:0", {"region_prefix": "us"}, "anthropic.claude-3-haiku-20240307-v1:0"),
    ("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x1", {"region_prefix": "us"},
     "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x1"),
]


@pytest.mark.parametrize("model,fields,expected", MODEL_MAPPING, ids=[m[0] for m in MODEL_MAPPING])
def test_bedrock_model_id(model, fields, expected):
    assert bedrock_model_id(make_target({"model": model, **fields})) == expected


NORMALIZE = [
    ("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4-20250514"),
    ("anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet-20241022"),
    ("eu.anthropic.claude-opus-4-6-v1", "claude-opus-4-6"),
    ("global.anthropic.claude-sonnet-4-6", "claude-sonnet-4-6"),
    ("apac.anthropic.claude-3-7-sonnet-20250219-v1:0", "claude-3-7-sonnet-20250219"),
    ("us-gov.anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku-20240307"),
    ("jp.anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5-20251001"),
    ("us.anthropic.claude-sonnet-4-20250514-v1%3A0", "claude-sonnet-4-20250514"),
    ("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku-20240307"),
    ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
     "claude-sonnet-4-5-20250929"),
    # unchanged: Claude names, opaque profiles, other vendors, a "-v" that is not a version
    ("claude-sonnet-4-5", "claude-sonnet-4-5"),
    ("claude-opus-4-8", "claude-opus-4-8"),
    ("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
     "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3"),
    ("amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"),
    ("us.meta.llama3-3-70b-instruct-v1:0", "us.meta.llama3-3-70b-instruct-v1:0"),
    ("anthropic.claude-v-next", "claude-v-next"),
    ("gpt-4o", "gpt-4o"),
    ("", ""),
]


@pytest.mark.parametrize("name,expected", NORMALIZE, ids=[n[0] or "empty" for n in NORMALIZE])
def test_normalize_model(name, expected):
    assert normalize_model(name) == expected


@pytest.mark.parametrize("bedrock_id", sorted(set(MODEL_IDS.values())))
@pytest.mark.parametrize("prefix", ["", "us", "global"])
def test_normalize_model_round_trips_the_table(bedrock_id, prefix):
    claude = normalize_model(f"{prefix}.{bedrock_id}" if prefix else bedrock_id)
    assert claude.startswith("claude-") and "." not in claude
    assert bedrock_model_id(make_target({"model": claude, "region_prefix": prefix})) == (
        f"{prefix}.{bedrock_id}" if prefix else bedrock_id)


# -- errors -----------------------------------------------------------------------------------------


def amzn(name):
    return {"x-amzn-errortype": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/"}


ERROR_CASES = [
    # status, body, headers, expected (status, type, retryable, retry_after, message substring)
    (429, b'{"message":"Too many requests, please wait before trying again."}',
     {**amzn("ThrottlingException"), "retry-after": "3"}, (429, "rate_limit_error", True, 3.0, "Too many requests")),
    (429, b'{"__type":"com.amazon.coral.service#ThrottlingException","message":"Rate exceeded"}', {},
     (429, "rate_limit_error", True, None, "Rate exceeded")),
    (400, b'{"message":"Your request exceeds the service quota for your account."}',
     amzn("ServiceQuotaExceededException"), (429, "rate_limit_error", True, None, "service quota")),
    (503, b'{"message":"Bedrock is unable to process your request."}', amzn("ServiceUnavailableException"),
     (503, "overloaded_error", True, None, "unable to process")),
    (429, b'{"message":"Model is not ready."}', amzn("ModelNotReadyException"), (503, "overloaded_error", True, None, "")),
    (500, b'{"message":"Internal server error"}', amzn("InternalServerException"), (500, "api_error", True, None, "Internal")),
    (424, b'{"message":"The model failed to stream."}', amzn("ModelStreamErrorException"), (502, "api_error", True, None, "stream")),
    (424, b'{"message":"The model errored."}', amzn("ModelErrorException"), (502, "api_error", True, None, "errored")),
    (408, b'{"message":"Model timed out."}', amzn("ModelTimeoutException"), (504, "timeout_error", True, None, "timed out")),
    (400, b'{"message":"Input is too long for requested model."}', amzn("ValidationException"),
     (400, "invalid_request_error", False, None, "prompt is too long: Input is too long")),
    (400, b'{"message":"The model returned the following errors: prompt is too long: 210000 tokens > 200000 maximum"}',
     amzn("ValidationException"), (400, "invalid_request_error", False, None, "prompt is too long: 210000 tokens")),
    (400, b'{"message":"The model returned the following errors: invalid beta flag"}', amzn("ValidationException"),
     (400, "invalid_request_error", False, None, "invalid beta flag")),
    (404, b'{"message":"The provided model identifier is invalid."}', amzn("ResourceNotFoundException"),
     (404, "not_found_error", False, None, "model identifier")),
    (502, b"<html>Bad Gateway</html>", {}, (502, "api_error", True, None, "Bad Gateway")),
    (529, b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', {},
     (529, "overloaded_error", True, None, "Overloaded")),
    (418, b'{"message":"teapot"}', amzn("SomethingNewException"), (418, "invalid_request_error", False, None, "teapot")),
]


@pytest.mark.parametrize("status,body,headers,expected", ERROR_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(ERROR_CASES)])
def test_classify_error(status, body, headers, expected):
    err = ADAPTER.classify_error(status, body, headers)
    assert (err.status, err.error_type, err.retryable, err.retry_after) == expected[:4]
    assert expected[4] in err.message


def test_classify_error_reads_the_header_case_insensitively():
    err = ADAPTER.classify_error(429, b'{"Message":"slow"}', httpx.Headers({"X-Amzn-ErrorType": "ThrottlingException"}))
    assert (err.status, err.retryable, err.message) == (429, True, "slow")


@pytest.mark.parametrize("name,message", [
    ("AccessDeniedException", "You don't have access to the model with the specified model ID."),
    ("UnrecognizedClientException", "The security token included in the request is invalid."),
    ("ExpiredTokenException", "The security token included in the request is expired"),
    ("InvalidSignatureException", "The request signature we calculated does not match the signature you provided. "
                                  "The Canonical String for this request should have been\n'POST\n/model/x/invoke'"),
])
def test_classify_error_credentials_are_502_without_fallback(name, message):
    err = ADAPTER.classify_error(403, json.dumps({"message": message}).encode(), amzn(name))
    assert (err.status, err.error_type, err.retryable) == (502, "api_error", False)
    assert "credentials" in err.message and name in err.message
    assert "Canonical String" not in err.message and "POST" not in err.message


# -- event stream -----------------------------------------------------------------------------------

TOOL = [("toolu_bdrk_1", "Write", {"file_path": "/tmp/ü.txt", "content": "x" * 40})]
TRANSCRIPTS = {
    "text": bedrock_stream_events("Grüße 🌍, streaming from Bedrock", usage=(40, 9)),
    "tool_use": bedrock_stream_events("Writing.", usage=(40, 9, 30), tool_uses=TOOL),
    "exception_mid_stream": bedrock_stream_events("partial answer")[:4],
}


def frames(name):
    raw = b"".join(chunk_frame(e) for e in TRANSCRIPTS[name])
    if name == "exception_mid_stream":
        raw += exception_frame("modelStreamErrorException", "The model stream failed.")
    return raw


def expected_events(name):
    out = []
    for event in TRANSCRIPTS[name]:
        data = {k: v for k, v in event.items() if k != "amazon-bedrock-invocationMetrics"}
        if data["type"] == "message_start":
            data["message"] = {**data["message"], "model": "claude-sonnet-5"}
        out.append([data["type"], data])
    if name == "exception_mid_stream":
        out.append(["error", {"type": "error", "error": {"type": "api_error", "message": "The model stream failed."}}])
    return out


def replay(chunks):
    parser, translator = EventStreamParser(), BedrockStream("claude-sonnet-5")
    out: list[StreamEvent] = []
    for chunk in chunks:
        for event in parser.feed(chunk):
            out += translator.feed(event)
    for event in parser.flush():
        out += translator.feed(event)
    out += translator.flush()
    assert all(e.raw is None for e in out), "bedrock events must be re-encoded"
    return [[e.event, e.data] for e in out], translator.stats


@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_eventstream_transcript_decodes_to_anthropic_events(name):
    events, stats = replay([frames(name)])
    assert events == expected_events(name)
    if name == "exception_mid_stream":
        assert stats.error == "The model stream failed." and not stats.finished
    else:
        assert stats.finished and stats.stop_reason in ("end_turn", "tool_use")
        assert (stats.input_tokens, stats.output_tokens) == (40, 9)


@pytest.mark.parametrize("name", sorted(TRANSCRIPTS))
def test_eventstream_transcript_split_at_every_byte(name):
    raw = frames(name)
    whole, _ = replay([raw])
    for i in range(1, len(raw)):
        split, _ = replay([raw[:i], raw[i:]])
        assert split == whole, f"split at byte {i}"


def test_eventstream_byte_by_byte_and_cache_usage():
    raw = frames("tool_use")
    events, stats = replay([raw[i:i + 1] for i in range(len(raw))])
    assert events == expected_events("tool_use")
    assert stats.cache_read_input_tokens == 30
    tool_json = "".join(d["delta"]["partial_json"] for n, d in events if n == "content_block_delta"
                        and d["delta"]["type"] == "input_json_delta")
    assert json.loads(tool_json) == TOOL[0][2]


@pytest.mark.parametrize("exception,error_type", [
    ("throttlingException", "rate_limit_error"),
    ("serviceUnavailableException", "overloaded_error"),
    ("internalServerException", "api_error"),
    ("modelTimeoutException", "timeout_error"),
    ("validationException", "invalid_request_error"),
    ("brandNewException", "api_error"),
])
def test_eventstream_exception_becomes_anthropic_error(exception, error_type):
    events, stats = replay([exception_frame(exception, "went wrong")])
    assert len(events) == 1 and events[0][0] == "error"
    assert events[0][1]["error"]["type"] == error_type
    assert "went wrong" in events[0][1]["error"]["message"]
    assert stats.error


def test_eventstream_error_message_type_and_ignored_events():
    error = eventstream_message({":message-type": "error", ":error-code": "InternalFailure",
                                 ":error-message": "boom"}, b"")
    other = eventstream_message({":message-type": "event", ":event-type": "initial-response",
                                 ":content-type": "application/json"}, b"{}")
    events, _ = replay([other + error])
    assert events == [["error", {"type": "error", "error": {"type": "api_error", "message": "InternalFailure: boom"}}]]


def test_eventstream_corrupt_crc_stops_with_one_error():
    good = chunk_frame({"type": "message_start", "message": {"content": [], "usage": {}}})
    bad = bytearray(chunk_frame({"type": "ping"}))
    bad[-1] ^= 0xFF
    parser = EventStreamParser()
    events = parser.feed(good + bytes(bad))
    assert [e.event for e in events] == ["message_start", "error"]
    assert "corrupt" in events[1].data["error"]["message"]
    assert parser.feed(good) == [] and parser.flush() == []


def test_eventstream_truncated_message_is_an_error_on_flush():
    raw = frames("text")
    parser = EventStreamParser()
    events = parser.feed(raw[:-7])
    assert events[-1].event == "message_delta"
    tail = parser.flush()
    assert [e.event for e in tail] == ["error"] and "ended inside a message" in tail[0].data["error"]["message"]
    assert EventStreamParser().flush() == []


@pytest.mark.parametrize("payload", [b"not json", b'{"nobytes": 1}', b'{"bytes": "%%%"}', b'{"bytes": "WzEsMl0="}'])
def test_eventstream_unreadable_chunk_is_an_error_event(payload):
    raw = eventstream_message({":message-type": "event", ":event-type": "chunk"}, payload)
    events = EventStreamParser().feed(raw)
    assert [e.event for e in events] == ["error"]


def test_event_parser_for_kind():
    assert isinstance(event_parser_for("bedrock"), EventStreamParser)
    anthropic, openai = event_parser_for("anthropic"), event_parser_for("openai_compat")
    assert isinstance(anthropic, SSEParser) and isinstance(openai, SSEParser)
    sse = b'event: ping\ndata: {"type": "ping"}\n\n'
    assert anthropic.feed(sse)[0].raw == sse and openai.feed(sse)[0].raw is None
