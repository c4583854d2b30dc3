"""Gemini on Vertex AI (the gemini_vertex kind): URL cases, the shared body rules, a Vertex-shaped
SSE transcript replayed at every byte offset, and what the registry entry tells client.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from providers.adapters import KIND_LABELS, REGISTRY
from providers.adapters.base import AdapterError, ChatRequest, Target, UpstreamRequest, loads
from providers.adapters.gemini import GeminiAdapter, GeminiVertexAdapter
from providers.adapters.gemini.vertex import model_id, vertex_url
from providers.sse import SSEParser
from tests.providers import casekit
from tests.providers.adapters.test_gemini import counter_ids, typical_claude_code_request
from tests.providers.adapters.test_openai_compat import assert_grammar, tool_inputs
from tests.providers.casekit import assert_subset, stream_replay, stream_upstream

ROOT = Path(__file__).resolve().parents[1]
TRANSCRIPTS = ROOT / "transcripts" / "gemini_vertex"
ADAPTER = GeminiVertexAdapter()
BASE_TARGET = {"kind": "gemini_vertex", "base_url": "http://127.0.0.1:9999", "model": "gemini-2.5-pro",
               "project": "proj-1", "region": "us-central1"}


def translate(case):
    req = ChatRequest(body=case["input"], beta=tuple(case.get("beta", ())))
    return ADAPTER.translate_request(req, casekit.make_target(BASE_TARGET, case.get("target", {})))


def test_registry_entry_carries_the_differences_as_data():
    adapter = REGISTRY["gemini_vertex"]
    assert isinstance(adapter, GeminiVertexAdapter) and "Vertex" in KIND_LABELS["gemini_vertex"]
    assert adapter.auth_scheme == "google"  # client.py mints a Google OAuth token
    assert not hasattr(adapter, "auth_header")  # never an x-goog-api-key
    assert not hasattr(adapter, "models_url")  # no unauthenticated health read
    assert not hasattr(REGISTRY["gemini"], "auth_scheme")


@casekit.load_cases("gemini_vertex", "request_")
def test_translate_request_case(case):
    before = json.dumps(case["input"], sort_keys=True)
    up = translate(case)
    body = loads(up.body)
    assert up.url == case["url"]
    if case.get("exact"):
        assert body == case["expected"]
    else:
        assert_subset(case["expected"], body)
    for key in case.get("absent", ()):
        assert key not in body, key
    assert all(c.get("role") in ("user", "model") for c in body["contents"])  # Vertex insists
    assert json.dumps(case["input"], sort_keys=True) == before, "input body was mutated"


def test_translate_request_body_is_the_developer_apis():
    """One body, two addresses: only the URL differs from the gemini kind."""
    req = ChatRequest(body=typical_claude_code_request())
    vertex = ADAPTER.translate_request(req, Target(**BASE_TARGET, max_tokens_cap=65536))
    developer = GeminiAdapter().translate_request(req, Target(**{**BASE_TARGET, "kind": "gemini"}, max_tokens_cap=65536))
    assert vertex.body == developer.body and vertex.ledger == developer.ledger
    assert vertex.url != developer.url and developer.url.endswith("/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse")
    assert vertex.headers == {"content-type": "application/json"}


def test_translate_request_without_project_is_a_provider_failure():
    with pytest.raises(AdapterError) as info:
        ADAPTER.translate_request(ChatRequest(body={"model": "m", "max_tokens": 5, "messages": []}),
                                  Target(**{**BASE_TARGET, "project": "", "provider": "vtx"}))
    assert info.value.status == 502 and info.value.retryable and "vtx" in info.value.message


@pytest.mark.parametrize("name,expected", [
    ("gemini-2.5-pro", "gemini-2.5-pro"), ("google/gemini-2.5-flash", "gemini-2.5-flash"),
    ("projects/p/locations/global/publishers/google/models/gemini-3-pro-preview", "gemini-3-pro-preview"),
])
def test_model_id_accepts_resource_paths(name, expected):
    assert model_id(name) == expected


def test_vertex_url_quotes_path_segments():
    url = vertex_url(Target(**{**BASE_TARGET, "project": "a/b", "model": "gemini x"}), False)
    assert "/projects/a%2Fb/locations/us-central1/" in url and url.endswith("/models/gemini%20x:generateContent")


def test_vertex_errors_map_like_googles():
    def body(code, status, message):
        return json.dumps({"error": {"code": code, "message": message, "status": status}}).encode()
    unauth = ADAPTER.classify_error(401, body(401, "UNAUTHENTICATED", "Request had invalid authentication "
                                              "credentials. ya29.secret"), {})
    assert (unauth.status, unauth.retryable) == (502, False) and "ya29" not in unauth.message
    limited = ADAPTER.classify_error(429, body(429, "RESOURCE_EXHAUSTED", "Resource exhausted. Please try "
                                               "again later."), {"retry-after": "2"})
    assert (limited.status, limited.error_type, limited.retryable, limited.retry_after) == (429, "rate_limit_error",
                                                                                         True, 2.0)
    role = ADAPTER.classify_error(400, body(400, "INVALID_ARGUMENT", "Unable to submit request because Please "
                                            "use a valid role: user, model."), {})
    assert (role.status, role.retryable) == (400, False) and "valid role" in role.message


# -- streams ----------------------------------------------------------------------------------------

TRANSCRIPT_FILES = sorted(TRANSCRIPTS.glob("*.sse"))


def replay(meta, chunks):
    translator = ADAPTER.stream_translator(stream_upstream(meta))
    translator._make_id = counter_ids()  # stable ids, as the gemini transcripts have them
    return stream_replay(SSEParser(), translator, chunks)


def expected_for(path):
    return json.loads(path.with_suffix(".expected.json").read_text())


@pytest.mark.parametrize("path", TRANSCRIPT_FILES, ids=[p.stem for p in TRANSCRIPT_FILES])
def test_stream_transcript_matches_expected(path):
    expected = expected_for(path)
    events, stats = replay(expected.get("meta", {}), [path.read_bytes()])
    if os.environ.get("GEMINI_RECORD"):  # regenerate after a deliberate change, then review the diff
        path.with_suffix(".expected.json").write_text(
            json.dumps({**expected, "events": events}, indent=1, ensure_ascii=False) + "\n")
    assert events == expected["events"]
    for key, value in expected.get("stats", {}).items():
        assert getattr(stats, key) == value, key
    assert_grammar(events)
    for block_input in tool_inputs(events):
        assert isinstance(json.loads(block_input), dict)


@pytest.mark.parametrize("path", TRANSCRIPT_FILES, ids=[p.stem for p in TRANSCRIPT_FILES])
def test_stream_transcript_split_at_every_byte(path):
    raw = path.read_bytes()
    meta = expected_for(path).get("meta", {})
    whole, _ = replay(meta, [raw])
    for i in range(1, len(raw)):
        split, _ = replay(meta, [raw[:i], raw[i:]])
        assert split == whole, f"split at byte {i}"


def test_translate_response_vertex_reply_with_usage_details():
    reply = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Done."}]}, "finishReason": "STOP",
                             "avgLogprobs": -0.1}],
             "usageMetadata": {"promptTokenCount": 90, "candidatesTokenCount": 3, "totalTokenCount": 93,
                               "trafficType": "PROVISIONED_THROUGHPUT",
                               "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 90}]},
             "modelVersion": "gemini-2.5-pro", "createTime": "2026-12-01T13:00:00Z", "responseId": "r1"}
    up = UpstreamRequest(url="", body=b"", headers={}, stream=False, requested_model="claude-sonnet-5")
    body = ADAPTER.translate_response(200, reply, up).body
    assert body["content"] == [{"type": "text", "text": "Done."}] and body["model"] == "claude-sonnet-5"
    assert (body["usage"]["input_tokens"], body["usage"]["output_tokens"], body["stop_reason"]) == (90, 3, "end_turn")
