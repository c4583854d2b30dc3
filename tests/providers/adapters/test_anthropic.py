from __future__ import annotations

import json
from pathlib import Path

import pytest

from providers.adapters.anthropic import (
    AnthropicAdapter,
    PassthroughStream,
    classify_anthropic_error,
    replace_model,
)
from providers.adapters.base import ChatRequest, StreamEvent, Target, dumps

CASES = sorted((Path(__file__).parent.parent / "cases" / "anthropic").glob("*.json"))
ADAPTER = AnthropicAdapter()


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_translate_request_cases(path):
    case = json.loads(path.read_text())
    target = Target(kind="anthropic", **{k: tuple(v) if isinstance(v, list) else v for k, v in case["target"].items()})
    req = ChatRequest(body=case["input"], raw=dumps(case["input"]), beta=tuple(case["beta"]))
    up = ADAPTER.translate_request(req, target)
    exp = case["expected"]
    if "url" in exp:
        assert up.url == exp["url"]
    if "body" in exp:
        assert json.loads(up.body) == exp["body"]
    for name, value in exp.get("headers", {}).items():
        assert up.headers[name] == value
    for name in exp.get("no_headers", []):
        assert name not in up.headers
    assert up.ledger == exp["ledger"]
    assert up.stream is exp.get("stream", False)


@pytest.mark.parametrize(
    "raw,expected",
    [
        (b'{"model":"a","x":1}', b'{"model":"b","x":1}'),
        (b'{"x": {"model": "a"}, "model": "a"}', b'{"x": {"model": "b"}, "model": "a"}'),  # first key wins
        (b'{"messages":[{"content":"\\"model\\": \\"a\\""}],"model": "a"}', b'{"messages":[{"content":"\\"model\\": \\"a\\""}],"model": "b"}'),
    ],
)
def test_replace_model_edits_only_the_model_value(raw, expected):
    assert replace_model(raw, "a", "b") == expected


def test_replace_model_returns_none_when_spelling_differs():
    assert replace_model(b'{"model" : "a"}', "a", "b") is None


@pytest.mark.parametrize(
    "status,body,headers,expected",
    [
        (429, b'{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}', {"retry-after": "12"},
         (429, "rate_limit_error", True, 12.0)),
        (529, b'{"type":"error","error":{"type":"overloaded_error","message":"busy"}}', {}, (529, "overloaded_error", True, None)),
        (500, b"oops", {}, (500, "api_error", True, None)),
        (400, b'{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}',
         {}, (400, "invalid_request_error", False, None)),
        (401, b'{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}', {},
         (502, "api_error", False, None)),
        (404, b'{"type":"error","error":{"type":"not_found_error","message":"model: x"}}', {}, (404, "not_found_error", False, None)),
    ],
)
def test_classify_error(status, body, headers, expected):
    err = classify_anthropic_error(status, body, headers)
    assert (err.status, err.error_type, err.retryable, err.retry_after) == expected


def test_passthrough_stream_reads_usage_and_keeps_events():
    stream = PassthroughStream()
    events = [
        StreamEvent("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": 50, "cache_read_input_tokens": 7}}}, b"raw1"),
        StreamEvent("content_block_start", {"type": "content_block_start", "index": 0}, b"raw2"),
        StreamEvent("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}}, b"raw3"),
        StreamEvent("message_stop", {"type": "message_stop"}, b"raw4"),
    ]
    out = [e for ev in events for e in stream.feed(ev)]
    assert out == events
    s = stream.stats
    assert (s.input_tokens, s.output_tokens, s.cache_read_input_tokens, s.stop_reason) == (50, 9, 7, "tool_use")
    assert s.first_content and s.finished and s.error is None
