"""Vertex adapter: table-driven request/response cases, model ids, errors, the SSE transcript."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from providers.adapters import REGISTRY
from providers.adapters.base import AdapterError, ChatRequest, UpstreamRequest, loads
from providers.adapters.vertex import VertexAdapter, normalize_model, vertex_model_id
from providers.sse import SSEParser
from tests.providers import casekit
from tests.providers.casekit import assert_subset

CASES = Path(__file__).resolve().parent / "cases" / "vertex"
ADAPTER = VertexAdapter()
BASE_TARGET = {"kind": "vertex", "base_url": "http://vertex.test", "model": "claude-sonnet-4-5",
               "project": "proj-1", "region": "us-east5"}


def make_target(fields):
    return casekit.make_target(BASE_TARGET, fields)


@casekit.load_cases("vertex", "request_")
def test_translate_request_case(case):
    before = json.dumps(case["input"], sort_keys=True)
    req = ChatRequest(body=case["input"], beta=tuple(case.get("beta", ())))
    up = ADAPTER.translate_request(req, make_target(case.get("target", {})))
    body = loads(up.body)
    if case.get("exact"):
        assert body == case["expected"]
    else:
        assert_subset(case["expected"], body)
    assert "model" not in body
    assert body["anthropic_version"] == "vertex-2023-10-16"
    if "url" in case:
        assert up.url == case["url"]
    if "headers" in case:
        assert up.headers == case["headers"]
    assert up.stream is case.get("stream", False)
    assert up.requested_model == case["input"]["model"]
    for note in case.get("ledger", ()):
        assert note in up.ledger, (note, up.ledger)
    assert json.dumps(case["input"], sort_keys=True) == before, "input body was mutated"


@casekit.load_cases("vertex", "response_")
def test_translate_response_case(case):
    up = UpstreamRequest(url="", body=b"", headers={}, stream=False, requested_model=case["model"])
    resp = ADAPTER.translate_response(200, case["upstream"], up)
    if case.get("exact"):
        assert resp.body == case["expected"]
    else:
        assert_subset(case["expected"], resp.body)


def test_registered_with_label_and_google_auth_scheme():
    assert isinstance(REGISTRY["vertex"], VertexAdapter)
    assert "Vertex" in REGISTRY["vertex"].spec.label
    assert REGISTRY["vertex"].spec.auth.token == "google"


def test_translate_request_without_project_is_a_retryable_provider_error():
    req = ChatRequest(body={"model": "m", "max_tokens": 5, "messages": []})
    with pytest.raises(AdapterError) as info:
        ADAPTER.translate_request(req, make_target({"project": ""}))
    assert info.value.retryable and info.value.status == 502 and "options.project" in info.value.message


def test_translate_request_headers_never_carry_credentials_or_version_header():
    req = ChatRequest(body={"model": "m", "max_tokens": 5, "messages": []}, anthropic_version="2023-06-01")
    up = ADAPTER.translate_request(req, make_target({"headers": {"x-extra": "1"}}))
    assert up.headers == {"content-type": "application/json", "x-extra": "1"}


MODEL_IDS = [
    ("claude-sonnet-4-5", {}, "claude-sonnet-4-5@20250929"),
    ("claude-sonnet-4-5-20250929", {}, "claude-sonnet-4-5@20250929"),
    ("claude-haiku-4-5", {}, "claude-haiku-4-5@20251001"),
    ("claude-3-5-haiku-20241022", {}, "claude-3-5-haiku@20241022"),
    ("claude-opus-4-6", {}, "claude-opus-4-6"),
    ("claude-opus-4-8", {}, "claude-opus-4-8"),
    ("claude-opus-4-1@20250805", {}, "claude-opus-4-1@20250805"),
    ("fast", {"model_map": {"fast": "claude-haiku-4-5@20251001"}}, "claude-haiku-4-5@20251001"),
]


@pytest.mark.parametrize("model,fields,expected", MODEL_IDS, ids=[m[0] for m in MODEL_IDS])
def test_vertex_model_id(model, fields, expected):
    assert vertex_model_id(make_target({"model": model, **fields})) == expected


@pytest.mark.parametrize("name,expected", [
    ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5-20250929"),
    ("claude-haiku-4-5@20251001", "claude-haiku-4-5-20251001"),
    ("claude-opus-4-6", "claude-opus-4-6"),
    ("claude-3-7-sonnet@20250219", "claude-3-7-sonnet-20250219"),
    ("@weird", "@weird"),
])
def test_normalize_model(name, expected):
    assert normalize_model(name) == expected


@pytest.mark.parametrize("status,body,expected", [
    (429, {"error": {"code": 429, "message": "Quota exceeded for aiplatform.googleapis.com", "status":
                     "RESOURCE_EXHAUSTED"}}, (429, "rate_limit_error", True)),
    (401, {"error": {"code": 401, "message": "Request had invalid authentication credentials.",
                     "status": "UNAUTHENTICATED"}}, (502, "api_error", False)),
    (404, [{"error": {"code": 404, "message": "Publisher Model was not found", "status": "NOT_FOUND"}}],
     (404, "not_found_error", False)),
    (529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
     (529, "overloaded_error", True)),
    (400, {"type": "error", "error": {"type": "invalid_request_error", "message": "prompt is too long: 300000"}},
     (400, "invalid_request_error", False)),
], ids=["quota", "unauthenticated", "model-not-found", "overloaded", "too-long"])
def test_classify_error(status, body, expected):
    err = ADAPTER.classify_error(status, json.dumps(body).encode(), {})
    assert (err.status, err.error_type, err.retryable) == expected
    assert err.message and "{" not in err.message[:1]


def _replay(raw: bytes, split: int):
    parser, stream = SSEParser(), ADAPTER.stream_translator(
        UpstreamRequest(url="", body=b"", headers={}, stream=True, requested_model="claude-sonnet-5"))
    out = []
    for piece in (raw[:split], raw[split:]):
        for event in parser.feed(piece):
            out.extend(stream.feed(event))
    for event in parser.flush():
        out.extend(stream.feed(event))
    return out + stream.flush(), stream.stats


def test_stream_transcript_split_at_every_byte():
    raw = (CASES / "stream_tool_use.sse").read_bytes()
    whole, _ = _replay(raw, len(raw))
    assert [e.data["type"] for e in whole][:2] == ["message_start", "ping"]
    assert whole[0].data["message"]["model"] == "claude-sonnet-5"
    for split in range(len(raw) + 1):
        events, stats = _replay(raw, split)
        assert [(e.event, e.data) for e in events] == [(e.event, e.data) for e in whole], split
        assert (stats.input_tokens, stats.output_tokens, stats.cache_read_input_tokens) == (50, 9, 7)
        assert stats.stop_reason == "tool_use" and stats.finished and stats.first_content
