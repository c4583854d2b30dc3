"""OpenAI Responses adapter: table-driven request/response cases and replayed SSE transcripts."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest

from providers.adapters import REGISTRY
from providers.adapters.base import AdapterError, ChatRequest, StreamEvent, UpstreamRequest, loads
from providers.adapters.openai_responses import OpenAIResponsesAdapter
from providers.adapters.openai_responses.common import SIGNATURE_PREFIX, signature_decode, signature_encode
from providers.adapters.openai_responses.response import translate_response
from providers.adapters.openai_responses.stream import ResponsesStreamTranslator
from providers.sse import SSEParser
from tests.providers import casekit
from tests.providers.adapters.test_openai_compat import (
    assert_grammar,
    tool_inputs,
    typical_claude_code_request,
)
from tests.providers.casekit import assert_subset, stream_replay, stream_upstream

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "cases" / "openai_responses"
TRANSCRIPTS = ROOT / "transcripts" / "openai_responses"
ADAPTER = OpenAIResponsesAdapter()
BASE_TARGET = {"kind": "openai_responses", "base_url": "http://127.0.0.1:9999/v1", "model": "gpt-5-codex",
               "reasoning_effort": True}


def load_cases(prefix):
    return casekit.load_cases("openai_responses", prefix)


def counter_ids():
    counter = itertools.count(1)
    return lambda prefix: f"{prefix}gen{next(counter)}"


def translate(case):
    req = ChatRequest(body=case["input"], beta=tuple(case.get("beta", ())))
    return ADAPTER.translate_request(req, casekit.make_target(BASE_TARGET, case.get("target", {})))


def test_registry_lists_the_kind_with_a_label():
    assert isinstance(REGISTRY["openai_responses"], OpenAIResponsesAdapter)
    assert "Responses" in REGISTRY["openai_responses"].spec.label


# -- requests ---------------------------------------------------------------------------------------


@load_cases("request_")
def test_translate_request_case(case):
    before = json.dumps(case["input"], sort_keys=True)
    up = translate(case)
    body = loads(up.body)
    if case.get("exact"):
        assert body == case["expected"]
    else:
        assert_subset(case["expected"], body)
    for key in case.get("absent", ()):
        assert key not in body, key
    for note in case.get("ledger", ()):
        assert note in up.ledger, (note, up.ledger)
    if "tool_names" in case:
        assert up.tool_names == case["tool_names"]
    assert json.dumps(case["input"], sort_keys=True) == before, "input body was mutated"


def test_translate_request_leaks_nothing_anthropic_or_chat_only():
    for path in sorted(CASES.glob("request_*.json")):
        case = json.loads(path.read_text())
        body = loads(translate(case).body)
        raw = json.dumps(body).encode()
        for word in (b"cache_control", b"input_schema", b"anthropic", b"metadata", b"redacted", b"container",
                     b"mcp_servers", b"context_management", b"tool_use_id", b"budget_tokens"):
            assert word not in raw, (case["name"], word)
        for field in ("messages", "max_tokens", "stream_options", "stop", "max_completion_tokens",
                      "reasoning_effort", "top_k", "user"):
            assert field not in body, (case["name"], field)
        assert body["store"] is False


def test_translate_request_url_headers_and_meta():
    case = {"input": {"model": "claude-opus-4-8", "max_tokens": 10, "stream": True,
                      "messages": [{"role": "user", "content": "hi"}]},
            "target": {"base_url": "http://h:1/v1/", "headers": {"x-extra": "1"}}}
    up = translate(case)
    assert up.url == "http://h:1/v1/responses"
    assert up.headers == {"content-type": "application/json", "x-extra": "1"}
    assert up.stream is True and loads(up.body)["stream"] is True
    assert up.requested_model == "claude-opus-4-8"
    assert 0 < up.input_estimate < 100


def test_translate_request_honours_a_configured_path():
    case = {"input": {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
            "target": {"base_url": "https://r.openai.azure.com/openai/v1", "path": "/responses?api-version=preview"}}
    assert translate(case).url == "https://r.openai.azure.com/openai/v1/responses?api-version=preview"


def test_translate_request_typical_claude_code_request_is_fast():
    req = ChatRequest(body=typical_claude_code_request(), beta=("context-1m-2025-08-07",))
    target = casekit.make_target(BASE_TARGET, {"max_tokens_cap": 128000})
    up = ADAPTER.translate_request(req, target)
    body = loads(up.body)
    assert len(body["tools"]) == 20 and len(up.tool_names) == 2
    assert body["reasoning"] == {"effort": "high", "summary": "auto"}
    runs = 200
    start = time.process_time()
    for _ in range(runs):
        ADAPTER.translate_request(req, target)
    assert (time.process_time() - start) / runs < 0.005


# -- signatures -------------------------------------------------------------------------------------


def test_signature_round_trips_and_rejects_foreign_signatures():
    item = {"id": "rs_1", "type": "reasoning", "encrypted_content": "gAAAA==opaque", "summary": []}
    signature = signature_encode(item)
    assert signature.startswith(SIGNATURE_PREFIX)
    assert signature_decode(signature) == {"id": "rs_1", "encrypted_content": "gAAAA==opaque"}
    for foreign in ("", "EqQBCkgIARABGAIiQ", SIGNATURE_PREFIX + "!!!not-base64", SIGNATURE_PREFIX, None, 5):
        assert signature_decode(foreign) is None


# -- responses --------------------------------------------------------------------------------------


@load_cases("response_")
def test_translate_response_case(case):
    up = UpstreamRequest(url="", body=b"", headers={}, stream=False, requested_model=case.get("model", "claude-x"),
                         tool_names=case.get("tool_names", {}), input_estimate=case.get("input_estimate", 0))
    resp = translate_response(200, case["upstream"], up, counter_ids())
    if case.get("exact"):
        assert resp.body == case["expected"]
    else:
        assert_subset(case["expected"], resp.body)
    assert resp.status == 200


@pytest.mark.parametrize("body,status,error_type", [
    ({"id": "resp_1", "status": "failed", "output": [], "error": {"code": "server_error", "message": "boom"}},
     502, "api_error"),
    ({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
     429, "rate_limit_error"),
])
def test_translate_response_failed_raises(body, status, error_type):
    up = UpstreamRequest(url="", body=b"", headers={}, stream=False)
    with pytest.raises(AdapterError) as info:
        ADAPTER.translate_response(200, body, up)
    assert (info.value.status, info.value.error_type) == (status, error_type)


# -- errors -----------------------------------------------------------------------------------------

ERROR_CASES = [
    (429, b'{"error":{"message":"Rate limit reached for gpt-5","type":"requests","code":"rate_limit_exceeded"}}',
     {"retry-after": "3"}, (429, "rate_limit_error", True, 3.0)),
    (500, b'{"error":{"message":"server error","type":"server_error"}}', {}, (502, "api_error", True, None)),
    (503, b'{"error":{"message":"overloaded"}}', {}, (529, "overloaded_error", True, None)),
    (400, b'{"error":{"message":"Your input exceeds the context window of this model.",'
          b'"type":"invalid_request_error","code":"context_length_exceeded"}}', {},
     (400, "invalid_request_error", False, None)),
    (400, b'{"error":{"message":"Unknown parameter: \'messages\'.","type":"invalid_request_error",'
          b'"param":"messages","code":"unknown_parameter"}}', {}, (400, "invalid_request_error", False, None)),
    (401, b'{"error":{"message":"Incorrect API key provided: sk-abc***xyz"}}', {}, (502, "api_error", False, None)),
]


@pytest.mark.parametrize("status,body,headers,expected", ERROR_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(ERROR_CASES)])
def test_classify_error_maps_status(status, body, headers, expected):
    err = ADAPTER.classify_error(status, body, headers)
    assert (err.status, err.error_type, err.retryable, err.retry_after) == expected
    assert "sk-abc" not in err.message
    if b"context window" in body:
        assert err.message.startswith("prompt is too long")


# -- streams ----------------------------------------------------------------------------------------

TRANSCRIPT_FILES = sorted(TRANSCRIPTS.glob("*.sse"))


def replay(meta, chunks):
    up = stream_upstream(meta)
    translator = ResponsesStreamTranslator(up, counter_ids())
    return stream_replay(SSEParser(), translator, chunks)


def expected_for(path):
    return json.loads(path.with_suffix(".expected.json").read_text())


@pytest.mark.parametrize("path", TRANSCRIPT_FILES, ids=[p.stem for p in TRANSCRIPT_FILES])
def test_stream_translator_transcript_matches_expected(path):
    expected = expected_for(path)
    events, stats = replay(expected.get("meta", {}), [path.read_bytes()])
    assert events == expected["events"]
    for key, value in expected.get("stats", {}).items():
        assert getattr(stats, key) == value, key


@pytest.mark.parametrize("path", TRANSCRIPT_FILES, ids=[p.stem for p in TRANSCRIPT_FILES])
def test_stream_translator_transcript_split_at_every_byte(path):
    raw = path.read_bytes()
    meta = expected_for(path).get("meta", {})
    whole, _ = replay(meta, [raw])
    for i in range(1, len(raw)):
        split, _ = replay(meta, [raw[:i], raw[i:]])
        assert split == whole, f"split at byte {i}"


@pytest.mark.parametrize("path", TRANSCRIPT_FILES, ids=[p.stem for p in TRANSCRIPT_FILES])
def test_stream_translator_transcript_follows_anthropic_grammar(path):
    events, _ = replay(expected_for(path).get("meta", {}), [path.read_bytes()])
    assert_grammar(events)
    for block_input in tool_inputs(events):
        assert isinstance(json.loads(block_input), dict)


def test_stream_translator_signature_carries_the_encrypted_item_into_the_next_request():
    """The thinking block a stream produced, sent back in history, becomes the same reasoning item."""
    events, _ = replay({}, [(TRANSCRIPTS / "reasoning_summary_then_text.sse").read_bytes()])
    thinking = "".join(d["delta"].get("thinking", "") for n, d in events if n == "content_block_delta")
    signature = next(d["delta"]["signature"] for n, d in events
                     if n == "content_block_delta" and d["delta"]["type"] == "signature_delta")
    history = {"model": "m", "max_tokens": 100, "messages": [
        {"role": "user", "content": "fix it"},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": thinking, "signature": signature},
                                          {"type": "text", "text": "Done."}]},
        {"role": "user", "content": "thanks"}]}
    body = loads(translate({"input": history}).body)
    assert body["input"][1] == {"type": "reasoning", "id": "rs_68f1", "encrypted_content": "gAAAAABoEnc0ded-opaque-blob==",
                                "summary": [{"type": "summary_text", "text": thinking}]}
    assert body["include"] == ["reasoning.encrypted_content"]


def test_stream_translator_flush_without_anything_is_an_error():
    translator = ADAPTER.stream_translator(UpstreamRequest(url="", body=b"", headers={}, stream=True))
    events = translator.flush()
    assert [e.event for e in events] == ["error"]
    assert translator.stats.error and not translator.stats.finished
    assert translator.flush() == [] and translator.feed(StreamEvent("response.created", {})) == []


def test_stream_translator_is_fast():
    raw = (TRANSCRIPTS / "parallel_tool_calls_after_text.sse").read_bytes()
    events = SSEParser().feed(raw) + SSEParser().flush()
    up = UpstreamRequest(url="", body=b"", headers={}, stream=True, input_estimate=10)
    start = time.process_time()
    for _ in range(200):
        translator = ResponsesStreamTranslator(up)
        for event in events:
            translator.feed(event)
        translator.flush()
    assert (time.process_time() - start) / 200 < 0.002
