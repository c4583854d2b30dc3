"""Bedrock Converse adapter: table-driven request/response cases and recorded event-stream
transcripts replayed whole, split at every byte offset, and byte by byte."""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path

import pytest

from providers.adapters import REGISTRY
from providers.adapters.base import AdapterError, ChatRequest, Target, UpstreamRequest, loads
from providers.adapters.bedrock_converse import BedrockConverseAdapter
from providers.adapters.bedrock_converse.common import family_of
from providers.adapters.bedrock_converse.request import model_id, upstream_url
from providers.adapters.bedrock_converse.response import translate_response
from providers.adapters.bedrock_converse.stream import ConverseStreamTranslator
from providers.eventstream import EventStreamParser, event_parser_for
from providers.presets import PRESETS
from tests.fakes.bedrock_converse_server import ConverseRejection, validate_converse
from tests.providers import casekit
from tests.providers.adapters.test_openai_compat import (
    assert_grammar,
    tool_inputs,
    typical_claude_code_request,
)
from tests.providers.casekit import assert_subset, stream_replay, stream_upstream

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "cases" / "bedrock_converse"
TRANSCRIPTS = ROOT / "transcripts" / "bedrock_converse"
ADAPTER = BedrockConverseAdapter()
BASE_TARGET = {"kind": "bedrock_converse", "base_url": "https://bedrock-runtime.us-east-1.amazonaws.com",
               "model": "us.amazon.nova-pro-v1:0"}


def counter_ids():
    counter = itertools.count(1)
    return lambda prefix: f"{prefix}gen{next(counter)}"


def translate(case):
    req = ChatRequest(body=case["input"], beta=tuple(case.get("beta", ())))
    return ADAPTER.translate_request(req, casekit.make_target(BASE_TARGET, case.get("target", {})))


def test_registry_preset_label_and_adapter_attributes():
    assert isinstance(REGISTRY["bedrock_converse"], BedrockConverseAdapter)
    assert "Converse" in REGISTRY["bedrock_converse"].spec.label
    assert PRESETS["bedrock_converse"]["kind"] == "bedrock_converse"
    assert PRESETS["bedrock_converse"]["base_url"] == "https://bedrock-runtime.us-east-1.amazonaws.com"
    assert BedrockConverseAdapter.spec.auth.signing == REGISTRY["bedrock"].spec.auth.signing == "sigv4"
    assert isinstance(event_parser_for("bedrock_converse"), EventStreamParser)


# -- requests ---------------------------------------------------------------------------------------


@casekit.load_cases("bedrock_converse", "request_")
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


@casekit.load_cases("bedrock_converse", "request_")
def test_translate_request_case_passes_the_strict_fake(case):
    """Every translated case is a body the fake (Bedrock's validation rules) accepts."""
    validate_converse(loads(translate(case).body))


def test_translate_request_leaks_nothing_anthropic_only():
    for path in sorted(CASES.glob("request_*.json")):
        case = json.loads(path.read_text())
        raw = translate(case).body
        for word in (b"cache_control", b"input_schema", b"anthropic_version", b"metadata", b"\"type\":\"tool_use\"",
                     b"tool_result", b"max_tokens\"", b"context_management", b"is_error", b"\"stream\""):
            assert word not in raw, (case["name"], word)


@pytest.mark.parametrize("model,fields,expected", [
    ("us.amazon.nova-pro-v1:0", {}, "us.amazon.nova-pro-v1:0"),
    ("amazon.nova-pro-v1:0", {"region_prefix": "eu"}, "eu.amazon.nova-pro-v1:0"),
    ("us.meta.llama3-3-70b-instruct-v1:0", {"region_prefix": "eu"}, "us.meta.llama3-3-70b-instruct-v1:0"),
    ("nova", {"model_map": {"nova": "amazon.nova-lite-v1:0"}, "region_prefix": "us"}, "us.amazon.nova-lite-v1:0"),
    ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/x", {"region_prefix": "us"},
     "arn:aws:bedrock:us-east-1:123456789012:inference-profile/x"),
])
def test_model_id_prefix_and_map(model, fields, expected):
    assert model_id(casekit.make_target(BASE_TARGET, {"model": model, **fields})) == expected


def test_upstream_url_encodes_the_model_id():
    target = Target(kind="bedrock_converse", base_url="http://127.0.0.1:1/", model="us.amazon.nova-pro-v1:0")
    assert upstream_url(target, False) == "http://127.0.0.1:1/model/us.amazon.nova-pro-v1%3A0/converse"
    assert upstream_url(target, True) == "http://127.0.0.1:1/model/us.amazon.nova-pro-v1%3A0/converse-stream"


@pytest.mark.parametrize("model,thinking,history", [
    ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic", True),
    ("amazon.nova-2-lite-v1:0", "nova", True), ("amazon.nova-pro-v1:0", "", False),
    ("us.deepseek.r1-v1:0", "", True), ("meta.llama4-scout-17b-instruct-v1:0", "", False),
    ("mistral.mistral-large-2407-v1:0", "", False), ("qwen.qwen3-32b-v1:0", "", True),
    ("openai.gpt-oss-20b-1:0", "effort", True), ("cohere.command-r-v1:0", "", False),
])
def test_family_of_model_ids(model, thinking, history):
    family = family_of(model)
    assert (family.thinking, family.reasoning_history) == (thinking, history)


def test_translate_request_headers_meta_and_typical_claude_code_request_is_fast():
    req = ChatRequest(body=typical_claude_code_request())
    target = casekit.make_target(BASE_TARGET, {"max_tokens_cap": 10000, "headers": {"x-extra": "1"}})
    up = ADAPTER.translate_request(req, target)
    body = loads(up.body)
    assert up.headers["x-extra"] == "1" and up.headers["content-type"] == "application/json"
    assert len(body["toolConfig"]["tools"]) == 20 and up.input_estimate > 100
    validate_converse(body)
    start = time.process_time()
    for _ in range(100):
        ADAPTER.translate_request(req, target)
    per_request = (time.process_time() - start) / 100
    assert per_request < 0.01, per_request


@pytest.mark.parametrize("body,message", [
    ({"messages": [{"role": "user", "content": [{"text": "x"}]}], "anthropic_version": "bedrock-2023-05-31"},
     "anthropic_version"),
    ({"messages": [{"role": "user", "content": [{"text": "x"}]}], "max_tokens": 5}, "max_tokens"),
    ({"messages": [{"role": "user", "content": [{"toolResult": {"toolUseId": "nope", "content": []}}]}],
      "toolConfig": {"tools": []}}, "no matching toolUse"),
    ({"messages": [{"role": "user", "content": [{"text": " "}]}]}, "blank"),
    ({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]}, "alternate"),
])
def test_fake_rejects_what_bedrock_rejects(body, message):
    with pytest.raises(ConverseRejection, match=message):
        validate_converse(body)


# -- responses --------------------------------------------------------------------------------------


@casekit.load_cases("bedrock_converse", "response_")
def test_translate_response_case(case):
    up = UpstreamRequest(url="", body=b"", headers={}, stream=False, requested_model=case.get("model", "claude-x"),
                         tool_names=case.get("tool_names", {}), input_estimate=case.get("input_estimate", 0))
    resp = translate_response(200, case["upstream"], up, counter_ids())
    if case.get("exact"):
        assert resp.body == case["expected"]
    else:
        assert_subset(case["expected"], resp.body)
    assert resp.status == 200


def test_translate_response_without_output_is_retryable():
    with pytest.raises(AdapterError) as info:
        ADAPTER.translate_response(200, {"stopReason": "end_turn"}, UpstreamRequest(url="", body=b"", headers={},
                                                                                    stream=False))
    assert info.value.status == 502 and info.value.retryable


ERROR_CASES = [
    (429, {"x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/coral/"}, b'{"message":"Too many"}',
     (429, "rate_limit_error", True)),
    (400, {"x-amzn-errortype": "ValidationException"}, b'{"message":"Input is too long for requested model."}',
     (400, "invalid_request_error", False)),
    (403, {"x-amzn-errortype": "AccessDeniedException"}, b'{"message":"You don\'t have access to the model"}',
     (502, "api_error", False)),
    (503, {"x-amzn-errortype": "ServiceUnavailableException"}, b'{"message":"busy"}', (503, "overloaded_error", True)),
]


@pytest.mark.parametrize("status,headers,body,expected", ERROR_CASES, ids=[str(c[0]) for c in ERROR_CASES])
def test_classify_error_reads_bedrock_error_names(status, headers, body, expected):
    err = ADAPTER.classify_error(status, body, headers)
    assert (err.status, err.error_type, err.retryable) == expected
    if status == 400:
        assert err.message.startswith("prompt is too long")


# -- streams ----------------------------------------------------------------------------------------

TRANSCRIPT_FILES = sorted(TRANSCRIPTS.glob("*.eventstream"))
META = {"text_then_parallel_tools": {"tool_names": {"mcp__x_abcdef12": "mcp__x.y"}}}


def replay(name, chunks):
    meta = META.get(name, {})
    up = stream_upstream({**meta, "input_estimate": 100}, model="claude-x")
    parser, translator = event_parser_for("bedrock_converse"), ConverseStreamTranslator(up, counter_ids())
    return stream_replay(parser, translator, chunks)


def expected_for(path):
    return json.loads(path.with_suffix(".expected.json").read_text())


@pytest.mark.parametrize("path", TRANSCRIPT_FILES, ids=[p.stem for p in TRANSCRIPT_FILES])
def test_stream_transcript_matches_expected(path):
    events, stats = replay(path.stem, [path.read_bytes()])
    if os.environ.get("CONVERSE_RECORD"):  # regenerate after a deliberate change, then review the diff
        stat_keys = ("stop_reason", "finished", "error", "input_tokens", "output_tokens", "cache_read_input_tokens",
                     "cache_creation_input_tokens")
        path.with_suffix(".expected.json").write_text(json.dumps(
            {"events": events, "stats": {k: getattr(stats, k) for k in stat_keys}}, indent=1, ensure_ascii=False) + "\n")
    expected = expected_for(path)
    assert events == expected["events"]
    for key, value in expected["stats"].items():
        assert getattr(stats, key) == value, key


@pytest.mark.parametrize("path", TRANSCRIPT_FILES, ids=[p.stem for p in TRANSCRIPT_FILES])
def test_stream_transcript_split_at_every_byte(path):
    raw = path.read_bytes()
    whole, _ = replay(path.stem, [raw])
    for i in range(1, len(raw)):
        split, _ = replay(path.stem, [raw[:i], raw[i:]])
        assert split == whole, f"split at byte {i}"
    assert replay(path.stem, [raw[i:i + 1] for i in range(len(raw))])[0] == whole


@pytest.mark.parametrize("path", TRANSCRIPT_FILES, ids=[p.stem for p in TRANSCRIPT_FILES])
def test_stream_transcript_follows_anthropic_grammar(path):
    events, stats = replay(path.stem, [path.read_bytes()])
    if stats.finished:
        assert_grammar(events)
    else:
        assert events[-1][0] == "error" and all(name != "message_stop" for name, _ in events)
    for block_input in tool_inputs(events):
        assert isinstance(json.loads(block_input), dict)


def test_stream_flush_without_anything_is_an_error():
    translator = ADAPTER.stream_translator(UpstreamRequest(url="", body=b"", headers={}, stream=True))
    assert [e.event for e in translator.flush()] == ["error"]
    assert translator.stats.error == "upstream stream ended unexpectedly" and not translator.stats.finished
    assert translator.flush() == []
