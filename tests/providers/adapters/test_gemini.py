"""Native Gemini adapter: table-driven request/response cases and replayed SSE transcripts."""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path

import pytest

from providers.adapters import REGISTRY
from providers.adapters.base import ChatRequest, Target, UpstreamRequest, loads
from providers.adapters.gemini import GeminiAdapter
from providers.adapters.gemini.request import upstream_url
from providers.adapters.gemini.response import translate_response
from providers.adapters.gemini.stream import GeminiStreamTranslator
from providers.sse import SSEParser
from tests.providers import casekit
from tests.providers.adapters.test_openai_compat import (
    assert_grammar,
    tool_inputs,
    typical_claude_code_request,
)
from tests.providers.casekit import assert_subset, stream_replay, stream_upstream

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "cases" / "gemini"
TRANSCRIPTS = ROOT / "transcripts" / "gemini"
ADAPTER = GeminiAdapter()
BASE_TARGET = {"kind": "gemini", "base_url": "http://127.0.0.1:9999", "model": "gemini-3-pro-preview"}


def counter_ids():
    counter = itertools.count(1)
    return lambda prefix: f"{prefix}gen{next(counter)}"


def translate(case):
    req = ChatRequest(body=case["input"], beta=tuple(case.get("beta", ())))
    return ADAPTER.translate_request(req, casekit.make_target(BASE_TARGET, case.get("target", {})))


def test_registry_lists_gemini_with_its_key_header():
    assert isinstance(REGISTRY["gemini"], GeminiAdapter)
    assert GeminiAdapter.spec.auth.key_header == "x-goog-api-key" and GeminiAdapter.spec.auth.key_prefix == ""


# -- requests ---------------------------------------------------------------------------------------


@casekit.load_cases("gemini", "request_")
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


def test_translate_request_leaks_nothing_anthropic_only():
    for path in sorted(CASES.glob("request_*.json")):
        case = json.loads(path.read_text())
        raw = translate(case).body
        for word in (b"cache_control", b"gemini.", b"input_schema", b"anthropic", b"metadata", b"redacted",
                     b"tool_use", b"toolu_", b"budget_tokens", b"EqQB", b"\"signature\"", b"context_management"):
            if not (word == b"toolu_" and b"[tool result toolu_" in raw):
                assert word not in raw, (case["name"], word)


@pytest.mark.parametrize("base,stream,expected", [
    ("https://generativelanguage.googleapis.com", False,
     "https://generativelanguage.googleapis.com/v1beta/models/gemini-3-pro-preview:generateContent"),
    ("https://generativelanguage.googleapis.com/", True,
     "https://generativelanguage.googleapis.com/v1beta/models/gemini-3-pro-preview:streamGenerateContent?alt=sse"),
    ("http://127.0.0.1:1/v1", True, "http://127.0.0.1:1/v1/models/gemini-3-pro-preview:streamGenerateContent?alt=sse"),
])
def test_upstream_url_adds_version_and_method(base, stream, expected):
    assert upstream_url(Target(kind="gemini", base_url=base, model="gemini-3-pro-preview"), stream) == expected


def test_translate_request_headers_meta_and_no_stream_field():
    case = {"input": {"model": "claude-opus-4-8", "max_tokens": 10, "stream": True,
                      "messages": [{"role": "user", "content": "hi"}]}, "target": {"headers": {"x-extra": "1"}}}
    up = translate(case)
    assert up.headers == {"content-type": "application/json", "x-extra": "1"}
    assert up.stream is True and up.url.endswith(":streamGenerateContent?alt=sse")
    assert "stream" not in loads(up.body) and "model" not in loads(up.body)
    assert up.requested_model == "claude-opus-4-8" and 0 < up.input_estimate < 100


def test_translate_request_typical_claude_code_request_is_fast():
    req = ChatRequest(body=typical_claude_code_request())
    target = casekit.make_target(BASE_TARGET, {"max_tokens_cap": 65536})
    body = loads(ADAPTER.translate_request(req, target).body)
    assert len(body["tools"][0]["functionDeclarations"]) == 20
    assert b"additionalProperties" not in json.dumps(body).encode()
    # every history tool step lost its signature (Anthropic thinking blocks): the stand-in fills them
    steps = [c for c in body["contents"] if c["role"] == "model"]
    assert all(c["parts"][-1]["thoughtSignature"] == "skip_thought_signature_validator" for c in steps)
    start = time.process_time()
    for _ in range(100):
        ADAPTER.translate_request(req, target)
    per_request = (time.process_time() - start) / 100
    assert per_request < 0.01, per_request


# -- responses --------------------------------------------------------------------------------------


@casekit.load_cases("gemini", "response_")
def test_translate_response_case(case):
    up = UpstreamRequest(url="", body=b"", headers={}, stream=False, requested_model=case.get("model", "claude-x"),
                         tool_names=case.get("tool_names", {}), input_estimate=case.get("input_estimate", 0))
    resp = translate_response(200, case["upstream"], up, counter_ids())
    if case.get("exact"):
        assert resp.body == case["expected"]
    else:
        assert_subset(case["expected"], resp.body)
    assert resp.status == 200


def test_translate_response_signatures_survive_a_round_trip():
    """A reply's blocks, sent back as history, put every signature back on its own part."""
    parts = [{"text": "plan", "thought": True}, {"functionCall": {"name": "Bash", "args": {"command": "ls"}},
                                                 "thoughtSignature": "SIG-FC"},
             {"functionCall": {"name": "Read", "args": {"p": 1}}}]
    up = UpstreamRequest(url="", body=b"", headers={}, stream=False)
    reply = translate_response(200, {"candidates": [{"content": {"role": "model", "parts": parts},
                                                     "finishReason": "STOP"}]}, up, counter_ids())
    history = {"model": "m", "max_tokens": 5, "messages": [
        {"role": "user", "content": "go"}, {"role": "assistant", "content": reply.body["content"]}]}
    sent = loads(ADAPTER.translate_request(ChatRequest(body=history), Target(**BASE_TARGET)).body)
    assert sent["contents"][1] == {"role": "model", "parts": parts}


def test_translate_response_error_object_with_200_raises():
    from providers.adapters.base import AdapterError
    up = UpstreamRequest(url="", body=b"", headers={}, stream=False)
    with pytest.raises(AdapterError) as info:
        ADAPTER.translate_response(200, {"error": {"code": 429, "message": "Quota", "status": "RESOURCE_EXHAUSTED"}}, up)
    assert info.value.status == 429 and info.value.retryable


# -- errors -----------------------------------------------------------------------------------------


def gerr(code, status, message):
    return json.dumps({"error": {"code": code, "message": message, "status": status}}).encode()


ERROR_CASES = [
    (429, gerr(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."), {"retry-after": "3"},
     (429, "rate_limit_error", True, 3.0, "Resource has been exhausted")),
    (500, gerr(500, "INTERNAL", "An internal error has occurred."), {}, (502, "api_error", True, None, "internal error")),
    (503, gerr(503, "UNAVAILABLE", "The model is overloaded."), {}, (529, "overloaded_error", True, None, "overloaded")),
    (504, gerr(504, "DEADLINE_EXCEEDED", "Deadline exceeded"), {}, (502, "api_error", True, None, "Deadline")),
    (400, gerr(400, "INVALID_ARGUMENT", "Function call is missing a thought_signature in functionCall parts."), {},
     (400, "invalid_request_error", False, None, "thought_signature")),
    (400, gerr(400, "INVALID_ARGUMENT",
               "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."), {},
     (400, "invalid_request_error", False, None, "prompt is too long: The input token count")),
    (404, gerr(404, "NOT_FOUND", "models/gemini-9 is not found"), {}, (404, "not_found_error", False, None, "not found")),
]


@pytest.mark.parametrize("status,body,headers,expected", ERROR_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(ERROR_CASES)])
def test_classify_error_maps_status(status, body, headers, expected):
    err = ADAPTER.classify_error(status, body, headers)
    assert (err.status, err.error_type, err.retryable, err.retry_after) == expected[:4]
    assert expected[4] in err.message


@pytest.mark.parametrize("status", [400, 403])
def test_classify_error_bad_key_never_echoes_it(status):
    body = gerr(status, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
    err = ADAPTER.classify_error(status, body, {})
    assert err.status == 502 and not err.retryable and "credentials" in err.message


# -- streams ----------------------------------------------------------------------------------------

TRANSCRIPT_FILES = sorted(TRANSCRIPTS.glob("*.sse"))


def replay(meta, chunks):
    up = stream_upstream(meta)
    translator = GeminiStreamTranslator(up, counter_ids())
    return stream_replay(SSEParser(), translator, chunks)


def expected_for(path):
    return json.loads(path.with_suffix(".expected.json").read_text())


@pytest.mark.parametrize("path", TRANSCRIPT_FILES, ids=[p.stem for p in TRANSCRIPT_FILES])
def test_stream_translator_transcript_matches_expected(path):
    expected = expected_for(path)
    events, stats = replay(expected.get("meta", {}), [path.read_bytes()])
    if os.environ.get("GEMINI_RECORD"):  # regenerate after a deliberate change, then review the diff
        path.with_suffix(".expected.json").write_text(
            json.dumps({**expected, "events": events}, indent=1, ensure_ascii=False) + "\n")
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


def test_stream_translator_flush_without_anything_is_an_error():
    translator = ADAPTER.stream_translator(UpstreamRequest(url="", body=b"", headers={}, stream=True))
    assert [e.event for e in translator.flush()] == ["error"]
    assert translator.stats.error == "upstream stream ended unexpectedly" and not translator.stats.finished
    assert translator.flush() == []


def test_translate_response_empty_body_raises_a_retryable_error():
    from providers.adapters.base import AdapterError
    up = UpstreamRequest(url="", body=b"", headers={}, stream=False)
    with pytest.raises(AdapterError) as info:
        ADAPTER.translate_response(200, {}, up)
    assert info.value.status == 502 and info.value.retryable
