"""OpenAI-compatible adapter: table-driven request/response cases and replayed SSE transcripts."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest

from providers.adapters.base import ChatRequest, StreamEvent, UpstreamRequest, loads
from providers.adapters.openai_compat import OpenAICompatAdapter
from providers.adapters.openai_compat.common import upstream_name, upstream_tool_id
from providers.adapters.openai_compat.response import translate_response
from providers.adapters.openai_compat.stream import OpenAIStreamTranslator
from providers.sse import SSEParser
from tests.providers import casekit
from tests.providers.casekit import assert_subset, stream_replay, stream_upstream

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "cases" / "openai_compat"
TRANSCRIPTS = ROOT / "transcripts" / "openai_compat"
ADAPTER = OpenAICompatAdapter()
BASE_TARGET = {"kind": "openai_compat", "base_url": "http://127.0.0.1:9999/v1", "model": "up-model"}


def load_cases(prefix):
    return casekit.load_cases("openai_compat", prefix)


def make_target(fields):
    return casekit.make_target(BASE_TARGET, fields)






def counter_ids():
    counter = itertools.count(1)
    return lambda prefix: f"{prefix}gen{next(counter)}"




def translate(case):
    req = ChatRequest(body=case["input"], beta=tuple(case.get("beta", ())))
    return ADAPTER.translate_request(req, make_target(case.get("target", {})))


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
    if "ledger_exact" in case:
        assert up.ledger == case["ledger_exact"]
    if "tool_names" in case:
        assert up.tool_names == case["tool_names"]
    assert json.dumps(case["input"], sort_keys=True) == before, "input body was mutated"


def test_translate_request_leaks_nothing_anthropic_only():
    for path in sorted(CASES.glob("request_*.json")):
        case = json.loads(path.read_text())
        raw = translate(case).body
        for word in (b"cache_control", b"signature", b"input_schema", b"anthropic", b"metadata",
                     b"redacted", b"container", b"mcp_servers", b"context_management"):
            if word.decode() not in case.get("allow_leak", ()):
                assert word not in raw, (case["name"], word)


def test_translate_request_url_headers_and_meta():
    case = {"input": {"model": "claude-opus-4-8", "max_tokens": 10, "stream": True,
                      "messages": [{"role": "user", "content": "hi"}]},
            "target": {"base_url": "http://h:1/v1/", "path": "/chat/completions", "headers": {"x-extra": "1"}}}
    up = translate(case)
    assert up.url == "http://h:1/v1/chat/completions"
    assert up.headers == {"content-type": "application/json", "x-extra": "1"}
    assert up.stream is True
    assert up.requested_model == "claude-opus-4-8"
    assert 0 < up.input_estimate < 100


def test_translate_request_input_estimate_ignores_image_bytes():
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * 400_000}}
    case = {"input": {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [image]}]}}
    up = translate(case)
    assert 1600 <= up.input_estimate < 1700


def test_translate_request_is_deterministic_across_turns():
    case = json.loads((CASES / "request_tool_names_mcp.json").read_text())
    first, second = translate(case), translate(case)
    assert first.body == second.body and first.tool_names == second.tool_names


def test_upstream_name_keeps_valid_and_shortens_long_names():
    assert upstream_name("Bash") == "Bash"
    long = "mcp__" + "x" * 80
    short = upstream_name(long)
    assert len(short) <= 64 and short == upstream_name(long) and short.startswith("mcp__xxx")
    assert upstream_name("a.b") != upstream_name("a:b")


def test_upstream_tool_id_is_stable_and_within_limits():
    mapped = upstream_tool_id("toolu_01AbCdEf", 9, True)
    assert mapped == upstream_tool_id("toolu_01AbCdEf", 9, True)
    assert len(mapped) == 9 and mapped.isalnum()
    assert upstream_tool_id("abc123XYZ", 9, True) == "abc123XYZ"  # an id the backend minted itself
    assert upstream_tool_id("toolu_01", None, True).isalnum()


def typical_claude_code_request():
    schema = {"type": "object", "properties": {
        "command": {"type": "string", "description": "The command to run " * 5},
        "timeout": {"type": "number"}, "options": {"type": "object", "additionalProperties": False,
                                                   "properties": {"a": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}},
        "required": ["command"], "additionalProperties": False, "$schema": "http://json-schema.org/draft-07/schema#"}
    tools = [{"name": f"Tool{i}", "description": "Does things. " * 40, "input_schema": schema} for i in range(18)]
    tools += [{"name": "mcp__server.name__tool/with:chars", "description": "MCP", "input_schema": schema},
              {"name": "mcp__" + "long" * 20, "description": "MCP", "input_schema": schema}]
    messages = []
    for i in range(15):
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"toolu_{i:024d}", "content": "output line\n" * 30},
            {"type": "text", "text": "<system-reminder>keep going</system-reminder>", "cache_control": {"type": "ephemeral"}}]}
            if i else {"role": "user", "content": "Please fix the bug in foo.py " * 10})
        messages.append({"role": "assistant", "content": [
            {"type": "thinking", "thinking": "Let me think " * 20, "signature": "sig" * 50},
            {"type": "text", "text": "I'll run a command."},
            {"type": "tool_use", "id": f"toolu_{i + 1:024d}", "name": "Tool1",
             "input": {"command": "ls -la", "timeout": 1000}}]})
    return {"model": "claude-opus-4-8", "max_tokens": 64000, "stream": True,
            "system": [{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.0"},
                       {"type": "text", "text": "You are Claude Code. " * 200, "cache_control": {"type": "ephemeral"}}],
            "messages": messages, "tools": tools, "tool_choice": {"type": "auto"},
            "thinking": {"type": "adaptive"}, "output_config": {"effort": "high"},
            "metadata": {"user_id": "user_" + "a" * 64 + "_account__session_" + "b" * 36},
            "context_management": {"edits": []}}


def test_translate_request_typical_claude_code_request_is_fast():
    body = typical_claude_code_request()
    target = make_target({"max_tokens_cap": 8192, "reasoning_effort": True, "reasoning_history": True,
                          "tool_id_max": 9, "tool_id_alnum": True})
    req = ChatRequest(body=body, beta=("context-1m-2025-08-07",))
    up = ADAPTER.translate_request(req, target)
    assert len(loads(up.body)["tools"]) == 20 and len(up.tool_names) == 2
    runs = 200
    start = time.process_time()
    for _ in range(runs):
        ADAPTER.translate_request(req, target)
    per_request = (time.process_time() - start) / runs
    assert per_request < 0.005, per_request  # target is < 1 ms; generous bound for slow CI machines


def test_translate_request_typical_request_with_gemini_schema_sanitising_is_fast():
    req = ChatRequest(body=typical_claude_code_request())
    target = make_target({"schema_flatten_anyof": True,
                          "schema_drop_keywords": ["$schema", "additionalProperties"]})
    up = ADAPTER.translate_request(req, target)
    assert b"additionalProperties" not in up.body and b"anyOf" not in up.body
    start = time.process_time()
    for _ in range(100):
        ADAPTER.translate_request(req, target)
    assert (time.process_time() - start) / 100 < 0.01


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


def test_translate_response_error_object_with_200_raises():
    from providers.adapters.base import AdapterError
    up = UpstreamRequest(url="", body=b"", headers={}, stream=False)
    with pytest.raises(AdapterError) as info:
        ADAPTER.translate_response(200, {"error": {"message": "Rate limit reached", "code": 429}}, up)
    assert info.value.status == 429 and info.value.retryable and info.value.error_type == "rate_limit_error"


def test_translate_response_generates_ids_when_missing():
    up = UpstreamRequest(url="", body=b"", headers={}, stream=False)
    body = {"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [{"type": "function", "id": "",
                                                              "function": {"name": "Read", "arguments": "{}"}}]}}]}
    resp = ADAPTER.translate_response(200, body, up)
    assert resp.body["id"].startswith("msg_") and len(resp.body["id"]) > 10
    assert resp.body["content"][0]["id"].startswith("toolu_")


# -- errors -----------------------------------------------------------------------------------------

ERROR_CASES = [
    # status, body, headers, expected (status, type, retryable, retry_after, message substring)
    (429, b'{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}',
     {"retry-after": "7"}, (429, "rate_limit_error", True, 7.0, "Rate limit reached")),
    (429, b"slow down", {}, (429, "rate_limit_error", True, None, "slow down")),
    (500, b'{"error":{"message":"boom"}}', {}, (502, "api_error", True, None, "boom")),
    (502, b"<html>bad gateway</html>", {}, (502, "api_error", True, None, "bad gateway")),
    (503, b'{"error":{"message":"overloaded"}}', {"retry-after": "2"}, (529, "overloaded_error", True, 2.0, "overloaded")),
    (529, b"{}", {}, (529, "overloaded_error", True, None, "")),
    (504, b"timeout", {}, (502, "api_error", True, None, "timeout")),
    (400, b'{"error":{"message":"This model\'s maximum context length is 128000 tokens. However, you requested 200000 tokens"}}',
     {}, (400, "invalid_request_error", False, None, "prompt is too long: This model's maximum context length")),
    (400, b'{"object":"error","message":"Input is too long for requested model.","code":400}', {},
     (400, "invalid_request_error", False, None, "prompt is too long")),
    (413, b'{"error":{"message":"context window exceeded"}}', {}, (400, "invalid_request_error", False, None, "prompt is too long")),
    (400, b'{"error":{"message":"Invalid tools[0].function.name"}}', {}, (400, "invalid_request_error", False, None, "Invalid tools")),
    (422, b'{"detail":"field required"}', {}, (400, "invalid_request_error", False, None, "field required")),
    (404, b'{"error":{"message":"model not found"}}', {}, (404, "not_found_error", False, None, "model not found")),
    (402, b'{"error":{"message":"insufficient credits"}}', {}, (402, "billing_error", False, None, "credits")),
    (408, b"request timeout", {}, (408, "timeout_error", True, None, "timeout")),
]


@pytest.mark.parametrize("status,body,headers,expected", ERROR_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(ERROR_CASES)])
def test_classify_error_maps_status(status, body, headers, expected):
    err = ADAPTER.classify_error(status, body, headers)
    assert (err.status, err.error_type, err.retryable, err.retry_after) == expected[:4]
    assert expected[4] in err.message
    assert err.body() == {"type": "error", "error": {"type": expected[1], "message": err.message}}


@pytest.mark.parametrize("status", [401, 403])
def test_classify_error_credentials_never_echo_upstream_message(status):
    body = b'{"error":{"message":"Incorrect API key provided: sk-abc123***xyz"}}'
    err = ADAPTER.classify_error(status, body, {})
    assert err.status == 502 and not err.retryable and err.error_type == "api_error"
    assert "credentials" in err.message and "sk-" not in err.message


# -- streams ----------------------------------------------------------------------------------------

TRANSCRIPT_FILES = sorted(TRANSCRIPTS.glob("*.sse"))


def replay(raw, meta, chunks):
    up = stream_upstream(meta)
    translator = OpenAIStreamTranslator(up, counter_ids())
    return stream_replay(SSEParser(), translator, chunks)


def expected_for(path):
    return json.loads(path.with_suffix(".expected.json").read_text())


@pytest.mark.parametrize("path", TRANSCRIPT_FILES, ids=[p.stem for p in TRANSCRIPT_FILES])
def test_stream_translator_transcript_matches_expected(path):
    expected = expected_for(path)
    events, stats = replay(path.read_bytes(), expected.get("meta", {}), [path.read_bytes()])
    assert events == expected["events"]
    for key, value in expected.get("stats", {}).items():
        assert getattr(stats, key) == value, key


@pytest.mark.parametrize("path", TRANSCRIPT_FILES, ids=[p.stem for p in TRANSCRIPT_FILES])
def test_stream_translator_transcript_split_at_every_byte(path):
    raw = path.read_bytes()
    meta = expected_for(path).get("meta", {})
    whole, _ = replay(raw, meta, [raw])
    for i in range(1, len(raw)):
        split, _ = replay(raw, meta, [raw[:i], raw[i:]])
        assert split == whole, f"split at byte {i}"


@pytest.mark.parametrize("path", TRANSCRIPT_FILES, ids=[p.stem for p in TRANSCRIPT_FILES])
def test_stream_translator_transcript_follows_anthropic_grammar(path):
    expected = expected_for(path)
    events, _ = replay(path.read_bytes(), expected.get("meta", {}), [path.read_bytes()])
    assert_grammar(events)
    for block_input in tool_inputs(events):
        assert isinstance(json.loads(block_input), dict) or expected.get("invalid_json_ok")


def assert_grammar(events):
    """message_start, blocks strictly in sequence, message_delta, message_stop; or an error last."""
    for name, data in events:
        assert name == data["type"]
    if events[-1][0] == "error":
        assert all(name != "message_stop" for name, _ in events)
        events = events[:-1]
    else:
        assert [n for n, _ in events[-2:]] == ["message_delta", "message_stop"]
        events = events[:-2]
    if not events:
        return
    assert events[0][0] == "message_start" and events[0][1]["message"]["content"] == []
    assert events[0][1]["message"]["usage"]["input_tokens"] > 0
    open_index, next_index = None, 0
    for name, data in events[1:]:
        if name == "content_block_start":
            assert open_index is None and data["index"] == next_index
            open_index, next_index = data["index"], next_index + 1
        elif name == "content_block_delta":
            assert data["index"] == open_index
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index = None
        else:
            raise AssertionError(name)


def tool_inputs(events):
    inputs, current = [], None
    for name, data in events:
        if name == "content_block_start" and data["content_block"]["type"] == "tool_use":
            current = []
        elif name == "content_block_delta" and current is not None:
            current.append(data["delta"]["partial_json"])
        elif name == "content_block_stop" and current is not None:
            inputs.append("".join(current))
            current = None
    return inputs


def test_stream_translator_flush_without_anything_is_an_error():
    up = UpstreamRequest(url="", body=b"", headers={}, stream=True)
    translator = ADAPTER.stream_translator(up)
    events = translator.flush()
    assert [e.event for e in events] == ["error"]
    assert translator.stats.error == "upstream stream ended unexpectedly" and not translator.stats.finished
    assert translator.flush() == [] and translator.feed(StreamEvent("message", {"_done": True})) == []


def test_stream_translator_is_fast():
    path = TRANSCRIPTS / "tool_call_args_split.sse"
    raw = path.read_bytes()
    events = SSEParser().feed(raw) + SSEParser().flush()
    up = UpstreamRequest(url="", body=b"", headers={}, stream=True, input_estimate=10)
    start = time.process_time()
    for _ in range(200):
        translator = OpenAIStreamTranslator(up)
        for event in events:
            translator.feed(event)
        translator.flush()
    assert (time.process_time() - start) / 200 < 0.002
